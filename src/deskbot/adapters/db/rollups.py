"""The per-day KPI rollups on SQLite or PostgreSQL: maintenance, rebuild, check (issue 19).

``domain/rollups.py`` defines what a ticket or a rating adds to which cell. Here:

- **Maintenance.** Every transaction that writes tickets, metric sets, tags or ratings
  (``SqlSyncStore.write_records``, ``SqlCsatStore.apply_survey_page``) opens a
  ``RollupWriter`` first. It updates the one ``kpi_rollup_state`` row — on PostgreSQL that row
  lock serialises rollup writers and a rebuild; on SQLite the write takes the database's write
  lock — then reads the records' current shares, lets the caller write, reads them again and
  applies the difference to the cells, all in the caller's transaction: a crash at any line
  leaves rows and rollups as they were, or both changed.
- **Rebuild** (``ensure`` / ``rebuild``): from the base tables in one transaction, when the
  rollups are empty (after the migration), of another version, or of another timezone than
  the configured one; the sync runs ``ensure`` before each run and ``rebuild`` after a full
  resync. Until built, reports read the tickets directly (``SqlKpiSource``).
- **Check** (``deskbot db check``): recompute every cell from the base tables and compare.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Table, delete, false, func, select, tuple_, update
from sqlalchemy.engine import Connection

from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables_copy import (
    KPI_ROLLUP_DAYS,
    KPI_ROLLUP_LABELS,
    KPI_ROLLUP_MONTHS,
    KPI_ROLLUP_STATE,
    SatisfactionRating,
    Ticket,
    TicketMetric,
    TicketTag,
)
from deskbot.domain.rollups import (
    COUNTS,
    MULTISETS,
    ROLLUP_VERSION,
    TEAM,
    Cell,
    CellKey,
    DayOf,
    LabelKey,
    RatingFact,
    Shares,
    TicketFact,
    contribute_rating,
    contribute_ticket,
    keys_by_month,
    month_cells,
    next_month,
    pack,
    unpack,
)
from deskbot.log import get_logger

log = get_logger(__name__)

STATE = KPI_ROLLUP_STATE
DAYS = KPI_ROLLUP_DAYS
MONTHS = KPI_ROLLUP_MONTHS
LABELS = KPI_ROLLUP_LABELS
_T: Table = Ticket.__table__  # type: ignore[attr-defined]
_M: Table = TicketMetric.__table__  # type: ignore[attr-defined]
_TT: Table = TicketTag.__table__  # type: ignore[attr-defined]
_R: Table = SatisfactionRating.__table__  # type: ignore[attr-defined]

_CHUNK = 500


@dataclass(frozen=True)
class RollupState:
    status: str
    timezone: str | None
    version: int
    writes: int
    rebuilt_at: datetime | None

    def ready_for(self, tz: str) -> bool:
        return self.ready and self.timezone == tz

    @property
    def ready(self) -> bool:
        return self.status == "ready" and self.version == ROLLUP_VERSION


def read_state(conn: Connection) -> RollupState | None:
    row = conn.execute(
        select(
            STATE.c.status, STATE.c.timezone, STATE.c.version, STATE.c.writes, STATE.c.rebuilt_at
        ).where(STATE.c.id == 1)
    ).first()
    if row is None:
        return None
    return RollupState(row.status, row.timezone, int(row.version), int(row.writes), row.rebuilt_at)


def _lock(conn: Connection) -> RollupState | None:
    """Take the rollups' write lock (the state row) and return the state it guards."""
    conn.execute(update(STATE).where(STATE.c.id == 1).values(writes=STATE.c.writes + 1))
    return read_state(conn)


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield list(ids[i : i + _CHUNK])


# -- reading the base tables as facts ---------------------------------------------------------

_TICKET_COLUMNS = (
    _T.c.id,
    _T.c.created_at,
    _T.c.status,
    _T.c.is_deleted,
    _T.c.channel,
    _T.c.requester_id,
    _T.c.assignee_id,
    _T.c.group_id,
    _M.c.solved_at,
    _M.c.replies,
    _M.c.reopens,
    _M.c.reply_time_calendar,
    _M.c.reply_time_business,
    _M.c.full_resolution_calendar,
    _M.c.full_resolution_business,
)


def _ticket_fact(row: Any, tags: dict[int, list[str]]) -> TicketFact:
    return TicketFact(
        int(row[0]),
        row[1],
        row[2],
        bool(row[3]),
        row[4],
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        row[12],
        row[13],
        row[14],
        tuple(tags.get(int(row[0]), ())),
    )


def _rating_fact(row: Any) -> RatingFact:
    return RatingFact(
        int(row[0]), row[1], str(row[2]), row[3], row[4], bool(row[5]), row[6], row[7]
    )


_RATING_COLUMNS = (
    _R.c.id,
    _R.c.created_at,
    _R.c.score,
    _R.c.group_id,
    _R.c.assignee_id,
    func.coalesce(_T.c.is_deleted, false()),
    _T.c.organization_id,
    _R.c.requester_id,
)


def _tags(conn: Connection, condition: Any) -> dict[int, list[str]]:
    """The tags of the tickets ``condition`` selects on ``ticket_tags``, by ticket."""
    tags: dict[int, list[str]] = {}
    for tid, tag in conn.execute(select(_TT.c.ticket_id, _TT.c.tag).where(condition)):
        tags.setdefault(int(tid), []).append(str(tag))
    return tags


_TICKETS_WITH_METRICS = select(*_TICKET_COLUMNS).select_from(
    _T.outerjoin(_M, _M.c.ticket_id == _T.c.id)
)


def _tickets(conn: Connection, ids: Sequence[int]) -> list[TicketFact]:
    out: list[TicketFact] = []
    for chunk in _chunks(sorted(set(ids))):
        tags = _tags(conn, _TT.c.ticket_id.in_(chunk))
        rows = conn.execute(_TICKETS_WITH_METRICS.where(_T.c.id.in_(chunk)))
        out.extend(_ticket_fact(row, tags) for row in rows)
    return out


def _ratings(conn: Connection, ids: Sequence[int], ticket_ids: Sequence[int]) -> list[RatingFact]:
    """The ratings with these ids and all ratings of these tickets."""
    found: dict[int, RatingFact] = {}
    source = _R.outerjoin(_T, _T.c.id == _R.c.ticket_id)
    for column, wanted in ((_R.c.id, ids), (_R.c.ticket_id, ticket_ids)):
        for chunk in _chunks(sorted(set(wanted))):
            query = select(*_RATING_COLUMNS).select_from(source).where(column.in_(chunk))
            for row in conn.execute(query):
                found[int(row[0])] = _rating_fact(row)
    return list(found.values())


def _all_tickets(conn: Connection, batch: int = 5000) -> Iterator[TicketFact]:
    """Every ticket with its metric set and tags, in id order, a batch at a time (memory
    stays bounded by the batch, not by the account's tags)."""
    after: int | None = None
    while True:
        query = _TICKETS_WITH_METRICS.order_by(_T.c.id).limit(batch)
        if after is not None:
            query = query.where(_T.c.id > after)
        rows = conn.execute(query).all()
        if not rows:
            return
        first, after = int(rows[0][0]), int(rows[-1][0])
        tags = _tags(conn, _TT.c.ticket_id.between(first, after))
        for row in rows:
            yield _ticket_fact(row, tags)


def compute_all(conn: Connection, tz: str) -> tuple[Shares, int, int]:
    """Every cell from the base tables: (shares, tickets read, ratings read)."""
    day_of = DayOf(tz)
    shares = Shares()
    n_tickets = 0
    for fact in _all_tickets(conn):
        contribute_ticket(shares, fact, day_of)
        n_tickets += 1
    n_ratings = 0
    result = conn.execute(
        select(*_RATING_COLUMNS)
        .select_from(_R.outerjoin(_T, _T.c.id == _R.c.ticket_id))
        .execution_options(yield_per=5000)
    )
    for row in result:
        contribute_rating(shares, _rating_fact(row), day_of)
        n_ratings += 1
    return shares.with_team().changed(), n_tickets, n_ratings


# -- cells <-> rows ------------------------------------------------------------------------------


def _cell_from_row(row: Any) -> Cell:
    cell = Cell()
    for name in COUNTS:
        setattr(cell, name, int(getattr(row, name)))
    for name in MULTISETS:
        setattr(cell, name, unpack(getattr(row, name)))
    return cell


def _row_from_cell(key: CellKey, cell: Cell) -> dict[str, Any]:
    row: dict[str, Any] = {"day": key[0], "group_id": key[1], "assignee_id": key[2]}
    row.update({name: getattr(cell, name) for name in COUNTS})
    for name in MULTISETS:
        row[name] = pack(getattr(cell, name))
    return row


_LABEL_KEY = (LABELS.c.kind, LABELS.c.label, LABELS.c.day, LABELS.c.group_id, LABELS.c.assignee_id)


def _label_row(key: LabelKey, n: int) -> dict[str, Any]:
    return {
        "kind": key[0],
        "label": key[1],
        "day": key[2],
        "group_id": key[3],
        "assignee_id": key[4],
        "n": n,
    }


def _stored_cells(
    conn: Connection,
    table: Table,
    keys: Iterable[CellKey] | None = None,
    *,
    since: date | None = None,
    until: date | None = None,
) -> dict[CellKey, Cell]:
    """Stored cells: those of ``keys``, or with ``since <= day < until``."""
    columns = [table.c.day, table.c.group_id, table.c.assignee_id, *[table.c[n] for n in COUNTS]]
    columns += [table.c[n] for n in MULTISETS]
    out: dict[CellKey, Cell] = {}
    if keys is None:
        batches: Iterable[Any] = [
            select(*columns).where(
                *([] if since is None else [table.c.day >= since]),
                *([] if until is None else [table.c.day < until]),
            )
        ]
    else:
        wanted = sorted(set(keys))
        batches = (
            select(*columns).where(
                tuple_(table.c.day, table.c.group_id, table.c.assignee_id).in_(
                    wanted[i : i + _CHUNK]
                )
            )
            for i in range(0, len(wanted), _CHUNK)
        )
    for query in batches:
        for row in conn.execute(query):
            out[(row.day, int(row.group_id), int(row.assignee_id))] = _cell_from_row(row)
    return out


def _stored_labels(conn: Connection, keys: Sequence[LabelKey] | None = None) -> Counter[LabelKey]:
    if keys is None:
        batches: Iterable[Any] = [select(*_LABEL_KEY, LABELS.c.n)]
    else:
        wanted = sorted(set(keys))
        batches = (
            select(*_LABEL_KEY, LABELS.c.n).where(tuple_(*_LABEL_KEY).in_(wanted[i : i + _CHUNK]))
            for i in range(0, len(wanted), _CHUNK)
        )
    out: Counter[LabelKey] = Counter()
    for query in batches:
        for r in conn.execute(query):
            out[(str(r.kind), str(r.label), r.day, int(r.group_id), int(r.assignee_id))] = int(r.n)
    return out


def _apply(conn: Connection, database: Database, delta: Shares) -> None:
    """Add ``delta`` to the stored cells and labels (the caller holds the rollups' lock)."""
    if delta.cells:
        _apply_cells(conn, database, DAYS, delta.cells)
        _apply_cells(conn, database, MONTHS, month_cells(delta.cells))
    if delta.labels:
        _apply_labels(conn, database, delta.labels)


def _apply_cells(
    conn: Connection,
    database: Database,
    table: Table,
    delta: dict[CellKey, Cell],
) -> None:
    stored = _stored_cells(conn, table, delta)
    gone: list[CellKey] = []
    for key, change in delta.items():
        cell = stored.get(key)
        if cell is None:
            cell = stored[key] = Cell()
        cell.add(change)
        cell.normalised()
        if cell.negative():
            log.warning("rollups.negative_cell", day=key[0].isoformat(), fields=cell.negative())
        if cell.is_empty():
            gone.append(key)
    keep = {k: stored[k] for k in delta if k not in set(gone)}
    for i in range(0, len(gone), _CHUNK):
        conn.execute(
            delete(table).where(
                tuple_(table.c.day, table.c.group_id, table.c.assignee_id).in_(gone[i : i + _CHUNK])
            )
        )
    if keep:
        database.upsert(
            conn,
            table,
            [_row_from_cell(k, c) for k, c in keep.items()],
            key=("day", "group_id", "assignee_id"),
        )


def _apply_labels(conn: Connection, database: Database, delta: Counter[LabelKey]) -> None:
    current = _stored_labels(conn, list(delta))
    upserts, zero = [], []
    for key, n in delta.items():
        total = current.get(key, 0) + n
        if total == 0:
            zero.append(key)
        else:
            upserts.append(_label_row(key, total))
    for i in range(0, len(zero), _CHUNK):
        conn.execute(delete(LABELS).where(tuple_(*_LABEL_KEY).in_(zero[i : i + _CHUNK])))
    if upserts:
        database.upsert(
            conn, LABELS, upserts, key=("kind", "label", "day", "group_id", "assignee_id")
        )


class RollupWriter:
    """Keeps the rollups true across one transaction's writes to tickets and ratings::

    writer = RollupWriter.open(database, conn)   # first statement of the transaction
    writer.watch(ticket_ids=..., rating_ids=...)  # before writing those rows
    ... write tickets, metric sets, tags, ratings ...
    writer.close()                                # same transaction
    """

    def __init__(self, database: Database, conn: Connection, state: RollupState | None) -> None:
        self._db = database
        self._conn = conn
        self._tz = state.timezone if state is not None and state.ready else None
        self._tickets: set[int] = set()
        self._ratings: set[int] = set()
        self._rating_tickets: set[int] = set()
        self._before = Shares()

    @classmethod
    def open(cls, database: Database, conn: Connection) -> RollupWriter:
        return cls(database, conn, _lock(conn))

    @property
    def active(self) -> bool:
        return self._tz is not None

    def watch(
        self,
        ticket_ids: Iterable[int] = (),
        rating_ids: Iterable[int] = (),
        rating_ticket_ids: Iterable[int] = (),
    ) -> None:
        """Record the current shares of these records (call before changing them): tickets
        (with their metric sets, tags and ratings), ratings, and all ratings of some tickets."""
        if self._tz is None:
            return
        tickets = sorted(set(ticket_ids) - self._tickets)
        rated = sorted((set(rating_ticket_ids) | set(tickets)) - self._rating_tickets)
        ratings = sorted(set(rating_ids) - self._ratings)
        day_of = DayOf(self._tz)
        for fact in _tickets(self._conn, tickets):
            contribute_ticket(self._before, fact, day_of, -1)
        seen = set(self._ratings)
        for rating in _ratings(self._conn, ratings, rated):
            if rating.id not in seen:
                contribute_rating(self._before, rating, day_of, -1)
                self._ratings.add(rating.id)
        self._tickets.update(tickets)
        self._rating_tickets.update(rated)
        self._ratings.update(ratings)

    def close(self) -> None:
        """Apply what the watched records' writes changed."""
        if self._tz is None or not (self._tickets or self._ratings or self._rating_tickets):
            return
        day_of = DayOf(self._tz)
        delta = Shares()
        delta.add(self._before)
        for fact in _tickets(self._conn, sorted(self._tickets)):
            contribute_ticket(delta, fact, day_of)
        for rating in _ratings(self._conn, sorted(self._ratings), sorted(self._rating_tickets)):
            contribute_rating(delta, rating, day_of)
        _apply(self._conn, self._db, delta.changed().with_team().changed())
        self._tickets.clear()
        self._ratings.clear()
        self._rating_tickets.clear()
        self._before = Shares()


@dataclass(frozen=True)
class CheckResult:
    timezone: str | None
    status: str
    cells: int
    labels: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


class SqlRollups:
    """Build, ensure and check the rollups of one database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def state(self) -> RollupState | None:
        with self.database.engine.connect() as conn:
            return read_state(conn)

    def ensure(self, tz: str) -> bool:
        """Build the rollups if they are not ready for ``tz``; True when it rebuilt."""
        state = self.state()
        if state is not None and state.ready_for(tz):
            return False
        reason = (
            "not built yet"
            if state is None or state.status != "ready"
            else (
                "rollup version changed" if state.version != ROLLUP_VERSION else "timezone changed"
            )
        )
        self.rebuild(tz, reason=reason)
        return True

    def rebuild(self, tz: str, *, reason: str = "asked", attempts: int = 3) -> None:
        """Recompute every cell from the base tables and replace the stored ones.

        Optimistic: the cells are computed without blocking writers, then swapped in a short
        transaction that first checks, by the state row's ``writes``, that no writer touched
        tickets or ratings meanwhile (else it computes again); the last attempt computes
        under the lock, so a rebuild always ends."""
        started = datetime.now(UTC)
        for attempt in range(1, attempts + 1):
            try:
                n_tickets, n_ratings, cells, labels = self._rebuild_once(
                    tz, locked=attempt == attempts
                )
                break
            except _Moved:
                log.info("rollups.rebuild_retried", attempt=attempt, timezone=tz)
        log.info(
            "rollups.rebuilt",
            reason=reason,
            timezone=tz,
            tickets=n_tickets,
            ratings=n_ratings,
            cells=cells,
            label_rows=labels,
            seconds=round((datetime.now(UTC) - started).total_seconds(), 2),
        )

    def _rebuild_once(self, tz: str, *, locked: bool) -> tuple[int, int, int, int]:
        engine = self.database.engine
        if locked:
            with engine.begin() as conn:
                _lock_or_create(conn)
                rows = _Rebuilt(*compute_all(conn, tz))
                rows.swap_in(conn, tz)
            return rows.counts
        with engine.connect() as conn:
            before = read_state(conn)
            rows = _Rebuilt(*compute_all(conn, tz))  # packed before the lock: it only writes
        with engine.begin() as conn:
            state = _lock_or_create(conn)
            if (before is None) != (state is None) or (
                before is not None and state is not None and state.writes != before.writes + 1
            ):
                raise _Moved
            rows.swap_in(conn, tz)
        return rows.counts

    def check(self, limit: int = 20, attempts: int = 3) -> CheckResult:
        """Recompute every cell from the base tables and compare with the stored ones.

        Like a rebuild, without blocking writers: the comparison counts only if no writer
        changed anything meanwhile (else it runs again; the last attempt holds the lock)."""
        for attempt in range(1, attempts + 1):
            with self.database.engine.begin() as conn:
                state = _lock(conn) if attempt == attempts else read_state(conn)
                if state is None or not state.ready or state.timezone is None:
                    status = state.status if state is not None else "missing"
                    return CheckResult(None, status, 0, 0, ())
                result = _compare(conn, state, limit)
                if attempt == attempts or read_state(conn) == state:
                    return result
            log.info("rollups.check_retried", attempt=attempt)
        raise AssertionError("unreachable")  # pragma: no cover


class _Moved(Exception):
    """Tickets or ratings changed while the rollups were computed without the lock."""


def _lock_or_create(conn: Connection) -> RollupState | None:
    state = _lock(conn)
    if state is None:
        conn.execute(
            STATE.insert().values(id=1, status="empty", version=0, writes=1, tickets=0, ratings=0)
        )
    return state


def _label_order(item: tuple[LabelKey, int]) -> tuple[Any, ...]:
    """The labels table's primary-key order: (kind, group, day, label, assignee)."""
    kind, label, day, group, assignee = item[0]
    return (kind, group, day, label, assignee)


class _Rebuilt:
    """Freshly computed rollups as rows ready to insert (in primary-key order: appending to
    the B-trees is several times faster than inserting at random places). The shares'
    multisets are packed as the rows are made, so memory goes down, not up."""

    def __init__(self, shares: Shares, n_tickets: int, n_ratings: int) -> None:
        self.days: list[dict[str, Any]] = []
        self.months: list[dict[str, Any]] = []
        for _, keys in keys_by_month(shares.cells):
            cells = {k: shares.cells.pop(k) for k in keys}  # freed month by month
            self.months += [_row_from_cell(k, c) for k, c in sorted(month_cells(cells).items())]
            self.days += [_row_from_cell(k, c) for k, c in cells.items()]
        self.months.sort(key=lambda r: (r["day"], r["group_id"], r["assignee_id"]))
        self.labels = sorted(shares.labels.items(), key=_label_order)
        shares.labels.clear()
        self.counts = (n_tickets, n_ratings, len(self.days), len(self.labels))

    def swap_in(self, conn: Connection, tz: str) -> None:
        """Replace the stored rollups with these (the caller holds the lock)."""
        for table in (LABELS, DAYS, MONTHS):
            conn.execute(delete(table))
        for table, rows in ((DAYS, self.days), (MONTHS, self.months)):
            for i in range(0, len(rows), 5000):
                conn.execute(table.insert(), rows[i : i + 5000])
        for i in range(0, len(self.labels), 5000):
            chunk = self.labels[i : i + 5000]
            conn.execute(LABELS.insert(), [_label_row(key, n) for key, n in chunk])
        conn.execute(
            update(STATE)
            .where(STATE.c.id == 1)
            .values(
                status="ready",
                timezone=tz,
                version=ROLLUP_VERSION,
                rebuilt_at=datetime.now(UTC),
                tickets=self.counts[0],
                ratings=self.counts[1],
            )
        )


def _compare(conn: Connection, state: RollupState, limit: int) -> CheckResult:
    """Every expected cell and label against the stored ones, a month at a time (so the
    stored cells never sit in memory all at once)."""
    assert state.timezone is not None
    expected, _, _ = compute_all(conn, state.timezone)
    problems: list[str] = []
    stored_months = {
        day.replace(day=1)
        for table in (DAYS, MONTHS)
        for day in conn.execute(select(table.c.day).distinct()).scalars()
    }
    expected_months = dict(keys_by_month(expected.cells))
    for month in sorted(set(expected_months) | stored_months):
        days = {k: expected.cells[k] for k in expected_months.get(month, [])}
        following = next_month(month)
        have = _stored_cells(conn, DAYS, since=month, until=following)
        problems += _cell_problems("cell", days, have)
        have = _stored_cells(conn, MONTHS, since=month, until=following)
        problems += _cell_problems("month", month_cells(days), have)
    stored_labels = _stored_labels(conn)
    for label in sorted(set(expected.labels) | set(stored_labels)):
        want_n, have_n = expected.labels.get(label, 0), stored_labels.get(label, 0)
        if want_n != have_n:
            kind, name, day, group, assignee = label
            problems.append(
                f"{kind} {name!r} on {day.isoformat()} {_who(group, assignee)}: "
                f"stored {have_n}, expected {want_n}"
            )
    if len(problems) > limit:
        problems = [*problems[:limit], f"… and {len(problems) - limit} more"]
    return CheckResult(
        state.timezone, state.status, len(expected.cells), len(expected.labels), tuple(problems)
    )


def _cell_problems(
    what: str, expected: dict[CellKey, Cell], stored: dict[CellKey, Cell]
) -> list[str]:
    problems: list[str] = []
    for key in sorted(set(expected) | set(stored)):
        want, have = expected.get(key), stored.get(key)
        if want is None or have is None or want != have.normalised():
            where = f"{key[0].isoformat()} {_who(key[1], key[2])}"
            fields = (
                "missing"
                if have is None
                else "unexpected"
                if want is None
                else ", ".join(_differing(want, have))
            )
            problems.append(f"{what} {where}: {fields}")
    return problems


def _differing(want: Cell, have: Cell) -> list[str]:
    names = [n for n in COUNTS if getattr(want, n) != getattr(have, n)]
    names += [n for n in MULTISETS if getattr(want, n) != getattr(have, n)]
    return names


def _who(group: int, assignee: int) -> str:
    if group == TEAM:
        return "team"
    return f"group {group or '-'} assignee {assignee or '-'}"
