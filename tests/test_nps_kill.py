"""kill -9 during a round's DMs, then a restart: every colleague gets exactly one ask.

``deskbot nps plan`` (a real process: the real bootstrap, slack_sdk against the Slack sandbox)
persists the round and sends its DMs one second apart; the test SIGKILLs it after the third DM
reached Slack. ``deskbot nps tick`` then finishes the round once the dead sender's claim has
timed out (the test moves that claim back, standing for the ten minutes a restart would wait).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import update

from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import NpsAsk
from deskbot.sandbox.slack import SlackSandbox

ROOT = Path(__file__).resolve().parents[1]
PEOPLE = ["sam.reyes", "priya.nair", "jonas.becker", "chloe.martin", "noah.kim", "grace.liu"]

pytestmark = pytest.mark.slow


def _asks_in_slack(sb: SlackSandbox) -> Counter[str]:
    return Counter(
        m["channel"]
        for m in sb.messages()
        if m["kind"] == "message" and "nps_score_" in json.dumps(m.get("blocks") or [])
    )


def test_kill_9_during_the_dms_then_restart_sends_each_ask_once(tmp_path: Path) -> None:
    sb = SlackSandbox(seed=1)
    sb.start()
    try:
        uid = sb.user_id
        data = {
            "timezone": "UTC",
            "data_dir": str(tmp_path / "data"),
            "storage": {"url": f"sqlite:///{tmp_path / 'deskbot.sqlite'}"},
            "zendesk": {"subdomain": "acme"},
            "slack": {"base_url": sb.base_url},
            "roster": {
                "departments": [
                    {
                        "name": "Support",
                        "owner": uid("lucas.ferreira"),
                        "members": [uid(p) for p in PEOPLE[:3]],
                    },
                    {
                        "name": "Sales",
                        "owner": uid("aiko.tanaka"),
                        "members": [uid(p) for p in PEOPLE[3:]],
                    },
                ]
            },
            "nps": {
                "quiet_hours_start": "00:00",
                "quiet_hours_end": "00:00",
                "working_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "dms_per_minute": 60,
            },
        }
        config = tmp_path / "deskbot.yaml"
        config.write_text(yaml.safe_dump(data), encoding="utf-8")
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "src"),
            "DESKBOT_SLACK_BOT_TOKEN": sb.bot_token,
            "DESKBOT_SLACK_SIGNING_SECRET": sb.signing_secret,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "deskbot", "-c", str(config), "nps", "plan"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while sum(_asks_in_slack(sb).values()) < 3 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        sent_before = sum(_asks_in_slack(sb).values())
        assert 3 <= sent_before < 8  # killed half-way through the round

        database = Database(f"sqlite:///{tmp_path / 'deskbot.sqlite'}")
        with database.engine.begin() as conn:
            asks = conn.execute(NpsAsk.__table__.select()).all()  # type: ignore[attr-defined]
            assert len(asks) == 8  # the whole plan was persisted before the first DM
            # The dead sender's claim times out (a restart ten minutes later).
            table = NpsAsk.__table__  # type: ignore[attr-defined]
            for ask in asks:
                if ask.status == "sending":
                    conn.execute(
                        update(table)
                        .where(table.c.id == ask.id)
                        .values(
                            claimed_at=ask.claimed_at.replace(tzinfo=UTC) - timedelta(minutes=11)
                        )
                    )
        database.dispose()

        done = subprocess.run(
            [sys.executable, "-m", "deskbot", "-c", str(config), "nps", "tick"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        per_dm = _asks_in_slack(sb)
        assert sum(per_dm.values()) == 8 and set(per_dm.values()) == {1}
        database = Database(f"sqlite:///{tmp_path / 'deskbot.sqlite'}")
        with database.engine.connect() as conn:
            statuses = {r.status for r in conn.execute(NpsAsk.__table__.select())}  # type: ignore[attr-defined]
        database.dispose()
        assert statuses == {"sent"}
    finally:
        sb.stop()
