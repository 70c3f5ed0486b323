"""The targets `run.py` judges a configuration (and packing RSS across sizes) against.

`results` is one configuration's raw results as `run.py` records them (``packing``: per packer
lists of ``wall``/``max_rss_mb``/``tree_rss_mb``; ``loading``: per ``loader@samples`` lists of
``seconds``/``wall``/``max_rss_mb``). Medians come from `harness.summary`; RSS is the maximum
over rounds.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import summary
from report import table

MB = 1e6


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
    return summary(values)["median"]


def packing_medians(results: dict) -> dict[str, dict[str, float]]:
    """Per packer: median, min and max wall, and the max over rounds of both RSS figures."""
    out = {}
    for name, runs in results["packing"].items():
        wall = summary(runs["wall"])
        out[name] = {
            "wall": wall["median"],
            "min": wall["min"],
            "max": wall["max"],
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


def verdict_table(verdicts: list[Verdict]) -> list[str]:
    return table(
        ["target", "measured", "verdict"], [[v.target, v.measured, v.text] for v in verdicts]
    )


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
        return table(header, rows), Verdict(target, "4 GB configuration not run", None)

    def peak(r: dict) -> float:
        p = packing_medians(r)
        return max(p[k]["max_rss_mb"] for k in ("workers1", "workers2") if k in p)

    a, b = peak(small), peak(large)
    change = b / a - 1
    measured = f"{a:.0f} MB → {b:.0f} MB ({change:+.1%})"
    return table(header, rows), Verdict(target, measured, abs(change) <= 0.10)
