"""Benchmark: the full KPI report over 1M tickets + 300k ratings on SQLite.

    PYTHONPATH=src python bench/bench_report.py [--tickets 1000000] [--ratings 300000]
        [--db /tmp/deskbot-bench.sqlite] [--reuse]

Generates a seeded, realistic-looking help desk (2 years of tickets, metric sets, ratings, team
tags, 60 agents in 6 groups) with bulk inserts, builds the per-day rollups (as the first sync
does), then times ``build_report`` — from the rollups, or with ``--direct`` from the tickets —
(the same code path as ``deskbot report``: both windows, deltas, agents, customers, tags) for
7d, 30d and 365d, each in a fresh subprocess so peak RSS is the report's, not the generator's.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from deskbot.adapters.db.kpi import SqlKpiSource
from deskbot.adapters.db.rollups import SqlRollups
from deskbot.adapters.db.store import Database
from deskbot.domain.metrics import parse_period
from deskbot.services.reporting import build_report
from deskbot.settings import WorkloadSettings

END = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # "now" for the benchmark
DAYS = 730
AGENTS = list(range(1000, 1060))
GROUPS = list(range(10, 16))
ORGS = list(range(5000, 7000))
CHANNELS = ["email", "web", "api", "chat", "voice", "mobile"]
TAGS = ["hooray", "lost_cause", "high_complexity", "vip", "billing", "bug"]


def ts(d: datetime) -> str:
    return d.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite DATETIME storage format


def generate(path: Path, n_tickets: int, n_ratings: int) -> None:
    path.unlink(missing_ok=True)
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    rng = random.Random(42)
    start = END - timedelta(days=DAYS)
    span = DAYS * 86400
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    t0 = time.perf_counter()
    synced = ts(END)
    tickets, metrics, tags = [], [], []
    rated: list[tuple[int, int, int, int, datetime]] = []
    rate_p = n_ratings / n_tickets
    n_tags = 0
    for tid in range(1, n_tickets + 1):
        created = start + timedelta(seconds=span * tid / n_tickets + rng.random() * 60)
        age_days = (END - created).total_seconds() / 86400
        agent = rng.choice(AGENTS)
        group = GROUPS[(agent - 1000) // 10]
        requester = 100_000 + rng.randrange(200_000)
        org = rng.choice(ORGS) if rng.random() < 0.6 else None
        deleted = rng.random() < 0.005
        solved_at = None
        if age_days > 14 or rng.random() < age_days / 14:
            res = int(rng.lognormvariate(6.5, 1.2))
            solved_at = created + timedelta(minutes=res)
            if solved_at > END:
                solved_at = None
        status = (
            "closed"
            if solved_at and age_days > 4
            else ("solved" if solved_at else rng.choice(["new", "open", "pending", "hold"]))
        )
        if deleted:
            status = "deleted"
        tickets.append(
            (
                tid,
                ts(created),
                ts(created),
                int(created.timestamp()),
                status,
                deleted,
                "normal",
                None,
                f"Ticket {tid}",
                rng.choice(CHANNELS),
                requester,
                requester,
                agent,
                group,
                org,
                None,
                "",
                "{}",
                synced,
            )
        )
        reply = int(rng.lognormvariate(4.0, 1.3)) if rng.random() < 0.95 else None
        replies = min(int(rng.expovariate(0.5)), 40)
        metrics.append(
            (
                tid,
                tid,
                ts(solved_at) if solved_at else None,
                None,
                reply,
                reply // 2 if reply is not None else None,
                int((solved_at - created).total_seconds() // 60) if solved_at else None,
                int((solved_at - created).total_seconds() // 120) if solved_at else None,
                replies,
                1 if rng.random() < 0.08 else 0,
                ts(created),
                "{}",
            )
        )
        if rng.random() < 0.12:
            tags.append((tid, rng.choice(TAGS)))
            n_tags += 1
        if rng.random() < rate_p:
            # a survey goes out when the ticket is solved (or a day in, if still open)
            sent = solved_at or created + timedelta(days=1)
            rated.append((tid, agent, group, requester, min(sent + timedelta(hours=2), END)))
        if len(tickets) >= 50_000:
            _flush(conn, tickets, metrics, tags)
    _flush(conn, tickets, metrics, tags)
    ratings = []
    for rid, (tid, agent, group, requester, when) in enumerate(rated, start=1):
        roll = rng.random()
        score = "good" if roll < 0.55 else ("bad" if roll < 0.65 else "offered")
        ratings.append(
            (
                rid,
                tid,
                score,
                agent,
                group,
                requester,
                "Great help!" if score == "good" and rng.random() < 0.3 else None,
                None,
                None,
                ts(when),
                ts(when),
                "{}",
                synced,
            )
        )
    conn.executemany(
        "INSERT INTO satisfaction_ratings (id, ticket_id, score, assignee_id, group_id, "
        "requester_id, comment, reason, reason_code, created_at, updated_at, raw, synced_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        ratings,
    )
    conn.executemany(
        "INSERT INTO users (id, name, email, role, active, suspended, raw) VALUES "
        "(?,?,?,?,1,0,'{}')",
        [(a, f"Agent {a}", f"agent{a}@example.com", "agent") for a in AGENTS],
    )
    conn.executemany(
        "INSERT INTO groups (id, name, deleted, raw) VALUES (?,?,0,'{}')",
        [(g, f"Group {g}") for g in GROUPS],
    )
    conn.executemany(
        "INSERT INTO organizations (id, name, raw) VALUES (?,?,'{}')",
        [(o, f"Org {o}") for o in ORGS],
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    # As the first sync after the upgrade does: the per-day rollups, from the tickets.
    rebuild = time.perf_counter()
    SqlRollups(db).rebuild("Europe/Berlin", reason="bench_report")
    print(f"built the per-day rollups in {time.perf_counter() - rebuild:.1f} s")
    db.dispose()
    print(
        f"generated {n_tickets:,} tickets, {len(ratings):,} ratings, {n_tags:,} tag rows "
        f"in {time.perf_counter() - t0:.1f} s ({path.stat().st_size / 2**20:.0f} MiB)"
    )


def _flush(conn: sqlite3.Connection, tickets: list, metrics: list, tags: list) -> None:
    conn.executemany(f"INSERT INTO tickets VALUES ({','.join('?' * 19)})", tickets)
    conn.executemany(f"INSERT INTO ticket_metrics VALUES ({','.join('?' * 12)})", metrics)
    conn.executemany("INSERT INTO ticket_tags VALUES (?,?)", tags)
    conn.commit()
    tickets.clear()
    metrics.clear()
    tags.clear()


def measure(path: Path, period: str, group: str | None, rollups: bool = True) -> None:
    db = Database(f"sqlite:///{path}")
    source = SqlKpiSource(db, rollups=rollups)
    window = parse_period(period, END, ZoneInfo("Europe/Berlin"))
    rss_before = _peak_rss_mib()
    timings, cpu = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        c0 = time.process_time()
        scope = source.resolve_scope(group=group)
        report = build_report(
            source, window, END, scope=scope, workload=WorkloadSettings(), team_tags=TAGS[:3]
        )
        timings.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    rss = _peak_rss_mib()
    print(
        json.dumps(
            {
                "period": period,
                "group": group,
                "rollups": source.uses_rollups(window),
                "first_s": round(timings[0], 3),
                "best_s": round(min(timings), 3),
                "best_cpu_s": round(min(cpu), 3),
                "created": report.current.created,
                "solved": report.current.solved,
                "peak_rss_mib": rss,
                "rss_growth_mib": round(rss - rss_before, 1),
            }
        )
    )


def _peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM; unlike ru_maxrss it is not inherited from the
    parent across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--ratings", type=int, default=300_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/deskbot-bench-report.sqlite"))
    parser.add_argument("--reuse", action="store_true", help="keep an existing database")
    parser.add_argument(
        "--direct", action="store_true", help="read the tickets, not the per-day rollups"
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--group", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.db, args.measure, args.group, not args.direct)
        return
    if not (args.reuse and args.db.exists()):
        generate(args.db, args.tickets, args.ratings)
    periods = (("7d", None), ("30d", None), ("365d", None), ("7d", "Group 12"), ("30d", "Group 12"))
    for period, group in periods:
        cmd = [sys.executable, __file__, "--db", str(args.db), "--measure", period]
        if group:
            cmd += ["--group", group]
        if args.direct:
            cmd.append("--direct")
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        print(out.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
