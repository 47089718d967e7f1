"""The staffing forecast: history from the store, forecast and staffing per channel, the weekly
post (exactly once per week and channel).

``ForecastService.build`` reads the half-hourly created counts of the last
``forecast.history_days`` through a ``ForecastSource`` (``adapters/db/forecast_store.py``), and
for the whole team and each configured group, per channel: backtests, chooses the model or the
baseline, forecasts the next ``weeks`` weeks from today's local midnight, and staffs each half
hour (``deskbot.domain.staffing``). A channel that cannot be forecast carries a ``problem``
sentence instead of numbers; nothing here raises for bad data.

The weekly post is ``services/forecast_post.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import numpy as np

from deskbot.domain.authz import Actor, require
from deskbot.domain.forecast import (
    ENABLE_HINT,
    Calendar,
    ChannelForecast,
    Floats,
    ForecastProblem,
    History,
    KnownEvent,
    SlotGrid,
    counts_on_grid,
    daily_sums,
    forecast_channel,
    model_available,
    public_holidays,
    slot_grid,
    week_heatmap,
)
from deskbot.domain.metrics import local_midnight
from deskbot.domain.people import Role
from deskbot.domain.staffing import ChannelStaffing, staff_channel
from deskbot.errors import DeskbotError
from deskbot.log import get_logger
from deskbot.ports import Clock
from deskbot.settings import Settings

log = get_logger(__name__)

RECENT_DAYS = 14  # actuals shown beside the forecast in the chart
# The sync's position lags "now" by minutes normally (a quiet night: hours); beyond a day the
# days since are treated as unknown. A week without a single new ticket means the data stopped.
STALE_SYNC = timedelta(hours=24)
STALE_DATA = timedelta(days=7)


class ForecastSource(Protocol):
    """What the forecast reads from the store."""

    def resolve_group(self, text: str) -> tuple[int, str]:
        """(id, name) of a Zendesk group by id or name; raises with suggestions when unknown."""
        ...

    def created_counts(
        self, origin: datetime, until: datetime, group_id: int | None = None
    ) -> dict[str, dict[int, int]]:
        """``{channel: {half hours since origin: tickets created}}`` in ``[origin, until)``."""
        ...

    def synced_until(self) -> datetime | None:
        """How far the local copy of tickets reaches; ``None`` when unknown."""
        ...

    def last_created(self) -> datetime | None:
        """The newest ticket's creation time; ``None`` without tickets."""
        ...


@dataclass(frozen=True, eq=False)
class SeriesForecast:
    """One channel of one scope (the whole team, or a configured group)."""

    scope: str
    channel: str
    forecast: ChannelForecast | None = None
    staffing: ChannelStaffing | None = None
    problem: str | None = None  # why there are no numbers
    recent: tuple[SlotGrid, Floats] | None = None  # last two weeks' actuals

    @property
    def label(self) -> str:
        return self.channel if self.scope == "team" else f"{self.scope} / {self.channel}"


@dataclass(frozen=True, eq=False)
class ForecastReport:
    generated_at: datetime
    tz: str
    start_day: date
    weeks: int
    shrinkage: float
    model_installed: bool
    series: list[SeriesForecast]
    notes: list[str] = field(default_factory=list)

    @property
    def end_day(self) -> date:
        return self.start_day + timedelta(days=7 * self.weeks)

    def heatmap(self, scope: str = "team") -> Floats | None:
        """Scheduled agents (all channels of ``scope``) by weekday * half hour, first week."""
        total: Floats | None = None
        for s in self.series:
            if s.scope != scope or s.forecast is None or s.staffing is None:
                continue
            if s.staffing.problem is not None:
                continue
            grid = week_heatmap(s.forecast.target, s.staffing.scheduled)
            total = grid if total is None else np.nansum(np.stack([total, grid]), axis=0)
        return total


class ForecastService:
    def __init__(self, source: ForecastSource, settings: Settings) -> None:
        self._source = source
        self._settings = settings

    def calendar(self, first: date, last: date) -> Calendar:
        config = self._settings.forecast
        return Calendar(
            holidays=public_holidays(
                config.country, config.subdivision, range(first.year, last.year + 1)
            ),
            events=tuple(
                KnownEvent(e.name, e.start, e.end or e.start, e.uplift, tuple(e.channels))
                for e in config.events
            ),
            default_holiday_factor=config.holiday_factor,
        )

    def build(
        self,
        now: datetime,
        weeks: int | None = None,
        channel: str | None = None,
        actor: Actor | None = None,
    ) -> ForecastReport:
        """The forecast from today's local midnight; ``actor`` (Slack) must be a lead or admin."""
        if actor is not None:
            require(actor, Role.LEAD, "see the staffing forecast")
        config = self._settings.forecast
        horizon = weeks or config.weeks
        if not 1 <= horizon <= 4:
            raise DeskbotError(f"the forecast covers 1 to 4 weeks, not {horizon}")
        tz = self._settings.tz
        notes: list[str] = []
        today = self._data_end(now, notes).astimezone(tz).date()
        start = today - timedelta(days=config.history_days)
        end = today + timedelta(days=7 * horizon)
        calendar = self.calendar(start, end)
        grid = slot_grid(start, today, self._settings.timezone)
        target = slot_grid(today, end, self._settings.timezone)
        configured = [c.name for c in config.channels]
        scopes: list[tuple[str, int | None]] = [("team", None)]
        for group in config.groups:
            try:
                found_id, name = self._source.resolve_group(group)
            except DeskbotError as exc:
                notes.append(f"group {group!r} skipped: {exc}")
                continue
            scopes.append((name, found_id))
        series: list[SeriesForecast] = []
        for scope, group_id in scopes:
            origin, until = local_midnight(start, tz), local_midnight(today, tz)
            counts = self._source.created_counts(origin, until, group_id)
            firsts = {name: min(slots) for name, slots in counts.items() if slots}
            # the configured channels, then any other channel with tickets (volume only)
            names = [channel] if channel else configured + sorted(set(firsts) - set(configured))
            for name in names:
                series.append(self._one(scope, name, grid, target, calendar, firsts, counts))
        if not model_available():
            notes.append(
                f"The forecasting model is not installed: every channel uses the seasonal-naive "
                f"baseline. Enable it with `{ENABLE_HINT}`."
            )
        return ForecastReport(
            generated_at=now,
            tz=self._settings.timezone,
            start_day=today,
            weeks=horizon,
            shrinkage=config.shrinkage,
            model_installed=model_available(),
            series=series,
            notes=notes,
        )

    def _data_end(self, now: datetime, notes: list[str]) -> datetime:
        """Where the history ends and the forecast starts: now, unless the local copy says
        the days since are unknown (a stale sync) or the data stopped long ago (an idle
        account or a historical data set): those days are not read as quiet days."""
        last = self._source.last_created()
        if last is not None and now - last > STALE_DATA:
            end = last + timedelta(days=1)
            notes.append(
                f"No ticket was created after {last:%Y-%m-%d %H:%M} UTC, {(now - last).days} "
                f"days ago: the history ends and the forecast starts on "
                f"{end.astimezone(self._settings.tz).date()}. If the account is live, run "
                "`deskbot sync`."
            )
            return end
        reached = self._source.synced_until()
        if reached is not None and now - reached > STALE_SYNC:
            notes.append(
                f"The local copy of tickets reaches only {reached:%Y-%m-%d %H:%M} UTC (the "
                f"sync's position): the history ends and the forecast starts on "
                f"{reached.astimezone(self._settings.tz).date()}. Run `deskbot sync` to bring "
                "it up to date."
            )
            return reached
        return now

    def _one(
        self,
        scope: str,
        channel: str,
        grid: SlotGrid,
        target: SlotGrid,
        calendar: Calendar,
        firsts: Mapping[str, int],
        counts: Mapping[str, Mapping[int, int]],
    ) -> SeriesForecast:
        config = self._settings.forecast
        first = firsts.get(channel)
        if first is None:
            known = ", ".join(sorted(firsts)) or "none"
            return SeriesForecast(
                scope,
                channel,
                problem=(
                    f"no tickets on channel {channel!r} in the last {config.history_days} days: "
                    f"nothing to forecast (channels with tickets: {known})"
                ),
            )
        offset = int(grid.day[first]) if first < len(grid) else grid.days
        dense = counts_on_grid(grid, counts.get(channel, {}))
        if offset >= grid.days:
            return SeriesForecast(scope, channel, problem="no complete day of history yet")
        part, cut = grid.sub(offset, grid.days)
        history = History(part, dense[cut], calendar, channel)
        recent_grid, recent_cut = part.sub(max(0, part.days - RECENT_DAYS), part.days)
        recent = (recent_grid, history.counts[recent_cut])
        try:
            result = forecast_channel(
                history,
                target,
                holdout_weeks=config.holdout_weeks,
                min_history_weeks=config.min_history_weeks,
            )
        except ForecastProblem as exc:
            return SeriesForecast(scope, channel, problem=str(exc), recent=recent)
        channel_config = config.channel_config(channel)
        window = 1
        if channel_config is not None and channel_config.kind == "deferred":
            window = max(1, int(channel_config.first_reply_minutes // 30))
        prefix = history.counts[-(window - 1) :] if window > 1 else history.counts[:0]
        staffing = staff_channel(
            result.expected.tolist(), prefix.tolist(), channel_config, config.shrinkage
        )
        log.debug(
            "forecast.channel",
            scope=scope,
            channel=channel,
            method=result.method,
            history_days=result.history_days,
        )
        return SeriesForecast(scope, channel, result, staffing, recent=recent)


# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------


def _acc(value: Any) -> dict[str, float] | None:
    return None if value is None else {"wape": round(value.wape, 4), "bias": round(value.bias, 4)}


def report_to_json(report: ForecastReport) -> dict[str, Any]:
    """The stable JSON of ``deskbot forecast --json`` (documented in docs/forecast.md)."""
    out_series = []
    for s in report.series:
        item: dict[str, Any] = {"scope": s.scope, "channel": s.channel, "problem": s.problem}
        fc, st = s.forecast, s.staffing
        if fc is not None:
            bt = fc.backtest
            item.update(
                method=fc.method,
                reason=fc.reason,
                backtest={
                    "weeks": bt.weeks,
                    "first_day": bt.first_day.isoformat(),
                    "model": _acc(bt.model),
                    "baseline": _acc(bt.baseline),
                    "model_daily": _acc(bt.model_daily),
                    "baseline_daily": _acc(bt.baseline_daily),
                    "model_error": bt.model_error,
                },
                history_days=fc.history_days,
                holiday_factor=round(fc.holiday_factor, 3),
                holiday_factor_source=fc.holiday_source,
                notes=list(fc.notes),
            )
            if st is not None:
                item["staffing"] = {
                    "kind": st.kind,
                    "problem": st.problem,
                    "assumptions": st.assumptions,
                    "peak_scheduled": max(st.scheduled, default=0),
                }
            hours = (
                np.bincount(
                    fc.target.day, weights=np.asarray(st.scheduled), minlength=fc.target.days
                )
                / 2
                if st is not None and st.problem is None
                else None
            )
            item["days"] = [
                {
                    "date": day.isoformat(),
                    "tickets": round(total, 1),
                    "scheduled_agent_hours": None if hours is None else float(hours[i]),
                }
                for i, (day, total) in enumerate(daily_sums(fc.target, fc.expected))
            ]
            slots = []
            for i in range(len(fc.target)):
                slot: dict[str, Any] = {
                    "start": fc.target.local_start(i).isoformat(),
                    "expected": round(float(fc.expected[i]), 2),
                    "lower": round(float(fc.lower[i]), 2),
                    "upper": round(float(fc.upper[i]), 2),
                }
                if st is not None and st.problem is None:
                    slot["agents"] = round(st.agents[i], 2)
                    slot["scheduled"] = st.scheduled[i]
                    if st.workload:
                        slot["workload_agents"] = round(st.workload[i], 2)
                slots.append(slot)
            item["slots"] = slots
        out_series.append(item)
    return {
        "generated_at": report.generated_at.isoformat(),
        "timezone": report.tz,
        "start": report.start_day.isoformat(),
        "end": report.end_day.isoformat(),
        "weeks": report.weeks,
        "shrinkage": report.shrinkage,
        "model_installed": report.model_installed,
        "enable_model": None if report.model_installed else ENABLE_HINT,
        "notes": report.notes,
        "series": out_series,
    }


# --------------------------------------------------------------------------------------------
# Text (CLI, Slack sections)
# --------------------------------------------------------------------------------------------


def _peak(series: SeriesForecast) -> str:
    fc, st = series.forecast, series.staffing
    if fc is None or st is None or st.problem is not None or not st.scheduled:
        return ""
    i = int(np.argmax(st.scheduled))
    when = fc.target.local_start(i)
    n = st.scheduled[i]
    return f"peak {n} agent{'s' * (n != 1)} ({when:%a %d %b %H:%M})"


def series_lines(series: SeriesForecast, markdown: bool = False) -> list[str]:
    """A few lines about one channel: method and why, backtest, the next days, staffing."""
    bold = "*" if markdown else ""
    title = f"{bold}{series.label}{bold}"
    if series.problem is not None or series.forecast is None:
        return [f"{title}: no forecast: {series.problem}"]
    fc, st = series.forecast, series.staffing
    lines = [f"{title}: {fc.reason}", f"  {fc.backtest.line()}"]
    days = daily_sums(fc.target, fc.expected)
    week = sum(total for _day, total in days[:7])
    staffing = ""
    if st is not None and st.problem is None:
        hours = sum(st.scheduled[i] for i in range(len(fc.target)) if fc.target.day[i] < 7) / 2
        staffing = f"; {_peak(series)}, {hours:,.0f} scheduled agent-hours"
    lines.append(f"  Next 7 days: {week:,.0f} tickets{staffing}")
    per_day = []
    for d, (day, total) in enumerate(days[:7]):
        peak = ""
        if st is not None and st.problem is None:
            day_max = max(
                (st.scheduled[i] for i in range(len(fc.target)) if fc.target.day[i] == d),
                default=0,
            )
            peak = f"/{day_max}"
        per_day.append(f"{day:%a} {total:,.0f}{peak}")
    lines.append(
        "  By day (tickets"
        + ("/peak agents" if st is not None and st.problem is None else "")
        + "): "
        + ", ".join(per_day)
    )
    if st is not None:
        lines.append(f"  Staffing: {st.problem}" if st.problem else f"  Staffing: {st.assumptions}")
    lines.extend(f"  {note}" for note in fc.notes)
    return lines


def report_lines(report: ForecastReport, markdown: bool = False) -> list[str]:
    lines = [
        f"Staffing forecast {report.start_day.isoformat()} to "
        f"{(report.end_day - timedelta(days=1)).isoformat()} ({report.tz}), "
        f"{report.weeks} week{'s' * (report.weeks != 1)}, shrinkage {report.shrinkage:.0%}"
    ]
    lines.extend(report.notes)
    for series in report.series:
        lines.extend(series_lines(series, markdown))
    return lines


class StoreForecast:
    """``ForecastProvider`` for the Slack app: the service on the settings in force."""

    def __init__(
        self, source: ForecastSource, settings: Callable[[], Settings], clock: Clock
    ) -> None:
        self._source = source
        self._settings = settings
        self._clock = clock

    def forecast(self, actor: Actor, weeks: int | None, channel: str | None) -> ForecastReport:
        service = ForecastService(self._source, self._settings())
        return service.build(self._clock.now(), weeks=weeks, channel=channel, actor=actor)
