"""Internal NPS (pure): who is asked about which department, when, and what may be shown.

Nothing here reads a clock, a database or a global random generator: "now", the history and the
seed are arguments, so a round's plan is reproducible from its inputs.

Four rule sets live here, each with its tests (``tests/test_nps_domain.py``):

* **Eligibility and rotation** (``plan_round``): a respondent is active, has a Slack id, is not a
  bot or a guest, is not a member of the department being rated, has not opted out, was not asked
  within ``cooldown_days`` and has had fewer than ``max_asks_per_quarter`` asks this calendar
  quarter. Candidates are taken least recently asked first (never asked counts as oldest), ties
  broken by a shuffle seeded with ``(seed, round id)``. Departments are served round-robin
  (least asked-about this quarter first, seeded ties), each taking its next eligible candidate,
  until ``per_round_cap`` asks are planned. Nobody gets two asks in one round.
* **When** (``next_allowed_moment``): an ask is sent at the first moment, at or after the
  round's start, that is a working day and outside quiet hours *in the respondent's own time
  zone* (``Person.tz``; the configured zone when unknown).
* **eNPS and its 95% CI** (``enps_result``): eNPS = 100·(P - D) with P, D the promoter (9-10)
  and detractor (0-6) shares of n answers. The answers are one multinomial sample, so
  Var(P^ - D^) = [P + D - (P - D)²] / n (Var P + Var D - 2 Cov(P, D) with Cov = -P·D/n). The
  interval is the Wald interval 100·[(P - D) ± 1.96·√Var], clipped to [-100, 100]. It is
  honest about its width and poor for tiny n, which the anonymity threshold rules out anyway.
* **Anonymity** (``release_cells`` and ``aggregate``): answers are released only in fixed,
  disjoint cells — (department, round), or for rounds that were too small, the pooled
  (department, quarter) remainder — each released at most once, and only when it holds at least
  ``threshold`` answers. Every number deskbot shows (a round, a quarter, a trend, any filter by
  department and period) is a sum of whole released cells. The difference between any two
  things shown is therefore a union of whole released cells: a group of at least ``threshold``
  people, never one person. There is no team filter, because answers carry no attribute of
  the respondent at all (a respondent's team stored beside a score would be a link to them).
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from deskbot.domain.people import DepartmentInfo, Person

SCORES = range(11)
# Slack's plain_text_input accepts at most 3000 characters.
COMMENT_MAX_CHARS = 3000
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Z_95 = 1.959963984540054


class Category(enum.StrEnum):
    PROMOTER = "promoter"
    PASSIVE = "passive"
    DETRACTOR = "detractor"


class NpsInputError(ValueError):
    """Bad input from a person (score, comment, department): ``str()`` is the message."""


def check_score(score: object) -> int:
    """The score as an int 0..10, or ``NpsInputError`` with a message a person understands."""
    try:
        value = int(str(score).strip())
    except ValueError:
        raise NpsInputError(f"A score is a whole number from 0 to 10, not {score!r}.") from None
    if value not in SCORES:
        raise NpsInputError(f"A score is a whole number from 0 to 10, not {value}.")
    return value


def check_comment(comment: str | None) -> str | None:
    """The comment unedited ("keep it real": nothing filtered), or None when blank; too long
    raises ``NpsInputError``."""
    if comment is None or not comment.strip():
        return None
    if len(comment) > COMMENT_MAX_CHARS:
        raise NpsInputError(
            f"A comment can be at most {COMMENT_MAX_CHARS} characters (this one has "
            f"{len(comment)})."
        )
    return comment


def category(score: int) -> Category:
    if score >= 9:
        return Category.PROMOTER
    if score <= 6:
        return Category.DETRACTOR
    return Category.PASSIVE


def quarter_of(day: date) -> str:
    """``"2026-Q4"``: the calendar quarter of a local day."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def quarter_bounds(quarter: str) -> tuple[date, date]:
    """First day of the quarter and first day of the next, half-open."""
    year, q = int(quarter[:4]), int(quarter[-1])
    start = date(year, 3 * (q - 1) + 1, 1)
    end = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
    return start, end


# --------------------------------------------------------------------------------------------
# eNPS
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnpsResult:
    n: int
    promoters: int
    passives: int
    detractors: int
    enps: float  # -100..+100
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "promoters": self.promoters,
            "passives": self.passives,
            "detractors": self.detractors,
            "enps": round(self.enps, 1),
            "ci95": [round(self.ci_low, 1), round(self.ci_high, 1)],
        }


def enps_from_counts(promoters: int, passives: int, detractors: int) -> EnpsResult | None:
    """eNPS with its 95% Wald interval (see the module docstring); None without answers."""
    n = promoters + passives + detractors
    if n == 0:
        return None
    p, d = promoters / n, detractors / n
    diff = p - d
    variance = max(0.0, (p + d - diff * diff) / n)
    half = Z_95 * math.sqrt(variance)
    return EnpsResult(
        n=n,
        promoters=promoters,
        passives=passives,
        detractors=detractors,
        enps=100.0 * diff,
        ci_low=max(-100.0, 100.0 * (diff - half)),
        ci_high=min(100.0, 100.0 * (diff + half)),
    )


def enps_result(scores: Iterable[int]) -> EnpsResult | None:
    counts = {c: 0 for c in Category}
    for s in scores:
        counts[category(check_score(s))] += 1
    return enps_from_counts(
        counts[Category.PROMOTER], counts[Category.PASSIVE], counts[Category.DETRACTOR]
    )


# --------------------------------------------------------------------------------------------
# Quiet hours and working days, in each respondent's own time zone
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendWindow:
    """When asks may arrive, in local time: working days, and not inside quiet hours.

    Quiet hours run from ``quiet_start`` to ``quiet_end`` and may wrap midnight (18:00-09:00).
    Equal start and end mean no quiet hours."""

    quiet_start: time = time(18, 0)
    quiet_end: time = time(9, 0)
    working_days: frozenset[int] = frozenset(range(5))  # 0 = Monday

    def allowed(self, local: datetime) -> bool:
        if local.weekday() not in self.working_days:
            return False
        return not self._quiet(local.time())

    def _quiet(self, t: time) -> bool:
        start, end = self.quiet_start, self.quiet_end
        if start == end:
            return False
        if start < end:
            return start <= t < end
        return t >= start or t < end


def zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default


def next_allowed_moment(after: datetime, tz: ZoneInfo, window: SendWindow) -> datetime:
    """The first instant at or after ``after`` (aware) that ``window`` allows in ``tz``; UTC.

    Candidates are ``after`` itself and the end of quiet hours on each of the next 8 local days
    (quiet hours can only end at ``quiet_end``); a window with no working day raises."""
    if not window.working_days:
        raise ValueError("nps.working_days is empty: no moment is ever allowed")
    local = after.astimezone(tz)
    if window.allowed(local):
        return after.astimezone(UTC)
    for offset in range(0, 9):
        day = local.date() + timedelta(days=offset)
        # The quiet-hours end, or midnight of a working day when no quiet hours exist.
        for t in (window.quiet_end, time(0, 0)):
            candidate = datetime.combine(day, t, tzinfo=tz)
            # Round-trip through UTC: a wall time inside a DST gap moves to a real instant.
            candidate = candidate.astimezone(UTC).astimezone(tz)
            if candidate >= local and window.allowed(candidate):
                return candidate.astimezone(UTC)
    raise ValueError("no allowed moment within 9 days; check nps.quiet_hours")  # unreachable


# --------------------------------------------------------------------------------------------
# Eligibility and the round plan
# --------------------------------------------------------------------------------------------

Reason = Literal[
    "inactive",
    "bot",
    "guest",
    "no_slack",
    "opted_out",
    "cooldown",
    "quarter_cap",
]


@dataclass(frozen=True)
class AskHistory:
    """What the asks table says about one person (no answers: those live elsewhere)."""

    last_asked: datetime | None = None
    asks_this_quarter: int = 0


@dataclass(frozen=True)
class RoundRules:
    cooldown_days: int
    max_asks_per_quarter: int
    per_round_cap: int
    seed: int = 0
    departments_per_round: int | None = None


@dataclass(frozen=True)
class PlannedAsk:
    slack_user_id: str
    department: str
    send_at: datetime  # UTC: the first allowed moment in the respondent's time zone


@dataclass
class RoundPlan:
    round_id: str
    quarter: str
    asks: list[PlannedAsk] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> people
    eligible: int = 0

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for ask in self.asks:
            out[ask.department] = out.get(ask.department, 0) + 1
        return dict(sorted(out.items()))


def exclusion(  # noqa: PLR0911 (one return per rule, in order)
    person: Person,
    history: AskHistory | None,
    opted_out: bool,
    now: datetime,
    rules: RoundRules,
) -> Reason | None:
    """Why ``person`` may not be asked in a round starting ``now`` (None: eligible for some
    department; membership of the rated department is checked per department)."""
    if not person.active:
        return "inactive"
    if person.is_bot:
        return "bot"
    if person.is_guest:
        return "guest"
    if not person.slack_user_id:
        return "no_slack"
    if opted_out:
        return "opted_out"
    if history is not None:
        if history.last_asked is not None and history.last_asked > now - timedelta(
            days=rules.cooldown_days
        ):
            return "cooldown"
        if history.asks_this_quarter >= rules.max_asks_per_quarter:
            return "quarter_cap"
    return None


def _members(
    departments: Sequence[DepartmentInfo], people: Sequence[Person]
) -> dict[str, set[str]]:
    """Slack ids in each department: the directory's members, each person's departments, and
    the owner (who receives the department's comments and must not rate it)."""
    members = {
        d.name: set(d.members) | ({d.owner_slack_id} if d.owner_slack_id else set())
        for d in departments
    }
    lowered = {d.name.lower(): d.name for d in departments}
    for person in people:
        if not person.slack_user_id:
            continue
        for name in person.departments:
            canonical = lowered.get(name.lower())
            if canonical is not None:
                members[canonical].add(person.slack_user_id)
    return members


def plan_round(
    *,
    round_id: str,
    now: datetime,
    people: Sequence[Person],
    departments: Sequence[DepartmentInfo],
    history: Mapping[str, AskHistory],
    opted_out: set[str] | frozenset[str],
    rules: RoundRules,
    default_tz: ZoneInfo,
    window: SendWindow,
    department_load: Mapping[str, int] | None = None,
) -> RoundPlan:
    """Who is asked about which department in this round, and when (see the module docstring).

    ``history`` is per Slack id; ``department_load`` counts this quarter's asks about each
    department (the least asked-about are served first)."""
    quarter = quarter_of(now.astimezone(default_tz).date())
    plan = RoundPlan(round_id=round_id, quarter=quarter)
    rng = random.Random(f"{rules.seed}:{round_id}")  # noqa: S311 (seeded, reproducible; not secret)
    candidates: list[Person] = []
    for person in people:
        reason = exclusion(
            person,
            history.get(person.slack_user_id or ""),
            (person.slack_user_id or "") in opted_out,
            now,
            rules,
        )
        if reason is None:
            candidates.append(person)
        else:
            plan.excluded[reason] = plan.excluded.get(reason, 0) + 1
    plan.eligible = len(candidates)
    rng.shuffle(candidates)  # seeded ties; the sort below is stable
    never = datetime.min.replace(tzinfo=UTC)
    candidates.sort(
        key=lambda p: history.get(p.slack_user_id or "", AskHistory()).last_asked or never
    )

    rated = sorted(departments, key=lambda d: d.name)
    rng.shuffle(rated)
    load = department_load or {}
    rated.sort(key=lambda d: load.get(d.name, 0))
    if rules.departments_per_round is not None:
        rated = rated[: rules.departments_per_round]
    members = _members(departments, people)

    used: set[str] = set()
    send_at: dict[str, datetime] = {}
    pointers = {d.name: 0 for d in rated}
    active = list(rated)
    while active and len(plan.asks) < rules.per_round_cap:
        still: list[DepartmentInfo] = []
        for dept in active:
            if len(plan.asks) >= rules.per_round_cap:
                break
            inside = members.get(dept.name, set())
            i = pointers[dept.name]
            while i < len(candidates):
                sid = candidates[i].slack_user_id or ""
                if sid not in used and sid not in inside:
                    break
                i += 1
            if i >= len(candidates):
                pointers[dept.name] = i
                continue  # nobody left who may rate this department
            person = candidates[i]
            pointers[dept.name] = i + 1
            sid = person.slack_user_id or ""
            used.add(sid)
            tz_name = person.tz or ""
            if tz_name not in send_at:  # one computation per time zone, not per person
                send_at[tz_name] = next_allowed_moment(now, zone(person.tz, default_tz), window)
            plan.asks.append(PlannedAsk(sid, dept.name, send_at[tz_name]))
            still.append(dept)
        active = still
    return plan


# --------------------------------------------------------------------------------------------
# Anonymity: fixed cells, released once, only at or above the threshold
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellDecision:
    department: str
    n: int
    release: bool  # False: held (a round) or destroyed (a quarter's pool)


def release_cells(counts: Mapping[str, int], threshold: int) -> list[CellDecision]:
    """For one closing cell per department (a round, or a quarter's pooled remainder): release
    those with at least ``threshold`` answers, never the others."""
    return [CellDecision(dept, n, n >= threshold) for dept, n in sorted(counts.items()) if n > 0]


@dataclass(frozen=True)
class ReleasedCell:
    """A released cell's figures: the only unit any report is built from."""

    cell: str  # "round:<round id>" or "pool:<quarter>"
    department: str
    quarter: str
    round_id: str | None
    promoters: int
    passives: int
    detractors: int
    asked: int
    answered: int

    @property
    def n(self) -> int:
        return self.promoters + self.passives + self.detractors


def aggregate(cells: Iterable[ReleasedCell], threshold: int) -> EnpsResult | None:
    """The eNPS of a union of released cells. Refuses a union below the threshold (it can
    only happen with hand-made cells: every released cell is at or above it)."""
    p = a = d = 0
    for c in cells:
        if c.n < threshold:
            raise ValueError(f"cell {c.cell} of {c.department} is below the threshold")
        p, a, d = p + c.promoters, a + c.passives, d + c.detractors
    return enps_from_counts(p, a, d)
