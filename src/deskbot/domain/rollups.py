"""Per-day KPI rollups: what one ticket or one rating adds to the day it counts on.

A report over any window, group or agent is answered from ``days x (group, assignee)`` cells
instead of tickets (issue 19). One cell per local day (in the rollup's timezone), ticket group
and ticket assignee (0 when there is none) holds exactly what the direct SQL in
``adapters/db/kpi.py`` counts for those tickets:

- tickets **created** that day (not deleted), and by channel as label rows (``None`` →
  ``"unknown"``);
- tickets **solved** that day (their metric set's ``solved_at``): solved, with a replies count,
  one-touch (≤ 1 reply), with a reopens count, reopened (> 0), the sum of public replies,
  the requesters (a multiset, so "distinct customers" of any window is the distinct keys of the
  union), the solved tickets' tags (label rows), and exact histograms of the four
  integer-minute durations (first reply and full resolution, calendar and business) — medians
  and p90 of any window are order statistics of the summed histograms, so they equal the
  sorted-list figures exactly;
- the **backlog** reconstruction at a past window's end ``E`` (see ``adapters/db/kpi.py``):
  a ticket counts iff it was created before ``E`` and, if open now, not solved before ``E``,
  or, if not open now, solved at/after ``E``. With ``E`` a local midnight that is
  ``day(created) < day(E) <= day(solved)`` (solved = +∞ for an open ticket never solved), so the
  backlog at ``E`` is ``Σ_{d < day(E)} backlog_in(d) - backlog_out(d)``;
- ratings **created** that day, under the *rating's* group and assignee (as the direct SQL
  scopes them): good (``good…``), bad (``bad…``), offered — unless the rated ticket is deleted
  — and the bad ones by customer (label rows), for "customers in need".

Every calendar month also has the sums of its days' cells (``month_cells``), so a long window
reads its whole months at once and only its ragged ends day by day. Every day also has a
*team* cell (``group_id = assignee_id = -1``) and team label rows, the
sums of that day's others, so a team-wide window reads one row a day.

``contribute_ticket`` / ``contribute_rating`` add a record's share (``sign=-1`` takes it away):
the store subtracts a record's old share and adds its new one in the transaction that changes
it, and a rebuild adds every record's share once. Both paths share this one definition.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import chain
from typing import NamedTuple
from zoneinfo import ZoneInfo

from deskbot.domain.metrics import OPEN_STATUSES

# Bump when what a cell holds changes: stored rollups of another version are rebuilt.
ROLLUP_VERSION = 1

COUNTS = (
    "created",
    "solved",
    "with_replies",
    "one_touch",
    "with_reopens",
    "reopened",
    "replies",
    "backlog_in",
    "backlog_out",
    "good",
    "bad",
    "offered",
)
DURATIONS = ("frt", "frt_business", "resolution", "resolution_business")
MULTISETS = (*DURATIONS, "requesters")

CellKey = tuple[date, int, int]  # (local day, group id or 0, assignee id or 0)
# (kind, label, local day, group id or 0, assignee id or 0): kind "channel" counts tickets
# created that day by channel, "tag" tickets solved that day by tag, "bad_org" /
# "bad_requester" / "bad_nobody" bad ratings that day by customer (under the rating's group
# and assignee).
LabelKey = tuple[str, str, date, int, int]
# Every day also has a team cell (and team label rows) summing all its (group, assignee)
# cells, so a team-wide window reads one row a day.
TEAM = -1

_OPEN = frozenset(OPEN_STATUSES)


class TicketFact(NamedTuple):
    """What the rollups read of one ticket (its row, its metric set and its tags)."""

    id: int
    created_at: datetime
    status: str | None
    is_deleted: bool
    channel: str | None
    requester_id: int | None
    assignee_id: int | None
    group_id: int | None
    solved_at: datetime | None = None
    replies: int | None = None
    reopens: int | None = None
    frt: int | None = None
    frt_business: int | None = None
    resolution: int | None = None
    resolution_business: int | None = None
    tags: tuple[str, ...] = ()


class RatingFact(NamedTuple):
    """What the rollups read of one rating (and whether its ticket is deleted)."""

    id: int
    created_at: datetime
    score: str
    group_id: int | None
    assignee_id: int | None
    ticket_deleted: bool
    organization_id: int | None = None  # the rated ticket's (None when it is not synced)
    requester_id: int | None = None


@dataclass
class Cell:
    """One (day, group, assignee) cell: counts and multisets (value → how many)."""

    created: int = 0
    solved: int = 0
    with_replies: int = 0
    one_touch: int = 0
    with_reopens: int = 0
    reopened: int = 0
    replies: int = 0
    backlog_in: int = 0
    backlog_out: int = 0
    good: int = 0
    bad: int = 0
    offered: int = 0
    frt: Counter[int] = field(default_factory=Counter)
    frt_business: Counter[int] = field(default_factory=Counter)
    resolution: Counter[int] = field(default_factory=Counter)
    resolution_business: Counter[int] = field(default_factory=Counter)
    requesters: Counter[int] = field(default_factory=Counter)

    def add(self, other: Cell, sign: int = 1) -> None:
        mine, theirs = self.__dict__, other.__dict__
        for name in COUNTS:
            mine[name] += sign * theirs[name]
        for name in MULTISETS:
            counter: Counter[int] = mine[name]
            if sign == 1:
                counter.update(theirs[name])  # a dict update while ``counter`` is empty
            else:
                counter.subtract(theirs[name])

    def normalised(self) -> Cell:
        """The same cell without zero entries (a multiset entry that went to 0 is gone)."""
        for name in MULTISETS:
            counter: Counter[int] = getattr(self, name)
            for key in [k for k, n in counter.items() if n == 0]:
                del counter[key]
        return self

    def is_empty(self) -> bool:
        return all(getattr(self, n) == 0 for n in COUNTS) and not any(
            getattr(self, n) for n in MULTISETS
        )

    def negative(self) -> list[str]:
        """Fields below zero: a cell can only get there if a share was taken twice."""
        bad = [n for n in COUNTS if getattr(self, n) < 0]
        bad += [n for n in MULTISETS if any(v < 0 for v in getattr(self, n).values())]
        return bad


@dataclass
class Shares:
    """Cells and label counts, keyed; what a set of records adds up to."""

    cells: dict[CellKey, Cell] = field(default_factory=dict)
    labels: Counter[LabelKey] = field(default_factory=Counter)

    def cell(self, key: CellKey) -> Cell:
        found = self.cells.get(key)
        if found is None:
            found = self.cells[key] = Cell()
        return found

    def add(self, other: Shares, sign: int = 1) -> None:
        for key, cell in other.cells.items():
            self.cell(key).add(cell, sign)
        for label, n in other.labels.items():
            self.labels[label] += sign * n

    def with_team(self) -> Shares:
        """Sets each day's team cell and team label rows to the sums of the others (in
        place; returns these shares)."""
        team: dict[CellKey, Cell] = {}
        for key, cell in self.cells.items():
            if key[1] != TEAM:
                found = team.get((key[0], TEAM, TEAM))
                if found is None:
                    found = team[(key[0], TEAM, TEAM)] = Cell()
                found.add(cell)
        for key in [k for k in self.cells if k[1] == TEAM]:
            del self.cells[key]
        self.cells.update(team)
        team_labels: Counter[LabelKey] = Counter()
        for (kind, label, day, group, _), n in self.labels.items():
            if group != TEAM:
                team_labels[(kind, label, day, TEAM, TEAM)] += n
        for label_key in [k for k in self.labels if k[3] == TEAM]:
            del self.labels[label_key]
        self.labels.update(team_labels)
        return self

    def changed(self) -> Shares:
        """Drops what adds up to nothing (empty cells, labels at 0); in place."""
        for key in list(self.cells):
            if self.cells[key].normalised().is_empty():
                del self.cells[key]
        for label_key in [k for k, n in self.labels.items() if n == 0]:
            del self.labels[label_key]
        return self


def next_month(day: date) -> date:
    """The first day of the calendar month after ``day``'s."""
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def keys_by_month(keys: Iterable[CellKey]) -> list[tuple[date, list[CellKey]]]:
    """Cell keys grouped by calendar month (its first day), months and keys in order."""
    months: dict[date, list[CellKey]] = {}
    for key in keys:
        months.setdefault(key[0].replace(day=1), []).append(key)
    return [(month, sorted(found)) for month, found in sorted(months.items())]


def month_cells(cells: Mapping[CellKey, Cell]) -> dict[CellKey, Cell]:
    """The calendar months' cells (keyed by the month's first day): the sums of their days'."""
    out: dict[CellKey, Cell] = {}
    for (day, group, assignee), cell in cells.items():
        key = (day.replace(day=1), group, assignee)
        month = out.get(key)
        if month is None:
            month = out[key] = Cell()
        month.add(cell)
    return {k: c for k, c in out.items() if not c.normalised().is_empty()}


class DayOf:
    """The local day of an instant in one timezone, cached per UTC quarter hour: a quarter
    whose first and last second fall on the same local day is remembered (every offset in
    use today is a whole number of quarter hours, so that is nearly all of them); one that
    straddles a local midnight (a historical offset with odd minutes) is computed each time."""

    def __init__(self, tz: str) -> None:
        self.tz = tz
        self._zone = ZoneInfo(tz)
        self._cache: dict[int, date | None] = {}

    def __call__(self, when: datetime) -> date:
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        quarter = int(when.timestamp()) // 900
        if quarter not in self._cache:
            first = datetime.fromtimestamp(quarter * 900, self._zone).date()
            last = datetime.fromtimestamp(quarter * 900 + 899, self._zone).date()
            self._cache[quarter] = first if first == last else None
        found = self._cache[quarter]
        return found if found is not None else when.astimezone(self._zone).date()


def contribute_ticket(shares: Shares, fact: TicketFact, day_of: DayOf, sign: int = 1) -> None:
    """Add (or with ``sign=-1`` take away) what ``fact`` counts for."""
    if fact.is_deleted:
        return
    group = fact.group_id or 0
    assignee = fact.assignee_id or 0
    created_day = day_of(fact.created_at)
    cell = shares.cell((created_day, group, assignee))
    cell.created += sign
    channel = fact.channel if fact.channel is not None else "unknown"
    shares.labels[("channel", channel, created_day, group, assignee)] += sign

    solved_day = day_of(fact.solved_at) if fact.solved_at is not None else None
    # Backlog: a ticket with a status that is open now, or solved, enters the reconstruction
    # on its creation day and leaves it on its solve day (never, if not solved yet); one
    # "solved" before it was created never counts (its interval is empty).
    counted = fact.status is not None and (fact.status in _OPEN or solved_day is not None)
    if counted and (solved_day is None or solved_day >= created_day):
        cell.backlog_in += sign
        if solved_day is not None:
            shares.cell((solved_day, group, assignee)).backlog_out += sign
    if solved_day is not None:
        _solved_share(shares.cell((solved_day, group, assignee)), fact, sign)
        for tag in set(fact.tags):
            shares.labels[("tag", tag, solved_day, group, assignee)] += sign


def _solved_share(solved: Cell, fact: TicketFact, sign: int) -> None:
    solved.solved += sign
    if fact.replies is not None:
        solved.with_replies += sign
        solved.replies += sign * fact.replies
        if fact.replies <= 1:
            solved.one_touch += sign
    if fact.reopens is not None:
        solved.with_reopens += sign
        if fact.reopens > 0:
            solved.reopened += sign
    if fact.frt is not None:
        solved.frt[fact.frt] += sign
    if fact.frt_business is not None:
        solved.frt_business[fact.frt_business] += sign
    if fact.resolution is not None:
        solved.resolution[fact.resolution] += sign
    if fact.resolution_business is not None:
        solved.resolution_business[fact.resolution_business] += sign
    if fact.requester_id is not None:
        solved.requesters[fact.requester_id] += sign


def rating_kind(score: str) -> str | None:
    """good / bad / offered as the report counts them (``score LIKE 'good%'`` …)."""
    if score.startswith("good"):
        return "good"
    if score.startswith("bad"):
        return "bad"
    if score == "offered":
        return "offered"
    return None


def contribute_rating(shares: Shares, fact: RatingFact, day_of: DayOf, sign: int = 1) -> None:
    if fact.ticket_deleted:
        return
    kind = rating_kind(fact.score)
    if kind is None:
        return
    day, group, assignee = day_of(fact.created_at), fact.group_id or 0, fact.assignee_id or 0
    cell = shares.cell((day, group, assignee))
    setattr(cell, kind, getattr(cell, kind) + sign)
    if kind == "bad":
        shares.labels[(*bad_customer(fact), day, group, assignee)] += sign


def bad_customer(fact: RatingFact) -> tuple[str, str]:
    """Whom a bad rating counts against in "customers in need": the rated ticket's
    organisation, else the rating's requester, else nobody (still a group of its own, as the
    direct SQL groups it)."""
    if fact.organization_id is not None:
        return "bad_org", id_label(fact.organization_id)
    if fact.requester_id is not None:
        return "bad_requester", id_label(fact.requester_id)
    return "bad_nobody", ""


def id_label(value: int) -> str:
    """An id as a label that sorts like the number (zero-padded; ids are positive)."""
    return f"{value:020d}"


def shares_of(
    tickets: Iterable[TicketFact], ratings: Iterable[RatingFact], tz: str, sign: int = 1
) -> Shares:
    day_of = DayOf(tz)
    shares = Shares()
    for ticket in tickets:
        contribute_ticket(shares, ticket, day_of, sign)
    for rating in ratings:
        contribute_rating(shares, rating, day_of, sign)
    return shares


# -- packing multisets ----------------------------------------------------------------------
# An integer multiset is stored as little-endian int64 pairs (value, count), sorted by value:
# compact, and a window's histograms are one ``b"".join`` + ``numpy.frombuffer`` away.

_SWAP = sys.byteorder != "little"


def pack(counter: Mapping[int, int]) -> bytes:
    flat = array("q", chain.from_iterable(sorted(kv for kv in counter.items() if kv[1])))
    if _SWAP:  # pragma: no cover - big-endian hosts
        flat.byteswap()
    return flat.tobytes()


def unpack(blob: bytes | None) -> Counter[int]:
    if not blob:
        return Counter()
    flat = array("q")
    flat.frombytes(bytes(blob))
    if _SWAP:  # pragma: no cover - big-endian hosts
        flat.byteswap()
    return Counter(dict(zip(flat[0::2], flat[1::2], strict=True)))


class Histogram:
    """Sorted distinct values and their counts: the union of packed multisets.

    ``percentile`` is ``metrics.percentile_sorted`` over the expanded sorted list (the same
    linear interpolation between the two neighbouring order statistics), without expanding it.
    """

    def __init__(self, blobs: Iterable[bytes]) -> None:
        import numpy as np

        data = b"".join(blobs)
        if not data:
            self.values = np.zeros(0, dtype=np.int64)
            self.counts = np.zeros(0, dtype=np.int64)
        else:
            flat = np.frombuffer(data, dtype="<i8")
            values, counts = flat[0::2], flat[1::2]
            low, high = int(values.min()), int(values.max())
            if high - low <= 4 * len(values):  # dense: one counting pass
                summed = np.bincount(values - low, weights=counts, minlength=high - low + 1)
                present = np.nonzero(summed)[0]
                self.values = present.astype(np.int64) + low
                self.counts = summed[present].astype(np.int64)
            else:  # sparse: sort, then add up equal neighbours
                order = np.argsort(values, kind="stable")
                ordered, weights = values[order], counts[order]
                starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
                summed = np.add.reduceat(weights, starts)
                keep = summed != 0
                self.values = ordered[starts][keep].astype(np.int64)
                self.counts = summed[keep].astype(np.int64)
        self._cumulative = np.cumsum(self.counts)
        self.total = int(self._cumulative[-1]) if len(self._cumulative) else 0

    def _at(self, rank: int) -> int:
        import numpy as np

        return int(self.values[int(np.searchsorted(self._cumulative, rank, side="right"))])

    def percentile(self, q: float) -> float | None:
        if self.total == 0:
            return None
        pos = q * (self.total - 1)
        lower = math.floor(pos)
        upper = math.ceil(pos)
        low = self._at(lower)
        high = self._at(upper) if upper != lower else low
        return float(low + (high - low) * (pos - lower))

    def expanded(self) -> list[int]:
        """The sorted list itself (for a chart's sample)."""
        out: list[int] = []
        for value, n in zip(self.values.tolist(), self.counts.tolist(), strict=True):
            out.extend([value] * n)
        return out


def distinct_values(blobs: Iterable[bytes]) -> int:
    """How many distinct values the union of packed multisets holds."""
    import numpy as np

    data = b"".join(blobs)
    if not data:
        return 0
    values = np.sort(np.frombuffer(data, dtype="<i8")[0::2])
    return 1 + int(np.count_nonzero(values[1:] != values[:-1]))
