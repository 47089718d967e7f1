"""Benchmark: the staffing forecast over two years of half-hourly history for 5 channels.

    PYTHONPATH=src python bench/bench_forecast.py [--db /tmp/deskbot-forecast.sqlite]
        [--reuse] [--skip-store]

1. Generates a seeded, realistic history (Europe/Berlin, 2 years to END): per channel a
   weekday x intraday profile, a trend, yearly seasonality, German public holidays at 30%
   volume, day-to-day overdispersion (lognormal day factor) and Poisson half hours; about 1M
   tickets in all.
2. Domain only: for each channel, the backtest (2 held-out weeks, model and baseline), the
   choice and a 4-week forecast with staffing, timed; WAPE and bias of both methods.
3. Through the store (SQLite file): the tickets bulk-inserted, then the grouped half-hour query
   and the whole ``ForecastService.build`` (what ``deskbot forecast --weeks 4`` runs), timed,
   with peak RSS.
"""

from __future__ import annotations

import argparse
import math
import resource
import sqlite3
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from deskbot.adapters.db.forecast_store import SqlForecastSource
from deskbot.adapters.db.store import Database
from deskbot.domain.forecast import (
    Calendar,
    History,
    forecast_channel,
    model_available,
    public_holidays,
    slot_grid,
)
from deskbot.domain.staffing import staff_channel
from deskbot.services.forecast import ForecastService
from deskbot.settings import parse_settings

TZ = "Europe/Berlin"
END = date(2026, 11, 23)  # "today": the forecast starts here
DAYS = 730
# channel: (tickets per day, intraday peak hour, peak width in hours, night share)
CHANNELS = {
    "email": (600, 11.0, 4.5, 0.10),
    "web": (300, 14.0, 4.0, 0.08),
    "chat": (350, 13.0, 3.0, 0.02),
    "voice": (100, 10.5, 2.5, 0.0),
    "api": (20, 12.0, 6.0, 0.3),
}
WEEKDAY = {
    "email": [1.0, 1.05, 1.0, 0.95, 0.9, 0.4, 0.3],
    "web": [1.0, 1.0, 1.0, 1.0, 0.95, 0.5, 0.45],
    "chat": [1.1, 1.0, 1.0, 1.0, 0.95, 0.3, 0.2],
    "voice": [1.2, 1.0, 1.0, 1.0, 0.9, 0.05, 0.0],
    "api": [1.0] * 7,
}
CONFIG = """
timezone: Europe/Berlin
zendesk: {{subdomain: bench}}
storage: {{url: 'sqlite:///{db}'}}
forecast:
  weeks: 4
  country: DE
  channels:
    - {{name: email, kind: deferred, handle_minutes: 8}}
    - {{name: web, kind: deferred, handle_minutes: 8}}
    - {{name: chat, kind: live, handle_minutes: 7}}
    - {{name: voice, kind: live, handle_minutes: 6}}
    - {{name: api, kind: deferred, handle_minutes: 5}}
"""


def synthetic(seed: int = 42) -> tuple[object, dict[str, np.ndarray], Calendar]:
    start = END - timedelta(days=DAYS)
    grid = slot_grid(start, END, TZ)
    holidays = public_holidays("DE", None, range(start.year, END.year + 1))
    rng = np.random.default_rng(seed)
    hour = grid.wall / 2
    doy = np.array([(start + timedelta(days=int(d))).timetuple().tm_yday for d in grid.day])
    yearly = 1 + 0.12 * np.cos(2 * math.pi * (doy - 15) / 365.25)
    holiday = np.array(
        [0.3 if start + timedelta(days=int(d)) in holidays else 1.0 for d in range(grid.days)]
    )
    counts = {}
    for name, (per_day, peak, width, night) in CHANNELS.items():
        intraday = np.exp(-(((hour - peak) / width) ** 2)) + night
        intraday = intraday / intraday.mean() / 48
        day_noise = rng.lognormal(0, 0.08, grid.days)
        trend = 1 + 0.25 * grid.day / 365
        weekday = np.array(WEEKDAY[name])[grid.weekday]
        rate = per_day * intraday * weekday * trend * yearly * (holiday * day_noise)[grid.day]
        counts[name] = rng.poisson(rate).astype(np.float64)
    return grid, counts, Calendar(holidays=holidays)


def domain(grid: object, counts: dict[str, np.ndarray], calendar: Calendar) -> None:
    settings = parse_settings(CONFIG.format(db="/dev/null"))
    target = slot_grid(END, END + timedelta(days=28), TZ)
    t0 = time.perf_counter()
    if model_available():
        import statsmodels.api  # noqa: F401  # imported once per process; timed on its own
    print(f"model installed: {model_available()}; import {time.perf_counter() - t0:.2f} s")
    print(
        "| channel | tickets in 2 years | chosen | model WAPE / bias | baseline WAPE / bias "
        "| forecast + staffing s |"
    )
    print("|---|---|---|---|---|---|")
    total = 0.0
    for name, values in counts.items():
        t0 = time.perf_counter()
        history = History(grid, values, calendar, name)  # type: ignore[arg-type]
        result = forecast_channel(history, target, holdout_weeks=2, min_history_weeks=4)
        config = settings.forecast.channel_config(name)
        staff_channel(result.expected.tolist(), values[-8:].tolist(), config, 0.3)
        took = time.perf_counter() - t0
        total += took
        bt = result.backtest
        model = f"{bt.model.wape:.1%} / {bt.model.bias:+.1%}" if bt.model else "n/a"
        base = f"{bt.baseline.wape:.1%} / {bt.baseline.bias:+.1%}" if bt.baseline else "n/a"
        print(
            f"| {name} | {int(values.sum()):,} | {result.method} | {model} | {base} | {took:.2f} |"
        )
    print(f"domain total for 5 channels: {total:.2f} s")


def store(path: Path, grid: object, counts: dict[str, np.ndarray], reuse: bool) -> None:
    if not (reuse and path.exists()):
        path.unlink(missing_ok=True)
        database = Database(f"sqlite:///{path}")
        database.upgrade()
        database.dispose()
        rng = np.random.default_rng(1)
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA synchronous=OFF")
        t0 = time.perf_counter()
        tid = 1
        rows = []
        for name, values in counts.items():
            for i in np.nonzero(values)[0]:
                base = int(grid.utc[i])  # type: ignore[attr-defined]
                for offset in rng.integers(0, 1800, int(values[i])):
                    when = datetime.fromtimestamp(base + int(offset), UTC)
                    stamp = when.strftime("%Y-%m-%d %H:%M:%S.%f")
                    rows.append((tid, stamp, stamp, 0, "solved", 0, name, "", "{}", stamp))
                    tid += 1
            conn.executemany(
                "INSERT INTO tickets (id, created_at, updated_at, generated_timestamp, status, "
                "is_deleted, channel, tags, raw, synced_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            rows = []
        conn.commit()
        conn.close()
        print(f"inserted {tid - 1:,} tickets in {time.perf_counter() - t0:.1f} s")
    settings = parse_settings(CONFIG.format(db=path))
    database = Database(settings.database_url)
    source = SqlForecastSource(database)
    now = datetime(END.year, END.month, END.day, 6, 0, tzinfo=UTC)
    start = END - timedelta(days=DAYS)
    for run in ("cold", "warm"):
        t0, c0 = time.perf_counter(), time.process_time()
        counted = source.created_counts(grid.origin, now.replace(hour=0) - timedelta(hours=1))  # type: ignore[attr-defined]
        query, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"half-hour counts query ({run}): {query:.2f} s wall, {cpu:.2f} s CPU, "
            f"{sum(len(v) for v in counted.values()):,} buckets from "
            f"{sum(sum(v.values()) for v in counted.values()):,} tickets"
        )
    t0, c0 = time.perf_counter(), time.process_time()
    report = ForecastService(source, settings).build(now, weeks=4)
    build, cpu = time.perf_counter() - t0, time.process_time() - c0
    methods = {s.channel: s.forecast.method if s.forecast else s.problem for s in report.series}
    print(
        f"ForecastService.build (4 weeks, 5 channels, from {start}): {build:.2f} s wall, "
        f"{cpu:.2f} s CPU; {methods}"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {rss:.0f} MB")
    database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="/tmp/deskbot-forecast.sqlite")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--skip-store", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    grid, counts, calendar = synthetic()
    print(
        f"generated {len(grid):,} half hours x {len(counts)} channels "  # type: ignore[arg-type]
        f"in {time.perf_counter() - t0:.2f} s"
    )
    domain(grid, counts, calendar)
    if not args.skip_store:
        store(Path(args.db), grid, counts, args.reuse)


if __name__ == "__main__":
    main()
