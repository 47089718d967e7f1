"""Good-citizen pacing benchmark: deskbot syncs while another client spends 60% of the budget.

    PYTHONPATH=src python bench/bench_csat.py pacing [--seconds 10] [--time-scale 12]

One Zendesk sandbox (``csat="survey"`` or ``"legacy"``) accounts one account-wide budget for
every client. A second client (a thread with a plain ``requests.Session``, as a BI connector
or an agents' app would be) sends ``GET /api/v2/users/me.json`` evenly at 60% of that budget
and counts its 429s. Meanwhile deskbot runs the real CSAT sync (``bootstrap.sync_service``:
zenpy, ``PacedSession``, ``SystemClock``; the CSAT stream with ``--full`` again and again, all
account-budget requests) for ``--seconds`` of wall time per scenario:

- ``today``: the pacing before issue 18 — the whole configured limit, headers read only when
  they say 0 left (``budget_share`` 1.0, header pacing off);
- ``default``: ``zendesk.budget_share`` 0.5 and header pacing;
- ``night``: ``deskbot sync --budget-share 0.9`` and header pacing.

The sandbox runs ``--time-scale`` times faster than real time, and deskbot is configured with
the limit per *real* minute (``account_limit * time_scale``), so a window of the account budget
lasts ``60 / time_scale`` seconds and the run stays under a minute. Reported per scenario:
deskbot's achieved rate (requests per real minute and as a share of the limit), the other
client's rate and 429s, deskbot's 429s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from deskbot import bootstrap
from deskbot.adapters.db.store import Database
from deskbot.log import configure_logging
from deskbot.ports import SystemClock
from deskbot.sandbox.zendesk import ZendeskSandbox
from deskbot.settings import Settings


class OtherClient(threading.Thread):
    def __init__(self, sb: ZendeskSandbox, per_second: float, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.session = requests.Session()
        self.session.auth = (f"{sb.email}/token", sb.token)
        self.url = f"{sb.base_url}/api/v2/users/me.json"
        self.interval = 1.0 / per_second
        self.stop = stop
        self.sent = 0
        self.refused = 0

    def run(self) -> None:
        next_at = time.monotonic()
        while not self.stop.is_set():
            response = self.session.get(self.url, timeout=10)
            self.sent += 1
            self.refused += response.status_code == 429
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)


def scenario(
    name: str, args: argparse.Namespace, share: float, header_pacing: bool
) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    sb = ZendeskSandbox(
        seed=11,
        tickets=args.tickets,
        time_scale=args.time_scale,
        account_limit=args.account_limit,
        start=start,
        csat=args.csat,
    )
    sb.start()
    real_limit = args.account_limit * args.time_scale  # per real minute
    settings = Settings.model_validate(
        {
            "zendesk": {
                "subdomain": "bench",
                "base_url": sb.base_url,
                "email": sb.email,
                "api_token": sb.token,
                "rate_limits": {
                    "account_per_minute": int(real_limit),
                    "incremental_per_minute": int(10 * args.time_scale),
                },
                "budget_share": share,
                "csat": "auto",
            },
        }
    )
    stop = threading.Event()
    clock = SystemClock(stop)
    other = OtherClient(sb, real_limit * args.other_share / 60, stop)
    with tempfile.TemporaryDirectory() as tmp:
        database = Database(f"sqlite:///{Path(tmp) / 'bench.sqlite'}")
        database.upgrade()
        service = bootstrap.sync_service(settings, database, clock, stop)
        client: Any = service.source
        account = client.session.budgets.account
        if not header_pacing:
            account.pacer = None
        service.run(streams=["tickets"])  # the tickets first (not timed): CSAT needs them
        sent_before = client.session.counters["requests"]
        limited_before = client.counters.get("rate_limited", 0)
        timer = threading.Timer(args.seconds, stop.set)
        other.start()
        began = time.monotonic()
        timer.start()
        passes = 0
        while not stop.is_set():
            try:
                service.run(streams=["satisfaction_ratings"], full=True)
            except Exception as exc:  # a failed pass is reported, not hidden
                print(f"# {name}: pass failed: {exc}", file=sys.stderr)
            passes += 1
        elapsed = time.monotonic() - began
        other.join(timeout=5)
        database.dispose()
    sb.stop()
    sent = client.session.counters["requests"] - sent_before
    deskbot_429 = client.counters.get("rate_limited", 0) - limited_before
    return {
        "scenario": name,
        "budget_share": share,
        "header_pacing": header_pacing,
        "seconds": round(elapsed, 1),
        "deskbot_requests": sent,
        "deskbot_per_minute": round(sent * 60 / elapsed, 1),
        "deskbot_share_of_limit": round(sent * 60 / elapsed / real_limit, 3),
        "other_per_minute": round(other.sent * 60 / elapsed, 1),
        "other_share_of_limit": round(other.sent * 60 / elapsed / real_limit, 3),
        "other_429": other.refused,
        "deskbot_429": deskbot_429,
        "header_slowed_requests": account.header_waits,
        "sync_passes": passes,
        "sandbox_429_total": sb.counters["rate_limited"],
    }


def cmd_pacing(args: argparse.Namespace) -> None:
    plan = {
        "today": (1.0, False),
        "default": (0.5, True),
        "night": (0.9, True),
    }
    for name in args.scenarios:
        share, pacing = plan[name]
        print(json.dumps(scenario(name, args, share, pacing)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pacing")
    p.add_argument("--seconds", type=float, default=10.0, help="wall time per scenario")
    p.add_argument("--time-scale", type=float, default=12.0)
    p.add_argument("--account-limit", type=int, default=150, help="per sandbox minute")
    p.add_argument("--other-share", type=float, default=0.6)
    p.add_argument("--tickets", type=int, default=6000)
    p.add_argument("--csat", choices=("survey", "legacy"), default="survey")
    p.add_argument(
        "--scenarios",
        nargs="+",
        default=["today", "default", "night"],
        choices=("today", "default", "night"),
    )
    p.set_defaults(fn=cmd_pacing)
    args = parser.parse_args()
    configure_logging("warning")
    print(
        f"# {platform.platform()} python {platform.python_version()} cpus={os.cpu_count()}",
        file=sys.stderr,
    )
    args.fn(args)


if __name__ == "__main__":
    main()
