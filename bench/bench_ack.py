"""Acknowledgement latency of ``/deskbot stats 7d`` through the HTTP endpoint.

Starts the real HTTP mode (bolt app behind ``start_slack`` on 127.0.0.1, port 0), sends N
signed slash commands with ``requests`` one after another, and measures the time until each HTTP
response (the acknowledgement) arrives, while the stats provider does realistic CPU work in the
background (filtering N synthetic tickets and computing medians and percentiles in Python, which
competes with the server for the GIL). It also reports how long the answers took to arrive at
the ``response_url``.

    PYTHONPATH=src python bench/bench_ack.py [--requests 300] [--tickets 200000]

Slack's deadline for the acknowledgement is 3 seconds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from deskbot import bootstrap
from deskbot.adapters.slack.server import HttpHandle
from deskbot.adapters.slack.work import BackgroundWork
from deskbot.domain.commands import Target, parse_period
from deskbot.log import configure_logging
from deskbot.ports import SystemClock
from deskbot.services.providers import (
    MetricValue,
    SlackServices,
    StatsQuery,
    StatsSummary,
)
from slack_helpers import AGENT, command_body, fake_slack_api, make_settings, sign


@dataclass(frozen=True)
class _Ticket:
    created: date
    solved: date | None
    reply_minutes: float | None
    rating: int  # 1 good, -1 bad, 0 none


class SyntheticStats:
    """In-memory tickets; each query scans them all and computes the headline numbers."""

    def __init__(self, count: int, seed: int = 7) -> None:
        rng = random.Random(seed)
        start = date(2026, 1, 1)
        self.tickets = []
        for _ in range(count):
            created = start + timedelta(days=rng.randrange(330))
            solved = created + timedelta(days=rng.randrange(6)) if rng.random() < 0.8 else None
            reply = rng.lognormvariate(3.5, 1.0) if rng.random() < 0.9 else None
            rating = rng.choices([1, -1, 0], [0.25, 0.05, 0.70])[0]
            self.tickets.append(_Ticket(created, solved, reply, rating))

    def _window(self, start: date, end: date) -> tuple[int, int, float | None, float | None, float]:
        created = [t for t in self.tickets if start <= t.created < end]
        solved = sum(1 for t in self.tickets if t.solved and start <= t.solved < end)
        replies = [t.reply_minutes for t in created if t.reply_minutes is not None]
        good = sum(1 for t in created if t.rating == 1)
        bad = sum(1 for t in created if t.rating == -1)
        median = statistics.median(replies) if replies else None
        p90 = statistics.quantiles(replies, n=10)[-1] if len(replies) > 1 else None
        csat = 100.0 * good / (good + bad) if good + bad else float("nan")
        return len(created), solved, median, p90, csat

    def stats(self, query: StatsQuery) -> StatsSummary:
        now = self._window(query.period.start, query.period.end)
        prev_period = query.period.previous()
        before = self._window(prev_period.start, prev_period.end)
        metrics = (
            MetricValue("Tickets created", now[0], before[0]),
            MetricValue("Tickets solved", now[1], before[1]),
            MetricValue("First reply (median)", now[2], before[2], "minutes", False),
            MetricValue("First reply (p90)", now[3], before[3], "minutes", False),
            MetricValue("CSAT", now[4], before[4], "percent"),
        )
        return StatsSummary(f"Numbers for {query.target.label}", query.period, metrics)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=4, help="background work threads")
    args = parser.parse_args()

    configure_logging("warning", "json")  # measure the app, not the log printing
    provider = SyntheticStats(args.tickets)
    clock = SystemClock()
    with fake_slack_api() as api:
        settings = make_settings(slack={"base_url": api.api_url})
        work = BackgroundWork(max_workers=args.workers)
        handle = bootstrap.start_slack_app(
            settings, SlackServices(stats=provider), clock, host="127.0.0.1", port=0, work=work
        )
        assert isinstance(handle, HttpHandle)
        url = handle.url + "/slack/events"
        t0 = time.perf_counter()
        provider.stats(StatsQuery(parse_period("7d", datetime.now(UTC).date()), Target(), "UTC"))
        work_seconds = time.perf_counter() - t0
        latencies: list[float] = []
        with requests.Session() as http:
            for i in range(args.requests + 1):
                body = command_body("stats 7d", AGENT, f"{api.url}/hooks/{i}")
                ts = int(time.time())
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Slack-Request-Timestamp": str(ts),
                    "X-Slack-Signature": sign(body, ts),
                }
                started = time.perf_counter()
                response = http.post(url, data=body, headers=headers, timeout=10)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise SystemExit(f"request {i}: HTTP {response.status_code} {response.text}")
                if i:  # the first request is a warm-up
                    latencies.append(elapsed)
            sent_all = time.perf_counter()
            work.wait_idle()
            drained = time.perf_counter() - sent_all
        handle.stop()
        answered = len(api.calls("/hooks/"))

    ms = [x * 1000 for x in latencies]
    print(
        f"requests: {len(ms)}  tickets: {args.tickets:,}  workers: {args.workers}  "
        "provider work per answer: "
        f"{work_seconds * 1000:.0f} ms"
    )
    print(
        f"ack latency ms: p50 {_percentile(ms, 0.5):.1f}  p90 {_percentile(ms, 0.9):.1f}  "
        f"p99 {_percentile(ms, 0.99):.1f}  max {max(ms):.1f}"
    )
    print(
        f"answers delivered: {answered}/{args.requests + 1}; queue drained "
        f"{drained:.1f} s after the last ack"
    )


if __name__ == "__main__":
    main()
