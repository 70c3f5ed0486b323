"""Opt-in: push the demo to a private scratch repo on the real Hub, and read it back.

Runs only with SOUSA_HUB_TEST_TOKEN (a write token) and SOUSA_HUB_TEST_REPO (`user/name` of a
dataset repo you can wipe: the test replaces its content). See README "Test against the real
Hub". Everywhere else (CI, this sandbox) it is skipped with the reason.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from sousa.errors import PushError
from sousa.package import main

from .helpers import source_rows

TOKEN = os.environ.get("SOUSA_HUB_TEST_TOKEN", "")
REPO = os.environ.get("SOUSA_HUB_TEST_REPO", "")

pytestmark = pytest.mark.skipif(
    not (TOKEN and REPO),
    reason="real-Hub test: set SOUSA_HUB_TEST_TOKEN (write token) and SOUSA_HUB_TEST_REPO "
    "(a private scratch dataset repo) to run it",
)


def push_cli(source, capsys, *args: str) -> str:
    argv = [str(source), "--quiet", "--push", "--private", "--repo-id", REPO, "--token", TOKEN]
    assert main([*argv, *args]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_push_repush_resume_and_load_on_the_real_hub(source, capsys, monkeypatch):
    from datasets import load_dataset
    from huggingface_hub import HfApi

    import sousa
    import sousa.hub.push
    import sousa.limits

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    push_cli(source, capsys, "--shard-size", "400KB")
    again = push_cli(source, capsys, "--shard-size", "400KB")
    assert "pushed: 0 file(s) uploaded, 0 deleted in 0 commit(s)" in again

    class Interrupted(HfApi):
        """Stops the push after its second data commit (the first opened the pull request),
        as Ctrl-C would."""

        def upload_folder(self, **kwargs):
            super().upload_folder(**kwargs)
            raise KeyboardInterrupt

    monkeypatch.setattr(sousa.limits, "HUB_MAX_FILES_PER_COMMIT", 8)
    assert main([str(source), "--quiet", "--shard-size", "150KB"]) == 0
    with pytest.raises((KeyboardInterrupt, PushError)):
        sousa.hub.push.push(
            source / "hf_staging", REPO, token=TOKEN, private=True, api=Interrupted()
        )
    everyone = Counter(list(source_rows(source)))
    ds = load_dataset(REPO, streaming=True, token=TOKEN)
    assert Counter(s["json"]["sample_id"] for split in ds.values() for s in split) == everyone
    resumed = push_cli(source, capsys, "--shard-size", "150KB")
    assert "verified" in resumed

    ds = load_dataset(REPO, "midi", streaming=True, token=TOKEN)
    midi = Counter(s["json"]["sample_id"] for split in ds.values() for s in split)
    assert midi == Counter(sid for sid, r in source_rows(source).items() if r["midi_path"])
    ours = sousa.load(REPO, split="test", streaming=True, token=TOKEN)
    assert {s["sample_id"] for s in ours} <= set(everyone)
