"""Ack and answer latency of ``/deskbot stats 7d`` and ``/deskbot me`` over 1M tickets.

The real app wiring: ``bootstrap.slack_services`` (the SQL KPI engine) and
``bootstrap.start_slack_app`` in HTTP mode on 127.0.0.1 (port 0), over the SQLite database that
``bench_report.py`` generates (1M tickets, 300k ratings by default), pointed at the Slack
sandbox. ``--users`` sandbox users (each one a roster agent) type commands at the same time,
each waiting for its answer before typing the next one; command *i* of the run is
``--commands[i mod len]`` (default ``stats 7d`` and ``me``, so with an even number of users
half of them ask for the team's numbers and half for their own). The sandbox signs and
delivers each slash command and receives the answers on its ``response_url``.

Measured per command: the acknowledgement (the HTTP round trip of the signed POST; Slack's
deadline is 3 s) and the answer (from sending the command until the answer arrives at the
sandbox's ``response_url``).

    PYTHONPATH=src python bench/bench_ack.py [--requests 200] [--users 4] [--reuse]
    PYTHONPATH=src python bench/bench_ack.py --tickets 20000 --ratings 6000 \
        --db /tmp/deskbot-bench-ack-small.sqlite --requests 20     # smoke run, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from bench_report import AGENTS, END, generate

from deskbot import bootstrap
from deskbot.adapters.slack.server import HttpHandle
from deskbot.adapters.slack.work import BackgroundWork
from deskbot.log import configure_logging
from deskbot.sandbox.slack import SlackSandbox
from deskbot.settings import Settings
from deskbot.testing import FakeClock

SLACK_DEADLINE = 3.0
# Sandbox users who play the agents (each is a roster agent, so "me" has numbers to show).
USERS = [
    "sam.reyes",
    "priya.nair",
    "jonas.becker",
    "chloe.martin",
    "maya.okafor",
    "lucas.ferreira",
    "aiko.tanaka",
    "noah.kim",
]
COMMANDS = ("stats 7d", "me")  # default; --commands changes them
CHANNEL = "support"


def make_settings(sb: SlackSandbox, db: Path, users: list[str]) -> Settings:
    return Settings.model_validate(
        {
            "timezone": "Europe/Berlin",
            "data_dir": str(db.parent),
            "storage": {"url": f"sqlite:///{db}"},
            "zendesk": {"subdomain": "acme"},
            "slack": {
                "mode": "http",
                "base_url": sb.base_url,
                "bot_token": sb.bot_token,
                "signing_secret": sb.signing_secret,
            },
            "roster": {
                "agents": [
                    {"zendesk_user_id": agent, "slack_user": sb.user_id(name)}
                    for agent, name in zip(AGENTS, users, strict=False)
                ]
            },
        }
    )


class Answers:
    """Arrival times of ``response_url`` answers, per Slack user id."""

    def __init__(self) -> None:
        self._queues: dict[str, queue.Queue[tuple[float, str]]] = {}

    def register(self, user_id: str) -> None:
        self._queues[user_id] = queue.Queue()

    def on_event(self, event: dict[str, Any]) -> None:
        if event.get("event") == "message" and event.get("source") == "response_url":
            inbox = self._queues.get(str(event.get("to")))
            if inbox is not None:
                inbox.put((time.perf_counter(), str(event.get("text", ""))))

    def wait(self, user_id: str, timeout: float) -> tuple[float, str] | None:
        try:
            return self._queues[user_id].get(timeout=timeout)
        except queue.Empty:
            return None


def _count(db: Path, table: str) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    clock = FakeClock(END)  # "now" is the generated data's end, as in bench_report
    answers = Answers()
    users = USERS[: args.users]
    results: list[dict[str, Any]] = []
    lock = threading.Lock()
    # Acks are not cut off at Slack's 3 s here, so a slow one is measured rather than hidden.
    # The app checks request timestamps against its clock, so the sandbox signs with it too.
    with SlackSandbox(seed=1, ack_timeout=60.0, signature_clock=clock) as sb:
        # The sandbox has no public subscription API; its event listeners are what the
        # console and transcript writer use too. Arrival is stamped inside the sandbox.
        sb._state.listeners.append(answers.on_event)
        for name in users:
            answers.register(sb.user_id(name))
        settings = make_settings(sb, args.db, users)
        database = bootstrap.open_database(settings)
        # The sandbox is seeded and the clock fixed, so a second run sends byte-identical
        # requests: the shared replay store (issue 13) would rightly drop them as replays.
        with database.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM slack_replay_keys")
        work = BackgroundWork(max_workers=args.workers)
        services = bootstrap.slack_services(database, settings, clock)
        handle = bootstrap.start_slack_app(
            settings, services, clock, host="127.0.0.1", port=0, work=work, database=database
        )
        assert isinstance(handle, HttpHandle)
        url = handle.url + settings.slack.http.path

        def one(name: str, text: str) -> dict[str, Any]:
            started = time.perf_counter()
            delivery = sb.send_slash_command(url, text=text, user_id=name, channel_id=CHANNEL)
            answer = (
                answers.wait(sb.user_id(name), args.answer_timeout)
                if delivery.status == 200
                else None
            )
            return {
                "command": text,
                "status": delivery.status,
                "ack": delivery.ack_seconds,
                "answer": None if answer is None else answer[0] - started,
                "ok": answer is not None and answer[1].startswith("Numbers for"),
                "text": None if answer is None else answer[1][:200],
            }

        try:
            for text in args.commands:  # warm-up: connections, imports, page cache; not timed
                warm = one(users[0], text)
                if not warm["ok"]:
                    raise SystemExit(f"warm-up {text!r} was not answered with numbers: {warm}")

            def user_loop(index: int) -> None:
                name = users[index]
                for i in range(index, args.requests, len(users)):
                    result = one(name, args.commands[i % len(args.commands)])
                    with lock:
                        results.append(result)

            started = time.perf_counter()
            threads = [
                threading.Thread(target=user_loop, args=(i,), name=f"user-{i}")
                for i in range(len(users))
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
        finally:
            handle.stop()
            database.dispose()
    return summarize(args, results, elapsed)


def summarize(args: argparse.Namespace, results: list[dict[str, Any]], elapsed: float) -> dict:
    failed = [r for r in results if r["status"] != 200 or not r["ok"]]
    if failed:
        print(f"{len(failed)} commands failed, e.g. {failed[0]}")
    summary: dict[str, Any] = {
        "tickets": _count(args.db, "tickets"),
        "ratings": _count(args.db, "satisfaction_ratings"),
        "requests": len(results),
        "users": len(USERS[: args.users]),
        "workers": args.workers,
        "failed": len(failed),
        "wall_s": round(elapsed, 1),
        "cpu_count": os.cpu_count(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }
    for label, subset in [("all", results)] + [
        (cmd, [r for r in results if r["command"] == cmd]) for cmd in args.commands
    ]:
        acks = [r["ack"] * 1000 for r in subset if r["status"] == 200]
        answered = [r["answer"] * 1000 for r in subset if r["answer"] is not None]
        if not acks or not answered:
            continue
        summary[label] = {
            "n": len(subset),
            "ack_ms": {
                "p50": round(_percentile(acks, 0.5), 1),
                "p99": round(_percentile(acks, 0.99), 1),
                "max": round(max(acks), 1),
            },
            "ack_p99_over_3s": round(_percentile(acks, 0.99) / 1000 / SLACK_DEADLINE, 4),
            "acks_over_3s": sum(1 for a in acks if a > SLACK_DEADLINE * 1000),
            "answer_ms": {
                "p50": round(_percentile(answered, 0.5)),
                "p99": round(_percentile(answered, 0.99)),
                "max": round(max(answered)),
            },
            "sample_answer": next((r["text"] for r in subset if r["ok"]), None),
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--ratings", type=int, default=300_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/deskbot-bench-ack.sqlite"))
    parser.add_argument("--reuse", action="store_true", help="keep an existing database")
    parser.add_argument("--requests", type=int, default=200, help="timed commands in all")
    parser.add_argument(
        "--users", type=int, default=4, choices=range(1, len(USERS) + 1), metavar="1..8"
    )
    parser.add_argument("--workers", type=int, default=4, help="background work threads")
    parser.add_argument(
        "--commands",
        type=lambda text: tuple(c.strip() for c in text.split(",") if c.strip()),
        default=COMMANDS,
        help="comma-separated command texts, sent in turn (default: 'stats 7d,me')",
    )
    parser.add_argument("--answer-timeout", type=float, default=60.0)
    args = parser.parse_args()

    if not (args.reuse and args.db.exists()):
        generate(args.db, args.tickets, args.ratings)
    configure_logging("warning", "json")  # measure the app, not the log printing
    summary = run(args)
    for key, value in summary.items():
        print(f"{key}: {json.dumps(value, ensure_ascii=False)}")


if __name__ == "__main__":
    main()
