"""kill -9 at every write, then a restart: each Zendesk write and each Slack alert happens once.

The child process runs the real bootstrap and adapters (zenpy through the base-URL session,
slack_sdk with ``base_url``) against HTTP fakes in this process; the fake applies the n-th write
and then SIGKILLs the child before it can read the answer.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deskbot.adapters.db.store import Database
from followups_support import FakeServices, seed_people, seed_rating, seed_ticket

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """
zendesk:
  subdomain: acme
  base_url: {base}
slack:
  base_url: {base}/api/
  messages_per_second_per_channel: 10
  channels:
    alerts: "#csat-alerts"
storage:
  url: sqlite:///{db}
data_dir: {data}
followups:
  ticket_updates_per_minute: 10000
"""

WRITES_IN_A_CLEAN_RUN = 4  # note on ticket 10, follow-up of closed 20, two alerts


def _run_child(config: Path, ledger: Path, services: FakeServices) -> int:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")]),
        "DESKBOT_ZENDESK_EMAIL": "bot@example.com",
        "DESKBOT_ZENDESK_API_TOKEN": "token",
        "DESKBOT_SLACK_BOT_TOKEN": "xoxb-test",
    }
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "followups_child.py"), str(config), str(ledger)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    services.victim_pid = proc.pid
    _out, err = proc.communicate(timeout=60)
    if proc.returncode not in (0, -9):
        raise AssertionError(err.decode()[-3000:])
    return proc.returncode


@pytest.mark.slow
def test_kill_9_at_each_write_then_restart_does_everything_once(tmp_path: Path) -> None:
    """Each run is killed right after its first write lands, until a run finishes: every
    write is once the one a process died on, and nothing is done twice."""
    db_path = tmp_path / "deskbot.sqlite"
    database = Database(f"sqlite:///{db_path}")
    database.upgrade()
    now = datetime.now(UTC)
    seed_people(database)
    services = FakeServices()
    try:
        for rating_id, ticket_id, status in ((1, 10, "solved"), (2, 20, "closed")):
            services.zendesk.add_ticket(ticket_id, status=status)
            seed_ticket(database, ticket_id, status=status)
            seed_rating(database, rating_id, ticket_id, "bad", at=now)
        database.dispose()
        config = tmp_path / "deskbot.yaml"
        config.write_text(CONFIG.format(base=services.base_url, db=db_path, data=tmp_path / "data"))
        ledger = tmp_path / "ledger.json"

        for write in range(1, WRITES_IN_A_CLEAN_RUN + 1):
            services.kill_at, services.killed = write, False
            assert _run_child(config, ledger, services) == -9, f"not killed at write {write}"
            assert services.killed
        services.kill_at = None
        assert _run_child(config, ledger, services) == 0
        assert services.writes_seen == WRITES_IN_A_CLEAN_RUN  # the last run had nothing left

        zendesk, slack = services.zendesk, services.slack
        assert zendesk.write_count("update") == 1
        assert zendesk.write_count("create") == 1
        notes = [c for c in zendesk.comments[10] if "[deskbot:followup:1:1]" in c["body"]]
        assert len(notes) == 1
        keys = sorted(m["metadata"]["event_payload"]["key"] for m in slack.messages)
        assert keys == ["followup:1:1:alert", "followup:2:1:alert"]
    finally:
        services.close()
