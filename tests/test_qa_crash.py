"""kill -9 in the middle of the reviewers' DMs: the rerun sends the missing DMs and repeats
none (the ledger's intent + the marker in the posted message's metadata)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.qa_helpers import add_tickets

from deskbot import bootstrap
from deskbot.adapters.db.store import Database
from deskbot.sandbox.slack import SlackSandbox
from deskbot.testing import FakeClock

SRC = Path(__file__).resolve().parents[1] / "src"

CHILD = """
import json, os, signal, sys
from deskbot import bootstrap
from deskbot.adapters.db.store import Database
from deskbot.settings import Settings

settings = Settings.model_validate(json.loads(sys.argv[1]))
service = bootstrap.qa_service(settings, Database(sys.argv[2]))
send = service.slack.task_list
sent = []

def task_list_then_die(*args):
    ts = send(*args)
    sent.append(ts)
    if len(sent) == 2:  # posted, but the ledger never hears of it
        os.kill(os.getpid(), signal.SIGKILL)
    return ts

service.slack.task_list = task_list_then_die
service.draw("2026-W48")
service.dispatch("2026-W48")
"""


@pytest.fixture
def slack(tmp_path: Path) -> Iterator[SlackSandbox]:
    sb = SlackSandbox(out_dir=tmp_path / "slack", seed=1)  # real clock: a real process
    sb.start()
    yield sb
    sb.stop()


@pytest.mark.slow
def test_kill_9_during_dm_dispatch(tmp_path: Path, slack: SlackSandbox) -> None:
    url = f"sqlite:///{tmp_path / 'qa.sqlite'}"
    db = Database(url)
    db.upgrade()
    start = datetime(2026, 11, 23, tzinfo=UTC)  # week 2026-W48
    add_tickets(db, 101, 12, first_id=1000, start=start)
    add_tickets(db, 102, 12, first_id=2000, start=start, seed=2)
    u = slack.user_id
    reviewers = [u("lucas.ferreira"), u("aiko.tanaka"), u("noah.kim")]
    data: dict[str, Any] = {
        "timezone": "UTC",
        "zendesk": {"subdomain": "acme"},
        "slack": {"base_url": slack.base_url, "bot_token": slack.bot_token},
        "roster": {
            "agents": [
                {"zendesk_user_id": 101, "slack_user": u("sam.reyes")},
                {"zendesk_user_id": 102, "slack_user": u("priya.nair")},
            ]
        },
        "qa": {"samples_per_agent": 3, "reviewers": reviewers},
    }
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(data), url],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]

    def task_dms(reviewer: str) -> int:
        return sum(1 for m in slack.messages(reviewer) if "QA reviews for" in m.get("text", ""))

    assert sorted(task_dms(r) for r in reviewers) == [0, 1, 1]
    settings = bootstrap.Settings.model_validate(data)
    # the restarted worker runs after the dead one's intent went stale
    later = FakeClock(datetime.now(UTC) + timedelta(minutes=3))
    service = bootstrap.qa_service(settings, db, later)
    assert not service.draw("2026-W48").created
    service.dispatch("2026-W48")
    service.dispatch("2026-W48")
    assert [task_dms(r) for r in reviewers] == [1, 1, 1]
