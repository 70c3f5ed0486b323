"""A small, deterministic dataset folder shaped like the SOUSA generator's output.

``python -m sousa.demo [DIR]`` (default ``output/demo``) or :func:`write_demo`. The folder is
what zakkeown/SOUSA's ``scripts/generate_dataset.py`` writes (its `DatasetWriter`)::

    DIR/
      audio/{rudiment_slug}/{sample_id}.flac   44.1 kHz stereo 24-bit FLAC (with audio)
      midi/{rudiment_slug}/{sample_id}.mid     SMF format 0, first augmentation only
      labels/samples.parquet                   one row per sample, generation order
      labels/exercises.parquet                 scores, one row per sample
      labels/strokes.parquet                   one row per stroke
      labels/measures.parquet                  one row per measure
      splits.json                              profile ids per split, and `stats`
      index.json                               sample ids in generation order
      README.md                                (demo only, ``readme=False`` drops it)
      .sousa-demo                              (demo only) marks the folder as a demo's

``sample_id`` is ``{tier}{player:03d}_{rudiment}_{tempo}bpm_{soundfont}_{preset}`` (key order
groups by tier and player); columns are typed as pandas 3 writes them (``large_string``, and
``null`` for a column with no value). Modes, as the generator's flags: ``with_audio=False``
(no FLAC: with ``augmentations`` ≥ 2 most rows have no media file at all), ``augmentations``,
``players``; ``nested=False`` drops the ``{rudiment_slug}/`` level.

Deliberately awkward for feature inference: per split, the rows first in key order have a null
``overall_score`` and ``hand_balance``, and (with audio) a performance's first row in key order
is a version without MIDI.

Modules: `rudiments` (stickings), `performance` (what was played), `synthesis` (audio),
`midi`, `labels` (label values), `tables` (Arrow types, parquet), `plan` (players, splits,
sample ids), `readme`, `folder` (what may be replaced), `writer`, `cli`.
"""

from __future__ import annotations

from .folder import DemoDirError
from .midi import encode_vlq, midi_file_bytes
from .options import DemoOptions
from .rudiments import RUDIMENTS
from .synthesis import SAMPLE_RATE
from .writer import write_demo

__all__ = [
    "RUDIMENTS",
    "SAMPLE_RATE",
    "DemoDirError",
    "DemoOptions",
    "encode_vlq",
    "midi_file_bytes",
    "write_demo",
]
