"""`python -m sousa.peek STAGING [--split S]`: load one sample back and show it.

The last step of `make demo`: proves the packaged folder loads with `sousa.load`.
"""

from __future__ import annotations

import argparse
import sys

from .errors import InputError
from .progress import run_main
from .read.loading import load

LABELS_SHOWN = ("sample_id", "profile_id", "rudiment_slug", "tempo_bpm", "overall_score")


def describe(sample: dict) -> list[str]:
    """Labels, audio length and rate, MIDI size of one `audio`-config sample."""
    audio = sample["audio"]
    seconds = len(audio["array"]) / audio["sampling_rate"]
    channels = audio["array"].shape[1] if audio["array"].ndim == 2 else 1
    midi = sample["midi"]
    shown = {k: sample[k] for k in LABELS_SHOWN if k in sample}
    return [
        "labels: " + ", ".join(f"{k}={v}" for k, v in shown.items()),
        f"audio: {len(audio['array'])} frames × {channels} channel(s) at "
        f"{audio['sampling_rate']} Hz "
        f"({seconds:.2f} s, {audio['array'].dtype}) from {audio['path']}",
        f"midi: {len(midi)} bytes" if midi is not None else "midi: none for this sample",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sousa.peek", description=__doc__)
    parser.add_argument("staging", help="a staging folder or a Hub repo id")
    parser.add_argument("--split", default="validation")
    args = parser.parse_args(argv)
    try:
        dataset = load(args.staging, split=args.split, streaming=True)
        sample = next(iter(dataset))
    except (InputError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"loaded back with sousa.load({args.staging!r}, split={args.split!r}, streaming=True):")
    print("\n".join("  " + line for line in describe(sample)))
    return 0


if __name__ == "__main__":
    run_main(main)
