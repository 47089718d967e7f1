"""Benchmarks for issue 19 ("answers in a blink"): cold commands and the follow-up pass.

    # cold processes: `deskbot --help`, `health`, `report --period 30d|365d` over 1M tickets
    python bench/bench_perf.py cold --src src --db /tmp/perf-bench-1m.sqlite [--runs 3]
    # the follow-up detector over 1M ratings with 10 new bad ones
    python bench/bench_perf.py followups --src src [--ratings 1000000]
    # Slack `stats 30d` + `me 7d`, 8 people typing (bench_ack.py), answer cache TTL 0 or default
    PYTHONPATH=src python bench/bench_perf.py slack --db /tmp/perf-bench-1m.sqlite [--ttl 0]

``--src`` is the source tree to measure (``src`` of this checkout, or an older tree exported
with ``git archive <commit> src | tar -x -C /tmp/base`` for the "before" figures); each
measurement is a fresh interpreter with ``PYTHONPATH=<src>``. The 1M-ticket database is the
one ``bench_report.py`` generates (generate it once, then reuse it).

The report's "now" is the wall clock; the generated data ends on 2026-11-23, so a 30-day window
taken later holds fewer tickets than the data's last 30 days: the JSON's ``created`` and
``solved`` counts are printed beside each time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def _ts(d: datetime) -> str:
    return d.strftime("%Y-%m-%d %H:%M:%S.%f")


def _env(src: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(src.resolve()))
    env.pop("DESKBOT_CONFIG", None)
    return env


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    return time.perf_counter() - started, proc.stdout


def cold(args: argparse.Namespace) -> None:
    config = Path(args.workdir) / "perf-bench.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "timezone: Europe/Berlin\n"
        f"data_dir: {args.workdir}\n"
        "zendesk:\n  subdomain: example\n"
        f"storage:\n  url: sqlite:///{args.db}\n"
        "team_tags: [hooray, lost_cause, high_complexity]\n"
        "schedules:\n  sync: '*/5 * * * *'\n  hero_of_the_week: '0 16 * * fri'\n"
        "daemon:\n  health:\n    port: 1\n",
        encoding="utf-8",
    )
    env = _env(args.src)
    deskbot = [sys.executable, "-m", "deskbot", "--log-level", "warning", "--config", str(config)]
    cases: list[tuple[str, list[str]]] = [
        ("--help", [sys.executable, "-m", "deskbot", "--help"]),
        ("health", [*deskbot, "health", "--timeout", "0.5"]),
        ("report 30d", [*deskbot, "report", "--period", "30d", "--json"]),
        ("report 365d", [*deskbot, "report", "--period", "365d", "--json"]),
    ]
    _timed(cases[2][1], env)  # warm the OS page cache (and run any pending migration) once
    for label, cmd in cases:
        times, out = [], ""
        for _ in range(args.runs):
            seconds, out = _timed(cmd, env)
            times.append(seconds)
        row: dict[str, Any] = {
            "case": label,
            "best_s": round(min(times), 3),
            "median_s": round(statistics.median(times), 3),
            "runs": args.runs,
        }
        if label.startswith("report"):
            metrics = json.loads(out)["metrics"]
            row["created"] = metrics["tickets_created"]["value"]
            row["solved"] = metrics["tickets_solved"]["value"]
        row["load_avg"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(row))


# -- follow-ups ---------------------------------------------------------------------------------


def generate_ratings(path: Path, src: Path, n: int) -> None:
    """``n`` ratings (10% bad, each with a follow-up already acted on) over two years, then 10
    new bad ratings updated just now; the schema is the one ``src`` migrates to."""
    path.unlink(missing_ok=True)
    code = (
        "import sys\nfrom deskbot.adapters.db.store import Database\n"
        "db = Database('sqlite:///' + sys.argv[1]); db.upgrade(); db.dispose()\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], env=_env(src), check=True)
    rng = random.Random(19)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    start = NOW - timedelta(days=730)
    rows, followups = [], []
    for rid in range(1, n + 11):
        fresh = rid > n
        when = (
            NOW - timedelta(minutes=rid - n)
            if fresh
            else start + timedelta(seconds=730 * 86400 * rid / n)
        )
        score = "bad" if fresh or rng.random() < 0.1 else rng.choice(["good", "offered"])
        rows.append(
            (
                rid,
                rid,
                score,
                1000 + rid % 60,
                10 + rid % 6,
                100_000 + rid % 200_000,
                None,
                None,
                None,
                _ts(when),
                _ts(when),
                "{}",
                _ts(NOW),
            )
        )
        if score == "bad" and not fresh:
            followups.append(
                (rid, rid, 1, "bad", "handled", _ts(when), _ts(when + timedelta(hours=3)))
            )
        if len(rows) >= 100_000:
            conn.executemany(
                "INSERT INTO satisfaction_ratings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
            )
            rows.clear()
    conn.executemany("INSERT INTO satisfaction_ratings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.executemany(
        "INSERT INTO followups (rating_id, ticket_id, generation, last_seen_score, state, "
        "opened_at, updated_at) VALUES (?,?,?,?,?,?,?)",
        followups,
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


MEASURE_FOLLOWUPS = """
import json, sys, time
from datetime import datetime, timedelta, UTC
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.followups_store import SqlFollowupStore
db = Database('sqlite:///' + sys.argv[1])
store = SqlFollowupStore(db)
now = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
times = []
for _ in range(5):
    t0 = time.perf_counter()
    found = store.candidates(now - timedelta(hours=72))
    times.append(time.perf_counter() - t0)
print(json.dumps({"candidates": len(found), "first_s": round(times[0], 4),
                  "best_s": round(min(times), 4)}))
"""


def followups(args: argparse.Namespace) -> None:
    path = Path(args.workdir) / f"perf-followups-{args.ratings}.sqlite"
    if not (args.reuse and path.exists()):
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        generate_ratings(path, args.src, args.ratings)
    out = subprocess.run(
        [sys.executable, "-c", MEASURE_FOLLOWUPS, str(path)],
        capture_output=True,
        text=True,
        env=_env(args.src),
        check=True,
    ).stdout
    print(out.strip())


def slack(args: argparse.Namespace) -> None:
    """``bench_ack.run`` (the real app over HTTP, the Slack sandbox) with the answers' cache
    TTL set to ``--ttl`` (0: every answer is computed; in-flight sharing stays)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import bench_ack

    from deskbot.log import configure_logging

    try:
        from deskbot.services import perf_stats
    except ImportError:  # the "before" tree has no cache
        perf_stats = None  # type: ignore[assignment]
    if perf_stats is not None and args.ttl is not None:
        perf_stats.DEFAULT_TTL_SECONDS = args.ttl
    configure_logging("warning", "json")
    ns = argparse.Namespace(
        db=args.db,
        users=args.users,
        requests=args.requests,
        workers=4,
        commands=("stats 30d", "me 7d"),
        answer_timeout=60.0,
    )
    summary = bench_ack.run(ns)
    summary["ttl"] = args.ttl
    for key, value in summary.items():
        print(f"{key}: {json.dumps(value, ensure_ascii=False)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("cold", "followups", "slack"))
    parser.add_argument("--src", type=Path, default=Path("src"))
    parser.add_argument("--db", type=Path, default=Path("/tmp/deskbot-bench-report.sqlite"))
    parser.add_argument("--workdir", default="/tmp/perf-bench")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--ttl", type=float, default=None, help="answer cache TTL (slack)")
    args = parser.parse_args()
    {"cold": cold, "followups": followups, "slack": slack}[args.what](args)


if __name__ == "__main__":
    main()
