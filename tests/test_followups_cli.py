"""``deskbot followups run --dry-run`` and ``deskbot followups list``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskbot import bootstrap
from deskbot.adapters.db.followups_store import SqlFollowupStore
from deskbot.adapters.db.store import Database
from deskbot.cli import app
from deskbot.testing import InMemoryLedger
from followups_support import seed_people, seed_rating, seed_ticket

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """
zendesk:
  subdomain: acme
slack:
  channels:
    alerts: "#csat-alerts"
storage:
  url: sqlite:///{db}
data_dir: {data}
"""


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Database]:
    db_path = tmp_path / "deskbot.sqlite"
    database = Database(f"sqlite:///{db_path}")
    database.upgrade()
    config = tmp_path / "deskbot.yaml"
    config.write_text(CONFIG.format(db=db_path, data=tmp_path / "data"))
    return config, database


def test_dry_run_prints_the_plan_and_writes_nothing(
    setup: tuple[Path, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, database = setup
    seed_people(database)
    seed_ticket(database, 10)
    seed_rating(database, 1, 10, "bad", at=datetime.now(UTC))
    ledger = InMemoryLedger()
    monkeypatch.setattr(bootstrap, "action_ledger", lambda *_args: ledger)
    for var in ("DESKBOT_ZENDESK_EMAIL", "DESKBOT_ZENDESK_API_TOKEN", "DESKBOT_SLACK_BOT_TOKEN"):
        monkeypatch.delenv(var, raising=False)  # a dry run needs no credentials
    result = CliRunner().invoke(app, ["--config", str(config), "followups", "run", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "dry run: nothing was written" in result.output
    assert "open follow-up for rating 1 (ticket #10, rule default)" in result.output
    assert "Zendesk ticket #10: internal note; tags csat_followup" in result.output
    assert "Slack alert to #csat-alerts" in result.output
    assert ledger.rows == {}
    assert SqlFollowupStore(database).get(1) is None


def test_list_shows_open_followups_with_age_owner_and_state(
    setup: tuple[Path, Database],
) -> None:
    config, database = setup
    store = SqlFollowupStore(database)
    opened = datetime.now(UTC) - timedelta(hours=5)
    for rating_id, ticket_id in ((1, 10), (2, 20), (3, 30)):
        store.open_generation(
            rating_id,
            None,
            generation=1,
            ticket_id=ticket_id,
            score="bad",
            rule="default",
            owner="U0LEAD001",
            at=opened,
        )
    store.claim(2, 1, "U0AGENT02", opened + timedelta(hours=1))
    store.close(3, 1, "good", opened + timedelta(hours=2))
    database.dispose()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    env.pop("DESKBOT_CONFIG", None)
    run = subprocess.run(
        [sys.executable, "-m", "deskbot", "--config", str(config), "followups", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert [(r["rating_id"], r["state"]) for r in rows] == [(1, "open"), (2, "claimed")]
    assert rows[0]["owner"] == "U0LEAD001" and rows[1]["claimed_by"] == "U0AGENT02"
    assert 4.9 <= rows[0]["age_hours"] <= 5.5
    table = subprocess.run(
        [sys.executable, "-m", "deskbot", "--config", str(config), "followups", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert table.returncode == 0, table.stderr
    assert "#10" in table.stdout and "U0AGENT02" in table.stdout and "claimed" in table.stdout
    assert "#30" not in table.stdout
