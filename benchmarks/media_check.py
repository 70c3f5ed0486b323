"""What checking media costs: the head check and `--verify-audio`, as ratios of packaging.

    python -m sousa.demo /tmp/media -n 3000 --seconds 1     # a dataset (or any SOUSA folder)
    python benchmarks/media_check.py /tmp/media --rounds 5

Packages the folder into a fresh staging folder, without and with `--verify-audio`, in turn
(the order alternating each round, after one warm-up pair; page cache warm), and times the
head check alone (`sousa.write.media_check.check_media` over every media file, in this process, as
packaging calls it) once a round. Prints the medians, the median of the pair-by-pair ratios,
and the head check's share of a packaging run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import files_under, interleaved, remove, run_measured, summary, warm_cache  # noqa: E402

from sousa.write.media_check import check_media  # noqa: E402
from sousa.write.source import read_source  # noqa: E402


def package(source: Path, out: Path, *extra: str) -> float:
    remove(out)
    cmd = [sys.executable, "-m", "sousa.package", str(source), "--out", str(out), "--quiet"]
    return run_measured([*cmd, *extra]).wall


def head_check_seconds(source: Path) -> tuple[float, int]:
    """Seconds for `check_media` (heads only) over every media file, and how many files."""
    samples = read_source(source).samples
    audio = [s.audio for s in samples]
    midi = [s.midi for s in samples]
    start = time.perf_counter()
    _, bad = check_media(source, audio, midi, [s.sample_id for s in samples])
    seconds = time.perf_counter() - start
    assert not bad, bad[:3]
    return seconds, sum(m is not None for m in audio + midi)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("source", type=Path)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    source = args.source.resolve()
    warm_cache(files_under([source / "audio", source / "midi", source / "labels"]))
    with tempfile.TemporaryDirectory(prefix="sousa-media-bench-") as tmp:
        out = Path(tmp) / "staging"
        package(source, out)
        package(source, out, "--verify-audio")  # warm-up pair
        walls: dict[str, list[float]] = {"plain": [], "verify": []}
        heads = []
        for _, variant in interleaved(("plain", "verify"), args.rounds):
            extra = ("--verify-audio",) if variant == "verify" else ()
            walls[variant].append(package(source, out, *extra))
            if variant == "verify":
                heads.append(head_check_seconds(source)[0])
        files = head_check_seconds(source)[1]
    plain, verify = walls["plain"], walls["verify"]
    ratios = summary(v / p for v, p in zip(verify, plain))
    shares = summary(h / p for h, p in zip(heads, plain))
    head = summary(heads)["median"]
    print(f"{files} media files, {args.rounds} rounds (medians; min-max)")
    print(f"packaging:                  {summary(plain)['median']:.2f} s")
    print(f"packaging --verify-audio:   {summary(verify)['median']:.2f} s")
    print(f"ratio verify / plain:       {ratios['median']:.2f} x "
          f"({ratios['min']:.2f}-{ratios['max']:.2f})")  # fmt: skip
    print(f"head check alone:           {head * 1000:.0f} ms "
          f"({head / files * 1e6:.1f} us a file)")  # fmt: skip
    print(f"head check / packaging:     {shares['median']:.3f} "
          f"({shares['min']:.3f}-{shares['max']:.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
