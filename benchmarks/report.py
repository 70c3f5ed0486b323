"""Turn one run's raw results into tables and verdicts, and keep BENCHMARKS.md up to date.

BENCHMARKS.md holds one section per configuration (``gb1``, ``samples100000-s0.05``, …). Each
section embeds its raw results as JSON in an HTML comment, so a run re-renders the whole file:
the intro, the cross-configuration table (packing RSS at 1 GB vs 4 GB) and every section, with
its own configuration's section replaced and the others kept.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from statistics import median

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
MB = 1e6

_NOTES = re.compile(
    r"<!-- sousa-bench:notes-begin -->\n(?P<text>.*?)<!-- sousa-bench:notes-end -->", re.S
)
_SECTION = re.compile(
    r"<!-- sousa-bench:begin (?P<key>\S+) -->.*?<!-- sousa-bench-data (?P<data>.*?) -->\s*"
    r"<!-- sousa-bench:end (?P=key) -->",
    re.S,
)
_EXTRA = re.compile(
    r"<!-- sousa-bench:extra-begin (?P<name>\S+) -->\n(?P<text>.*?)"
    r"<!-- sousa-bench:extra-end (?P=name) -->\n",
    re.S,
)

INTRO = """\
# Benchmarks

Packing (source folder → TAR shards) and loading (shards → decoded audio), measured in one run
on the same synthetic SOUSA-shaped files (`sousa.demo.write_demo(seed=0)`), with the baselines
measured in the same run, interleaved round by round, medians reported.

Run (from the repository root, with the project's venv):

```
python benchmarks/run.py --gb 1                          # ≈ 3,500 samples × 5 s, ≈ 1 GB
python benchmarks/run.py --samples 100000 --seconds 0.05 # many small files
python benchmarks/run.py --gb 4 --skip-native            # packing RSS at 4 GB
python benchmarks/mixing.py                              # mixing: sorted vs shuffled
python benchmarks/loading.py --memory                    # loading vs its baselines (issue 16)
```

Options: `--work DIR` (generated data and scratch output, default `benchmarks/work`, reused
when the parameters match), `--rounds N` (default 3), `--skip-native` (leave out the slow
native `load_dataset` loader), `--out FILE` (default `BENCHMARKS.md`; each configuration
updates its own section and keeps the others).

What the rows mean:

- **Packing** packs `audio/` and `midi/` of the source folder. Each row is a fresh process,
  timed wall clock from start to exit (interpreter start and imports included), with the
  page cache **warm**: before every measured run every input file is read once and dirty
  pages are flushed (`sync`); the previous output is deleted first. Throughput = media bytes
  (FLAC + MIDI) / wall; samples/s = samples / wall.
  - GNU tar: `tar -cf OUT.tar -C SRC audio midi`, one archive, the disk-speed floor.
  - seed plan algorithm: `benchmarks/seed_algorithm.py`, the seed plan's Task 8
    `_get_filenames_by_split` (pandas `iterrows`) + Task 2 `create_sharded_archives`
    (`tarfile.add` per file, 1 GB shards), audio then MIDI. Shards only: no tables, no card.
  - `sousa.package`: the whole command (validate, shards with sha256, parquet tables,
    auxiliary tables, card, manifest), `--quiet`, default 1 GB shards, fresh `--out`.
- **Peak RSS**: "largest process" is GNU `time -f %M` (max RSS of the child or any descendant
  it waited for, i.e. the largest single process, workers included); "tree" is the largest
  sum of RSS over the process tree, sampled every 20 ms from `/proc`.
- **Loading** decodes every sample of one split to float32, each loader in a fresh process,
  on the half of the split and on all of it (to show whether RSS grows with the samples).
  The clock starts after imports (torch included: `datasets` imports it inside
  `IterableDataset()` when installed; torchcodec for native) and covers opening
  the dataset plus the loop; "process wall" is the whole process. MB/s is FLAC bytes / loop
  time. Page cache warm (source FLAC and the staging folder read before every run).
- These machines are noisy (±30 % run to run; other jobs share the 2 cores): compare rows
  within one section only.
"""


@dataclass(frozen=True)
class Verdict:
    """One target, what was measured against it, and whether it is met."""

    target: str
    measured: str
    met: bool | None  # None: not measured in this configuration

    @property
    def text(self) -> str:
        return {True: "**met**", False: "**NOT met**", None: "not judged"}[self.met]


def med(values: list[float]) -> float:
    return median(values) if values else float("nan")


def packing_medians(results: dict) -> dict[str, dict[str, float]]:
    """Per packer: median wall, and the max over rounds of both RSS figures."""
    out = {}
    for name, runs in results["packing"].items():
        out[name] = {
            "wall": med(runs["wall"]),
            "min": min(runs["wall"]),
            "max": max(runs["wall"]),
            "max_rss_mb": max(runs["max_rss_mb"]),
            "tree_rss_mb": max(runs["tree_rss_mb"]),
        }
    return out


def loading_medians(results: dict) -> dict[str, dict[str, float]]:
    """Per `loader@samples`: median loop time and process wall, samples/s, max RSS."""
    out = {}
    for key, runs in results["loading"]["runs"].items():
        seconds = med(runs["seconds"])
        samples = runs["samples"]
        out[key] = {
            "samples": samples,
            "seconds": seconds,
            "wall": med(runs["wall"]),
            "rate": samples / seconds,
            "mbps": runs["flac_bytes"] / MB / seconds,
            "max_rss_mb": max(runs["max_rss_mb"]),
        }
    return out


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def packing_verdicts(results: dict) -> list[Verdict]:
    """Packing targets judged on this configuration's medians."""
    if not results.get("packing"):
        return []
    p = packing_medians(results)
    data = results["dataset"]
    verdicts: list[Verdict] = []
    tar = p["tar"]["wall"]
    if "workers2" in p:
        r = _ratio(p["workers2"]["wall"], tar)
        big = data["media_bytes"] >= 1e9
        verdicts.append(
            Verdict(
                "packing `--workers 2`, ≥ 1 GB of media: wall ≤ 1.0 × GNU tar",
                f"{r:.2f} × tar ({p['workers2']['wall']:.2f} s vs {tar:.2f} s)",
                r <= 1.0 if big else None,
            )
        )
    if "workers1" in p:
        r = _ratio(p["workers1"]["wall"], tar)
        verdicts.append(
            Verdict(
                "packing `--workers 1`: wall ≤ 1.3 × GNU tar",
                f"{r:.2f} × tar ({p['workers1']['wall']:.2f} s vs {tar:.2f} s)",
                r <= 1.3,
            )
        )
        if "seed" in p:
            s = _ratio(p["seed"]["wall"], p["workers1"]["wall"])
            verdicts.append(
                Verdict(
                    "packing `--workers 1`: ≥ 5 × faster than the seed algorithm",
                    f"seed / sousa = {s:.2f} "
                    f"({p['seed']['wall']:.2f} s vs {p['workers1']['wall']:.2f} s)",
                    s >= 5.0,
                )
            )
    best = "workers2" if "workers2" in p else "workers1"
    rate = data["samples"] / p[best]["wall"]
    verdicts.append(
        Verdict(
            "packing 100,000 small samples: ≥ 5,000 samples/s end to end",
            f"{rate:,.0f} samples/s (`{best}`, {data['samples']:,} samples)",
            rate >= 5000 if data["samples"] >= 100_000 else None,
        )
    )
    rss = max(p[k]["max_rss_mb"] for k in ("workers1", "workers2") if k in p)
    verdicts.append(
        Verdict(
            "packing peak RSS ≤ 300 MB (largest process)",
            f"{rss:.0f} MB (tree sum up to "
            f"{max(p[k]['tree_rss_mb'] for k in ('workers1', 'workers2') if k in p):.0f} MB)",
            rss <= 300,
        )
    )
    return verdicts


def loading_verdicts(results: dict) -> list[Verdict]:
    """Loading targets, judged on the runs over the whole split."""
    if not results.get("loading"):
        return []
    m = loading_medians(results)
    full, half = results["loading"]["samples_all"], results["loading"]["samples_half"]
    sousa, floor = m.get(f"sousa@{full}"), m.get(f"soundfile@{full}")
    native = m.get(f"native@{full}")
    if sousa is None:
        reason = results["loading"].get("sousa_unavailable", "not measured")
        return [Verdict("`sousa.load` streaming", f"not available: {reason}", None)]
    verdicts = [
        Verdict(
            "`sousa.load` streaming ≥ 0.9 × the plain soundfile loop's samples/s",
            f"{_ratio(sousa['rate'], floor['rate']):.2f} × "
            f"({sousa['rate']:.0f} vs {floor['rate']:.0f} samples/s)",
            sousa["rate"] >= 0.9 * floor["rate"],
        )
    ]
    threaded = m.get(f"sousa_threads@{full}")
    if threaded is not None:
        verdicts.append(
            Verdict(
                "… with `decode_threads=2`: ≥ 0.9 × the soundfile loop's samples/s",
                f"{_ratio(threaded['rate'], floor['rate']):.2f} × "
                f"({threaded['rate']:.0f} vs {floor['rate']:.0f} samples/s)",
                threaded["rate"] >= 0.9 * floor["rate"],
            )
        )
    if native is not None:
        verdicts.append(
            Verdict(
                "`sousa.load` streaming ≥ 2.0 × native `load_dataset` decoding",
                f"{_ratio(sousa['rate'], native['rate']):.2f} × "
                f"({sousa['rate']:.0f} vs {native['rate']:.0f} samples/s)",
                sousa["rate"] >= 2.0 * native["rate"],
            )
        )
    else:
        verdicts.append(Verdict("`sousa.load` ≥ 2.0 × native", "native skipped", None))
    verdicts += dataloader_verdicts(m, full)
    rss_all = sousa["max_rss_mb"]
    rss_half = m[f"sousa@{half}"]["max_rss_mb"]
    growth = rss_all / rss_half - 1
    verdicts.append(
        Verdict(
            "loading peak RSS ≤ 500 MB (`sousa.load`)",
            f"{rss_all:.0f} MB over {full:,} samples",
            rss_all <= 500,
        )
    )
    verdicts.append(
        Verdict(
            "loading peak RSS flat over the number of samples (≤ +10 % from half to all)",
            f"{rss_half:.0f} MB ({half:,} samples) → {rss_all:.0f} MB ({full:,}): {growth:+.1%}",
            growth <= 0.10,
        )
    )
    return verdicts


def dataloader_verdicts(m: dict, full: int) -> list[Verdict]:
    """Issue 8 item 8: a training loop's throughput, 2 DataLoader workers vs 2 processes."""
    dl2, two = m.get(f"sousa_dl2@{full}"), m.get(f"soundfile_2p@{full}")
    dl2_np = m.get(f"sousa_dl2_np@{full}")
    native2 = m.get(f"native_dl2@{full}")
    verdicts = []
    for target, ours, base, factor in (
        ("`DataLoader(sousa.load, num_workers=2)` ≥ 0.9 × the 2-process soundfile loop", dl2,
         two, 0.9),
        ("`DataLoader(sousa.load, num_workers=2)` ≥ 2.0 × the same over native", dl2, native2,
         2.0),
        ("… with `collate_fn=lambda s: s`: ≥ 0.9 × the 2-process soundfile loop", dl2_np, two,
         0.9),
    ):  # fmt: skip
        if ours is None or base is None:
            verdicts.append(Verdict(target, "not measured in this configuration", None))
            continue
        ratio = _ratio(ours["rate"], base["rate"])
        measured = f"{ratio:.2f} × ({ours['rate']:.0f} vs {base['rate']:.0f} samples/s)"
        verdicts.append(Verdict(target, measured, ratio >= factor))
    return verdicts


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


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
    return _table(header, rows)


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
    return _table(header, rows)


def verdict_table(verdicts: list[Verdict]) -> list[str]:
    return _table(
        ["target", "measured", "verdict"], [[v.target, v.measured, v.text] for v in verdicts]
    )


def render_section(results: dict) -> str:
    """One configuration's section, raw data included."""
    d, mach = results["dataset"], results["machine"]
    lines = [
        f"<!-- sousa-bench:begin {results['key']} -->",
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
        f"<!-- sousa-bench:end {results['key']} -->",
    ]
    return "\n".join(lines)


def rss_scaling_verdict(all_results: list[dict]) -> tuple[list[str], Verdict]:
    """Packing peak RSS across the `--gb` configurations: within 10 % from ~1 GB to ~4 GB?"""
    sized = sorted(
        (r for r in all_results if r["key"].startswith("gb")),
        key=lambda r: r["dataset"]["media_bytes"],
    )
    rows = []
    for r in sized:
        p = packing_medians(r)
        rows.append(
            [
                r["title"],
                f"{r['dataset']['media_bytes'] / MB:,.0f}",
                *(
                    f"{p[k]['max_rss_mb']:.0f}" if k in p else ""
                    for k in ("workers1", "workers2", "seed", "tar")
                ),
            ]
        )
    header = [
        "configuration",
        "media MB",
        "`--workers 1` RSS MB",
        "`--workers 2` RSS MB",
        "seed RSS MB",
        "tar RSS MB",
    ]
    target = "packing peak RSS within 10 % between a 1 GB and a 4 GB dataset"
    small, large = (sized[0], sized[-1]) if sized else (None, None)
    if not sized or large["dataset"]["media_bytes"] < 3.5 * small["dataset"]["media_bytes"]:
        return _table(header, rows), Verdict(target, "4 GB configuration not run", None)

    def peak(r: dict) -> float:
        p = packing_medians(r)
        return max(p[k]["max_rss_mb"] for k in ("workers1", "workers2") if k in p)

    a, b = peak(small), peak(large)
    change = b / a - 1
    measured = f"{a:.0f} MB → {b:.0f} MB ({change:+.1%})"
    return _table(header, rows), Verdict(target, measured, abs(change) <= 0.10)


def render_file(all_results: list[dict], notes: str = "", extras: str = "") -> str:
    """The whole BENCHMARKS.md; `notes` is the hand-written Observations text, kept as is.

    `extras` are the blocks other scripts write (`update_extra`), kept as they are.
    """
    table, verdict = rss_scaling_verdict(all_results)
    parts = [
        INTRO,
        "## Observations",
        "",
        "<!-- sousa-bench:notes-begin -->",
        notes or "(hand-written notes go here; runs keep this text)\n",
        "<!-- sousa-bench:notes-end -->",
        "",
        "## Across configurations: packing peak RSS (largest process) vs dataset size",
        "",
        *table,
        "",
        *verdict_table([verdict]),
        "",
    ]
    parts += [extras] if extras else []
    parts += [render_section(r) + "\n" for r in sorted(all_results, key=lambda r: r["key"])]
    return "\n".join(parts)


def read_sections(path: Path) -> dict[str, dict]:
    """The raw results embedded in an existing BENCHMARKS.md, by configuration key."""
    if not path.exists():
        return {}
    return {m["key"]: json.loads(m["data"]) for m in _SECTION.finditer(path.read_text())}


def update_file(path: Path, results: dict) -> None:
    """Replace this configuration's section in `path`, keeping the others."""
    _rewrite(path, read_sections(path) | {results["key"]: results}, {})


def update_extra(path: Path, name: str, title: str, body: str) -> None:
    """Replace (or add) the block `name` that a script other than run.py measures."""
    block = (
        f"<!-- sousa-bench:extra-begin {name} -->\n{title}\n\n{body}"
        f"<!-- sousa-bench:extra-end {name} -->\n"
    )
    _rewrite(path, read_sections(path), {name: block})


def _rewrite(path: Path, sections: dict[str, dict], new_extras: dict[str, str]) -> None:
    """Render the whole file again, keeping the notes and the other scripts' blocks."""
    text = path.read_text() if path.exists() else ""
    notes = _NOTES.search(text)
    extras = {m["name"]: m.group(0) for m in _EXTRA.finditer(text)} | new_extras
    tmp = path.with_suffix(".md.tmp")
    rendered = render_file(
        list(sections.values()),
        notes["text"].rstrip() + "\n" if notes else "",  # (each rewrite added a blank line)
        "\n".join(extras.values()),
    )
    tmp.write_text(rendered)
    tmp.replace(path)


def console_summary(results: dict) -> str:
    """The tables and verdicts, for the terminal."""
    lines = [f"== {results['title']}"]
    if results.get("packing"):
        lines += [*packing_table(results), ""]
    if results.get("loading"):
        lines += [*loading_table(results), ""]
    lines += verdict_table(packing_verdicts(results) + loading_verdicts(results))
    return "\n".join(lines)
