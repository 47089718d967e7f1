"""``deskbot demo`` end to end: both sandboxes, the real clients, every capability, once."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from deskbot.demo import MARKER, Demo, DemoOptions
from deskbot.errors import DeskbotError


def test_demo_runs_every_step_and_leaves_a_transcript_and_a_chart(tmp_path: Path) -> None:
    out = io.StringIO()
    result = Demo(
        DemoOptions(out_dir=tmp_path / "demo", seed=7, tickets=1500),
        Console(file=out, width=120),
    ).run()
    text = out.getvalue()
    assert result.ok, text
    steps = [name for name, _ in result.steps]
    for expected in (
        "Backfill: the first sync",
        "Incremental sync",
        "followups",
        "claim",
        "handled",
        "digest",
        "digest again",
        "shoutouts",
        "qa sample",
        "qa review",
        "qa dispute",
        "qa outcome",
        "/deskbot stats 7d",
        "People directory",
    ):
        assert expected in steps, text
    outcomes = dict(result.steps)
    assert "0 answered 429" in outcomes["Backfill: the first sync"]
    people = outcomes["People directory"]
    assert "by e-mail" in people and "0 unmatched" not in people  # the deliberate differences
    assert "already_posted" in outcomes["digest again"]
    assert "forecast:#support-leads:" in outcomes["forecast"]
    assert "already_posted" in outcomes["forecast again"]
    assert "Claimed by" in text and "Handled by" in text
    assert "Did you mean" in text
    assert "upheld" in outcomes["qa outcome"] and "sc_accuracy" in outcomes["qa modal errors"]
    for nps_step in ("nps asks", "nps answers", "nps reminder", "nps release", "nps reply"):
        assert nps_step in steps, text
    assert "1 department released" in outcomes["nps release"]
    assert result.images and result.images[0].read_bytes().startswith(b"\x89PNG")
    transcripts = {p.name for p in (result.transcript_dir or tmp_path).glob("*.md")}
    assert {"csat-alerts.md", "support-leads.md", "shoutouts.md"} <= transcripts
    assert (tmp_path / "demo" / "deskbot.yaml").exists()


def test_demo_refuses_to_clear_a_directory_it_did_not_make(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(DeskbotError, match="not a deskbot demo directory"):
        Demo(DemoOptions(out_dir=precious), Console(file=io.StringIO())).run()
    assert (precious / "notes.txt").read_text(encoding="utf-8") == "keep me"
    assert not (precious / MARKER).exists()
