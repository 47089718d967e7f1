"""Agent QA on SQLite or PostgreSQL (``deskbot.services.qa_types.QaStore``).

Exactly once: a cycle's samples and tasks are written in the transaction that inserts the
cycle row (``ON CONFLICT DO NOTHING`` on its key: a second draw, or a second replica, writes
nothing); ``qa_samples.ticket_id`` is unique (a ticket is sampled at most once, ever); a review
version is unique per (task, submission), so a double click or a Slack retry stores one
version; dispute resolution is a compare-and-set on ``state = 'open'``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from deskbot.adapters.db.store import Database, required_utc, utc
from deskbot.adapters.db.tables import (
    QaCycle,
    QaDispute,
    QaReview,
    QaReviewVersion,
    QaSample,
    QaTask,
    SatisfactionRating,
    SyncState,
    Ticket,
    TicketMetric,
)
from deskbot.domain.qa import Candidate, SampledTicket
from deskbot.domain.scorecard import COMPETENCY_KEYS
from deskbot.services.qa_types import (
    CycleRecord,
    DisputeRecord,
    NewTask,
    ReviewRecord,
    SampleRecord,
    TaskView,
)

BAD_SCORES = ("bad", "bad_with_comment")
SOLVED = ("solved", "closed")

_cycles = QaCycle.__table__  # type: ignore[attr-defined]
_samples = QaSample.__table__  # type: ignore[attr-defined]
_tasks = QaTask.__table__  # type: ignore[attr-defined]
_reviews = QaReview.__table__  # type: ignore[attr-defined]
_versions = QaReviewVersion.__table__  # type: ignore[attr-defined]
_disputes = QaDispute.__table__  # type: ignore[attr-defined]
_tickets = Ticket.__table__  # type: ignore[attr-defined]
_metrics = TicketMetric.__table__  # type: ignore[attr-defined]
_ratings = SatisfactionRating.__table__  # type: ignore[attr-defined]
_sync = SyncState.__table__  # type: ignore[attr-defined]
SYNCED_STREAMS = ("tickets", "satisfaction_ratings")


def _cycle(row: Any) -> CycleRecord:
    return CycleRecord(
        key=row.key,
        kind=row.kind,
        start_at=required_utc(row.start_at),
        end_at=required_utc(row.end_at),
        due_at=required_utc(row.due_at),
        closes_at=required_utc(row.closes_at),
        seed=int(row.seed),
        drawn_at=required_utc(row.drawn_at),
    )


def _sample(row: Any, prefix: str = "") -> SampleRecord:
    m = row._mapping
    return SampleRecord(
        id=int(m[f"{prefix}id"]),
        cycle_key=m[f"{prefix}cycle_key"],
        agent_id=int(m[f"{prefix}agent_id"]),
        ticket_id=int(m[f"{prefix}ticket_id"]),
        stratum=m[f"{prefix}stratum"],
        stratum_size=int(m[f"{prefix}stratum_size"]),
        stratum_sample=int(m[f"{prefix}stratum_sample"]),
        population=int(m[f"{prefix}population"]),
    )


def _review(m: Mapping[str, Any], prefix: str, author_key: str) -> ReviewRecord:
    return ReviewRecord(
        task_id=int(m[f"{prefix}task_id"]),
        author=m[f"{prefix}{author_key}"],
        version=int(m[f"{prefix}version"]),
        scores={k: m[f"{prefix}{k}"] for k in COMPETENCY_KEYS},
        score=m[f"{prefix}score"],
        hero=bool(m[f"{prefix}hero"]),
        notes=m[f"{prefix}notes"],
        created_at=required_utc(
            m[f"{prefix}updated_at" if author_key == "reviewer" else "created_at"]
        ),
    )


def _dispute(m: Mapping[str, Any], prefix: str = "") -> DisputeRecord:
    return DisputeRecord(
        task_id=int(m[f"{prefix}task_id"]),
        agent_slack=m[f"{prefix}agent_slack"],
        reason=m[f"{prefix}reason"],
        state=m[f"{prefix}state"],
        created_at=required_utc(m[f"{prefix}created_at"]),
        resolved_by=m[f"{prefix}resolved_by"],
        resolved_at=utc(m[f"{prefix}resolved_at"]),
        resolution_note=m[f"{prefix}resolution_note"],
    )


class SqlQaStore:
    def __init__(self, database: Database) -> None:
        self.db = database

    def _insert_ignore(self, table: Any, key: list[str]) -> Any:
        dialect = postgresql if self.db.dialect == "postgresql" else sqlite
        return dialect.insert(table).on_conflict_do_nothing(index_elements=key)

    # -- population -------------------------------------------------------------------------

    def population(
        self, start: datetime, end: datetime, agent_ids: Collection[int], cycle_key: str
    ) -> dict[int, list[Candidate]]:
        t, tm, s, r = _tickets, _metrics, _samples, _ratings
        bad = exists().where(and_(r.c.ticket_id == t.c.id, r.c.score.in_(BAD_SCORES)))
        stmt = (
            select(
                t.c.assignee_id,
                t.c.id,
                bad.label("bad"),
                tm.c.reopens,
                tm.c.full_resolution_calendar,
                tm.c.replies,
            )
            .select_from(tm)
            .join(t, t.c.id == tm.c.ticket_id)
            .outerjoin(s, s.c.ticket_id == t.c.id)
            .where(
                tm.c.solved_at >= start,
                tm.c.solved_at < end,
                t.c.is_deleted.is_(False),
                t.c.status.in_(SOLVED),
                t.c.assignee_id.is_not(None),
                or_(s.c.id.is_(None), s.c.cycle_key == cycle_key),
            )
        )
        wanted = set(agent_ids)
        if len(wanted) <= 1000:
            stmt = stmt.where(t.c.assignee_id.in_(sorted(wanted)))
        out: dict[int, list[Candidate]] = {a: [] for a in wanted}
        with self.db.engine.connect() as conn:
            rows = conn.execute(stmt).all()
            for agent, tid, is_bad, reopens, full_res, replies in rows:
                bucket = out.get(agent)
                if bucket is None:
                    continue
                bucket.append(
                    Candidate(
                        int(tid),
                        bad_csat=bool(is_bad),
                        reopens=int(reopens or 0),
                        full_resolution_minutes=None if full_res is None else float(full_res),
                        replies=int(replies or 0),
                    )
                )
        return out

    def synced_through(self) -> datetime | None:
        """How far the synced copy is known complete: per stream the later of its position
        (Zendesk's ``generated_timestamp``) and its last successful pass, the earliest over
        the streams; ``None`` when nothing was ever synced (data loaded another way)."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(_sync.c.position, _sync.c.last_success_at).where(
                    _sync.c.stream.in_(SYNCED_STREAMS)
                )
            ).all()
        if not rows:
            return None
        through: list[datetime] = []
        for position, last_success in rows:
            candidates = [required_utc(last_success)] if last_success is not None else []
            if position is not None:
                candidates.append(datetime.fromtimestamp(int(position), UTC))
            through.append(max(candidates) if candidates else datetime.min.replace(tzinfo=UTC))
        return min(through)

    # -- cycles and draws -------------------------------------------------------------------

    def get_cycle(self, key: str) -> CycleRecord | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(select(_cycles).where(_cycles.c.key == key)).first()
        return _cycle(row) if row is not None else None

    def cycles(self) -> list[CycleRecord]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(_cycles).order_by(_cycles.c.start_at)).all()
        return [_cycle(r) for r in rows]

    def save_draw(
        self, cycle: CycleRecord, samples: Sequence[SampledTicket], tasks: Sequence[NewTask]
    ) -> bool:
        with self.db.engine.begin() as conn:
            # RETURNING yields a row only when this statement inserted (rowcount is not
            # reliable for ON CONFLICT DO NOTHING on every driver)
            inserted = conn.execute(
                self._insert_ignore(_cycles, ["key"])
                .returning(_cycles.c.key)
                .values(
                    key=cycle.key,
                    kind=cycle.kind,
                    start_at=cycle.start_at,
                    end_at=cycle.end_at,
                    due_at=cycle.due_at,
                    closes_at=cycle.closes_at,
                    seed=cycle.seed,
                    drawn_at=cycle.drawn_at,
                )
            ).first()
            if inserted is None:
                return False
            if samples:
                conn.execute(
                    insert(_samples),
                    [
                        {
                            "cycle_key": cycle.key,
                            "agent_id": s.agent_id,
                            "ticket_id": s.ticket_id,
                            "stratum": s.stratum,
                            "stratum_size": s.stratum_size,
                            "stratum_sample": s.stratum_sample,
                            "population": s.population,
                            "created_at": cycle.drawn_at,
                        }
                        for s in samples
                    ],
                )
            ids: dict[int, int] = dict(
                conn.execute(
                    select(_samples.c.ticket_id, _samples.c.id).where(
                        _samples.c.cycle_key == cycle.key
                    )
                ).all()
            )
            if tasks:
                conn.execute(
                    insert(_tasks),
                    [
                        {
                            "sample_id": ids[t.ticket_id],
                            "cycle_key": cycle.key,
                            "reviewer": t.reviewer,
                            "agent_slack": t.agent_slack,
                            "state": "open",
                            "assigned_at": cycle.drawn_at,
                            "due_at": cycle.due_at,
                        }
                        for t in tasks
                    ],
                )
        return True

    def samples(self, cycle_key: str) -> list[SampleRecord]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(_samples)
                .where(_samples.c.cycle_key == cycle_key)
                .order_by(_samples.c.agent_id, _samples.c.stratum, _samples.c.ticket_id)
            ).all()
        return [_sample(r) for r in rows]

    # -- tasks --------------------------------------------------------------------------------

    def _task_query(self) -> Any:
        latest_rating = (
            select(_ratings.c.score)
            .where(_ratings.c.ticket_id == _samples.c.ticket_id)
            .order_by(_ratings.c.updated_at.desc(), _ratings.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        return (
            select(
                *[c.label(f"s_{c.name}") for c in _samples.columns],
                *[c.label(f"t_{c.name}") for c in _tasks.columns],
                *[c.label(f"r_{c.name}") for c in _reviews.columns],
                *[c.label(f"d_{c.name}") for c in _disputes.columns],
                _tickets.c.subject,
                _metrics.c.replies,
                _metrics.c.reopens,
                latest_rating.label("csat"),
            )
            .select_from(_tasks)
            .join(_samples, _samples.c.id == _tasks.c.sample_id)
            .outerjoin(_reviews, _reviews.c.task_id == _tasks.c.sample_id)
            .outerjoin(_disputes, _disputes.c.task_id == _tasks.c.sample_id)
            .outerjoin(_tickets, _tickets.c.id == _samples.c.ticket_id)
            .outerjoin(_metrics, _metrics.c.ticket_id == _samples.c.ticket_id)
        )

    @staticmethod
    def _task_view(row: Any) -> TaskView:
        m = dict(row._mapping)
        review = _review(m, "r_", "reviewer") if m["r_task_id"] is not None else None
        dispute = _dispute(m, "d_") if m["d_task_id"] is not None else None
        return TaskView(
            sample=_sample(row, "s_"),
            reviewer=m["t_reviewer"],
            agent_slack=m["t_agent_slack"],
            state=m["t_state"],
            assigned_at=required_utc(m["t_assigned_at"]),
            due_at=required_utc(m["t_due_at"]),
            done_at=utc(m["t_done_at"]),
            reassigned_from=m["t_reassigned_from"],
            subject=m["subject"],
            csat=m["csat"],
            replies=m["replies"],
            reopens=m["reopens"],
            review=review,
            dispute=dispute,
        )

    def tasks(
        self,
        *,
        cycle_keys: Collection[str] | None = None,
        reviewer: str | None = None,
        state: str | None = None,
        agent_id: int | None = None,
    ) -> list[TaskView]:
        stmt = self._task_query()
        if cycle_keys is not None:
            stmt = stmt.where(_tasks.c.cycle_key.in_(sorted(cycle_keys)))
        if reviewer is not None:
            stmt = stmt.where(_tasks.c.reviewer == reviewer)
        if state is not None:
            stmt = stmt.where(_tasks.c.state == state)
        if agent_id is not None:
            stmt = stmt.where(_samples.c.agent_id == agent_id)
        stmt = stmt.order_by(_samples.c.cycle_key, _samples.c.agent_id, _samples.c.ticket_id)
        with self.db.engine.connect() as conn:
            return [self._task_view(r) for r in conn.execute(stmt)]

    def task(self, task_id: int) -> TaskView | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(self._task_query().where(_tasks.c.sample_id == task_id)).first()
        return self._task_view(row) if row is not None else None

    def reassign(self, task_id: int, old: str, new: str) -> bool:
        with self.db.engine.begin() as conn:
            return (
                conn.execute(
                    update(_tasks)
                    .where(
                        _tasks.c.sample_id == task_id,
                        _tasks.c.reviewer == old,
                        _tasks.c.state == "open",
                    )
                    .values(reviewer=new, reassigned_from=old)
                ).rowcount
                == 1
            )

    # -- reviews ------------------------------------------------------------------------------

    def save_review(
        self,
        task_id: int,
        *,
        submission: str,
        author: str,
        scores: Mapping[str, int | None],
        score: float | None,
        hero: bool,
        notes: str | None,
        at: datetime,
    ) -> tuple[int, bool]:
        values = {k: scores.get(k) for k in COMPETENCY_KEYS}
        for _attempt in range(3):
            try:
                with self.db.engine.begin() as conn:
                    same = conn.execute(
                        select(_versions.c.version).where(
                            _versions.c.task_id == task_id, _versions.c.submission == submission
                        )
                    ).scalar()
                    if same is not None:
                        return int(same), False
                    task = conn.execute(
                        select(_tasks.c.cycle_key, _tasks.c.reviewer).where(
                            _tasks.c.sample_id == task_id
                        )
                    ).first()
                    if task is None:
                        raise LookupError(f"no QA task {task_id}")
                    current = conn.execute(
                        select(func.max(_versions.c.version)).where(_versions.c.task_id == task_id)
                    ).scalar()
                    version = int(current or 0) + 1
                    conn.execute(
                        insert(_versions).values(
                            task_id=task_id,
                            version=version,
                            submission=submission[:128],
                            author=author,
                            score=score,
                            hero=hero,
                            notes=notes,
                            created_at=at,
                            **values,
                        )
                    )
                    row = {
                        "cycle_key": task.cycle_key,
                        "reviewer": author,
                        "version": version,
                        "score": score,
                        "hero": hero,
                        "notes": notes,
                        "updated_at": at,
                        **values,
                    }
                    if version == 1:
                        conn.execute(insert(_reviews).values(task_id=task_id, created_at=at, **row))
                    else:
                        conn.execute(
                            update(_reviews).where(_reviews.c.task_id == task_id).values(**row)
                        )
                    conn.execute(
                        update(_tasks)
                        .where(_tasks.c.sample_id == task_id, _tasks.c.state == "open")
                        .values(state="done", done_at=at)
                    )
                    return version, True
            except IntegrityError:
                continue  # a concurrent submission took this version number: read again
        raise RuntimeError(f"could not store a review of task {task_id}: too much contention")

    def review_history(self, task_id: int) -> list[ReviewRecord]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(_versions)
                .where(_versions.c.task_id == task_id)
                .order_by(_versions.c.version)
            ).all()
        return [_review(dict(r._mapping), "", "author") for r in rows]

    # -- disputes -----------------------------------------------------------------------------

    def open_dispute(
        self, task_id: int, cycle_key: str, agent_slack: str, reason: str, at: datetime
    ) -> bool:
        with self.db.engine.begin() as conn:
            return (
                conn.execute(
                    self._insert_ignore(_disputes, ["task_id"])
                    .returning(_disputes.c.task_id)
                    .values(
                        task_id=task_id,
                        cycle_key=cycle_key,
                        agent_slack=agent_slack,
                        reason=reason,
                        state="open",
                        created_at=at,
                    )
                ).first()
                is not None
            )

    def resolve_dispute(self, task_id: int, state: str, by: str, note: str, at: datetime) -> bool:
        with self.db.engine.begin() as conn:
            return (
                conn.execute(
                    update(_disputes)
                    .where(_disputes.c.task_id == task_id, _disputes.c.state == "open")
                    .values(state=state, resolved_by=by, resolved_at=at, resolution_note=note)
                ).rowcount
                == 1
            )

    def disputes(self, state: str | None = None) -> list[DisputeRecord]:
        stmt = select(_disputes).order_by(_disputes.c.created_at)
        if state is not None:
            stmt = stmt.where(_disputes.c.state == state)
        with self.db.engine.connect() as conn:
            return [_dispute(dict(r._mapping)) for r in conn.execute(stmt)]
