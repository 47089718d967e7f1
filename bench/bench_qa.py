"""Benchmark: agent QA over 1M tickets and 500 agents on SQLite.

    PYTHONPATH=src python bench/bench_qa.py [--tickets 1000000] [--agents 500]
        [--db /tmp/deskbot-bench-qa.sqlite] [--reuse]

Generates a seeded help desk (1M solved tickets over 52 weeks, 500 agents, metric sets with
reopens / replies / full resolution, 6% bad ratings) with bulk inserts, then times, each on a
fresh copy of the drawn state:

- **sample**: ``QaService.draw`` for one weekly cycle (~19k solved tickets, ~38 per agent) and
  one monthly cycle (~83k): the population query, strata, hash-ranked sampling, reviewer
  assignment and the one transaction that stores the cycle, samples and tasks;
- **re-draw**: the same call again (finds the cycle, writes nothing);
- **report**: every task of the weekly cycle scored, then ``QaService.report`` (stratified
  estimates with CIs per agent and team, competencies, reviewers) and its JSON.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from deskbot.adapters.db.ledger import SqlActionLedger
from deskbot.adapters.db.qa_store import SqlQaStore
from deskbot.adapters.db.store import Database
from deskbot.domain.people import Person, Role
from deskbot.services.qa import QaService
from deskbot.settings import Settings
from deskbot.testing import FakeClock, StaticPeopleDirectory

START = datetime(2025, 11, 24, tzinfo=UTC)  # a Monday; 52 weeks of tickets follow
NOW = datetime(2026, 11, 23, 8, tzinfo=UTC)
WEEK = "2026-W47"  # 16-23 Nov 2026
MONTH = "2026-10"


def ts(d: datetime) -> str:
    return d.strftime("%Y-%m-%d %H:%M:%S.%f")


def generate(path: Path, n_tickets: int, n_agents: int) -> None:
    path.unlink(missing_ok=True)
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    rng = random.Random(42)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    span = (NOW - START).total_seconds() - 8 * 3600
    tickets, metrics, ratings = [], [], []
    t0 = time.perf_counter()
    for tid in range(1, n_tickets + 1):
        solved = START + timedelta(seconds=span * tid / n_tickets)
        agent = 10_000 + rng.randrange(n_agents)
        created = solved - timedelta(minutes=int(rng.lognormvariate(6.5, 1.2)))
        tickets.append(
            (tid, ts(created), ts(solved), int(solved.timestamp()), "closed", 0,
             f"Question {tid}", agent, "", "{}", ts(solved))
        )  # fmt: skip
        metrics.append(
            (tid, ts(solved), int((solved - created).total_seconds() // 60),
             rng.choice((1, 1, 2, 2, 3, 4, 7, 9)), int(rng.random() < 0.08), "{}")
        )  # fmt: skip
        if rng.random() < 0.06:
            ratings.append((tid, tid, "bad", agent, ts(solved), ts(solved), "{}", ts(solved)))
        if len(tickets) >= 50_000:
            _flush(conn, tickets, metrics, ratings)
    _flush(conn, tickets, metrics, ratings)
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    print(f"generated {n_tickets:,} tickets in {time.perf_counter() - t0:.1f} s")


def _flush(conn: sqlite3.Connection, tickets: list, metrics: list, ratings: list) -> None:  # type: ignore[type-arg]
    conn.executemany(
        "INSERT INTO tickets (id, created_at, updated_at, generated_timestamp, status, "
        "is_deleted, subject, assignee_id, tags, raw, synced_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        tickets,
    )
    conn.executemany(
        "INSERT INTO ticket_metrics (ticket_id, solved_at, full_resolution_calendar, replies, "
        "reopens, raw) VALUES (?,?,?,?,?,?)",
        metrics,
    )
    conn.executemany(
        "INSERT INTO satisfaction_ratings (id, ticket_id, score, assignee_id, created_at, "
        "updated_at, raw, synced_at) VALUES (?,?,?,?,?,?,?,?)",
        ratings,
    )
    conn.commit()
    tickets.clear()
    metrics.clear()
    ratings.clear()


def service(path: Path, n_agents: int, cycle: str) -> tuple[QaService, Database]:
    settings = Settings.model_validate(
        {
            "timezone": "Europe/Berlin",
            "zendesk": {"subdomain": "acme"},
            "qa": {
                "cycle": cycle,
                "samples_per_agent": 5,
                "seed": 7,
                "strata": {"bad_csat": 1, "reopened": 1, "long_resolution": 1, "many_replies": 1},
                "reviewers": [f"UR{i:03d}" for i in range(25)],
            },
        }
    )
    people = [
        Person(i, f"Agent {i}", f"UA{i}", 10_000 + i, role=Role.AGENT) for i in range(n_agents)
    ]
    people += [Person(1000 + i, f"Reviewer {i}", f"UR{i:03d}", role=Role.LEAD) for i in range(25)]
    db = Database(f"sqlite:///{path}")
    clock = FakeClock(NOW)
    qa = QaService(
        settings, SqlQaStore(db), StaticPeopleDirectory(people), SqlActionLedger(db, clock), clock
    )
    return qa, db


def timed(label: str, fn, repeat: int = 1):  # type: ignore[no-untyped-def]
    best = float("inf")
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    print(f"{label}: {best * 1000:,.0f} ms")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--db", type=Path, default=Path("/tmp/deskbot-bench-qa.sqlite"))
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    if not (args.reuse and args.db.exists()):
        generate(args.db, args.tickets, args.agents)
    work = args.db.with_suffix(".work.sqlite")
    for kind, key in (("weekly", WEEK), ("monthly", MONTH)):
        shutil.copy(args.db, work)
        qa, db = service(work, args.agents, kind)
        drawn = timed(f"sample {kind} {key}", lambda q=qa, k=key: q.draw(k))
        sizes = sum(s.population for s in {s.agent_id: s for s in drawn.samples}.values())
        print(f"  population {sizes:,} tickets, {len(drawn.samples):,} sampled")
        again = timed(f"re-draw {kind} {key} (nothing new)", lambda q=qa, k=key: q.draw(k))
        assert not again.created and len(again.samples) == len(drawn.samples)
        if kind == "weekly":
            rng = random.Random(1)
            for t in SqlQaStore(db).tasks(cycle_keys=[key]):
                scores = {
                    k: rng.choice((2, 3, 3, 4, None))
                    for k in ("comprehension", "accuracy", "judgment", "communication")
                } | {"process_integrity": rng.choice((2, 3, 4))}
                qa.submit_score(
                    t.reviewer, t.id, submission="b", scores=scores, hero=False, notes=None
                )
            report = timed(
                f"report {key} ({args.agents} agents)",
                lambda q=qa, k=key: q.report(cycle_key=k).to_json(),
                repeat=3,
            )
            team = report["team"]
            print(f"  team {team['score']} CI {team['ci95']} n={team['n']}")
        db.dispose()
    work.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
