"""The ``followups`` state table, and the synced ratings it is compared with after each sync.

Every state change is a compare-and-set ``UPDATE … WHERE`` (one statement, one transaction),
so two runs or two Slack clicks racing each other cannot both win.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from deskbot.adapters.db.store import Database, required_utc, utc
from deskbot.adapters.db.tables import (
    Followup,
    Organization,
    SatisfactionRating,
    Ticket,
    User,
)
from deskbot.domain.csat import ACTIVE_STATES, BAD, FollowupState, RatingFacts
from deskbot.domain.links import ticket_url
from deskbot.services.followups import FollowupRecord, FollowupWindowRow
from deskbot.services.providers import BadRating
from deskbot.services.providers import FollowupState as ProviderFollowupState

BAD_SCORES = ("bad", "bad_with_comment")
_ACTIVE = [s.value for s in ACTIVE_STATES]


def _record(row: Any) -> FollowupRecord:
    return FollowupRecord(
        rating_id=row.rating_id,
        generation=row.generation,
        last_seen_score=row.last_seen_score,
        state=row.state,
        ticket_id=row.ticket_id,
        rule=row.rule,
        owner=row.owner,
        opened_at=utc(row.opened_at),
        claimed_by=row.claimed_by,
        claimed_at=utc(row.claimed_at),
        handled_by=row.handled_by,
        handled_at=utc(row.handled_at),
        note=row.note,
        closed_at=utc(row.closed_at),
        slack_channel=row.slack_channel,
        slack_ts=row.slack_ts,
        reminded_at=utc(row.reminded_at),
        escalated_at=utc(row.escalated_at),
    )


class _Row:
    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


class SqlFollowupStore:
    """``deskbot.services.followups.FollowupStore`` on SQLite or PostgreSQL."""

    def __init__(self, database: Database) -> None:
        self.db = database

    # -- detection --------------------------------------------------------------------------

    def candidates(self, since: datetime) -> list[tuple[RatingFacts, FollowupRecord | None]]:
        r = SatisfactionRating.__table__  # type: ignore[attr-defined]
        f = Followup.__table__  # type: ignore[attr-defined]
        t = Ticket.__table__  # type: ignore[attr-defined]
        org = Organization.__table__  # type: ignore[attr-defined]
        requester = aliased(User.__table__)  # type: ignore[attr-defined]
        agent = aliased(User.__table__)  # type: ignore[attr-defined]
        is_bad = r.c.score.in_(BAD_SCORES)
        newly_bad = and_(
            is_bad,
            r.c.updated_at >= since,
            or_(f.c.rating_id.is_(None), f.c.last_seen_score != BAD),
        )
        no_longer_bad = and_(f.c.last_seen_score == BAD, ~is_bad)
        # Two reads, not one `newly_bad OR no_longer_bad`: an OR across the two tables cannot
        # use an index and walked every rating. Newly bad ratings come through
        # ix_ratings_updated (only what changed within the look-back); ratings no longer bad
        # start from the follow-ups whose last seen score is bad (a handful). The two sets are
        # disjoint (last_seen_score is bad in one, not in the other).
        base = (
            select(
                r.c.id,
                r.c.score,
                r.c.created_at,
                r.c.updated_at,
                r.c.ticket_id,
                r.c.comment,
                r.c.reason,
                r.c.assignee_id,
                r.c.group_id,
                r.c.requester_id,
                t.c.status.label("ticket_status"),
                t.c.subject.label("ticket_subject"),
                t.c.group_id.label("ticket_group_id"),
                t.c.brand_id.label("ticket_brand_id"),
                t.c.organization_id.label("ticket_organization_id"),
                t.c.tags.label("ticket_tags"),
                requester.c.name.label("requester_name"),
                org.c.name.label("organization_name"),
                agent.c.name.label("agent_name"),
                *[c.label(f"f_{c.name}") for c in f.columns],
            )
            .select_from(r)
            .outerjoin(f, f.c.rating_id == r.c.id)
            .outerjoin(t, t.c.id == r.c.ticket_id)
            .outerjoin(requester, requester.c.id == r.c.requester_id)
            .outerjoin(org, org.c.id == t.c.organization_id)
            .outerjoin(agent, agent.c.id == r.c.assignee_id)
        )
        rows: list[Any] = []
        with self.db.engine.connect() as conn:
            rows.extend(conn.execute(base.where(newly_bad)))
            rows.extend(conn.execute(base.where(no_longer_bad)))
        rows.sort(key=lambda row: row.id)
        out: list[tuple[RatingFacts, FollowupRecord | None]] = []
        for row in rows:
            facts = RatingFacts(
                rating_id=row.id,
                score=row.score,
                created_at=required_utc(row.created_at),
                updated_at=required_utc(row.updated_at),
                ticket_id=row.ticket_id,
                comment=row.comment,
                reason=row.reason,
                assignee_id=row.assignee_id,
                group_id=row.group_id,
                requester_id=row.requester_id,
                ticket_status=row.ticket_status,
                ticket_subject=row.ticket_subject,
                ticket_group_id=row.ticket_group_id,
                ticket_brand_id=row.ticket_brand_id,
                ticket_organization_id=row.ticket_organization_id,
                ticket_tags=frozenset((row.ticket_tags or "").split()),
                requester_name=row.requester_name,
                organization_name=row.organization_name,
                agent_name=row.agent_name,
            )
            state = {k.removeprefix("f_"): v for k, v in row._mapping.items() if k.startswith("f_")}
            record = _record(_Row(state)) if state["rating_id"] is not None else None
            out.append((facts, record))
        return out

    # -- state ------------------------------------------------------------------------------

    def get(self, rating_id: int) -> FollowupRecord | None:
        f = Followup.__table__  # type: ignore[attr-defined]
        with self.db.engine.connect() as conn:
            row = conn.execute(select(f).where(f.c.rating_id == rating_id)).first()
        return _record(row) if row is not None else None

    def open_generation(
        self,
        rating_id: int,
        expected_generation: int | None,
        *,
        generation: int,
        ticket_id: int | None,
        score: str,
        rule: str,
        owner: str | None,
        at: datetime,
    ) -> bool:
        f = Followup.__table__  # type: ignore[attr-defined]
        values: dict[str, Any] = {
            "generation": generation,
            "ticket_id": ticket_id,
            "last_seen_score": score,
            "state": FollowupState.OPEN.value,
            "rule": rule,
            "owner": owner,
            "opened_at": at,
            "claimed_by": None,
            "claimed_at": None,
            "handled_by": None,
            "handled_at": None,
            "note": None,
            "closed_at": None,
            "slack_channel": None,
            "slack_ts": None,
            "reminded_at": None,
            "escalated_at": None,
            "updated_at": at,
        }
        with self.db.engine.begin() as conn:
            if expected_generation is None:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(f).values(rating_id=rating_id, **values))
                except IntegrityError:
                    return False  # another run opened it first
                return True
            result = conn.execute(
                update(f)
                .where(f.c.rating_id == rating_id, f.c.generation == expected_generation)
                .values(**values)
            )
            return result.rowcount == 1

    def close(self, rating_id: int, generation: int, score: str, at: datetime) -> bool:
        f = Followup.__table__  # type: ignore[attr-defined]
        with self.db.engine.begin() as conn:
            base = (f.c.rating_id == rating_id, f.c.generation == generation)
            closed = conn.execute(
                update(f)
                .where(*base, f.c.last_seen_score == BAD, f.c.state.in_(_ACTIVE))
                .values(
                    last_seen_score=score,
                    state=FollowupState.CLOSED.value,
                    closed_at=at,
                    updated_at=at,
                )
            ).rowcount
            if closed:
                return True
            # Already handled: keep that outcome, only remember the new score.
            seen = conn.execute(
                update(f)
                .where(*base, f.c.last_seen_score == BAD)
                .values(last_seen_score=score, updated_at=at)
            ).rowcount
            return bool(seen)

    def set_alert(
        self, rating_id: int, generation: int, channel: str, ts: str, at: datetime
    ) -> None:
        f = Followup.__table__  # type: ignore[attr-defined]
        with self.db.engine.begin() as conn:
            conn.execute(
                update(f)
                .where(f.c.rating_id == rating_id, f.c.generation == generation)
                .values(slack_channel=channel, slack_ts=ts, updated_at=at)
            )

    def claim(self, rating_id: int, generation: int, user: str, at: datetime) -> bool:
        f = Followup.__table__  # type: ignore[attr-defined]
        with self.db.engine.begin() as conn:
            return (
                conn.execute(
                    update(f)
                    .where(
                        f.c.rating_id == rating_id,
                        f.c.generation == generation,
                        f.c.state == FollowupState.OPEN.value,
                    )
                    .values(
                        state=FollowupState.CLAIMED.value,
                        claimed_by=user,
                        claimed_at=at,
                        owner=user,
                        updated_at=at,
                    )
                ).rowcount
                == 1
            )

    def handle(
        self,
        rating_id: int,
        generation: int,
        user: str,
        note: str | None,
        at: datetime,
        *,
        unless_claimed_by_another: bool = False,
    ) -> bool:
        f = Followup.__table__  # type: ignore[attr-defined]
        conditions = [
            f.c.rating_id == rating_id,
            f.c.generation == generation,
            f.c.state.in_(_ACTIVE),
        ]
        if unless_claimed_by_another:
            # in the same statement: a colleague's claim landing meanwhile makes this a no-op
            conditions.append(or_(f.c.claimed_by.is_(None), f.c.claimed_by == user))
        with self.db.engine.begin() as conn:
            return (
                conn.execute(
                    update(f)
                    .where(*conditions)
                    .values(
                        state=FollowupState.HANDLED.value,
                        handled_by=user,
                        handled_at=at,
                        note=note,
                        # Handling an unclaimed follow-up also claims it.
                        claimed_by=func.coalesce(f.c.claimed_by, user),
                        claimed_at=func.coalesce(f.c.claimed_at, at),
                        owner=func.coalesce(f.c.claimed_by, user),
                        updated_at=at,
                    )
                ).rowcount
                == 1
            )

    def rated_agent(self, rating_id: int) -> int | None:
        r = SatisfactionRating.__table__  # type: ignore[attr-defined]
        with self.db.engine.connect() as conn:
            value = conn.execute(select(r.c.assignee_id).where(r.c.id == rating_id)).scalar()
        return int(value) if value is not None else None

    def mark_nudged(self, rating_id: int, generation: int, nudge: str, at: datetime) -> None:
        f = Followup.__table__  # type: ignore[attr-defined]
        column = "reminded_at" if nudge == "reminder" else "escalated_at"
        with self.db.engine.begin() as conn:
            conn.execute(
                update(f)
                .where(f.c.rating_id == rating_id, f.c.generation == generation)
                .values({column: at, "updated_at": at})
            )

    def active(self) -> list[FollowupRecord]:
        f = Followup.__table__  # type: ignore[attr-defined]
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(f).where(f.c.state.in_(_ACTIVE)).order_by(f.c.opened_at, f.c.rating_id)
            ).all()
        return [_record(row) for row in rows]

    # -- metrics ----------------------------------------------------------------------------

    def bad_ratings_count(self, start: datetime, end: datetime) -> int:
        r = SatisfactionRating.__table__  # type: ignore[attr-defined]
        with self.db.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(r)
                    .where(r.c.score.in_(BAD_SCORES), r.c.created_at >= start, r.c.created_at < end)
                ).scalar_one()
            )

    def opened_between(self, start: datetime, end: datetime) -> Sequence[FollowupWindowRow]:
        f = Followup.__table__  # type: ignore[attr-defined]
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(f.c.opened_at, f.c.claimed_at, f.c.handled_at).where(
                    f.c.opened_at >= start, f.c.opened_at < end
                )
            ).all()
        return [
            FollowupWindowRow(
                opened_at=required_utc(row.opened_at),
                claimed_at=utc(row.claimed_at),
                handled_at=utc(row.handled_at),
            )
            for row in rows
        ]


class SqlBadRatings:
    """Recent bad ratings with their follow-up (``/deskbot csat``), newest first."""

    def __init__(self, database: Database, ticket_url_base: str | None = None) -> None:
        self.db = database
        self.ticket_url_base = ticket_url_base

    def bad_ratings(self, start: datetime, end: datetime, limit: int) -> list[BadRating]:
        r = SatisfactionRating.__table__  # type: ignore[attr-defined]
        f = Followup.__table__  # type: ignore[attr-defined]
        agent = aliased(User.__table__)  # type: ignore[attr-defined]
        stmt = (
            select(
                r.c.ticket_id,
                r.c.created_at,
                r.c.comment,
                r.c.reason,
                agent.c.name.label("agent_name"),
                f.c.state,
                f.c.owner,
                f.c.claimed_by,
                f.c.handled_by,
            )
            .select_from(r)
            .outerjoin(f, f.c.rating_id == r.c.id)
            .outerjoin(agent, agent.c.id == r.c.assignee_id)
            .where(r.c.score.in_(BAD_SCORES), r.c.created_at >= start, r.c.created_at < end)
            .order_by(r.c.created_at.desc(), r.c.id.desc())
            .limit(limit)
        )
        with self.db.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        out = []
        for row in rows:
            followup = None
            if row.state is not None:
                followup = ProviderFollowupState(
                    status=row.state, owner_slack_user=row.handled_by or row.claimed_by or row.owner
                )
            url = ticket_url(self.ticket_url_base, row.ticket_id) if self.ticket_url_base else None
            out.append(
                BadRating(
                    ticket_id=row.ticket_id or 0,
                    rated_at=required_utc(row.created_at),
                    agent_name=row.agent_name,
                    comment=row.comment,
                    reason=row.reason,
                    ticket_url=url,
                    followup=followup,
                )
            )
        return out
