"""What the default end-of-file check of every FLAC (`sousa/write/flac_tail.py`) costs packaging.

    python benchmarks/flac_tail.py                       # makes a demo: 300 samples x 5 s
    python benchmarks/flac_tail.py DIR --rounds 7        # or any SOUSA folder

Packages the folder into a fresh staging folder in a child process (`python -m sousa.package
DIR --out OUT --quiet`), with the check and without it (the child replaces
`media_check.check_flac_tail` by a function that returns None before running the CLI), in turn:
A B, then B A, ... after one warm-up pair, the page cache warm. Also times, in this process,
the media check alone (`check_media` over every file) with and without the end check. Prints
one JSON object: whole-process medians (wall and CPU seconds), the median and range of the
pair-by-pair ratios (CPU time is the steadier on a shared machine), and the end check's cost
a FLAC file.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WITHOUT_CHECK = (
    "import sys, runpy; import sousa.write.media_check as m; "
    "m.check_flac_tail = lambda *args: None; "
    "sys.argv = ['sousa.package', *sys.argv[1:]]; "
    "runpy.run_module('sousa.package', run_name='__main__')"
)


def package_seconds(source: Path, out: Path, check: bool) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the child and its workers) of one packaging run,
    in a child process, into an empty `out`."""
    shutil.rmtree(out, ignore_errors=True)
    head = ["-m", "sousa.package"] if check else ["-c", WITHOUT_CHECK]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, *head, str(source), "--out", str(out), "--quiet"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def check_seconds(source: Path, check: bool) -> tuple[float, int]:
    """Seconds of `check_media` over every media file, in this process, and the FLAC count."""
    import sousa.write.media_check as media_check
    from sousa.write.flac_tail import check_flac_tail
    from sousa.write.source import read_source

    samples = read_source(source).samples
    audio, midi = [s.audio for s in samples], [s.midi for s in samples]
    media_check.check_flac_tail = check_flac_tail if check else (lambda *args: None)
    try:
        start = time.perf_counter()
        _, bad = media_check.check_media(source, audio, midi, [s.sample_id for s in samples])
        seconds = time.perf_counter() - start
    finally:
        media_check.check_flac_tail = check_flac_tail
    assert not bad, bad[:3]
    return seconds, sum(a is not None for a in audio)


def warm(source: Path) -> None:
    for path in source.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                while f.read(1 << 20):
                    pass


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("source", type=Path, nargs="?", help="a SOUSA folder (default: make a demo)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--samples", type=int, default=300, help="of the demo made without SOURCE")
    p.add_argument("--seconds", type=float, default=5.0, help="a clip, in the demo")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sousa-flac-tail-") as tmp:
        source = args.source
        if source is None:
            source = Path(tmp) / "demo"
            demo = [sys.executable, "-m", "sousa.demo", str(source), "--quiet"]
            demo += ["-n", str(args.samples), "--seconds", str(args.seconds)]
            subprocess.run(demo, check=True, stdout=subprocess.DEVNULL)
        source = source.resolve()
        warm(source)
        out = Path(tmp) / "staging"
        package_seconds(source, out, True), package_seconds(source, out, False)  # warm-up
        walls: dict[bool, list[float]] = {True: [], False: []}
        cpus: dict[bool, list[float]] = {True: [], False: []}
        checks: dict[bool, list[float]] = {True: [], False: []}
        for round_ in range(args.rounds):
            for check in (True, False) if round_ % 2 == 0 else (False, True):
                wall, cpu = package_seconds(source, out, check)
                walls[check].append(wall)
                cpus[check].append(cpu)
                checks[check].append(check_seconds(source, check)[0])
        flacs = check_seconds(source, True)[1]
        media = sum(1 for p in source.rglob("*") if p.suffix in (".flac", ".mid"))
        size = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
    ratios = sorted(a / b for a, b in zip(walls[True], walls[False]))
    cpu_ratios = sorted(a / b for a, b in zip(cpus[True], cpus[False]))
    extra = statistics.median(checks[True]) - statistics.median(checks[False])
    result = {
        "source": {"flac_files": flacs, "media_files": media, "bytes": size},
        "rounds": args.rounds,
        "load_average": os.getloadavg()[0],
        "packaging_with_check_s": round(statistics.median(walls[True]), 3),
        "packaging_without_check_s": round(statistics.median(walls[False]), 3),
        "ratio_with_over_without": {
            "median": round(statistics.median(ratios), 4),
            "min": round(ratios[0], 4),
            "max": round(ratios[-1], 4),
        },
        "packaging_cpu_with_check_s": round(statistics.median(cpus[True]), 3),
        "packaging_cpu_without_check_s": round(statistics.median(cpus[False]), 3),
        "cpu_ratio_with_over_without": {
            "median": round(statistics.median(cpu_ratios), 4),
            "min": round(cpu_ratios[0], 4),
            "max": round(cpu_ratios[-1], 4),
        },
        "media_check_with_end_s": round(statistics.median(checks[True]), 4),
        "media_check_heads_only_s": round(statistics.median(checks[False]), 4),
        "end_check_us_a_flac": round(extra / max(1, flacs) * 1e6, 1),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
