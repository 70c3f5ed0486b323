"""Media checked before packing: the faults a killed generator leaves, on real files.

Empty files, random bytes named .flac, a .mid holding text, a FLAC whose STREAMINFO says
nothing sensible, a FLAC cut mid-stream (only `--verify-audio` finds that one), a FLAC whose
writer was killed. Each is bad input (exit 2, named, nothing written) or, with
`--skip-bad-media`, a labels-only sample that the summary and the card name. The split tables
carry each sample's audio properties, read from STREAMINFO.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import soundfile as sf
from datasets import load_dataset

import sousa
from sousa.demo import midi_file_bytes
from sousa.layout import AUDIO_PROPERTY_COLUMNS, SHARD_COLUMNS, SPLITS
from sousa.package import main
from sousa.write import source_columns
from sousa.write.flac_tail import crc16
from sousa.write.media_check import (
    HEAD_CHUNK,
    VERIFY_BLOCK_FRAMES,
    HeadChecks,
    MediaProblem,
    _check_head,
    check_heads,
    check_midi_header,
    parse_streaminfo,
    verify_flac,
)
from sousa.write.pipeline import PackageOptions, package_dataset

from .helpers import source_rows, split_rows, tree_digest, write_flac
from .test_bad_input import refuse


def audio_files(source: Path) -> list[str]:
    """The source's audio paths in samples.parquet order."""
    rows = pq.read_table(source / "labels" / "samples.parquet").to_pylist()
    return [r["audio_path"] for r in rows if r["audio_path"]]


def midi_files(source: Path) -> list[str]:
    rows = pq.read_table(source / "labels" / "samples.parquet").to_pylist()
    return [r["midi_path"] for r in rows if r["midi_path"]]


def truncate_half(path: Path) -> None:
    """Cut a real FLAC file mid-stream: its STREAMINFO still parses."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def killed_writer_flac(path: Path) -> Path:
    """What libsndfile leaves when the writing process dies: the file copied while open."""
    import numpy as np

    noise = np.random.default_rng(0).uniform(-0.5, 0.5, (44_100, 2))
    with sf.SoundFile(path.with_suffix(".part"), "w", 44_100, 2, "PCM_24", format="FLAC") as f:
        f.write(noise)
        f.flush()
        shutil.copy(f.name, path)
    path.with_suffix(".part").unlink()
    return path


def all_rows(staging: Path) -> dict[str, dict]:
    return {r["sample_id"]: r for split in SPLITS for r in split_rows(staging, split)}


# -- the head of one file ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "rate, channels, subtype, bits", [(44_100, 2, "PCM_24", 24), (22_050, 1, "PCM_16", 16)]
)
def test_streaminfo_read_from_42_bytes_matches_soundfile(tmp_path, rate, channels, subtype, bits):
    import numpy as np

    path = tmp_path / "a.flac"
    sf.write(path, np.zeros((12_345, channels)), rate, subtype=subtype, format="FLAC")
    info = parse_streaminfo(path.read_bytes()[:42])
    assert (info.sample_rate, info.channels, info.bits_per_sample) == (rate, channels, bits)
    assert info.total_frames == sf.info(path).frames == 12_345


def _with_sample_rate_zero(head: bytes) -> bytes:
    bits = int.from_bytes(head[18:26], "big") & ((1 << 44) - 1)  # the 20-bit rate cleared
    return head[:18] + bits.to_bytes(8, "big") + head[26:]


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda head: b"", "empty (0 bytes)"),
        (lambda head: b"\x8f\x12\x00\x01" * 20, "not FLAC: does not start with 'fLaC'"),
        (
            lambda head: b"RIFF" + head[4:],
            "not FLAC: does not start with 'fLaC' (starts with b'RIFF",
        ),
        (lambda head: head[:20], "truncated: 20 bytes, shorter than a FLAC header"),
        (_with_sample_rate_zero, "STREAMINFO sample rate is 0"),
        (lambda head: head[:4] + b"\x04" + head[5:], "first metadata block is type 4"),
        (lambda head: head[:8] + b"\x00\x08" + head[10:], "STREAMINFO block sizes 8-4096"),
    ],
)
def test_a_bad_flac_head_is_named_for_what_is_wrong(tmp_path, make, problem):
    head = write_flac(tmp_path / "a.flac").read_bytes()[:42]
    assert parse_streaminfo(head).sample_rate == 44_100
    with pytest.raises(MediaProblem, match=re.escape(problem)):
        parse_streaminfo(make(head))


def test_the_header_a_killed_writer_leaves_is_refused(tmp_path):
    """libsndfile writes the total frames when it closes the file: killed, it says 0."""
    head = killed_writer_flac(tmp_path / "killed.flac").read_bytes()[:42]
    with pytest.raises(MediaProblem, match="STREAMINFO total frames is 0"):
        parse_streaminfo(head)


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda head: b"", "empty"),
        (
            lambda head: b"not midi",
            "not MIDI: does not start with 'MThd' (starts with b'not midi')",
        ),
        (lambda head: head[:10], "truncated: 10 bytes"),
        (lambda head: head[:7] + b"\x07" + head[8:], "MThd chunk length is 7, not 6"),
        (lambda head: head[:8] + b"\x00\x03" + head[10:], "MIDI format 3"),
        (lambda head: head[:8] + b"\x00\x00\x00\x02" + head[12:], "MIDI format 0 with 2 tracks"),
        (lambda head: head[:10] + b"\x00\x00" + head[12:], "with 0 tracks"),
        (lambda head: head[:12] + b"\x00\x00", "division 0x0000"),
        (lambda head: head[:12] + b"\x80\x04", "division 0x8004"),
    ],
)
def test_a_bad_midi_head_is_named_for_what_is_wrong(make, problem):
    head = midi_file_bytes([0.0, 250.0], [90, 100], 120)[:14]
    check_midi_header(head)
    check_midi_header(head[:12] + bytes([256 - 25, 40]))  # SMPTE: 25 frames/s, 40 ticks each
    with pytest.raises(MediaProblem, match=re.escape(problem)):
        check_midi_header(make(head))


def test_verify_compares_the_frames_decoded_with_streaminfo(tmp_path):
    path = write_flac(tmp_path / "a.flac", seconds=0.5)
    info = parse_streaminfo(path.read_bytes()[:42])
    assert verify_flac(path, info) is None
    promised = dataclasses.replace(info, total_frames=info.total_frames + 4096)
    assert verify_flac(path, promised) == (
        f"decodes to {info.total_frames:,} frames, STREAMINFO says {promised.total_frames:,}"
    )


@pytest.mark.parametrize(
    ("seconds", "channels", "subtype"),
    [(0.01, 1, "PCM_16"), (0.5, 2, "PCM_24"), (2.0, 1, "PCM_S8"), (3.0, 2, "PCM_16")],
)
def test_the_end_check_passes_every_whole_flac_and_refuses_each_cut(
    tmp_path, seconds, channels, subtype
):
    """Real files of one frame or many, mono or stereo, 8/16/24 bits: whole, each passes;
    cut anywhere (in half, in the last frame, by one byte), each is refused."""
    import numpy as np

    frames = int(seconds * 44_100)
    noise = np.random.default_rng(3).uniform(-0.5, 0.5, (frames, channels))
    path = tmp_path / "a.flac"
    sf.write(path, noise, 44_100, format="FLAC", subtype=subtype)
    data = path.read_bytes()
    assert _check_head(str(path), "audio") == (parse_streaminfo(data[:42]), None)
    for cut in sorted({len(data) // 2, len(data) - 40, len(data) - 1}):
        path.write_bytes(data[:cut])
        info, problem = _check_head(str(path), "audio")
        assert info is None and problem.startswith("truncated"), (cut, len(data))


def test_crc16_is_flacs_crc16_at_any_length():
    """The catalogued check value of CRC-16/UMTS (FLAC's: polynomial 0x8005, initial 0, not
    reflected) and a bit-at-a-time reference at lengths that grow the table unevenly."""
    import random

    def bitwise(data: bytes) -> int:
        crc = 0
        for byte in data:
            crc ^= byte << 8
            for _ in range(8):
                crc = ((crc << 1) ^ 0x8005 if crc & 0x8000 else crc << 1) & 0xFFFF
        return crc

    assert crc16(b"123456789") == 0xFEE8
    rng = random.Random(7)
    for n in (0, 1, 2, 3, 700, 5, 4097, 9000):
        data = rng.randbytes(n)
        assert crc16(data) == bitwise(data), n
        assert crc16(data + bitwise(data).to_bytes(2, "big")) == 0


def test_the_end_check_refuses_a_changed_byte_in_the_last_frame_and_bytes_after_it(tmp_path):
    """Not cut: one byte of the last frame's audio changed, or bytes appended after it (zero
    bytes would not show: they leave a CRC of 0 at 0)."""
    path = write_flac(tmp_path / "a.flac", seconds=0.5)
    data = path.read_bytes()
    changed = bytearray(data)
    changed[-10] ^= 0x01
    for bad in (bytes(changed), data + b"TAG appended"):
        path.write_bytes(bad)
        info, problem = _check_head(str(path), "audio")
        assert info is None and problem.startswith("truncated or corrupt: its last frame"), problem


def test_head_checks_in_processes_give_what_one_process_does(source):
    """More files than one hand-off, some bad, in two worker processes: the same results in
    the same order as checked here."""
    files = [(str(source / p), "audio") for p in audio_files(source)]
    files += [(str(source / p), "midi") for p in midi_files(source)]
    files = (files * (HEAD_CHUNK * 3 // len(files) + 1))[: HEAD_CHUNK * 3 - 5]
    files[HEAD_CHUNK + 2] = (str(source / "labels" / "samples.parquet"), "audio")
    files[2 * HEAD_CHUNK] = (str(source / "no such file.mid"), "midi")
    with HeadChecks(2) as heads:
        assert list(heads(files)) == check_heads(files)
    problems = [problem for _, problem in check_heads(files) if problem]
    assert problems[0].startswith("not FLAC") and problems[1].startswith("cannot be read")


def test_head_check_workers_end_even_when_sigterm_is_caught(tmp_path):
    """A library of the parent's may catch SIGTERM (the fork inherits its handler): the pool
    is still ended after an error (else its `terminate` waits forever)."""
    code = (
        "import signal, sys; signal.signal(signal.SIGTERM, lambda *a: None)\n"
        "from sousa.write.media_check import HeadChecks\n"
        "try:\n"
        "    with HeadChecks(2) as heads:\n"
        "        raise KeyboardInterrupt\n"
        "except KeyboardInterrupt:\n"
        "    print('ended')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.stdout == "ended\n", done.stderr


def test_verify_names_a_file_cut_mid_stream(tmp_path):
    path = write_flac(tmp_path / "a.flac", seconds=2.0)
    info = parse_streaminfo(path.read_bytes()[:42])
    truncate_half(path)
    assert parse_streaminfo(path.read_bytes()[:42]) == info, "the head alone cannot tell"
    problem = verify_flac(path, info)
    assert problem.startswith("truncated or corrupt: decoding fails within frames ")
    first, last = (int(n.replace(",", "")) for n in problem.split()[7].split("-"))
    assert 0 <= first < last <= info.total_frames and last - first <= VERIFY_BLOCK_FRAMES
    assert f" of {info.total_frames:,} (" in problem


# -- packaging a folder with bad media -------------------------------------------------------


@pytest.fixture
def bad_source(source) -> tuple[Path, list[str]]:
    """The demo with a random-bytes FLAC, an empty FLAC and a .mid holding text."""
    audio, midi = audio_files(source), midi_files(source)
    (source / audio[1]).write_bytes(bytes(range(256)) * 20)
    (source / audio[4]).write_bytes(b"")
    (source / midi[6]).write_bytes(b"not midi")
    return source, [audio[1], audio[4], midi[6]]


def test_bad_media_is_bad_input_naming_each_file_and_its_fault(bad_source, capsys):
    source, bad = bad_source
    err = refuse(source, capsys)
    lines = err.splitlines()
    assert lines[0] == (
        f"error: 3 media file(s) named in {source.resolve()}/labels/samples.parquet are empty, "
        "truncated or not what their extension says (--skip-bad-media packages their samples "
        "as labels-only):"
    )
    assert sorted(lines[1:]) == sorted(
        [
            f"  {bad[0]}: not FLAC: does not start with 'fLaC' "
            "(starts with b'\\x00\\x01\\x02\\x03\\x04\\x05\\x06\\x07')",
            f"  {bad[1]}: empty (0 bytes)",
            f"  {bad[2]}: not MIDI: does not start with 'MThd' (starts with b'not midi')",
        ]
    )


def test_a_dry_run_refuses_bad_media_too(bad_source, capsys):
    source, bad = bad_source
    assert bad[1] in refuse(source, capsys, "--dry-run")


def test_many_bad_files_name_twenty_then_a_count(source, capsys):
    audio = audio_files(source)
    for path in audio[:25]:
        (source / path).write_bytes(b"")
    lines = refuse(source, capsys).splitlines()
    assert lines[0].startswith("error: 25 media file(s)")
    assert lines[1:21] == [f"  {path}: empty (0 bytes)" for path in audio[:20]]
    assert lines[21:] == ["  … and 5 more"]


@pytest.mark.parametrize("batch", [None, 3])  # 3: the bad rows fall in later batches
def test_skip_bad_media_packages_their_samples_labels_only_and_says_which(
    bad_source, capsys, monkeypatch, batch
):
    source, bad = bad_source
    if batch:  # media checked and labels read 3 rows at a time
        monkeypatch.setattr(source_columns, "CHECK_BATCH", batch)
        monkeypatch.setattr(sousa.write.source, "LABEL_BATCH_ROWS", batch)
    rows = source_rows(source)
    bad_ids = [sid for sid, r in rows.items() if {r["audio_path"], r["midi_path"]} & set(bad)]
    assert len(bad_ids) == 3
    assert main([str(source), "--quiet", "--skip-bad-media"]) == 0
    out = capsys.readouterr().out
    assert "bad media, samples packaged as labels-only: 3" in out
    for sample_id in bad_ids:
        assert f"  {sample_id}: " in out
    staged = all_rows(source / "hf_staging")
    assert set(staged) == set(rows), "every sample is still a row"
    for sample_id in bad_ids:
        row = staged[sample_id]
        assert all(row[c] is None for c in (*SHARD_COLUMNS, *AUDIO_PROPERTY_COLUMNS)), sample_id
    for sample_id in set(rows) - set(bad_ids):
        assert (staged[sample_id]["audio_shard"] is None) == (rows[sample_id]["audio_path"] is None)
    members = set()
    for shard in (source / "hf_staging").glob("*/*.tar"):
        with tarfile.open(shard) as tar:
            members |= set(tar.getnames())
    assert not {m.split(".")[0] for m in members} & {Path(p).stem for p in bad}
    card = (source / "hf_staging" / "README.md").read_text()
    assert "## Samples without media" in card
    assert all(f"`{sample_id}`" in card for sample_id in bad_ids)


def test_the_card_names_twenty_bad_samples_then_a_count(source, capsys):
    rows = source_rows(source)
    audio = audio_files(source)
    for path in audio[:23]:
        (source / path).write_bytes(b"")
    assert main([str(source), "--quiet", "--skip-bad-media"]) == 0
    card = (source / "hf_staging" / "README.md").read_text()
    section = card.split("## Samples without media", 1)[1].split("\n## ", 1)[0]
    named = [sid for sid in rows if f"`{sid}`" in section]
    assert len(named) == 20 and " and 3 more." in section and section.lstrip().startswith("23 ")


def corrupt_middle(path: Path) -> None:
    """Overwrite 2,000 bytes in the middle of a real FLAC file: its length, head and last
    frame stay as they were, so only decoding every frame (--verify-audio) finds it."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 2000] = bytes(range(256)) * 7 + bytes(208)
    path.write_bytes(bytes(data))


def test_a_flac_cut_in_half_is_refused_by_default_naming_it(source, capsys):
    path = audio_files(source)[2]
    truncate_half(source / path)
    err = refuse(source, capsys)
    assert err.startswith("error: 1 media file(s)")
    assert f"  {path}: truncated: no frame ends at STREAMINFO's " in err


def test_a_flac_cut_inside_its_last_frame_is_refused_by_default(source, capsys):
    path = audio_files(source)[2]
    data = (source / path).read_bytes()
    (source / path).write_bytes(data[:-3])  # the last frame's CRC-16 and one byte more
    err = refuse(source, capsys)
    assert f"  {path}: truncated or corrupt: its last frame (to frame " in err


def test_a_flac_cut_in_half_exits_2_from_the_command_line(source):
    path = audio_files(source)[2]
    truncate_half(source / path)
    done = subprocess.run(
        [sys.executable, "-m", "sousa.package", str(source), "--quiet"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{path}: truncated" in done.stderr and not (source / "hf_staging").exists()


def test_a_flac_corrupt_in_the_middle_passes_the_default_check_and_fails_verify_audio(
    source, capsys
):
    path = audio_files(source)[2]
    corrupt_middle(source / path)
    err = refuse(source, capsys, "--verify-audio")
    assert f"  {path}: truncated or corrupt: decoding fails within frames " in err
    assert err.startswith("error: 1 media file(s)")
    assert main([str(source), "--quiet"]) == 0, "the default check reads the head and the end"


def test_verify_audio_then_skip_repackages_what_an_earlier_run_packaged(source, capsys):
    """--verify-audio is no part of the reuse key, yet a file it finds bad changes the key."""
    path = audio_files(source)[2]
    sample_id = next(s for s, r in source_rows(source).items() if r["audio_path"] == path)
    corrupt_middle(source / path)
    first = package_dataset(PackageOptions(source=source, skip_bad_media=True))
    assert all_rows(first.out)[sample_id]["audio_shard"] is not None
    options = PackageOptions(source=source, skip_bad_media=True, verify_audio=True)
    second = package_dataset(options)
    assert not second.reused and all_rows(second.out)[sample_id]["audio_shard"] is None
    assert package_dataset(options).reused


def test_verify_audio_on_good_media_changes_nothing(source):
    first = package_dataset(PackageOptions(source=source))
    before = tree_digest(first.out)
    assert package_dataset(PackageOptions(source=source, verify_audio=True)).reused
    assert tree_digest(first.out) == before


def test_a_killed_writers_flac_and_a_zero_rate_are_refused(source, capsys):
    audio = audio_files(source)
    killed_writer_flac(source / audio[0])
    head = (source / audio[3]).read_bytes()
    (source / audio[3]).write_bytes(_with_sample_rate_zero(head[:42]) + head[42:])
    err = refuse(source, capsys)
    assert f"  {audio[0]}: STREAMINFO total frames is 0 (unknown)" in err
    assert f"  {audio[3]}: STREAMINFO sample rate is 0" in err


def test_a_label_column_may_not_take_an_audio_or_shard_column_name(source, capsys):
    path = source / "labels" / "samples.parquet"
    table = pq.read_table(path)
    pq.write_table(table.append_column("audio_frames", [[1] * table.num_rows]), path)
    assert "'audio_frames' are names the split tables give" in refuse(source, capsys)


# -- the audio properties ---------------------------------------------------------------------


def test_split_tables_carry_each_samples_streaminfo(staging, demo_template):
    rows = source_rows(demo_template)
    checked = 0
    for sample_id, row in all_rows(staging).items():
        path = rows[sample_id]["audio_path"]
        got = [row[c] for c in AUDIO_PROPERTY_COLUMNS]
        if path is None:
            assert got == [None, None, None]
            continue
        info = sf.info(demo_template / path)
        assert got == [info.samplerate, info.channels, info.frames], sample_id
        checked += 1
    assert checked > 20


def test_every_loader_returns_the_audio_properties_of_the_table(staging):
    """They are labels: the `.json` member carries them (native loading), `sousa.load`
    returns them from the split table, and `filter=` selects by them."""
    table = {r["sample_id"]: r for r in split_rows(staging, "validation")}
    native = load_dataset(str(staging), "midi", split="validation", streaming=True)
    ours = sousa.load(staging, "labels", split="validation", streaming=True)
    seen = 0
    for sample in native:
        want = table[sample["json"]["sample_id"]]
        assert [sample["json"][c] for c in AUDIO_PROPERTY_COLUMNS] == [
            want[c] for c in AUDIO_PROPERTY_COLUMNS
        ]
        seen += 1
    for sample in ours:
        want = table[sample["sample_id"]]
        assert [sample[c] for c in AUDIO_PROPERTY_COLUMNS] == [
            want[c] for c in AUDIO_PROPERTY_COLUMNS
        ]
    assert seen > 0
    frames = next(r["audio_frames"] for r in table.values() if r["audio_frames"])
    picked = sousa.load(staging, "labels", split="validation", filter={"audio_frames": frames})
    assert {r["audio_frames"] for r in picked} == {frames}


def test_no_audio_leaves_the_audio_properties_null(source):
    summary = package_dataset(PackageOptions(source=source, include_audio=False))
    rows = all_rows(summary.out).values()
    assert all(r[c] is None for r in rows for c in AUDIO_PROPERTY_COLUMNS)


def test_only_the_media_packaged_are_checked(source, capsys):
    """--no-midi leaves the MIDI files out, so a bad one is not read."""
    (source / midi_files(source)[0]).write_bytes(b"not midi")
    assert main([str(source), "--quiet", "--no-midi"]) == 0
