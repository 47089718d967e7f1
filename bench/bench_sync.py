"""Sync benchmarks: local ingest throughput, memory vs account size, paced-backfill ratio.

    PYTHONPATH=src python bench/bench_sync.py ingest --tickets 200000
    PYTHONPATH=src python bench/bench_sync.py memory --sizes 100000 400000
    PYTHONPATH=src python bench/bench_sync.py paced --base-url http://127.0.0.1:PORT --minutes 3

``ingest`` feeds pre-generated cursor-export pages (the real recorded ticket shape, with the
users / groups / organizations / metric_sets sideloads) through the production path — JSON
decode, ``parse_ticket_page``, ``SqlSyncStore.apply_page`` (one transaction per page, with
the cursor) — on a SQLite file, without the network or pacing. Only that path is timed: page
generation happens outside the timed sections.

``memory`` runs ``ingest`` in a fresh process per size and reports each one's peak RSS: it must
not grow with the account size (only with the page size).

``paced`` is the hook for the rate-limit benchmark: it runs the real sync (zenpy + PacedSession
+ SystemClock) against any Zendesk-compatible base URL — the project's Zendesk sandbox once it
is on main (``ZendeskSandbox(...).start()`` gives the URL) — for a number of minutes and reports
achieved/configured request rate on the incremental budget and the 429 count.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from deskbot.adapters.db.rollups import SqlRollups
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.sync_store import SqlSyncStore
from deskbot.adapters.zendesk.client import ZendeskClient
from deskbot.adapters.zendesk.mapping import parse_ticket_page
from deskbot.domain.sync import StreamState
from deskbot.log import configure_logging
from deskbot.ports import SystemClock
from deskbot.services.sync import SyncService
from deskbot.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "zendesk"
PAGE = 1000
T0 = 1_700_000_000


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


TICKET = _load("incremental_tickets_cursor_page.json")["tickets"][0]
METRIC = _load("ticket_metric_airbyte.json")["ticket_metric"]
USER = _load("incremental_users_page.json")["users"][0]
GROUP = _load("groups_page.json")["groups"][0]
ORG = _load("organizations_page.json")["organizations"][0]


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_page(first_id: int, size: int, final: bool) -> bytes:
    """A cursor-export page of ``size`` tickets with every sideload, as Zendesk would send it."""
    tickets, metrics = [], []
    for i in range(first_id, first_id + size):
        t = copy.copy(TICKET)
        ts = T0 + i // 3
        t.update(
            id=i,
            generated_timestamp=ts,
            created_at=_iso(ts - 7200),
            updated_at=_iso(ts),
            status=("new", "open", "pending", "solved", "closed")[i % 5],
            requester_id=10_000_000 + i % 5000,
            assignee_id=20_000_000 + i % 40,
            group_id=30_000_000 + i % 8,
            organization_id=40_000_000 + i % 300,
            tags=["vip", f"team_{i % 6}"] if i % 2 else ["billing"],
            via={
                "channel": ("email", "web", "api", "chat")[i % 4],
                "source": TICKET["via"]["source"],
            },
        )
        tickets.append(t)
        m = copy.copy(METRIC)
        m.update(
            id=90_000_000 + i,
            ticket_id=i,
            replies=i % 6,
            reopens=i % 3,
            solved_at=_iso(ts) if i % 5 >= 3 else None,
        )
        metrics.append(m)
    users = [
        {**USER, "id": 10_000_000 + (first_id + k) % 5000, "email": None} for k in range(0, size, 3)
    ]
    users += [{**USER, "id": 20_000_000 + k, "role": "agent", "email": None} for k in range(40)]
    groups = [{**GROUP, "id": 30_000_000 + k} for k in range(8)]
    orgs = [{**ORG, "id": 40_000_000 + (first_id + k) % 300} for k in range(0, size, 10)]
    body = {
        "tickets": tickets,
        "users": users,
        "groups": groups,
        "organizations": orgs,
        "metric_sets": metrics,
        "after_cursor": f"c{first_id + size}",
        "before_cursor": None,
        "end_of_stream": final,
    }
    return orjson.dumps(body)


def ingest(tickets: int, db_path: Path, rollups: bool = True, passes: int = 1) -> dict[str, Any]:
    database = Database(f"sqlite:///{db_path}")
    database.upgrade()
    if rollups:  # built on the empty copy, as the first sync does: every page keeps them
        SqlRollups(database).rebuild("Europe/Berlin")
    store = SqlSyncStore(database)
    state = StreamState("tickets")
    wall = cpu = 0.0
    raw_bytes = 0
    firsts = [f for _ in range(passes) for f in range(1, tickets + 1, PAGE)]
    for first in firsts:
        size = min(PAGE, tickets + 1 - first)
        body = make_page(first, size, first + size > tickets)  # not timed
        raw_bytes += len(body)
        w0, c0 = time.perf_counter(), time.process_time()
        page = parse_ticket_page(orjson.loads(body), datetime.now(UTC))
        state.cursor = page.after_cursor
        state.position = page.max_generated_timestamp
        state.rows_total += len(page.records.tickets)
        state.pages_total += 1
        state.last_success_at = datetime.now(UTC)
        store.apply_page(page.records, state)
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        del page, body
    check = SqlRollups(database).check() if rollups else None
    database.dispose()
    return {
        "tickets": tickets,
        "passes": passes,
        "rollups": rollups,
        "rollups_match": None if check is None else check.ok,
        "pages": state.pages_total,
        "wall_seconds": round(wall, 2),
        "tickets_per_second": round(tickets * passes / wall),
        "cpu_seconds_per_10k": round(cpu / (tickets * passes) * 10_000, 2),
        "mb_of_json": round(raw_bytes / 1e6, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def cmd_ingest(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = ingest(args.tickets, Path(tmp) / "bench.sqlite", not args.no_rollups, args.passes)
    print(json.dumps(result))


def cmd_memory(args: argparse.Namespace) -> None:
    results = []
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "ingest", "--tickets", str(size)],
            check=True,
            capture_output=True,
            text=True,
            env=os.environ,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]))
    ratio = results[-1]["peak_rss_mb"] / results[0]["peak_rss_mb"]
    print(json.dumps({"peak_rss_ratio_largest_vs_smallest": round(ratio, 3)}))


def cmd_paced(args: argparse.Namespace) -> None:
    """Run the real sync against ``--base-url`` for ``--minutes``; report the achieved ratio."""
    settings = Settings.model_validate(
        {
            "zendesk": {
                "subdomain": "bench",
                "base_url": args.base_url,
                "email": args.email,
                "api_token": args.token,
                "rate_limits": {"incremental_per_minute": args.incremental_limit},
            },
            "sync": {"page_size": args.page_size},
        }
    )
    stop = threading.Event()
    clock = SystemClock(stop)
    timer = threading.Timer(args.minutes * 60, stop.set)
    timer.start()
    with tempfile.TemporaryDirectory() as tmp:
        database = Database(f"sqlite:///{Path(tmp) / 'paced.sqlite'}")
        database.upgrade()
        client = ZendeskClient.from_settings(settings.zendesk, clock, stop)
        service = SyncService(
            client, SqlSyncStore(database), clock, page_size=args.page_size, stop_event=stop
        )
        started = time.monotonic()
        while not stop.is_set():
            service.run(streams=["tickets"])
        elapsed = time.monotonic() - started
        timer.cancel()
        database.dispose()
    limiter = client.session.budgets.incremental
    incremental = limiter.acquired
    configured = settings.zendesk.incremental_limit_per_minute
    achieved = limiter.achieved_per_minute() or 0.0
    print(
        json.dumps(
            {
                "minutes": round(elapsed / 60, 2),
                "incremental_requests": incremental,
                "achieved_per_minute": round(achieved, 2),
                "configured_per_minute": configured,
                "ratio": round(achieved / configured, 3),
                "rate_limited_429": client.counters.get("rate_limited", 0),
                # Near zero: the client or server, not the pacing, set the pace (page round trips
                # took longer than the interval); raise the sandbox's time scale less.
                "pacing_wait_seconds": round(client.session.budgets.incremental.waited_seconds, 1),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ingest")
    p.add_argument("--tickets", type=int, default=200_000)
    p.add_argument("--passes", type=int, default=1, help="send every page this many times")
    p.add_argument("--no-rollups", action="store_true", help="leave the KPI rollups unbuilt")
    p.set_defaults(fn=cmd_ingest)
    p = sub.add_parser("memory")
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 400_000])
    p.set_defaults(fn=cmd_memory)
    p = sub.add_parser("paced")
    p.add_argument("--base-url", required=True)
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--incremental-limit", type=int, default=10)
    p.add_argument("--page-size", type=int, default=1000)
    p.add_argument("--email", default="bench@example.com")
    p.add_argument("--token", default="bench-token")
    p.set_defaults(fn=cmd_paced)
    args = parser.parse_args()
    configure_logging("warning")
    print(
        f"# {platform.platform()} python {platform.python_version()} cpus={os.cpu_count()}",
        file=sys.stderr,
    )
    args.fn(args)


if __name__ == "__main__":
    main()
