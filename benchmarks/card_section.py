"""What the card's "Label statistics" section (tables + figures) adds to a packaging run.

    python -m sousa.demo DIR -n 971 --seconds 5 -p 40                   # 1 GB, as run.py --gb 1
    python -m sousa.demo DIR --no-audio -n 100000 -a 5 -p 400           # 100,000 labels-only
    python benchmarks/card_section.py DIR [--rounds 5]

Runs `python -m sousa.package DIR --out TMP --workers 2` in a fresh process, interleaved over
`--rounds` rounds: as it is ("with"), and with the section's three steps replaced by no-ops
("without": no statistics read, no matplotlib import, no figures, no section). Each run
packages into an emptied folder (no reuse). Prints the medians, their ratio and the seconds
added (wall and CPU time: CPU time is steadier on a shared machine), and the section's own
steps timed inside the "with" runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import CommandFailed, interleaved, run_measured, summary  # noqa: E402

CHILD = """
import json, sys, time
import sousa.write.pipeline as p
timings = {}
def timed(name, f):
    def run(*args, **kwargs):
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return f(*args, **kwargs)
        finally:
            timings[name] = timings.get(name, 0) + time.perf_counter() - start
            timings[name + " cpu"] = timings.get(name + " cpu", 0) + time.process_time() - cpu
    return run
if sys.argv[1] == "without":
    p.label_stats = lambda out: None
    p.render_figures = lambda stats: {}
    p.statistics_section = lambda stats, figures: ""
else:
    p.label_stats = timed("label_stats", p.label_stats)
    p.render_figures = timed("render_figures", p.render_figures)
    p.statistics_section = timed("statistics_section", p.statistics_section)
from sousa.package import main
code = main(sys.argv[2:])
print(json.dumps(timings), file=sys.stderr)
sys.exit(code)
"""


def run_once(variant: str, source: Path, out: Path) -> tuple[float, float, dict]:
    """Wall seconds, CPU seconds (the packager and its workers) and the in-process timings."""
    shutil.rmtree(out, ignore_errors=True)
    argv = [sys.executable, "-c", CHILD, variant, str(source), "--out", str(out), "--quiet"]
    try:
        m = run_measured([*argv, "--workers", "2"])
    except CommandFailed as exc:
        sys.exit(f"{variant}: {exc}")
    return m.wall, m.cpu, json.loads(m.stderr.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("source", type=Path, help="a demo (or generator) folder")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    times: dict[str, list[float]] = {"with": [], "without": []}
    cpus: dict[str, list[float]] = {"with": [], "without": []}
    steps: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="card-section-") as tmp:
        out = Path(tmp) / "hf_staging"
        run_once("with", args.source, out)  # warm the page cache and the font cache
        for _, variant in interleaved(("with", "without"), args.rounds):
            elapsed, cpu, timings = run_once(variant, args.source, out)
            times[variant].append(elapsed)
            cpus[variant].append(cpu)
            if variant == "with":
                steps.append(timings)
    with_, without = (summary(times[k])["median"] for k in ("with", "without"))
    print(f"source: {args.source} ({args.rounds} rounds, medians)")
    print(f"packaging with the section:    {with_:.2f} s  {sorted(times['with'])}")
    print(f"packaging without the section: {without:.2f} s  {sorted(times['without'])}")
    print(f"wall: ratio {with_ / without:.3f} x, added {with_ - without:+.2f} s")
    cpu_with, cpu_without = (summary(cpus[k])["median"] for k in ("with", "without"))
    print(
        f"CPU (packager + workers): {cpu_with:.2f} s with, {cpu_without:.2f} s without: "
        f"ratio {cpu_with / cpu_without:.3f} x, added {cpu_with - cpu_without:+.2f} s"
    )
    for name in ("label_stats", "render_figures", "statistics_section"):
        wall = summary(s.get(name, 0.0) for s in steps)["median"]
        cpu = summary(s.get(name + " cpu", 0.0) for s in steps)["median"]
        print(f"  {name}: {wall:.3f} s wall, {cpu:.3f} s CPU (in process)")


if __name__ == "__main__":
    main()
