"""``deskbot qa sample | tasks | report`` on a real SQLite store (no Slack, no Zendesk)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.qa_helpers import add_tickets
from typer.testing import CliRunner

from deskbot.adapters.db.qa_store import SqlQaStore
from deskbot.adapters.db.store import Database
from deskbot.cli import app
from deskbot.domain.scorecard import COMPETENCY_KEYS

CONFIG = """
timezone: UTC
zendesk: {{subdomain: acme}}
slack: {{enabled: false}}
storage: {{url: "sqlite:///{db}"}}
data_dir: {data}
roles: {{leads: [U0LEAD001, U0LEAD002]}}
roster:
  agents:
    - {{zendesk_user_id: 101, slack_user: U0AGENT01, lead: U0LEAD001}}
    - {{zendesk_user_id: 102, slack_user: U0AGENT02, lead: U0LEAD002}}
qa:
  samples_per_agent: 4
  strata: {{bad_csat: 1, reopened: 1, long_resolution: 0, many_replies: 0}}
"""


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Database]:
    db_path = tmp_path / "deskbot.sqlite"
    database = Database(f"sqlite:///{db_path}")
    database.upgrade()
    add_tickets(database, 101, 20, first_id=1000)
    add_tickets(database, 102, 20, first_id=2000, seed=2)
    config = tmp_path / "deskbot.yaml"
    config.write_text(CONFIG.format(db=db_path, data=tmp_path / "data"))
    return config, database


def run(config: Path, *args: str) -> str:
    result = CliRunner().invoke(
        app, ["--config", str(config), "--log-level", "warning", "qa", *args]
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_sample_dry_run_then_once_then_tasks_and_report(
    setup: tuple[Path, Database], tmp_path: Path
) -> None:
    config, database = setup
    dry = json.loads(run(config, "sample", "--cycle", "2026-W45", "--dry-run", "--json"))
    assert dry["samples"] == 8 and dry["dry_run"] and not SqlQaStore(database).cycles()
    first = json.loads(run(config, "sample", "--cycle", "2026-W45", "--json"))
    assert first["created"] and first["reviewer_loads"] == {"U0LEAD001": 4, "U0LEAD002": 4}
    assert [s["ticket_id"] for s in first["samples_list"]] == [
        s["ticket_id"] for s in dry["samples_list"]
    ]
    assert all(s["N_h"] >= s["n_h"] >= 1 for s in first["samples_list"])
    again = json.loads(run(config, "sample", "--cycle", "2026-W45", "--json"))
    assert not again["created"] and again["samples"] == 8
    assert "already drawn" in run(config, "sample", "--cycle", "2026-W45")

    tasks = json.loads(run(config, "tasks", "--json"))
    assert len(tasks) == 8 and all(t["state"] == "open" for t in tasks)
    assert all(t["reviewer"] in ("U0LEAD001", "U0LEAD002") for t in tasks)
    store = SqlQaStore(database)
    from datetime import UTC, datetime

    for t in store.tasks():
        store.save_review(
            t.id, submission="x", author=t.reviewer, scores=dict.fromkeys(COMPETENCY_KEYS, 3),
            score=75.0, hero=False, notes=None, at=datetime(2026, 11, 10, tzinfo=UTC),
        )  # fmt: skip
    report = json.loads(run(config, "report", "--cycle", "2026-W45", "--json"))
    assert report["team"]["score"] == 75.0 and report["team"]["n"] == 8
    assert {a["agent_id"] for a in report["agents"]} == {101, 102}
    one = json.loads(run(config, "report", "--agent", "101", "--json"))
    assert [a["agent_id"] for a in one["agents"]] == [101]
    chart = tmp_path / "qa.png"
    text = run(config, "report", "--chart", str(chart))
    assert "Team: 75.0" in text and chart.read_bytes().startswith(b"\x89PNG")


def test_bad_cycle_is_a_clear_error(setup: tuple[Path, Database]) -> None:
    config, _ = setup
    result = CliRunner().invoke(app, ["--config", str(config), "qa", "sample", "--cycle", "W9"])
    assert result.exit_code == 2 and "cannot read cycle 'W9'" in result.output
