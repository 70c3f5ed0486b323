"""`run.py`'s report: one configuration's section of BENCHMARKS.md and the table across them.

A configuration's section is the block ``sousa-bench:begin KEY`` (see `report`); it embeds its
raw results as JSON (``sousa-bench-data``), from which the cross-configuration block
``across`` (packing RSS at 1 GB vs 4 GB) is re-rendered. Nothing else in the file is touched.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from report import read_block, replace_block, table
from run_verdicts import (
    MB,
    loading_medians,
    loading_verdicts,
    packing_medians,
    packing_verdicts,
    rss_scaling_verdict,
    verdict_table,
)

PACKERS = ("tar", "seed", "workers1", "workers2")
PACKER_LABELS = {
    "tar": "GNU `tar -cf` (disk-speed floor)",
    "seed": "seed plan algorithm (`iterrows` + `tarfile.add`)",
    "workers1": "`python -m sousa.package --workers 1`",
    "workers2": "`python -m sousa.package --workers 2`",
    "import": "`python -c 'import sousa.package'` (startup only, included above)",
}
LOADERS = (
    "soundfile",
    "soundfile_2p",
    "null_dl2",
    "sousa",
    "sousa_threads",
    "sousa_dl2",
    "sousa_dl2_np",
    "native",
    "native_dl2",
)
LOADER_LABELS = {
    "soundfile": "`soundfile.read` loop over the FLAC files (decode floor)",
    "sousa": "`sousa.load(..., streaming=True)`",
    "sousa_threads": "`sousa.load(..., streaming=True, decode_threads=2)`",
    "native": '`datasets.load_dataset(..., "audio", streaming=True)` + torchcodec',
    "soundfile_2p": "`soundfile.read` loop in 2 processes (fork pool; arrays stay in the workers)",
    "null_dl2": "`DataLoader(num_workers=2)` over arrays made, not decoded (transfer ceiling)",
    "sousa_dl2": "`DataLoader(sousa.load(..., streaming=True), num_workers=2)`",
    "sousa_dl2_np": "… the same with `collate_fn=lambda s: s` (numpy arrays through the pipe)",
    "native_dl2": "`DataLoader(load_dataset(..., streaming=True).map(torchcodec), num_workers=2)`",
}
ACROSS = "## Across configurations: packing peak RSS (largest process) vs dataset size"
_DATA = re.compile(r"<!-- sousa-bench-data (?P<data>.*?) -->")


def packing_table(results: dict) -> list[str]:
    p = packing_medians(results)
    data = results["dataset"]
    tar = p["tar"]["wall"]
    rows = []
    for name in [*PACKERS, "import"]:
        if name not in p:
            continue
        r = p[name]
        media = name != "import"
        rows.append(
            [
                PACKER_LABELS[name],
                f"{r['wall']:.2f}",
                f"{r['min']:.2f}–{r['max']:.2f}",
                f"{data['media_bytes'] / MB / r['wall']:,.0f}" if media else "",
                f"{data['samples'] / r['wall']:,.0f}" if media else "",
                f"{r['max_rss_mb']:.0f}",
                f"{r['tree_rss_mb']:.0f}",
                f"{r['wall'] / tar:.2f}",
            ]
        )
    header = [
        "packing",
        "wall s (median)",
        "min–max",
        "MB/s",
        "samples/s",
        "peak RSS MB, largest process",
        "peak RSS MB, tree",
        "× GNU tar",
    ]
    return table(header, rows)


def loading_table(results: dict) -> list[str]:
    loading = results["loading"]
    m = loading_medians(results)
    floor = m.get(f"soundfile@{loading['samples_all']}")
    rows = []
    for kind in LOADERS:
        for n in (loading["samples_half"], loading["samples_all"]):
            r = m.get(f"{kind}@{n}")
            if r is None:
                continue
            vs_floor = r["rate"] / floor["rate"] if floor and n == loading["samples_all"] else None
            rows.append(
                [
                    LOADER_LABELS[kind],
                    f"{n:,}",
                    f"{r['seconds']:.2f}",
                    f"{r['rate']:,.0f}",
                    f"{r['mbps']:,.0f}",
                    f"{r['wall']:.2f}",
                    f"{r['max_rss_mb']:.0f}",
                    f"{vs_floor:.2f}" if vs_floor is not None else "",
                ]
            )
    if "sousa_unavailable" in loading:
        rows.append([LOADER_LABELS["sousa"], "", "not available", "", "", "", "", ""])
    header = [
        "loading",
        "samples",
        "loop s (median)",
        "samples/s",
        "MB/s FLAC",
        "process wall s",
        "peak RSS MB",
        "× soundfile loop",
    ]
    return table(header, rows)


def render_section(results: dict) -> str:
    """The inside of one configuration's block, raw data (JSON) included."""
    d, mach = results["dataset"], results["machine"]
    lines = [
        f"## {results['title']}",
        "",
        f"- command: `{results['command']}`",
        f"- date: {mach['date']}; rounds: {results['rounds']} (interleaved, order rotated "
        "each round); page cache: warm (every input read once, then `sync`, before each run)",
        f"- machine: {mach['cpu']}, {mach['cores']} cores, {mach['ram']} RAM, {mach['os']}; "
        f"disk {mach['disk']}",
        f"- software: Python {mach['python']}, datasets {mach['datasets']}, torch "
        f"{mach['torch']}, torchcodec {mach['torchcodec']}, soundfile {mach['soundfile']}, "
        f"{mach['tar']}",
        f"- dataset: {d['samples']:,} samples × {d['seconds']} s; {d['media_files']:,} media "
        f"files ({d['audio_files']:,} FLAC + {d['midi_files']:,} MIDI), "
        f"{d['media_bytes'] / MB:,.1f} MB",
        "",
    ]
    if results.get("packing"):
        lines += ["### Packing", "", *packing_table(results), ""]
    if results.get("loading"):
        lo = results["loading"]
        lines += [
            f"### Loading split `{lo['split']}` ({lo['samples_all']:,} samples, "
            f"{lo['flac_bytes_all'] / MB:,.1f} MB FLAC)",
            "",
            *loading_table(results),
            "",
        ]
    lines += [
        "### Targets",
        "",
        *verdict_table(packing_verdicts(results) + loading_verdicts(results)),
        "",
    ]
    if results.get("notes"):
        lines += ["### Notes", "", *results["notes"], ""]
    lines += [
        f"<!-- sousa-bench-data {json.dumps(results, sort_keys=True)} -->",
    ]
    return "\n".join(lines) + "\n"


def console_summary(results: dict) -> str:
    """The tables and verdicts, for the terminal."""
    lines = [f"== {results['title']}"]
    if results.get("packing"):
        lines += [*packing_table(results), ""]
    if results.get("loading"):
        lines += [*loading_table(results), ""]
    lines += verdict_table(packing_verdicts(results) + loading_verdicts(results))
    return "\n".join(lines)


def read_sections(path: Path) -> dict[str, dict]:
    """The raw results embedded in `path`'s configuration sections, by configuration key."""
    if not path.exists():
        return {}
    found = (json.loads(m["data"]) for m in _DATA.finditer(path.read_text()))
    return {r["key"]: r for r in found if read_block(path, r["key"], extra=False) is not None}


def update_file(path: Path, results: dict) -> None:
    """Replace (or add) this configuration's section, then the cross-configuration block."""
    replace_block(path, results["key"], render_section(results), extra=False)
    rows, verdict = rss_scaling_verdict(list(read_sections(path).values()))
    across = [ACROSS, "", *rows, "", *verdict_table([verdict]), ""]
    replace_block(path, "across", "\n".join(across))


def _first_line(path: str, prefix: str) -> str:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _disk(path: Path) -> str:
    try:
        out = subprocess.run(
            ["findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        device, fstype = out[0], out[1]
        name = Path(device).name
        rota = Path(f"/sys/block/{name}/queue/rotational")
        kind = {"0": "non-rotational", "1": "rotational (as reported; likely virtual)"}
        kind_text = kind.get(rota.read_text().strip(), "?") if rota.exists() else "?"
        return f"{device} ({fstype}, {kind_text})"
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown"


def machine_info(work: Path) -> dict[str, str]:
    """CPU, cores, RAM, versions, disk and date, for the report."""
    mem_kb = _first_line("/proc/meminfo", "MemTotal").split()[0]
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _first_line("/proc/cpuinfo", "model name"),
        "cores": str(os.cpu_count()),
        "ram": f"{int(mem_kb) / 1024**2:.1f} GiB" if mem_kb.isdigit() else "unknown",
        "os": platform.platform(),
        "python": platform.python_version(),
        "datasets": _version("datasets"),
        "torch": _version("torch"),
        "torchcodec": _version("torchcodec"),
        "soundfile": _version("soundfile"),
        "tar": subprocess.run(["tar", "--version"], capture_output=True, text=True)
        .stdout.splitlines()[0]
        .strip(),
        "disk": _disk(work),
        "executable": sys.executable,
    }
