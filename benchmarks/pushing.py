"""Pushing against `huggingface_hub`'s own `upload_folder`, over the loopback Hub emulator.

    python benchmarks/run.py pushing [--samples 300 --seconds 5 --rounds 3] [--lfs]

A packaged demo is uploaded by `sousa.push` (checks, diff, commits into a pull request,
verify, merge) and by `HfApi().upload_folder` (one commit, no checks), each in a fresh process
against a fresh emulator (`python -m tests.hub_emulator` in its own process: nothing dedups
against an earlier run), then again unchanged; interleaved over `--rounds`. Xet, or `--lfs`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from harness import HERE, PY, REPO, demo_source, rotated, run_measured, staging, summary

sys.path.insert(0, str(REPO))  # tests.hub_emulator
TOKEN = "hf_bench_write"
PUSH = "import sys; from pathlib import Path; import sousa; sousa.push(Path(sys.argv[1]), 'user/b')"
UPLOAD = (
    "import sys; from huggingface_hub import HfApi; api = HfApi(); "
    "api.create_repo('user/b', repo_type='dataset', exist_ok=True); "
    "api.upload_folder(folder_path=sys.argv[1], repo_id='user/b', repo_type='dataset', "
    "ignore_patterns=['.sousa*'])"
)


class Emulator:
    """`python -m tests.hub_emulator` in a process of its own, for one measured pair."""

    def __init__(self, home: Path, xet: bool) -> None:
        cmd = [PY, "-m", "tests.hub_emulator", "--port", "0", "--token", TOKEN, "--no-xet"]
        self.proc = subprocess.Popen(cmd[: None if not xet else -1], cwd=REPO, stdout=-1, text=True)
        endpoint = self.proc.stdout.readline().split()[-1]
        from tests.hub_emulator.clients import client_env_vars

        self.env = os.environ | client_env_vars(endpoint, home, TOKEN, xet) | {"TQDM_DISABLE": "1"}

    def close(self) -> None:
        self.proc.terminate()
        if self.proc.wait(30) != 0:
            raise RuntimeError("the emulator reported errors (its stderr says which)")


def pair(code: str, folder: Path, home: Path, xet: bool) -> tuple[float, float]:
    """Wall seconds of a first upload to an empty Hub and of the same upload again."""
    hub = Emulator(home, xet)
    try:
        return tuple(run_measured([PY, "-c", code, str(folder)], hub.env).wall for _ in "12")
    finally:
        hub.close()


def main(argv: list[str]) -> dict:
    p = argparse.ArgumentParser(prog="run.py pushing", description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--shard-size", default="50MB")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--lfs", action="store_true", help="legacy LFS instead of Xet")
    p.add_argument("--work", type=Path, default=HERE / "work")
    args = p.parse_args(argv)
    src = demo_source(args.work, n_samples=args.samples, seconds=args.seconds, seed=0)
    folder = staging(src, args.shard_size)
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    codes = {"sousa.push": PUSH, "HfApi.upload_folder": UPLOAD}
    runs: dict[str, dict[str, list[float]]] = {k: {"first": [], "again": []} for k in codes}
    for r in range(args.rounds):
        for name in rotated(list(codes), r):
            first, again = pair(codes[name], folder, args.work / "hf-home", not args.lfs)
            runs[name]["first"].append(first)
            runs[name]["again"].append(again)
            print(f"  round {r + 1} {name}: {first:.2f} s, again {again:.2f} s", file=sys.stderr)
    med = {k: {w: summary(v)["median"] for w, v in r.items()} for k, r in runs.items()}
    base = med["HfApi.upload_folder"]
    rows = [
        [name, f"{m['first']:.2f}", f"{m['first'] / base['first']:.2f}", f"{m['again']:.2f}"]
        for name, m in med.items()
    ]
    header = ["upload (fresh process)", "first push s", "× upload_folder", "unchanged again s"]
    note = f"{size / 1e6:,.0f} MB staged ({args.samples:,} samples × {args.seconds:g} s), "
    note += "legacy LFS" if args.lfs else "Xet"
    return {
        "key": "pushing-lfs" if args.lfs else "pushing",
        "title": "Pushing (emulated Hub)",
        "runs": runs,
        "tables": [{"header": header, "rows": rows, "note": note}],
    }
