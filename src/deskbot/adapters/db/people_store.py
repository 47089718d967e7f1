"""The people directory in the database (tables ``people``, ``departments``,
``department_members``).

- ``SqlPeopleStore`` is the refresh's side: it reads the synced Zendesk agents and writes a
  refresh's outcome in ONE transaction (``apply``), so a failed refresh leaves the last good
  directory as it was. Rows are never deleted: a person nobody lists any more is marked
  inactive with the reason; a Slack-only row that turns out to be an agent's is merged into the
  agent's row (the old row stays, inactive, "merged into person N").
- ``SqlPeopleDirectory`` implements ``deskbot.ports.PeopleDirectory`` over those tables. Roles
  are resolved at read time from the settings in force (``roles``, ``roster``) and the stored
  facts, so a config reload changes them at once: ``roles.admins`` → admin; ``roles.leads``,
  anyone's team lead and department owners → lead; an active Zendesk agent or admin → agent;
  everyone else, and every inactive person, → employee.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, text
from sqlmodel import Session, col, select

from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import DepartmentMember, DepartmentRow, PersonRow, User
from deskbot.domain.authz import Actor
from deskbot.domain.people import DepartmentInfo, MatchedBy, Person, Role
from deskbot.domain.people_match import PersonRecord, ZendeskAgent
from deskbot.settings import Settings

AGENT_ROLES = ("agent", "admin")


@dataclass(frozen=True)
class ApplyStats:
    inserted: int
    updated: int
    retired: int  # marked inactive because no source lists them any more


class SqlPeopleStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def zendesk_agents(self) -> list[ZendeskAgent]:
        """Agents and admins of the synced Zendesk copy (suspended and deleted ones too)."""
        query = select(User).where(col(User.role).in_(AGENT_ROLES)).order_by(col(User.id))
        with self._db.session() as session:
            return [
                ZendeskAgent(u.id, u.name or f"Zendesk user {u.id}", u.email, u.active, u.suspended)
                for u in session.exec(query)
            ]

    def save_zendesk_users(self, rows: Sequence[dict[str, Any]]) -> None:
        """Agents listed live from Zendesk, written like the sync writes sideloaded users."""
        if not rows:
            return
        with self._db.session() as session:
            self._db.upsert(session, User, rows)

    def zendesk_roles(self, ids: Sequence[int]) -> dict[int, str | None]:
        """Current Zendesk role of these users (those the synced copy knows)."""
        if not ids:
            return {}
        with self._db.session() as session:
            rows = session.exec(select(User.id, User.role).where(col(User.id).in_(list(ids))))
            return {int(uid): role for uid, role in rows}

    def department_members(self, name: str) -> list[str]:
        with self._db.session() as session:
            query = select(DepartmentMember.slack_user_id).where(
                DepartmentMember.department == name
            )
            return sorted(session.exec(query))

    def is_empty(self) -> bool:
        with self._db.session() as session:
            return session.exec(select(PersonRow.id).limit(1)).first() is None

    def apply(
        self,
        records: Sequence[PersonRecord],
        departments: Sequence[DepartmentInfo],
        now: datetime,
    ) -> ApplyStats:
        """Make the tables say what this refresh found, in one transaction."""
        with self._db.session() as session:
            _serialise(session, self._db.dialect)
            stats = _apply_people(session, records, now)
            _apply_departments(session, departments, now)
            session.commit()
        return stats


# Two refreshes at once (the daily job on one replica, ``deskbot people sync`` elsewhere) take
# turns: each reconciles against what the other committed.
_PEOPLE_LOCK = 7319004


def _serialise(session: Session, dialect: str) -> None:
    if dialect == "postgresql":
        session.connection().execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PEOPLE_LOCK})
    else:  # SQLite: a write first takes the database's write lock before anything is read
        session.connection().execute(text("UPDATE departments SET active = active WHERE 1 = 0"))


_FIELDS = (
    "name",
    "email",
    "tz",
    "lead_slack_id",
    "active",
    "is_bot",
    "is_guest",
    "matched_by",
    "inactive_reason",
    "note",
)


def _apply_people(  # noqa: PLR0912, PLR0915  # one reconciliation, step by step
    session: Session, records: Sequence[PersonRecord], now: datetime
) -> ApplyStats:
    rows = list(session.exec(select(PersonRow)))
    by_zendesk = {r.zendesk_user_id: r for r in rows if r.zendesk_user_id is not None}
    by_slack = {r.slack_user_id: r for r in rows if r.slack_user_id is not None}
    plan: list[tuple[PersonRow | None, PersonRecord]] = []
    taken: set[int] = set()
    for record in records:
        row: PersonRow | None = None
        if record.zendesk_user_id is not None:
            row = by_zendesk.get(record.zendesk_user_id)
        if row is None and record.slack_user_id is not None:
            candidate = by_slack.get(record.slack_user_id)
            # A Slack-only row becomes the agent's row; another agent's row is not taken.
            if candidate is not None and (
                candidate.zendesk_user_id is None
                or candidate.zendesk_user_id == record.zendesk_user_id
            ):
                row = candidate
        if row is not None and row.id in taken:
            row = None
        if row is not None and row.id is not None:
            taken.add(row.id)
        plan.append((row, record))
    # Slack ids move between rows: free every one that changes hands first (unique constraint).
    wanted_slack = {r.slack_user_id for _, r in plan if r.slack_user_id is not None}
    record_of = {id(r): rec for r, rec in plan if r is not None}  # a row's own record
    row_for_slack = {rec.slack_user_id: r for r, rec in plan if r is not None and rec.slack_user_id}
    retired = 0
    for row in rows:
        own = record_of.get(id(row))
        keep = own.slack_user_id if own is not None else row.slack_user_id
        if row.id not in taken:
            if row.slack_user_id in wanted_slack:
                merged_into = row_for_slack.get(row.slack_user_id)
                row.inactive_reason = (
                    "no longer an agent in Zendesk"
                    if row.zendesk_user_id is not None
                    else f"merged into person {merged_into.id}"
                    if merged_into is not None and merged_into.id is not None
                    else "merged into the agent matched to this Slack user"
                )
                row.slack_user_id = None
                row.active = False
                row.updated_at = now
                session.add(row)
                retired += 1
            elif row.active:
                row.active = False
                row.inactive_reason = (
                    "no longer an agent in Zendesk"
                    if row.zendesk_user_id is not None
                    else "no longer in Slack"
                )
                row.updated_at = now
                session.add(row)
                retired += 1
        elif keep != row.slack_user_id:
            row.slack_user_id = None
            session.add(row)
    session.flush()
    inserted = updated = 0
    for row, record in plan:
        if row is None:
            session.add(
                PersonRow(
                    name=record.name,
                    slack_user_id=record.slack_user_id,
                    zendesk_user_id=record.zendesk_user_id,
                    email=record.email,
                    tz=record.tz,
                    lead_slack_id=record.lead_slack_id,
                    active=record.active,
                    is_bot=record.is_bot,
                    is_guest=record.is_guest,
                    matched_by=record.matched_by,
                    inactive_reason=record.inactive_reason,
                    note=record.note,
                    first_seen_at=now,
                    updated_at=now,
                )
            )
            inserted += 1
            continue
        changed = row.slack_user_id != record.slack_user_id or (
            record.zendesk_user_id is not None and row.zendesk_user_id != record.zendesk_user_id
        )
        row.slack_user_id = record.slack_user_id
        if record.zendesk_user_id is not None:
            row.zendesk_user_id = record.zendesk_user_id
        for name in _FIELDS:
            value = getattr(record, name)
            if name == "tz" and value is None:
                continue  # keep the last known time zone
            if getattr(row, name) != value:
                setattr(row, name, value)
                changed = True
        if changed:
            row.updated_at = now
            session.add(row)
            updated += 1
    session.flush()
    return ApplyStats(inserted, updated, retired)


def _apply_departments(
    session: Session, departments: Sequence[DepartmentInfo], now: datetime
) -> None:
    existing = {d.name: d for d in session.exec(select(DepartmentRow))}
    names = {d.name for d in departments}
    for name, row in existing.items():
        if name not in names and row.active:
            row.active = False
            row.updated_at = now
            session.add(row)
    for dept in departments:
        row = existing.get(dept.name) or DepartmentRow(name=dept.name, updated_at=now)
        row.owner_slack_id = dept.owner_slack_id
        row.source = dept.source
        row.usergroup_id = dept.usergroup_id
        row.active = True
        row.updated_at = now
        session.add(row)
        session.exec(delete(DepartmentMember).where(col(DepartmentMember.department) == dept.name))
        for member in dict.fromkeys(dept.members):
            session.add(DepartmentMember(department=dept.name, slack_user_id=member))
    session.flush()


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------


SettingsSource = Settings | Callable[[], Settings]


class SqlPeopleDirectory:
    """``deskbot.ports.PeopleDirectory`` over the refreshed tables."""

    def __init__(self, database: Database, settings: SettingsSource) -> None:
        self._db = database
        self._settings = settings

    def _current(self) -> Settings:
        return self._settings() if callable(self._settings) else self._settings

    def _roles(self, session: Session) -> tuple[set[str], set[str]]:
        settings = self._current()
        admins = set(settings.roles.admins)
        leads = set(settings.roles.leads)
        leads |= {a.lead for a in settings.roster.agents if a.lead}
        leads |= {d.owner for d in settings.roster.departments if d.owner}
        stored = session.exec(
            select(PersonRow.lead_slack_id)
            .where(col(PersonRow.lead_slack_id).is_not(None))
            .distinct()
        )
        leads |= {s for s in stored if s}
        owners = session.exec(
            select(DepartmentRow.owner_slack_id)
            .where(col(DepartmentRow.active).is_(True))
            .where(col(DepartmentRow.owner_slack_id).is_not(None))
        )
        leads |= {s for s in owners if s}
        return admins, leads

    def _memberships(
        self, session: Session, slack_ids: Sequence[str] | None
    ) -> dict[str, list[str]]:
        query = (
            select(DepartmentMember.slack_user_id, DepartmentMember.department)
            .join(DepartmentRow, col(DepartmentRow.name) == col(DepartmentMember.department))
            .where(col(DepartmentRow.active).is_(True))
            .order_by(col(DepartmentMember.department))
        )
        if slack_ids is not None:
            query = query.where(col(DepartmentMember.slack_user_id).in_(list(slack_ids)))
        out: dict[str, list[str]] = {}
        for user, dept in session.exec(query):
            out.setdefault(user, []).append(dept)
        return out

    def _people(self, session: Session, rows: Sequence[PersonRow]) -> list[Person]:
        admins, leads = self._roles(session)
        ids = [r.slack_user_id for r in rows if r.slack_user_id]
        memberships = self._memberships(session, ids if len(ids) < 500 else None)
        return [_person(r, admins, leads, memberships) for r in rows]

    def by_slack_id(self, slack_user_id: str) -> Person | None:
        with self._db.session() as session:
            row = session.exec(
                select(PersonRow).where(PersonRow.slack_user_id == slack_user_id)
            ).first()
            return self._people(session, [row])[0] if row is not None else None

    def by_zendesk_id(self, zendesk_user_id: int) -> Person | None:
        with self._db.session() as session:
            row = session.exec(
                select(PersonRow).where(PersonRow.zendesk_user_id == zendesk_user_id)
            ).first()
            return self._people(session, [row])[0] if row is not None else None

    def people(self, *, include_inactive: bool = False) -> list[Person]:
        with self._db.session() as session:
            query = select(PersonRow).order_by(col(PersonRow.name), col(PersonRow.id))
            if not include_inactive:
                query = query.where(col(PersonRow.active).is_(True))
            return self._people(session, list(session.exec(query)))

    def notes(self) -> dict[int, str]:
        """Why each unmatched person is unmatched, by person id (for ``people list``)."""
        with self._db.session() as session:
            rows = session.exec(
                select(PersonRow.id, PersonRow.note).where(col(PersonRow.note).is_not(None))
            )
            return {int(pid): str(note) for pid, note in rows if pid is not None}

    def departments(self) -> list[DepartmentInfo]:
        with self._db.session() as session:
            depts = list(
                session.exec(
                    select(DepartmentRow)
                    .where(col(DepartmentRow.active).is_(True))
                    .order_by(col(DepartmentRow.name))
                )
            )
            members: dict[str, list[str]] = {}
            for dept, user in session.exec(
                select(DepartmentMember.department, DepartmentMember.slack_user_id).order_by(
                    col(DepartmentMember.department), col(DepartmentMember.slack_user_id)
                )
            ):
                members.setdefault(dept, []).append(user)
            return [
                DepartmentInfo(
                    d.name,
                    d.owner_slack_id,
                    tuple(members.get(d.name, ())),
                    "usergroup" if d.source == "usergroup" else "yaml",
                    d.usergroup_id,
                )
                for d in depts
            ]

    def department(self, name: str) -> DepartmentInfo | None:
        wanted = name.strip().lower()
        return next((d for d in self.departments() if d.name.lower() == wanted), None)

    def actor(self, slack_user_id: str) -> Actor:
        person = self.by_slack_id(slack_user_id)
        if person is None:
            with self._db.session() as session:
                admins, leads = self._roles(session)
            role = (
                Role.ADMIN
                if slack_user_id in admins
                else Role.LEAD
                if slack_user_id in leads
                else Role.EMPLOYEE
            )
            return Actor(slack_user_id, role, None)
        return Actor(slack_user_id, person.role, person)


def _person(
    row: PersonRow, admins: set[str], leads: set[str], memberships: dict[str, list[str]]
) -> Person:
    slack = row.slack_user_id
    if not row.active:
        role = Role.EMPLOYEE
    elif slack is not None and slack in admins:
        role = Role.ADMIN
    elif slack is not None and slack in leads:
        role = Role.LEAD
    elif row.zendesk_user_id is not None:
        role = Role.AGENT
    else:
        role = Role.EMPLOYEE
    matched: Any = row.matched_by if row.matched_by in ("email", "override", "lookup") else "none"
    matched_by: MatchedBy = matched
    return Person(
        id=int(row.id or 0),
        name=row.name,
        slack_user_id=slack,
        zendesk_user_id=row.zendesk_user_id,
        email=row.email,
        tz=row.tz,
        role=role,
        lead_slack_id=row.lead_slack_id,
        departments=tuple(memberships.get(slack, ())) if slack else (),
        active=row.active,
        is_bot=row.is_bot,
        is_guest=row.is_guest,
        matched_by=matched_by,
        inactive_reason=row.inactive_reason,
    )
