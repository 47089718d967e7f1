"""Half-hourly ticket forecast per channel: series, baseline, model, backtest, selection.

Pure computation (no I/O, no clock): the service hands in counts and "today".

Time. A series is a ``SlotGrid``: every half hour from local midnight of its first day to local
midnight of its end day in the configured timezone, stepped in real time (30 minutes of UTC).
Each slot carries its local day, its wall-clock half hour (0 = 00:00-00:30 … 47) and its fold
(1 for the second 02:00 when clocks go back). A spring-forward day therefore has 46 slots and
a fall-back day 50; nothing is assumed to have 48.

Methods.
- Baseline (seasonal naive): each slot gets the count of the same wall-clock half hour on the
  same weekday one week earlier (further weeks back when that half hour did not exist, or when
  that day was a holiday or a known event); then the target day's holiday/event factor.
- Model (``statsmodels``, optional extra ``deskbot[forecast]``): a Poisson GLM of daily totals
  with weekday effects, a linear trend, yearly seasonality (with a year of history) and recent
  days weighted more (half-life 26 weeks), times an intraday profile (each weekday's share per
  half hour over the last eight normal weeks, shrunk towards the all-days profile). DST days are
  fitted through an offset: a 23-hour day is expected to miss the share of its missing hour.
  Holidays and known-event days are left out of the fit and get their factors afterwards.
- Calendar: a public holiday multiplies volume by the holiday factor learned from the history
  (median ratio of holidays to the same weekday a week or two around them, once two holidays
  are seen), else the configured default; a known event multiplies by ``1 + uplift``.

Backtest. For each of the last ``holdout`` weeks, both methods are fitted on the days before it
and forecast it (one week ahead, as the weekly forecast is used). WAPE = Σ|f - y| / Σy and
bias = Σ(f - y) / Σy over all held-out half hours. The model is used only when its WAPE is at
least 2% (relative) below the baseline's and it wins at least half of the held-out weeks.
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from deskbot.domain.metrics import local_midnight

SLOT_SECONDS = 1800
SLOTS_PER_DAY = 48
PROFILE_WEEKS = 8
PROFILE_PRIOR = 48.0  # tickets' worth of the all-days profile mixed into each weekday's
HALF_LIFE_DAYS = 182.0
YEARLY_MIN_DAYS = 400
SELECTION_MARGIN = 0.02
BAND_Z = 1.2816  # 80% band
ENABLE_HINT = "pip install 'deskbot[forecast]'"

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Method = Literal["model", "baseline"]


class ForecastProblem(ValueError):
    """The data cannot support a forecast; the message says why and what would help."""


class ModelUnavailable(Exception):
    """The model cannot run (library missing or fit failed); the baseline is used."""


def model_available() -> bool:
    """True when the optional forecasting library (statsmodels) is installed."""
    return importlib.util.find_spec("statsmodels") is not None


# --------------------------------------------------------------------------------------------
# Time: half-hour slots in local wall-clock time
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SlotGrid:
    """Every real half hour of the local days ``[start_day, end_day)`` in ``tz``."""

    tz: str
    start_day: date
    end_day: date
    utc: Ints  # epoch seconds of each slot's start
    day: Ints  # local day, as days since start_day
    wall: Ints  # wall-clock half hour 0..47
    fold: Ints  # 1 for the repeated half hours of a fall-back day
    weekday: Ints  # 0 = Monday

    def __len__(self) -> int:
        return len(self.utc)

    @property
    def days(self) -> int:
        return (self.end_day - self.start_day).days

    @property
    def origin(self) -> datetime:
        """The first slot's start (aware UTC): local midnight of ``start_day``."""
        return local_midnight(self.start_day, ZoneInfo(self.tz))

    def day_date(self, index: int) -> date:
        return self.start_day + timedelta(days=index)

    def local_start(self, i: int) -> datetime:
        return datetime.fromtimestamp(int(self.utc[i]), UTC).astimezone(ZoneInfo(self.tz))

    def slots_of_day(self, index: int) -> int:
        return int(np.count_nonzero(self.day == index))

    def sub(self, first_day: int, last_day: int) -> tuple[SlotGrid, slice]:
        """The grid of days ``[first_day, last_day)`` and the slice of slots it covers."""
        lo = int(np.searchsorted(self.day, first_day, side="left"))
        hi = int(np.searchsorted(self.day, last_day, side="left"))
        part = SlotGrid(
            self.tz,
            self.day_date(first_day),
            self.day_date(last_day),
            self.utc[lo:hi],
            self.day[lo:hi] - first_day,
            self.wall[lo:hi],
            self.fold[lo:hi],
            self.weekday[lo:hi],
        )
        return part, slice(lo, hi)


def slot_grid(start_day: date, end_day: date, tz: str) -> SlotGrid:
    """The half-hour grid of local days ``[start_day, end_day)``, DST-correct."""
    if end_day <= start_day:
        raise ValueError("a slot grid needs at least one day")
    zone = ZoneInfo(tz)
    origin = local_midnight(start_day, zone)
    end = local_midnight(end_day, zone)
    count = int((end - origin).total_seconds()) // SLOT_SECONDS
    base = int(origin.timestamp())
    utc = base + np.arange(count, dtype=np.int64) * SLOT_SECONDS
    offsets = np.empty(count, dtype=np.int64)
    fold = np.empty(count, dtype=np.int64)
    for i, ts in enumerate(utc.tolist()):
        local = datetime.fromtimestamp(ts, zone)
        offsets[i] = int((local.utcoffset() or timedelta(0)).total_seconds())
        fold[i] = local.fold
    seconds = utc + offsets  # the local wall clock, as if it were UTC
    local_days = seconds // 86_400
    day = local_days - (start_day - date(1970, 1, 1)).days
    wall = (seconds % 86_400) // SLOT_SECONDS
    weekday = (local_days + 3) % 7  # 1970-01-01 was a Thursday
    return SlotGrid(tz, start_day, end_day, utc, day, wall, fold, weekday)


def counts_on_grid(grid: SlotGrid, by_slot: Mapping[int, int | float]) -> Floats:
    """Dense counts from ``{slot index: count}`` (slot index = half hours since the origin)."""
    out = np.zeros(len(grid), dtype=np.float64)
    for index, n in by_slot.items():
        if 0 <= index < len(grid):
            out[index] += n
    return out


# --------------------------------------------------------------------------------------------
# Calendar: public holidays and known events
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownEvent:
    name: str
    start: date
    end: date  # inclusive
    uplift: float  # +0.3 = 30% more tickets
    channels: tuple[str, ...] = ()  # empty: every channel

    def applies(self, day: date, channel: str) -> bool:
        return self.start <= day <= self.end and (not self.channels or channel in self.channels)


@dataclass(frozen=True)
class Calendar:
    holidays: Mapping[date, str] = field(default_factory=dict)
    events: tuple[KnownEvent, ...] = ()
    default_holiday_factor: float = 0.5

    def event_factor(self, day: date, channel: str) -> float:
        factor = 1.0
        for event in self.events:
            if event.applies(day, channel):
                factor *= 1.0 + event.uplift
        return factor

    def is_special(self, day: date, channel: str) -> bool:
        return day in self.holidays or any(e.applies(day, channel) for e in self.events)


def public_holidays(country: str | None, subdivision: str | None, years: range) -> dict[date, str]:
    """Public holidays from the ``holidays`` package (empty without a country)."""
    if not country:
        return {}
    import holidays

    found = holidays.country_holidays(country, subdiv=subdivision, years=list(years))
    return {day: str(name) for day, name in sorted(found.items())}


def _special_days(grid: SlotGrid, calendar: Calendar, channel: str) -> npt.NDArray[np.bool_]:
    return np.array(
        [calendar.is_special(grid.day_date(d), channel) for d in range(grid.days)], dtype=bool
    )


def day_totals(grid: SlotGrid, counts: Floats) -> Floats:
    return np.bincount(grid.day, weights=counts, minlength=grid.days).astype(np.float64)


def holiday_factor(
    grid: SlotGrid, counts: Floats, calendar: Calendar, channel: str
) -> tuple[float, str]:
    """Volume on a public holiday relative to a normal day, and where the number comes from."""
    totals = day_totals(grid, counts)
    special = _special_days(grid, calendar, channel)
    ratios = []
    for d in range(grid.days):
        when = grid.day_date(d)
        if when not in calendar.holidays or calendar.event_factor(when, channel) != 1.0:
            continue
        around = [d + k for k in (-14, -7, 7, 14) if 0 <= d + k < grid.days and not special[d + k]]
        if not around:
            continue
        usual = float(np.mean(totals[around]))
        if usual >= 5:
            ratios.append(float(totals[d]) / usual)
    if len(ratios) >= 2:
        return float(np.median(ratios)), f"learned from {len(ratios)} holidays in the history"
    return calendar.default_holiday_factor, "configured (too few holidays in the history)"


def calendar_factors(grid: SlotGrid, calendar: Calendar, channel: str, holiday: float) -> Floats:
    """Per-day multiplier for the target days: holiday factor * known-event uplifts."""
    out = np.ones(grid.days, dtype=np.float64)
    for d in range(grid.days):
        when = grid.day_date(d)
        if when in calendar.holidays:
            out[d] *= holiday
        out[d] *= calendar.event_factor(when, channel)
    return out


# --------------------------------------------------------------------------------------------
# Forecasters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    """A channel's counts on its grid, and the calendar that explains unusual days."""

    grid: SlotGrid
    counts: Floats
    calendar: Calendar
    channel: str

    def head(self, days: int) -> History:
        part, cut = self.grid.sub(0, days)
        return History(part, self.counts[cut], self.calendar, self.channel)


Forecaster = Callable[[History, SlotGrid], Floats]


def _target_days(history: History, target: SlotGrid) -> int:
    """Offset of the target's first day from the history's first day."""
    return (target.start_day - history.grid.start_day).days


def seasonal_naive(history: History, target: SlotGrid, *, skip_special: bool = True) -> Floats:
    """Same wall-clock half hour on the same weekday a week earlier (further back when it did
    not exist, or with ``skip_special`` when that day was a holiday or known event), times the
    target day's holiday/event factor."""
    hist = history.grid
    values = np.full((hist.days, SLOTS_PER_DAY), np.nan)
    first = hist.fold == 0
    values[hist.day[first], hist.wall[first]] = history.counts[first]
    special = (
        _special_days(hist, history.calendar, history.channel)
        if skip_special
        else np.zeros(hist.days, dtype=bool)
    )
    offset = _target_days(history, target)
    absolute_day = target.day + offset
    out = np.full(len(target), np.nan)
    weeks_back = 1
    max_weeks = hist.days // 7 + target.days // 7 + 2
    while np.isnan(out).any() and weeks_back <= max_weeks:
        source = absolute_day - 7 * weeks_back
        ok = (source >= 0) & (source < hist.days) & np.isnan(out)
        idx = np.nonzero(ok)[0]
        if idx.size:
            candidate = values[source[idx], target.wall[idx]]
            usable = ~np.isnan(candidate) & ~special[source[idx]]
            out[idx[usable]] = candidate[usable]
        weeks_back += 1
    result: Floats = np.nan_to_num(out, nan=0.0)
    if skip_special:
        factor, _source = holiday_factor(hist, history.counts, history.calendar, history.channel)
        result *= calendar_factors(target, history.calendar, history.channel, factor)[target.day]
    return result


def intraday_profile(history: History, weeks: int = PROFILE_WEEKS) -> Floats:
    """Each weekday's share of its tickets per wall-clock half hour, shape (7, 48).

    Counted over the last ``weeks`` weeks of normal days, per occurrence of the half hour (a
    fall-back day's repeated hour counts twice, a spring-forward day's missing hour not at
    all), and shrunk towards the all-days profile so a quiet weekday is not all noise."""
    grid = history.grid
    special = _special_days(grid, history.calendar, history.channel)
    first_day = max(0, grid.days - 7 * weeks)
    mask = (grid.day >= first_day) & ~special[grid.day]
    key = grid.weekday[mask] * SLOTS_PER_DAY + grid.wall[mask]
    sums = np.bincount(key, weights=history.counts[mask], minlength=7 * SLOTS_PER_DAY)
    seen = np.bincount(key, minlength=7 * SLOTS_PER_DAY).astype(np.float64)
    rate = np.divide(sums, seen, out=np.zeros_like(sums), where=seen > 0).reshape(7, -1)
    totals = sums.reshape(7, -1).sum(axis=1)
    pooled = rate.sum(axis=0)
    pooled = pooled / pooled.sum() if pooled.sum() > 0 else np.full(SLOTS_PER_DAY, 1 / 48)
    shares = np.zeros((7, SLOTS_PER_DAY))
    for wd in range(7):
        own = rate[wd] / rate[wd].sum() if rate[wd].sum() > 0 else pooled
        shares[wd] = (totals[wd] * own + PROFILE_PRIOR * pooled) / (totals[wd] + PROFILE_PRIOR)
    return shares


def _design(days: Ints, weekdays: Ints, reference_day: int, yearly: bool, start: date) -> Floats:
    cols = [(weekdays == wd).astype(np.float64) for wd in range(7)]
    cols.append((days - reference_day) / 365.25)
    if yearly:
        doy = np.array(
            [(start + timedelta(days=int(d))).timetuple().tm_yday for d in days], dtype=np.float64
        )
        for k in (1, 2):
            cols.append(np.sin(2 * math.pi * k * doy / 365.25))
            cols.append(np.cos(2 * math.pi * k * doy / 365.25))
    return np.column_stack(cols)


def glm_forecast(history: History, target: SlotGrid) -> Floats:
    """The model: Poisson GLM of daily totals * intraday profile * calendar factors."""
    if not model_available():
        raise ModelUnavailable(f"the forecasting model is not installed ({ENABLE_HINT})")
    import statsmodels.api as sm

    grid = history.grid
    shares = intraday_profile(history)
    coverage = np.bincount(grid.day, weights=shares[grid.weekday, grid.wall], minlength=grid.days)
    totals = day_totals(grid, history.counts)
    special = _special_days(grid, history.calendar, history.channel)
    days = np.arange(grid.days, dtype=np.int64)
    weekdays = np.array([grid.day_date(int(d)).weekday() for d in days], dtype=np.int64)
    fit = ~special & (coverage > 0)
    active = [wd for wd in range(7) if totals[fit & (weekdays == wd)].sum() > 0]
    if not active:
        raise ModelUnavailable("no tickets on normal days to fit the model to")
    fit &= np.isin(weekdays, active)  # a weekday without tickets is forecast as zero
    yearly = grid.days >= YEARLY_MIN_DAYS
    reference = grid.days - 1
    x = _design(days, weekdays, reference, yearly, grid.start_day)
    keep = [i for i in range(x.shape[1]) if i >= 7 or i in active]
    x = x[:, keep]
    age = reference - days
    weights = 0.5 ** (age / HALF_LIFE_DAYS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = sm.GLM(
                totals[fit],
                x[fit],
                family=sm.families.Poisson(),
                offset=np.log(coverage[fit]),
                var_weights=weights[fit],
            ).fit()
        except Exception as exc:  # statsmodels raises several types on degenerate data
            raise ModelUnavailable(f"the model could not be fitted ({exc})") from exc
    params = np.asarray(result.params, dtype=np.float64)
    if not np.all(np.isfinite(params)):
        raise ModelUnavailable("the model did not converge")
    offset = _target_days(history, target)
    t_days = np.arange(target.days, dtype=np.int64) + offset
    t_weekdays = np.array([grid.day_date(int(d)).weekday() for d in t_days], dtype=np.int64)
    tx = _design(t_days, t_weekdays, reference, yearly, grid.start_day)[:, keep]
    level = np.exp(np.clip(tx @ params, -50, 50))
    level[~np.isin(t_weekdays, active)] = 0.0
    factor, _source = holiday_factor(grid, history.counts, history.calendar, history.channel)
    level *= calendar_factors(target, history.calendar, history.channel, factor)
    out: Floats = level[target.day] * shares[target.weekday, target.wall]
    return out


# --------------------------------------------------------------------------------------------
# Accuracy and selection
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accuracy:
    wape: float  # Σ|f - y| / Σy
    bias: float  # Σ(f - y) / Σy; positive: over-forecast

    def describe(self) -> str:
        return f"WAPE {self.wape:.1%}, bias {self.bias:+.1%}"


def accuracy(forecast: Floats, actual: Floats) -> Accuracy | None:
    """WAPE and bias, or ``None`` when there were no tickets to measure against."""
    total = float(actual.sum())
    if total <= 0:
        return None
    return Accuracy(
        wape=float(np.abs(forecast - actual).sum()) / total,
        bias=float((forecast - actual).sum()) / total,
    )


@dataclass(frozen=True)
class Backtest:
    weeks: int
    first_day: date  # first held-out day
    baseline: Accuracy | None
    model: Accuracy | None
    model_error: str | None  # why the model has no score
    weeks_model_won: int
    dispersion_baseline: float  # residual variance / mean, for the band
    dispersion_model: float
    # the same forecasts summed per day (how well each day's volume was foreseen)
    baseline_daily: Accuracy | None = None
    model_daily: Accuracy | None = None

    def line(self) -> str:
        base = self.baseline.describe() if self.baseline else "n/a"
        model = self.model.describe() if self.model else f"n/a ({self.model_error})"
        daily = ""
        if self.model_daily is not None and self.baseline_daily is not None:
            daily = (
                f" (per day: WAPE {self.model_daily.wape:.1%} vs {self.baseline_daily.wape:.1%})"
            )
        return (
            f"Backtest on the last {self.weeks} week{'s' * (self.weeks != 1)}, per half hour: "
            f"model {model}; baseline (same half hour last week) {base}{daily}"
        )


def _dispersion(forecast: Floats, actual: Floats) -> float:
    mean = float(forecast.sum())
    if mean <= 0:
        return 1.0
    return max(1.0, float(((actual - forecast) ** 2).sum()) / mean)


def backtest(history: History, weeks: int, model: Forecaster | None = glm_forecast) -> Backtest:
    """Both methods fitted on the days before each of the last ``weeks`` weeks, forecasting
    that week; scores over all held-out half hours."""
    days = history.grid.days
    if days < 7 * (weeks + 1):
        raise ForecastProblem(f"{days} days of history cannot hold out {weeks} weeks")
    base_parts, model_parts, actual_parts = [], [], []
    model_error: str | None = None if model is not None else "not installed"
    won = 0
    for j in range(weeks, 0, -1):
        cut = days - 7 * j
        train = history.head(cut)
        test, part = history.grid.sub(cut, cut + 7)
        actual = history.counts[part]
        base = seasonal_naive(train, test)
        base_parts.append(base)
        actual_parts.append(actual)
        if model is not None and model_error is None:
            try:
                fc = model(train, test)
            except ModelUnavailable as exc:
                model_error = str(exc)
                continue
            model_parts.append(fc)
            b, m = accuracy(base, actual), accuracy(fc, actual)
            if b is not None and m is not None and m.wape < b.wape:
                won += 1
    actual_all = np.concatenate(actual_parts)
    base_all = np.concatenate(base_parts)
    held = history.grid.day[len(history.grid) - len(actual_all) :]
    held = held - held[0]

    def per_day(values: Floats) -> Floats:
        return np.bincount(held, weights=values, minlength=7 * weeks).astype(np.float64)

    model_acc: Accuracy | None = None
    model_daily: Accuracy | None = None
    model_disp = 1.0
    if model_error is None and model_parts:
        model_all = np.concatenate(model_parts)
        model_acc = accuracy(model_all, actual_all)
        model_daily = accuracy(per_day(model_all), per_day(actual_all))
        model_disp = _dispersion(model_all, actual_all)
    return Backtest(
        weeks=weeks,
        first_day=history.grid.day_date(days - 7 * weeks),
        baseline=accuracy(base_all, actual_all),
        model=model_acc,
        model_error=model_error,
        weeks_model_won=won,
        dispersion_baseline=_dispersion(base_all, actual_all),
        dispersion_model=model_disp,
        baseline_daily=accuracy(per_day(base_all), per_day(actual_all)),
        model_daily=model_daily,
    )


def choose(result: Backtest) -> tuple[Method, str]:
    """Which method forecasts, and the sentence that says why."""
    if result.model is None:
        if result.model_error and "not installed" in result.model_error:
            return "baseline", (
                "Using the seasonal-naive baseline: the forecasting model is not installed "
                f"(enable it with `{ENABLE_HINT}`)."
            )
        if result.baseline is None:
            return (
                "baseline",
                "Using the seasonal-naive baseline: no tickets in the held-out weeks.",
            )
        return "baseline", f"Using the seasonal-naive baseline: {result.model_error}."
    if result.baseline is None:
        return "baseline", "Using the seasonal-naive baseline: no tickets in the held-out weeks."
    better = result.model.wape < result.baseline.wape * (1 - SELECTION_MARGIN)
    consistent = 2 * result.weeks_model_won >= result.weeks
    if better and consistent:
        return "model", (
            f"Using the model: it beat the baseline on the held-out weeks (WAPE "
            f"{result.model.wape:.1%} vs {result.baseline.wape:.1%})."
        )
    only = (
        "" if consistent else f", better in only {result.weeks_model_won} of {result.weeks} weeks"
    )
    return "baseline", (
        f"Using the seasonal-naive baseline: the model did not beat it on the held-out weeks "
        f"(WAPE {result.model.wape:.1%} vs {result.baseline.wape:.1%}{only})."
    )


# --------------------------------------------------------------------------------------------
# One channel's forecast
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ChannelForecast:
    channel: str
    method: Method
    reason: str
    backtest: Backtest
    target: SlotGrid
    expected: Floats
    lower: Floats
    upper: Floats
    holiday_factor: float
    holiday_source: str
    history_days: int
    notes: tuple[str, ...] = ()


def forecast_channel(
    history: History,
    target: SlotGrid,
    *,
    holdout_weeks: int,
    min_history_weeks: int,
    model: Forecaster | None = glm_forecast,
) -> ChannelForecast:
    """Backtest, choose, and forecast ``target`` (which must start where the history ends).

    Raises ``ForecastProblem`` when the history is too short or has no tickets."""
    if target.start_day != history.grid.end_day:
        raise ValueError("the forecast must start the day after the history ends")
    days = history.grid.days
    total = float(history.counts.sum())
    if total <= 0:
        raise ForecastProblem(
            f"no tickets on channel {history.channel!r} in the last {days} days: nothing to "
            "forecast (check the channel name, or remove it from forecast.channels)"
        )
    if days < 7 * min_history_weeks:
        raise ForecastProblem(
            f"only {days} days of history on channel {history.channel!r}; a forecast needs at "
            f"least {min_history_weeks} weeks (forecast.min_history_weeks)"
        )
    notes: list[str] = []
    holdout = max(1, min(holdout_weeks, days // 7 - 2))
    if holdout < holdout_weeks:
        notes.append(f"held out {holdout} week(s) instead of {holdout_weeks}: short history")
    if model is not None and not model_available() and model is glm_forecast:
        model = None
    result = backtest(history, holdout, model)
    method, reason = choose(result)
    expected: Floats
    if method == "model":
        assert model is not None
        try:
            expected = model(history, target)
            dispersion = result.dispersion_model
        except ModelUnavailable as exc:
            method, reason = "baseline", f"Using the seasonal-naive baseline: {exc}."
            expected = seasonal_naive(history, target)
            dispersion = result.dispersion_baseline
    else:
        expected = seasonal_naive(history, target)
        dispersion = result.dispersion_baseline
    spread = BAND_Z * np.sqrt(dispersion * expected)
    factor, source = holiday_factor(history.grid, history.counts, history.calendar, history.channel)
    upcoming = sorted(
        {
            target.day_date(d)
            for d in range(target.days)
            if history.calendar.is_special(target.day_date(d), history.channel)
        }
    )
    for day in upcoming:
        what = [history.calendar.holidays[day]] if day in history.calendar.holidays else []
        what += [e.name for e in history.calendar.events if e.applies(day, history.channel)]
        notes.append(f"{day.isoformat()}: {', '.join(what)}")
    return ChannelForecast(
        channel=history.channel,
        method=method,
        reason=reason,
        backtest=result,
        target=target,
        expected=expected,
        lower=np.maximum(0.0, expected - spread),
        upper=expected + spread,
        holiday_factor=factor,
        holiday_source=source,
        history_days=days,
        notes=tuple(notes),
    )


def daily_sums(grid: SlotGrid, values: Floats) -> list[tuple[date, float]]:
    totals = np.bincount(grid.day, weights=values, minlength=grid.days)
    return [(grid.day_date(d), float(totals[d])) for d in range(grid.days)]


def week_heatmap(grid: SlotGrid, values: Sequence[float] | Floats, first_days: int = 7) -> Floats:
    """Values by weekday * wall-clock half hour over the first ``first_days`` days (a repeated
    half hour keeps its larger value), shape (7, 48); NaN where a half hour did not exist."""
    out = np.full((7, SLOTS_PER_DAY), np.nan)
    data = np.asarray(values, dtype=np.float64)
    for i in range(len(grid)):
        if grid.day[i] >= first_days:
            break
        wd, w = int(grid.weekday[i]), int(grid.wall[i])
        out[wd, w] = data[i] if np.isnan(out[wd, w]) else max(out[wd, w], data[i])
    return out


def slot_label(wall: int) -> str:
    return f"{wall // 2:02d}:{30 * (wall % 2):02d}"
