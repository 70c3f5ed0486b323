"""The demo's options, checked once: what `write_demo` and `python -m sousa.demo` accept."""

from __future__ import annotations

from dataclasses import dataclass

from .synthesis import SUBTYPES

MAX_AUGMENTATIONS = 5  # the generator's default presets; it caps augmentations at their number


@dataclass(frozen=True)
class DemoOptions:
    """What to generate. The defaults are `make demo`'s and the tests' dataset.

    n_samples: rows of labels/samples.parquet (one per augmentation of a performance).
    seconds: audio length of every sample.
    midi_fraction: None writes MIDI for every performance's first augmentation (the
        generator's rule); a fraction keeps MIDI for that share of performances only.
    nested: `audio/{rudiment_slug}/{id}.flac` (the generator) or `audio/{id}.flac`.
    players: player profiles (default: 10, every tier, when there are enough performances;
        never more than there are performances).
    augmentations: versions of each performance (1-5).
    with_audio: write FLAC (the generator's `--with-audio`); without it the rows of later
        augmentations have no media file at all.
    channels, subtype: FLAC format (the generator: 2, "PCM_24").
    readme: write a README.md with YAML front matter (the generator writes none).
    """

    n_samples: int = 40
    seconds: float = 1.0
    seed: int = 0
    midi_fraction: float | None = None
    nested: bool = True
    players: int | None = None
    augmentations: int = 2
    with_audio: bool = True
    channels: int = 2
    subtype: str = "PCM_24"
    readme: bool = True

    def __post_init__(self) -> None:
        checks = (
            (self.n_samples >= 1, "n_samples must be >= 1"),
            (self.seconds > 0, "seconds must be > 0"),
            (
                self.midi_fraction is None or 0.0 <= self.midi_fraction <= 1.0,
                "midi_fraction must be in [0, 1]",
            ),
            (self.players is None or self.players >= 1, "players must be >= 1"),
            (
                1 <= self.augmentations <= MAX_AUGMENTATIONS,
                f"augmentations must be 1 to {MAX_AUGMENTATIONS}",
            ),
            (self.channels in (1, 2), "channels must be 1 or 2"),
            (self.subtype in SUBTYPES, f"subtype must be one of {', '.join(SUBTYPES)}"),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
