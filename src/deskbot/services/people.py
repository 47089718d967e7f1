"""The people directory's refresh and its questions (``deskbot people``, ``/deskbot whois``).

A refresh reads the Zendesk agents and admins from the synced ``users`` table, the Slack users
(``users.list``, then ``users.lookupByEmail`` for agents it did not match) and the Slack user
groups the departments name, matches them (``deskbot.domain.people_match``) and writes the
outcome in one transaction. Anything failing before that write — Slack down, a missing scope —
leaves the last good directory untouched.

Slack answering ``missing_scope`` raises ``ScopeMissing`` whose message names the scope to add;
nothing else in deskbot depends on the refresh succeeding. E-mails never reach a log line: only
counts and Slack/Zendesk ids are logged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from deskbot.domain.authz import Actor, require
from deskbot.domain.people import DepartmentInfo, Person, Role
from deskbot.domain.people_match import (
    DepartmentSpec,
    MatchResult,
    Override,
    PersonRecord,
    SlackMember,
    ZendeskAgent,
    match_people,
    normalise_email,
    resolve_departments,
)
from deskbot.errors import DeskbotError
from deskbot.log import get_logger
from deskbot.ports import Clock, PeopleDirectory
from deskbot.settings import AgentEntry, Settings

log = get_logger(__name__)


class ScopeMissing(DeskbotError):
    """The Slack app lacks an OAuth scope the people directory needs."""

    def __init__(self, scope: str, method: str) -> None:
        self.scope = scope
        self.method = method
        super().__init__(
            f"Slack refused {method}: the deskbot app lacks the `{scope}` scope. Add {scope} "
            "under OAuth & Permissions → Bot Token Scopes and reinstall the app; until then "
            "the people directory keeps its last good state."
        )


class PeopleSource(Protocol):
    """Slack, as the directory reads it (``adapters.slack.people_source``)."""

    def list_users(self) -> Iterator[SlackMember]: ...

    def lookup_by_email(self, email: str) -> SlackMember | None: ...

    def usergroup_members(self, usergroup_id: str) -> list[str] | None:
        """The group's members; ``None`` when Slack does not know the group."""
        ...


class StaffSource(Protocol):
    """Zendesk's agents and admins, read live (``adapters.zendesk.people_staff``): ``users``
    rows as the sync maps them."""

    def staff(self) -> list[dict[str, Any]]: ...


class PeopleStore(Protocol):
    """Where a refresh reads agents from and writes its outcome (``adapters.db.people_store``)."""

    def zendesk_agents(self) -> list[ZendeskAgent]: ...

    def save_zendesk_users(self, rows: Sequence[dict[str, Any]]) -> None: ...

    def department_members(self, name: str) -> list[str]: ...

    def apply(
        self, records: Sequence[PersonRecord], departments: Sequence[DepartmentInfo], now: datetime
    ) -> Any: ...


@dataclass
class RefreshResult:
    """What a refresh found (counts; no e-mails), for the job history, CLI and demo."""

    agents: int = 0
    matched_email: int = 0
    matched_override: int = 0
    matched_lookup: int = 0
    unmatched: list[tuple[int, str, str]] = field(default_factory=list)  # (zid, name, why)
    employees: int = 0
    inactive: int = 0
    departments: dict[str, int] = field(default_factory=dict)  # name → members
    warnings: list[str] = field(default_factory=list)
    slack_users: int = 0
    lookups: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "agents": self.agents,
            "matched": {
                "email": self.matched_email,
                "override": self.matched_override,
                "lookup": self.matched_lookup,
            },
            "unmatched": len(self.unmatched),
            "employees": self.employees,
            "inactive": self.inactive,
            "slack_users": self.slack_users,
            "lookups": self.lookups,
            "departments": dict(self.departments),
            "warnings": list(self.warnings),
        }

    def lines(self) -> list[str]:
        matched = self.matched_email + self.matched_override + self.matched_lookup
        out = [
            f"{matched} of {self.agents} Zendesk agents matched to Slack users "
            f"({self.matched_email} by e-mail, {self.matched_override} by roster override, "
            f"{self.matched_lookup} by users.lookupByEmail)",
            f"{self.employees} other active Slack users (employees), {self.inactive} inactive "
            "people kept for history",
        ]
        if self.departments:
            out.append(
                "Departments: "
                + ", ".join(f"{name} ({n})" for name, n in sorted(self.departments.items()))
            )
        out += [f"Unmatched: {name} (Zendesk {zid}): {why}" for zid, name, why in self.unmatched]
        out += [f"Warning: {w}" for w in self.warnings]
        return out


def overrides_from(settings: Settings) -> list[Override]:
    return [
        Override(
            i, a.zendesk_user_id, a.slack_user, a.lead, settings.line_of(f"roster.agents[{i}]")
        )
        for i, a in enumerate(settings.roster.agents)
    ]


def roster_warnings(settings: Settings, file: str | None = None) -> list[str]:
    """Conflicts the YAML alone shows (without Slack or Zendesk): two agents given one Slack
    user, an agent listed twice, a department without an owner; each naming entry and line."""
    warnings = match_people([], [], overrides_from(settings)).warnings
    warnings += [
        f"{spec.where}: department {spec.name} has no owner; add `owner: U…`"
        for spec in department_specs(settings)
        if spec.owner is None
    ]
    return [f"{file}: {w}" if file else w for w in warnings]


def department_specs(settings: Settings) -> list[DepartmentSpec]:
    return [
        DepartmentSpec(
            i,
            d.name,
            d.owner,
            tuple(d.members),
            d.slack_usergroup,
            settings.line_of(f"roster.departments[{i}]"),
        )
        for i, d in enumerate(settings.roster.departments)
    ]


class PeopleService:
    def __init__(
        self,
        settings: Settings,
        store: PeopleStore,
        source: PeopleSource,
        clock: Clock,
        staff: StaffSource | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.source = source
        self.clock = clock
        self.staff = staff
        self._notes: list[str] = []

    def _agents(self) -> list[ZendeskAgent]:
        """Zendesk's agents and admins: listed live when Zendesk is reachable with credentials
        (so a new hire who has no ticket yet is there), else the sync's local copy."""
        if self.staff is None:
            return self.store.zendesk_agents()
        try:
            rows = self.staff.staff()
        except DeskbotError as exc:
            # The sync's copy is a good second best; the refresh says it used it.
            log.warning("people.zendesk_unavailable", error=str(exc))
            self._notes.append(
                f"Zendesk's user list could not be read ({exc}); used the synced copy"
            )
            return self.store.zendesk_agents()
        self.store.save_zendesk_users(rows)
        return [
            ZendeskAgent(
                int(r["id"]),
                str(r.get("name") or f"Zendesk user {r['id']}"),
                r.get("email"),
                bool(r.get("active", True)),
                bool(r.get("suspended", False)),
            )
            for r in sorted(rows, key=lambda r: int(r["id"]))
        ]

    def refresh(self) -> RefreshResult:
        """One refresh; raises (``ScopeMissing``, ``SlackError``…) with nothing written."""
        conf = self.settings.people
        self._notes = []
        agents = self._agents()
        members = list(self.source.list_users())
        overrides = overrides_from(self.settings)
        match = match_people(agents, members, overrides, include_guests=conf.include_guests)
        humans = [m for m in members if not m.is_bot and not m.deleted and m.id != "USLACKBOT"]
        if humans and agents and not any(m.email for m in humans):
            # Without users:read.email Slack lists people without e-mails: matching would
            # silently unmatch everyone.
            raise ScopeMissing("users:read.email", "users.list")
        lookups = 0
        if conf.lookup_by_email and match.stragglers:
            known = {m.id for m in members}
            tried: list[int] = []
            for agent in match.stragglers[: conf.lookup_limit]:
                email = normalise_email(agent.email)
                if email is None:
                    continue
                tried.append(agent.id)
                lookups += 1
                found = self.source.lookup_by_email(email)
                if found is not None and found.id not in known:
                    members.append(found)
                    known.add(found.id)
            if tried:
                match = match_people(
                    agents,
                    members,
                    overrides,
                    include_guests=conf.include_guests,
                    looked_up=tried,
                )
        departments, dept_warnings = self._departments()
        result = _result(match, members, departments, lookups, agents)
        result.warnings += self._notes + dept_warnings
        self.store.apply(match.people, departments, self.clock.now())
        for warning in result.warnings:
            log.warning("people.conflict", detail=warning)
        log.info(
            "people.refreshed", **{k: v for k, v in result.summary().items() if k != "warnings"}
        )
        return result

    def _departments(self) -> tuple[list[DepartmentInfo], list[str]]:
        specs = department_specs(self.settings)
        groups: dict[str, list[str] | None] = {}
        for spec in specs:
            if spec.usergroup is not None and spec.usergroup not in groups:
                groups[spec.usergroup] = self.source.usergroup_members(spec.usergroup)
        return resolve_departments(specs, groups, self.store.department_members)


def _result(
    match: MatchResult,
    members: Sequence[SlackMember],
    departments: Sequence[DepartmentInfo],
    lookups: int,
    agents: Sequence[ZendeskAgent],
) -> RefreshResult:
    result = RefreshResult(
        agents=sum(1 for p in match.people if p.zendesk_user_id is not None),
        slack_users=len(members),
        lookups=lookups,
        warnings=list(match.warnings),
        departments={d.name: len(d.members) for d in departments},
    )
    for person in match.people:
        if person.zendesk_user_id is not None:
            if person.matched_by == "email":
                result.matched_email += 1
            elif person.matched_by == "override":
                result.matched_override += 1
            elif person.matched_by == "lookup":
                result.matched_lookup += 1
            else:
                result.unmatched.append(
                    (person.zendesk_user_id, person.name, person.note or "not matched")
                )
        elif person.active:
            result.employees += 1
        if not person.active:
            result.inactive += 1
    return result


# --------------------------------------------------------------------------------------------
# Questions
# --------------------------------------------------------------------------------------------

_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


def _norm(text: str) -> str:
    return re.sub(r"[\s._-]+", " ", text.strip().lower().lstrip("@"))


def find_people(directory: PeopleDirectory, query: str) -> list[Person]:
    """People a ``whois`` query names: a mention, a Slack id, a Zendesk id or a (partial) name."""
    query = query.strip()
    if m := _MENTION.match(query):
        person = directory.by_slack_id(m.group(1))
        return [person] if person is not None else []
    if re.fullmatch(r"[UW][A-Z0-9]{2,}", query):
        person = directory.by_slack_id(query)
        return [person] if person is not None else []
    if query.isdigit():
        person = directory.by_zendesk_id(int(query))
        return [person] if person is not None else []
    wanted = _norm(query)
    everyone = directory.people(include_inactive=True)
    exact = [p for p in everyone if _norm(p.name) == wanted]
    return exact or [p for p in everyone if wanted and wanted in _norm(p.name)]


def whois(actor: Actor, directory: PeopleDirectory, query: str) -> list[Person]:
    """``/deskbot whois``: leads and admins only (``Forbidden`` otherwise)."""
    require(actor, Role.LEAD, "look people up with whois")
    return find_people(directory, query)


def describe(person: Person, note: str | None = None) -> str:
    """One line about a person for leads and admins (no e-mail)."""
    who = [person.name]
    if person.slack_user_id:
        who.append(f"<@{person.slack_user_id}>")
    if person.zendesk_user_id:
        who.append(f"Zendesk {person.zendesk_user_id}")
    parts = [" · ".join(who), person.role.name.lower()]
    if person.zendesk_user_id is not None:
        parts.append(
            f"matched by {person.matched_by}"
            if person.matched_by != "none"
            else f"not matched: {note or 'no Slack user found'}"
        )
    if person.lead_slack_id:
        parts.append(f"lead <@{person.lead_slack_id}>")
    if person.departments:
        parts.append("departments: " + ", ".join(person.departments))
    if person.tz:
        parts.append(person.tz)
    if not person.active:
        parts.append(f"inactive ({person.inactive_reason or 'unknown reason'})")
    return " — ".join(parts)


def unmatched(people: Iterable[Person]) -> list[Person]:
    """Agents without a Slack user."""
    return [p for p in people if p.zendesk_user_id is not None and p.slack_user_id is None]


# --------------------------------------------------------------------------------------------
# The directory as the rest of deskbot reads it
# --------------------------------------------------------------------------------------------


class NotedDirectory(PeopleDirectory, Protocol):
    def notes(self) -> dict[int, str]: ...


class FallbackDirectory:
    """The synced directory once a refresh has filled it; the YAML roster alone before.

    Rows are never deleted, so once the table holds someone it always will: the emptiness check
    is cached from then on. ``settings`` returns the settings in force (after reloads).
    """

    def __init__(
        self,
        synced: NotedDirectory,
        is_empty: Callable[[], bool],
        settings: Callable[[], Settings],
    ) -> None:
        self._synced = synced
        self._is_empty = is_empty
        self._settings = settings
        self._filled = False

    def _current(self) -> PeopleDirectory:
        if not self._filled and self._settings().people.enabled:
            self._filled = not self._is_empty()
        if self._filled and self._settings().people.enabled:
            return self._synced
        from deskbot.services.roster_directory import roster_directory

        return roster_directory(self._settings())

    @property
    def synced(self) -> bool:
        return self._current() is self._synced

    def by_slack_id(self, slack_user_id: str) -> Person | None:
        return self._current().by_slack_id(slack_user_id)

    def by_zendesk_id(self, zendesk_user_id: int) -> Person | None:
        return self._current().by_zendesk_id(zendesk_user_id)

    def people(self, *, include_inactive: bool = False) -> list[Person]:
        return self._current().people(include_inactive=include_inactive)

    def departments(self) -> list[DepartmentInfo]:
        return self._current().departments()

    def department(self, name: str) -> DepartmentInfo | None:
        return self._current().department(name)

    def actor(self, slack_user_id: str) -> Actor:
        return self._current().actor(slack_user_id)

    def notes(self) -> dict[int, str]:
        return self._synced.notes() if self.synced else {}


def slack_ids_by_zendesk(settings: Settings, directory: PeopleDirectory | None) -> dict[int, str]:
    """Each agent's Slack user: the directory's matches, overridden by ``roster.agents``."""
    out: dict[int, str] = {}
    if directory is not None:
        for person in directory.people():
            if person.zendesk_user_id is not None and person.slack_user_id:
                out[person.zendesk_user_id] = person.slack_user_id
    seen: set[int] = set()
    for entry in settings.roster.agents:
        if entry.slack_user and entry.zendesk_user_id not in seen:
            out[entry.zendesk_user_id] = entry.slack_user
        seen.add(entry.zendesk_user_id)
    return out


def effective_roster(settings: Settings, directory: PeopleDirectory | None) -> list[AgentEntry]:
    """``roster.agents`` completed by the directory: YAML entries first (they win, and fill
    gaps from the directory: a missing ``slack_user`` or ``lead``), then every matched agent
    the YAML does not list, with the lead the directory knows."""
    if directory is None:
        return list(settings.roster.agents)
    people = {
        p.zendesk_user_id: p
        for p in directory.people(include_inactive=True)
        if p.zendesk_user_id is not None
    }
    out: list[AgentEntry] = []
    listed: set[int] = set()
    for yaml_entry in settings.roster.agents:
        person = people.get(yaml_entry.zendesk_user_id)
        entry = yaml_entry
        if person is not None and (entry.slack_user is None or entry.lead is None):
            entry = entry.model_copy(
                update={
                    "slack_user": entry.slack_user or person.slack_user_id,
                    "lead": entry.lead or person.lead_slack_id,
                }
            )
        out.append(entry)
        listed.add(entry.zendesk_user_id)
    for zid, person in sorted(people.items()):
        if zid in listed or not person.slack_user_id:
            continue
        out.append(
            AgentEntry(
                zendesk_user_id=zid, slack_user=person.slack_user_id, lead=person.lead_slack_id
            )
        )
    return out
