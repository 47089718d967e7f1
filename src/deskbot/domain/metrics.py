"""KPI definitions: the one place each number's meaning lives (see PRODUCT.md, "Domain
definitions"). Pure: no I/O, no clock reads — "now" and the timezone are passed in.

- Windows are whole local days, half-open ``[start, end)`` in the configured timezone; their
  UTC bounds are computed from local midnights, so a day across a DST switch is 23 or 25 hours.
- Medians and percentiles ignore nulls; an empty sample is ``None`` ("no data"), never 0.
- Every ratio with an empty denominator is ``None``, never a division by zero.
- Deltas compare a window with the previous window of the same number of local days.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from deskbot.errors import DeskbotError

OPEN_STATUSES = ("new", "open", "pending", "hold")
MAX_PERIOD_DAYS = 731


class PeriodError(DeskbotError):
    """A period the user typed cannot be understood."""


# --------------------------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------------------------


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The instant (aware UTC) a local calendar day starts in ``tz``."""
    # fold=0 picks the first occurrence; midnight is never skipped by real DST rules except in
    # a few zones that switch at 00:00, where zoneinfo resolves the gap forward.
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """Local days ``[start_day, end_day)`` in ``tz``."""

    start_day: date
    end_day: date
    tz: str
    # What the person asked for ("last 7 complete days", "this week so far"), for display only;
    # "" when the dates say it all. Not part of the window's identity.
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.end_day <= self.start_day:
            raise PeriodError(f"a window must cover at least one day ({self.label})")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def start(self) -> datetime:
        return local_midnight(self.start_day, self.zone)

    @property
    def end(self) -> datetime:
        return local_midnight(self.end_day, self.zone)

    @property
    def days(self) -> int:
        return (self.end_day - self.start_day).days

    @property
    def last_day(self) -> date:
        return self.end_day - timedelta(days=1)

    @property
    def label(self) -> str:
        if self.days == 1:
            return self.start_day.isoformat()
        return f"{self.start_day.isoformat()}..{self.last_day.isoformat()}"

    def previous(self) -> Window:
        """The window of the same number of local days just before this one."""
        return Window(self.start_day - timedelta(days=self.days), self.start_day, self.tz)

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def today(now: datetime, tz: ZoneInfo) -> date:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(tz).date()


# A period typed by a person (``deskbot report --period``, ``deskbot digest --period``, the
# digests' ``period:`` setting, ``/deskbot stats|me|csat``) has ONE meaning, defined here.
_RELATIVE = re.compile(r"^(\d{1,4})([dw])$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
PERIOD_WORDS = ("today", "yesterday", "week", "last-week", "month", "last-month")
# Digest settings say how often a digest covers: "daily" is yesterday, "weekly" last week.
PERIOD_ALIASES = {"daily": "yesterday", "weekly": "last-week"}
PERIOD_HELP = (
    "`7d` or `30d` (the N complete days before today; `2w` is 14), `today` or `week` or "
    "`month` (so far, today included), `yesterday`, `last-week`, `last-month`, or a date range "
    "`2026-11-01..2026-11-30` (both days included)."
)


def looks_like_period(word: str) -> bool:
    """Whether a word was meant as a period, so that a typo in it is reported as a bad period
    instead of being read as a name (``/deskbot stats 7x``). Long numbers are user ids."""
    w = word.strip().lower()
    return bool(
        _RELATIVE.match(w)
        or ".." in w
        or re.match(r"^\d{1,3}[a-z]{0,2}$", w)  # "7", "7x", "30dd"
        or re.match(r"^\d{4}-\d", w)
        or w in PERIOD_WORDS
        or w in PERIOD_ALIASES
        or difflib.get_close_matches(w, PERIOD_WORDS, n=1, cutoff=0.75)
    )


def _bad_period(spec: str, why: str = "") -> PeriodError:
    reason = f" ({why})" if why else ""
    close = difflib.get_close_matches(spec.strip().lower(), PERIOD_WORDS, n=1, cutoff=0.6)
    hint = f" Did you mean `{close[0]}`?" if close else ""
    return PeriodError(f"`{spec}` is not a period I understand{reason}.{hint} Try {PERIOD_HELP}")


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _named_window(word: str, now: datetime, tz: ZoneInfo) -> Window | None:
    zone = str(tz.key)
    day = today(now, tz)
    tomorrow = day + timedelta(days=1)
    month = _month_start(day)
    last_month = _month_start(month - timedelta(days=1))
    named: dict[str, Callable[[], Window]] = {
        "today": lambda: Window(day, tomorrow, zone, "today"),
        "yesterday": lambda: Window(day - timedelta(days=1), day, zone, "yesterday"),
        "week": lambda: Window(
            day - timedelta(days=day.weekday()), tomorrow, zone, "this week so far"
        ),
        "last-week": lambda: replace(last_complete_week(now, tz), name="last week"),
        "month": lambda: Window(month, tomorrow, zone, day.strftime("%B %Y so far")),
        "last-month": lambda: Window(last_month, month, zone, last_month.strftime("%B %Y")),
    }
    make = named.get(word)
    return make() if make else None


def parse_period(spec: str, now: datetime, tz: ZoneInfo) -> Window:
    """The window a person means by ``spec``, in local days of ``tz``:

    - ``Nd`` (``7d``, ``30d``): the N complete local days before today, so the numbers do not
      move during the day; ``Nw`` is 7·N days the same way.
    - ``today``, ``week`` (since Monday), ``month`` (since the 1st): so far, today included.
    - ``yesterday`` (alias ``daily``), ``last-week`` (the last complete Monday-to-Sunday week,
      alias ``weekly``), ``last-month`` (the last complete calendar month).
    - ``YYYY-MM-DD..YYYY-MM-DD``: both days included.

    Raises ``PeriodError`` with examples of good periods."""
    text = spec.strip().lower()
    text = PERIOD_ALIASES.get(text, text)
    zone = str(tz.key)
    day = today(now, tz)
    if m := _RELATIVE.match(text):
        n = int(m.group(1)) * (7 if m.group(2) == "w" else 1)
        if not 1 <= n <= MAX_PERIOD_DAYS:
            raise _bad_period(spec, f"use 1 to {MAX_PERIOD_DAYS} days")
        return Window(day - timedelta(days=n), day, zone, f"last {n} complete days")
    if (named := _named_window(text, now, tz)) is not None:
        return named
    if m := _RANGE.match(text):
        try:
            first, last = date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2))
        except ValueError as exc:
            raise _bad_period(spec, f"not a calendar date: {exc}") from exc
        if last < first:
            raise _bad_period(
                spec,
                f"it ends before it starts; write the earlier day first: "
                f"`{last.isoformat()}..{first.isoformat()}`",
            )
        if (last - first).days + 1 > MAX_PERIOD_DAYS:
            raise _bad_period(spec, f"at most {MAX_PERIOD_DAYS} days")
        return Window(first, last + timedelta(days=1), zone)
    raise _bad_period(spec)


def last_complete_week(now: datetime, tz: ZoneInfo) -> Window:
    """Monday to Sunday of the last complete ISO week before ``now`` (local)."""
    day = today(now, tz)
    this_monday = day - timedelta(days=day.weekday())
    return Window(this_monday - timedelta(days=7), this_monday, str(tz.key))


def buckets(end_day: date, count: int, unit: Literal["day", "week"], tz: str) -> list[Window]:
    """``count`` consecutive day or week windows ending at ``end_day`` (exclusive), oldest
    first; for charts."""
    step = 1 if unit == "day" else 7
    first = end_day - timedelta(days=step * count)
    return [
        Window(first + timedelta(days=step * i), first + timedelta(days=step * (i + 1)), tz)
        for i in range(count)
    ]


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def percentile(values: Sequence[float | int | None], q: float) -> float | None:
    """The ``q`` quantile (0..1) by linear interpolation between closest ranks (the same
    definition as PostgreSQL's ``percentile_cont``). Nulls are ignored; empty → None."""
    if not 0.0 <= q <= 1.0:
        raise ValueError("q must be between 0 and 1")
    data = sorted(v for v in values if v is not None)
    if not data:
        return None
    pos = q * (len(data) - 1)
    lower = math.floor(pos)
    upper = math.ceil(pos)
    if lower == upper:
        return float(data[lower])
    return data[lower] + (data[upper] - data[lower]) * (pos - lower)


def percentile_sorted(data: Sequence[int | float], q: float) -> float | None:
    """``percentile`` for data already sorted and free of nulls (large samples from SQL)."""
    if not data:
        return None
    pos = q * (len(data) - 1)
    lower = math.floor(pos)
    upper = math.ceil(pos)
    return float(data[lower] + (data[upper] - data[lower]) * (pos - lower))


def median(values: Sequence[float | int | None]) -> float | None:
    """Median ignoring nulls: the mean of the two middle values for an even count."""
    return percentile(values, 0.5)


def ratio(numerator: int | float, denominator: int | float) -> float | None:
    """``numerator / denominator``, or None ("no data") when the denominator is 0."""
    if not denominator:
        return None
    return numerator / denominator


def csat(good: int, bad: int) -> float | None:
    """good / (good + bad), 0..1."""
    return ratio(good, good + bad)


def csat_response_rate(good: int, bad: int, offered: int) -> float | None:
    """(good + bad) / (offered + good + bad), 0..1."""
    return ratio(good + bad, offered + good + bad)


def enps(scores: Iterable[int | None]) -> float | None:
    """% promoters (9-10) minus % detractors (0-6), -100..+100. Nulls ignored; empty: None."""
    answered = [s for s in scores if s is not None]
    for s in answered:
        if not 0 <= s <= 10:
            raise ValueError(f"an eNPS answer must be 0..10, got {s}")
    if not answered:
        return None
    promoters = sum(1 for s in answered if s >= 9)
    detractors = sum(1 for s in answered if s <= 6)
    return 100.0 * (promoters - detractors) / len(answered)


Direction = Literal["up", "down", "flat"]


@dataclass(frozen=True)
class Delta:
    """A value with the previous window's value and the change."""

    current: float | None
    previous: float | None

    @property
    def change(self) -> float | None:
        if self.current is None or self.previous is None:
            return None
        return self.current - self.previous

    @property
    def change_pct(self) -> float | None:
        """Relative change in percent; None when the previous value is 0 or missing."""
        if self.change is None or not self.previous:
            return None
        return 100.0 * self.change / abs(self.previous)

    @property
    def direction(self) -> Direction | None:
        change = self.change
        if change is None:
            return None
        if abs(change) < 1e-9:
            return "flat"
        return "up" if change > 0 else "down"


# --------------------------------------------------------------------------------------------
# Facts from the store, and what they mean
# --------------------------------------------------------------------------------------------

BacklogMethod = Literal["current_status", "reconstructed"]


@dataclass(frozen=True)
class WindowStats:
    """Everything the headline needs about one window (counted by the store)."""

    created: int = 0
    solved: int = 0
    backlog: int = 0
    backlog_method: BacklogMethod = "current_status"
    good: int = 0
    bad: int = 0
    offered: int = 0
    one_touch: int = 0  # solved tickets with replies <= 1
    with_replies: int = 0  # solved tickets whose replies count is known
    reopened: int = 0  # solved tickets with reopens > 0
    with_reopens: int = 0  # solved tickets whose reopens count is known
    frt_median: float | None = None
    frt_p90: float | None = None
    frt_business_median: float | None = None
    frt_business_p90: float | None = None
    resolution_median: float | None = None
    resolution_business_median: float | None = None
    channels: Mapping[str, int] = field(default_factory=dict)

    @property
    def csat(self) -> float | None:
        return csat(self.good, self.bad)

    @property
    def csat_response_rate(self) -> float | None:
        return csat_response_rate(self.good, self.bad, self.offered)

    @property
    def one_touch_rate(self) -> float | None:
        return ratio(self.one_touch, self.with_replies)

    @property
    def reopen_rate(self) -> float | None:
        return ratio(self.reopened, self.with_reopens)


@dataclass(frozen=True)
class Headline:
    key: str
    label: str
    unit: Literal["count", "ratio", "minutes"]
    better: Literal["up", "down", "neutral"]


HEADLINES: tuple[Headline, ...] = (
    Headline("tickets_created", "Tickets created", "count", "neutral"),
    Headline("tickets_solved", "Tickets solved", "count", "up"),
    Headline("backlog", "Backlog", "count", "down"),
    Headline("csat", "CSAT", "ratio", "up"),
    Headline("csat_response_rate", "CSAT response rate", "ratio", "up"),
    Headline("csat_good", "Good ratings", "count", "up"),
    Headline("csat_bad", "Bad ratings", "count", "down"),
    Headline("csat_offered", "Surveys unanswered", "count", "neutral"),
    Headline("frt_median_minutes", "First reply (median)", "minutes", "down"),
    Headline("frt_p90_minutes", "First reply (p90)", "minutes", "down"),
    Headline("frt_business_median_minutes", "First reply, business (median)", "minutes", "down"),
    Headline("frt_business_p90_minutes", "First reply, business (p90)", "minutes", "down"),
    Headline("resolution_median_minutes", "Full resolution (median)", "minutes", "down"),
    Headline(
        "resolution_business_median_minutes",
        "Full resolution, business (median)",
        "minutes",
        "down",
    ),
    Headline("one_touch_rate", "One-touch resolution", "ratio", "up"),
    Headline("reopen_rate", "Reopen rate", "ratio", "down"),
)


def headline_value(stats: WindowStats, key: str) -> float | None:
    values: dict[str, float | None] = {
        "tickets_created": stats.created,
        "tickets_solved": stats.solved,
        "backlog": stats.backlog,
        "csat": stats.csat,
        "csat_response_rate": stats.csat_response_rate,
        "csat_good": stats.good,
        "csat_bad": stats.bad,
        "csat_offered": stats.offered,
        "frt_median_minutes": stats.frt_median,
        "frt_p90_minutes": stats.frt_p90,
        "frt_business_median_minutes": stats.frt_business_median,
        "frt_business_p90_minutes": stats.frt_business_p90,
        "resolution_median_minutes": stats.resolution_median,
        "resolution_business_median_minutes": stats.resolution_business_median,
        "one_touch_rate": stats.one_touch_rate,
        "reopen_rate": stats.reopen_rate,
    }
    return values[key]


# --------------------------------------------------------------------------------------------
# Agent workload
# --------------------------------------------------------------------------------------------


class WorkloadRules(Protocol):
    """Thresholds (``settings.workload``); every one is per day and scaled to the window."""

    @property
    def daily_reply_threshold(self) -> int: ...
    @property
    def fast_min_tickets(self) -> int: ...
    @property
    def fast_max_replies_per_ticket(self) -> float: ...
    @property
    def fast_max_median_reply_minutes(self) -> float: ...
    @property
    def complex_min_replies(self) -> int: ...
    @property
    def complex_max_tickets(self) -> int: ...


FLAG_OVER_REPLIES = "above_daily_reply_threshold"
FLAG_BLOWING_THROUGH = "blowing_through_tickets"
FLAG_OVERLOADED = "overloaded_with_complex_issues"
FLAG_LABELS = {
    FLAG_OVER_REPLIES: "above the daily reply threshold",
    FLAG_BLOWING_THROUGH: "blowing through tickets",
    FLAG_OVERLOADED: "overloaded with complex issues",
}


@dataclass(frozen=True)
class AgentStats:
    """One assignee's work in a window: tickets they solved (metric ``solved_at`` in the
    window, current assignee), the public replies on those tickets, the distinct customers
    (requesters) they helped, and ratings given to them (assignee at rating time)."""

    agent_id: int
    name: str | None = None
    solved: int = 0
    replies: int = 0
    customers: int = 0
    good: int = 0
    bad: int = 0
    frt_median: float | None = None

    @property
    def csat(self) -> float | None:
        return csat(self.good, self.bad)

    @property
    def replies_per_ticket(self) -> float | None:
        return ratio(self.replies, self.solved)


def agent_order(agent: AgentStats) -> tuple[int, int, str, int]:
    """The agents' table order: most solved, then most replies, then name and id."""
    return (-agent.solved, -agent.replies, agent.name or "", agent.agent_id)


def workload_flags(agent: AgentStats, days: int, rules: WorkloadRules) -> tuple[str, ...]:
    """The patterns a lead should talk about, with per-day thresholds scaled to ``days``.

    - above the daily reply threshold: replies / days > ``daily_reply_threshold``;
    - blowing through tickets: many customers (≥ ``fast_min_tickets`` a day), few replies each
      (≤ ``fast_max_replies_per_ticket``) and a very low median first reply time
      (≤ ``fast_max_median_reply_minutes``);
    - overloaded with complex issues: many replies (≥ ``complex_min_replies`` a day) with few
      customers helped (≤ ``complex_max_tickets`` solved a day).
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    flags: list[str] = []
    if agent.replies / days > rules.daily_reply_threshold:
        flags.append(FLAG_OVER_REPLIES)
    per_ticket = agent.replies_per_ticket
    if (
        agent.customers >= rules.fast_min_tickets * days
        and per_ticket is not None
        and per_ticket <= rules.fast_max_replies_per_ticket
        and agent.frt_median is not None
        and agent.frt_median <= rules.fast_max_median_reply_minutes
    ):
        flags.append(FLAG_BLOWING_THROUGH)
    if (
        agent.replies >= rules.complex_min_replies * days
        and agent.solved <= rules.complex_max_tickets * days
    ):
        flags.append(FLAG_OVERLOADED)
    return tuple(flags)


# --------------------------------------------------------------------------------------------
# Customers in need, team tags, series
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    """An organisation, or a requester without one."""

    kind: Literal["organization", "requester"]
    id: int
    name: str | None
    open_tickets: int = 0
    bad_ratings: int = 0


@dataclass(frozen=True)
class CustomersInNeed:
    most_open: tuple[Customer, ...] = ()
    bad_ratings: tuple[Customer, ...] = ()


@dataclass(frozen=True)
class TagTrend:
    agent_id: int | None
    agent_name: str | None
    tag: str
    count: int
    previous: int

    @property
    def delta(self) -> Delta:
        return Delta(self.count, self.previous)


def tag_trends(
    current: Mapping[tuple[int | None, str], int],
    previous: Mapping[tuple[int | None, str], int],
    names: Mapping[int, str | None],
) -> list[TagTrend]:
    """Per (agent, tag) counts with the previous window's, biggest first."""
    keys = set(current) | set(previous)
    rows = [
        TagTrend(
            agent_id,
            names.get(agent_id) if agent_id is not None else None,
            tag,
            current.get((agent_id, tag), 0),
            previous.get((agent_id, tag), 0),
        )
        for agent_id, tag in keys
    ]
    rows.sort(key=lambda r: (-r.count, -r.previous, r.tag, r.agent_name or "", r.agent_id or 0))
    return rows


@dataclass(frozen=True)
class SeriesPoint:
    """One chart bucket: tickets created and ratings in it."""

    window: Window
    created: int
    good: int
    bad: int

    @property
    def csat(self) -> float | None:
        return csat(self.good, self.bad)


@dataclass(frozen=True)
class Scope:
    """What a report is restricted to (resolved from what the user typed)."""

    group_id: int | None = None
    group_name: str | None = None
    agent_id: int | None = None
    agent_name: str | None = None

    @property
    def label(self) -> str:
        parts = []
        if self.group_id is not None:
            parts.append(f"group {self.group_name or self.group_id}")
        if self.agent_id is not None:
            parts.append(f"agent {self.agent_name or self.agent_id}")
        return ", ".join(parts) or "all tickets"
