"""What the default end check of every FLAC (`sousa/write/flac_tail.py`) costs packaging.

    python benchmarks/run.py flac_tail [--samples 300 --seconds 5 --rounds 5]

`python -m sousa.package` of a demo into a fresh folder, each run a fresh process, page cache
warm, interleaved after one warm-up round: as is, and with `media_check.check_flac_tail` a
no-op: wall and CPU seconds, round-by-round ratios (CPU the steadier on a shared machine).
Also `check_media` over every file, in this process, with and without it: its cost a FLAC.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import harness as h

NO_OP = "import runpy, sousa.write.media_check as m; m.check_flac_tail = lambda *a: None; "
NO_OP += "runpy.run_module('sousa.package', run_name='__main__')"


def check_seconds(src: Path, end_check: bool) -> float:
    """Seconds of `check_media` over every media file of `src`, with or without the end check."""
    import sousa.write.media_check as mc
    from sousa.write.flac_tail import check_flac_tail
    from sousa.write.source import read_source

    columns = [[getattr(s, k) for s in read_source(src).samples] for k in ("audio", "midi")]
    mc.check_flac_tail = check_flac_tail if end_check else (lambda *a: None)
    try:
        start = time.perf_counter()
        bad = mc.check_media(src, *columns, [""] * len(columns[0]))[1]
        seconds = time.perf_counter() - start
    finally:
        mc.check_flac_tail = check_flac_tail
    if bad:
        raise RuntimeError(f"{src}: bad media, the timing is not of a clean pass: {bad[:3]}")
    return seconds


def main(argv: list[str]) -> dict:
    p = argparse.ArgumentParser(prog="run.py flac_tail", description=__doc__.split("\n\n")[0])
    for flag, kind, default in (("samples", int, 300), ("seconds", float, 5.0), ("rounds", int, 5)):
        p.add_argument(f"--{flag}", type=kind, default=default)
    p.add_argument("--work", type=Path, default=h.HERE / "work")
    a = p.parse_args(argv)
    src, out = h.demo_source(a.work, n_samples=a.samples, seconds=a.seconds), a.work / "ft-out"
    tail = [str(src), "--out", str(out), "--quiet"]
    cmds = {"with": [h.PY, "-m", "sousa.package", *tail], "without": [h.PY, "-c", NO_OP, *tail]}
    runs = {name: {"wall": [], "cpu": [], "check": []} for name in cmds}
    for r, name in h.interleaved(list(cmds), a.rounds + 1):  # round 0: the warm-up
        h.remove(out)
        h.warm_cache(h.files_under([src]))
        m, check = h.run_measured(cmds[name], h.CHILD_ENV), check_seconds(src, name == "with")
        for field, value in zip(runs[name], (m.wall, m.cpu, check)) if r else ():
            runs[name][field].append(value)
    h.remove(out)
    med = {n: {k: h.summary(v)["median"] for k, v in run.items()} for n, run in runs.items()}
    w, wo = runs.values()
    ratios = [h.summary(x / y for x, y in zip(w[k], wo[k])) for k in ("wall", "cpu")]
    flacs = len(list((src / "audio").rglob("*.flac")))
    us = (med["with"]["check"] - med["without"]["check"]) / max(1, flacs) * 1e6
    rows = [[f"{n} the end check", *(f"{m[k]:.3f}" for k in m)] for n, m in med.items()]
    spans = [f"{x['median']:.3f} ({x['min']:.3f}–{x['max']:.3f})" for x in ratios]
    rows.append(["with / without (median, min–max of the rounds)", *spans, ""])
    header = ["packaging (fresh process)", "wall s", "CPU s", "`check_media` alone s"]
    note = f"{flacs:,} FLAC files ({a.samples:,} × {a.seconds:g} s); end check {us:.0f} µs a FLAC"
    return {"title": "The FLAC end check's cost", "runs": runs, "end_check_us_a_flac": us,
            "tables": [{"header": header, "rows": rows, "note": note}]}  # fmt: skip
