"""People directory refresh and reads at scale, against the Slack sandbox through slack_sdk.

A Slack sandbox with ``--slack-users`` extra people, ``--agents`` of whom are Zendesk agents
(same e-mails; every 10th one in upper case, every 25th with a different e-mail), the agents in
a SQLite store as the sync writes them. Measured: a first refresh (users.list in pages of 200,
lookups for the stragglers, one transaction), a second refresh (nothing changed), and the reads
every slash command and button does: ``actor(slack_id)`` and ``by_zendesk_id``. The clock is a
FakeClock: Tier 2 pacing and Retry-After waits advance it instead of sleeping, so the figures
are deskbot's own cost; the simulated Slack time spent waiting is reported beside them.

    PYTHONPATH=src python bench/bench_people.py [--agents 300] [--slack-users 5000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from deskbot import bootstrap
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import User
from deskbot.log import configure_logging
from deskbot.sandbox.slack import SlackSandbox
from deskbot.settings import parse_settings
from deskbot.testing import FakeClock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=300)
    parser.add_argument("--slack-users", type=int, default=5000)
    parser.add_argument("--reads", type=int, default=2000)
    args = parser.parse_args()
    configure_logging("warning", "console")
    clock = FakeClock()
    sandbox = SlackSandbox(seed=11, clock=clock)
    sandbox.start()
    tmp = Path(tempfile.mkdtemp())
    database = Database(f"sqlite:///{tmp / 'people.sqlite'}")
    database.upgrade()
    try:
        slack_ids = []
        with database.session() as session:
            for i in range(args.slack_users):
                email = f"person{i}@bench.example"
                if i < args.agents:
                    session.add(
                        User(
                            id=10_000 + i,
                            name=f"Agent {i}",
                            email=email,
                            role="agent",
                            updated_at=datetime(2026, 11, 1, tzinfo=UTC),
                            raw="{}",
                        )
                    )
                    if i % 10 == 0:
                        email = email.upper()
                    elif i % 25 == 1:
                        email = f"other{i}@bench.example"
                user = sandbox.add_user(f"person{i}", real_name=f"Person {i}", email=email)
                slack_ids.append(user["id"])
        settings = parse_settings(
            f"zendesk: {{subdomain: acme}}\nslack: {{base_url: '{sandbox.base_url}', "
            f"bot_token: '${{BENCH_TOKEN:-{sandbox.bot_token}}}'}}\n"
        )
        out: dict[str, object] = {"agents": args.agents, "slack_users": len(sandbox.users)}
        for run in ("first", "second"):
            before = clock.monotonic()
            began = time.perf_counter()
            result = bootstrap.run_people(settings, database, clock)
            out[f"{run}_refresh_s"] = round(time.perf_counter() - began, 3)
            out[f"{run}_slack_wait_s"] = round(clock.monotonic() - before, 1)
            out[f"{run}_summary"] = {
                k: v for k, v in result.summary().items() if k not in ("warnings", "departments")
            }
        directory = bootstrap.people_directory(settings, database)
        timings = []
        for i in range(args.reads):
            began = time.perf_counter()
            directory.actor(slack_ids[i % len(slack_ids)])
            timings.append((time.perf_counter() - began) * 1000)
        timings.sort()
        out["actor_ms"] = {
            "p50": round(statistics.median(timings), 2),
            "p99": round(timings[int(len(timings) * 0.99) - 1], 2),
        }
        calls = [c for c in sandbox.calls if c.method == "users.list"]
        out["users_list_calls"] = len(calls)
        print(json.dumps(out, indent=2))
    finally:
        sandbox.stop()
        database.dispose()


if __name__ == "__main__":
    main()
