"""`python -m sousa.peek`: the last step of `make demo` loads a sample back and shows it."""

from __future__ import annotations

import pyarrow.parquet as pq

from sousa.layout import split_table_path
from sousa.peek import main


def test_peek_shows_the_first_validation_sample_loaded_back(staging, capsys):
    assert main([str(staging)]) == 0
    out = capsys.readouterr().out
    first = pq.read_table(staging / split_table_path("validation")).slice(0, 1).to_pylist()[0]
    assert f"sample_id={first['sample_id']}" in out
    assert "audio: 44100 frames × 2 channel(s) at 44100 Hz (1.00 s, float32)" in out
    assert ("midi: none" in out) == (first["midi_size"] is None)


def test_peek_of_a_missing_folder_exits_2(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "no such staging folder" in capsys.readouterr().err
