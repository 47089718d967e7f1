"""Benchmark: planning an internal NPS round for 10,000 employees x 30 departments.

    PYTHONPATH=src python bench/bench_nps.py [--people 10000] [--departments 30]
        [--cap 10000] [--history-rounds 6] [--repeat 5]

Times, each as the median of ``--repeat`` runs:

1. ``domain.nps.plan_round`` alone (pure): eligibility of every person, LRU order with seeded
   ties, round-robin over departments, local send times (people spread over 12 time zones);
2. ``NpsService.plan`` on SQLite with ``--history-rounds`` earlier rounds in ``nps_asks``
   (the history and department-load queries, the directory, the plan);
3. ``NpsService.start_round``: the same plus persisting the round and every ask in one
   transaction (a fresh database per run).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from deskbot.adapters.db.nps_store import Sealer, SqlNpsStore
from deskbot.adapters.db.store import Database
from deskbot.domain import nps
from deskbot.domain.people import DepartmentInfo, Person
from deskbot.services.nps import NewAsk, NpsService, send_window
from deskbot.settings import Settings
from deskbot.testing import FakeClock, InMemoryLedger, StaticPeopleDirectory

NOW = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
ZONES = [
    "Europe/Berlin", "Europe/London", "America/New_York", "America/Chicago",
    "America/Los_Angeles", "America/Sao_Paulo", "Asia/Kolkata", "Asia/Tokyo",
    "Asia/Dubai", "Australia/Sydney", "Africa/Lagos", "Pacific/Auckland",
]  # fmt: skip


def people_and_departments(
    n: int, d: int, seed: int = 1
) -> tuple[list[Person], list[DepartmentInfo]]:
    rng = random.Random(seed)
    names = [f"Dept {i:02d}" for i in range(d)]
    people = []
    for i in range(n):
        people.append(
            Person(
                id=i + 1,
                name=f"p{i}",
                slack_user_id=f"U{i:08d}",
                tz=rng.choice(ZONES),
                departments=(names[i % d],),
                active=rng.random() > 0.03,
                is_bot=rng.random() < 0.005,
                is_guest=rng.random() < 0.01,
            )
        )
    departments = [
        DepartmentInfo(
            name, f"U{j:08d}", tuple(p.slack_user_id or "" for p in people if name in p.departments)
        )
        for j, name in enumerate(names)
    ]
    return people, departments


def settings(cap: int) -> Settings:
    return Settings.model_validate(
        {
            "zendesk": {"subdomain": "bench"},
            "slack": {"enabled": False},
            "nps": {"per_round_cap": cap, "cooldown_days": 30},
        }
    )


def timed(fn: Any, repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def seed_history(
    store: SqlNpsStore, people: list[Person], depts: list[DepartmentInfo], rounds: int
) -> int:
    rng = random.Random(2)
    total = 0
    for r in range(rounds):
        when = NOW - timedelta(days=14 * (r + 1))
        chosen = rng.sample(people, k=len(people) // 4)
        asks = [
            NewAsk(p.slack_user_id or "", rng.choice(depts).name, when, when + timedelta(days=5))
            for p in chosen
        ]
        quarter = nps.quarter_of(when.date())
        store.create_round(f"hist-{r}", quarter, when, when + timedelta(days=5), asks)
        total += len(asks)
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--departments", type=int, default=30)
    parser.add_argument("--cap", type=int, default=10_000)
    parser.add_argument("--history-rounds", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    people, depts = people_and_departments(args.people, args.departments)
    cfg = settings(args.cap)
    rules = nps.RoundRules(30, 2, args.cap, seed=0)
    rng = random.Random(3)
    history = {
        p.slack_user_id or "": nps.AskHistory(
            NOW - timedelta(days=rng.randint(1, 200)), rng.randint(0, 2)
        )
        for p in people
        if rng.random() < 0.6
    }
    window = send_window(cfg.nps)

    def pure() -> nps.RoundPlan:
        return nps.plan_round(
            round_id="bench",
            now=NOW,
            people=people,
            departments=depts,
            history=history,
            opted_out={p.slack_user_id or "" for p in people[::50]},
            rules=rules,
            default_tz=ZoneInfo("Europe/Berlin"),
            window=window,
        )

    t_pure, plan = timed(pure, args.repeat)
    print(f"people={args.people} departments={args.departments} cap={args.cap}")
    print(f"domain.plan_round: {t_pure * 1000:.0f} ms, {len(plan.asks)} asks")
    print(f"  eligible {plan.eligible}, not eligible {plan.excluded}")

    directory = StaticPeopleDirectory(people, depts)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'nps.sqlite'}")
        db.upgrade()
        store = SqlNpsStore(db, Sealer("bench-secret-0123456789abcdef"))
        began = time.perf_counter()
        n_hist = seed_history(store, people, depts, args.history_rounds)
        took = time.perf_counter() - began
        print(f"history: {n_hist} earlier asks in {args.history_rounds} rounds ({took:.1f} s)")
        clock = FakeClock(NOW)
        service = NpsService(cfg, store, directory, InMemoryLedger(), clock)  # type: ignore[arg-type]
        t_plan, plan = timed(lambda: service.plan(NOW), args.repeat)
        print(f"NpsService.plan (SQLite history + plan): {t_plan * 1000:.0f} ms, {len(plan.asks)}")
        db.dispose()

    starts = []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{Path(tmp) / 'nps.sqlite'}")
            db.upgrade()
            store = SqlNpsStore(db, Sealer("bench-secret-0123456789abcdef"))
            seed_history(store, people, depts, args.history_rounds)
            service = NpsService(cfg, store, directory, InMemoryLedger(), FakeClock(NOW))  # type: ignore[arg-type]
            began = time.perf_counter()
            plan, created = service.start_round(NOW + timedelta(minutes=i))
            starts.append(time.perf_counter() - began)
            assert created
            db.dispose()
    took = statistics.median(starts) * 1000
    print(f"NpsService.start_round (plan + persist {len(plan.asks)} asks): {took:.0f} ms")
    counts = plan.counts()
    print(f"asks per department: min {min(counts.values())}, max {max(counts.values())}")


if __name__ == "__main__":
    main()
