"""Matching Zendesk agents to Slack users, and resolving departments (pure; no I/O).

The rules (docs/people.md):

- E-mails compare trimmed and case-insensitive (``normalise_email``).
- Only *eligible* Slack users are matched: not a bot, not deactivated, not a guest (unless
  guests are included). An agent whose only candidate is ineligible stays unmatched, with why.
- A YAML ``roster.agents[]`` entry with ``slack_user`` wins over matching (``override``); two
  entries naming one Slack user keep the first and warn; an entry naming a Slack user the
  workspace does not list is applied and warned about.
- Two Zendesk agents sharing an e-mail, or two eligible Slack users sharing one, match nobody:
  a wrong match is worse than none. A Slack user claimed by an override is not matched again.
- Every Slack user that is no agent becomes an employee record (inactive when ineligible).
- Agents suspended or deleted in Zendesk are inactive with the reason.

Warnings name the YAML entry (``roster.agents[3]``) and its line when the loader knows it;
they never contain an e-mail address.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from deskbot.domain.people import DepartmentInfo, MatchedBy

NO_SLACK_USER = "no Slack user with this e-mail"
NO_EMAIL = "no e-mail in Zendesk"


def normalise_email(email: str | None) -> str | None:
    """Trimmed, lower case; ``None`` for a missing or blank e-mail."""
    if email is None:
        return None
    cleaned = email.strip().lower()
    return cleaned or None


@dataclass(frozen=True)
class ZendeskAgent:
    """A Zendesk agent or admin from the synced ``users`` table."""

    id: int
    name: str
    email: str | None
    active: bool = True  # false: deleted in Zendesk
    suspended: bool = False


@dataclass(frozen=True)
class SlackMember:
    """A Slack user as ``users.list`` / ``users.lookupByEmail`` return it (the fields we use)."""

    id: str
    name: str
    email: str | None = None
    tz: str | None = None
    deleted: bool = False
    is_bot: bool = False
    is_guest: bool = False  # is_restricted or is_ultra_restricted
    found_by_lookup: bool = False


@dataclass(frozen=True)
class Override:
    """One ``roster.agents[]`` entry."""

    index: int
    zendesk_user_id: int
    slack_user: str | None
    lead: str | None
    line: int | None = None

    @property
    def where(self) -> str:
        return entry_label(f"roster.agents[{self.index}]", self.line)


def entry_label(path: str, line: int | None) -> str:
    return f"{path} (line {line})" if line is not None else path


@dataclass(frozen=True)
class PersonRecord:
    """What a refresh decided about one person (``Person`` without the directory's row id,
    role and departments, which the store and the directory add)."""

    name: str
    slack_user_id: str | None = None
    zendesk_user_id: int | None = None
    email: str | None = field(default=None, repr=False)
    tz: str | None = None
    lead_slack_id: str | None = None
    active: bool = True
    is_bot: bool = False
    is_guest: bool = False
    matched_by: MatchedBy = "none"
    inactive_reason: str | None = None
    note: str | None = None  # why an agent is unmatched


@dataclass
class MatchResult:
    people: list[PersonRecord]
    warnings: list[str]
    stragglers: list[ZendeskAgent]  # unmatched agents worth a users.lookupByEmail

    @property
    def unmatched(self) -> list[PersonRecord]:
        return [p for p in self.people if p.zendesk_user_id is not None and not p.slack_user_id]


def ineligible_reason(member: SlackMember, include_guests: bool) -> str | None:
    """Why a Slack user is not a person deskbot matches or counts, or ``None``."""
    if member.is_bot or member.id == "USLACKBOT":
        return "bot"
    if member.deleted:
        return "slack deactivated"
    if member.is_guest and not include_guests:
        return "guest"
    return None


def _zendesk_inactive(agent: ZendeskAgent) -> str | None:
    if not agent.active:
        return "zendesk user deleted"
    if agent.suspended:
        return "zendesk suspended"
    return None


def match_people(  # noqa: PLR0912, PLR0915  # one pass per rule, in the documented order
    agents: Sequence[ZendeskAgent],
    members: Sequence[SlackMember],
    overrides: Sequence[Override] = (),
    *,
    include_guests: bool = False,
    looked_up: Iterable[int] = (),
) -> MatchResult:
    """Everyone the directory should hold after this refresh, with warnings.

    ``looked_up``: agents already tried with ``users.lookupByEmail`` (not stragglers again).
    """
    warnings: list[str] = []
    tried = set(looked_up)
    by_slack: dict[str, SlackMember] = {}
    for member in members:
        by_slack.setdefault(member.id, member)
    agent_by_id = {a.id: a for a in agents}

    def eligible(member: SlackMember) -> bool:
        return ineligible_reason(member, include_guests) is None

    # 1. Overrides (YAML wins). First entry per Slack user and per agent.
    override_for: dict[int, Override] = {}
    lead_for: dict[int, str] = {}
    claimed: dict[str, Override] = {}
    for entry in overrides:
        if entry.lead and entry.zendesk_user_id not in lead_for:
            lead_for[entry.zendesk_user_id] = entry.lead
        if entry.slack_user is None:
            continue
        if entry.zendesk_user_id in override_for:
            first = override_for[entry.zendesk_user_id]
            warnings.append(
                f"{entry.where}: zendesk_user_id {entry.zendesk_user_id} is listed again "
                f"(first in roster.agents[{first.index}]); keeping the first entry"
            )
            continue
        if entry.slack_user in claimed:
            first = claimed[entry.slack_user]
            warnings.append(
                f"{entry.where}: slack_user {entry.slack_user} is already given to "
                f"zendesk_user_id {first.zendesk_user_id} by roster.agents[{first.index}]; two "
                "agents cannot share one Slack user, keeping the first"
            )
            continue
        if members and entry.slack_user not in by_slack:
            warnings.append(
                f"{entry.where}: slack_user {entry.slack_user} is not a user of this Slack "
                "workspace; check the ID (the entry is applied as written)"
            )
        elif entry.slack_user in by_slack and not eligible(by_slack[entry.slack_user]):
            reason = ineligible_reason(by_slack[entry.slack_user], include_guests)
            warnings.append(
                f"{entry.where}: slack_user {entry.slack_user} is a {reason} Slack user"
                if reason in ("bot", "guest")
                else f"{entry.where}: slack_user {entry.slack_user} is deactivated in Slack"
            )
        if agents and entry.zendesk_user_id not in agent_by_id:
            warnings.append(
                f"{entry.where}: zendesk_user_id {entry.zendesk_user_id} is not an agent or "
                "admin in the synced Zendesk users"
            )
        override_for[entry.zendesk_user_id] = entry
        claimed[entry.slack_user] = entry

    # 2. Index Slack users by e-mail; count agents per e-mail.
    slack_by_email: dict[str, list[SlackMember]] = {}
    for member in by_slack.values():
        email = normalise_email(member.email)
        if email is not None:
            slack_by_email.setdefault(email, []).append(member)
    agents_by_email: dict[str, list[int]] = {}
    for agent in agents:
        email = normalise_email(agent.email)
        if email is not None and agent.id not in override_for:
            agents_by_email.setdefault(email, []).append(agent.id)

    people: list[PersonRecord] = []
    stragglers: list[ZendeskAgent] = []
    matched_slack: set[str] = set(claimed)
    warned_shared: set[str] = set()

    def agent_record(
        agent: ZendeskAgent | None,
        zendesk_id: int,
        member: SlackMember | None,
        slack_id: str | None,
        matched_by: MatchedBy,
        note: str | None = None,
    ) -> PersonRecord:
        inactive = _zendesk_inactive(agent) if agent is not None else None
        if inactive is None and member is not None and not eligible(member):
            inactive = ineligible_reason(member, include_guests)
        name = (agent.name if agent is not None and agent.name else None) or (
            member.name if member is not None else f"Zendesk user {zendesk_id}"
        )
        email = normalise_email(agent.email if agent is not None else None) or (
            normalise_email(member.email) if member is not None else None
        )
        return PersonRecord(
            name=name,
            slack_user_id=slack_id,
            zendesk_user_id=zendesk_id,
            email=email,
            tz=member.tz if member is not None else None,
            lead_slack_id=lead_for.get(zendesk_id),
            active=inactive is None,
            is_bot=member.is_bot if member is not None else False,
            is_guest=member.is_guest if member is not None else False,
            matched_by=matched_by,
            inactive_reason=inactive,
            note=note,
        )

    # 3. Agents, in id order: override, else e-mail.
    for agent in sorted(agents, key=lambda a: a.id):
        mapped = override_for.get(agent.id)
        if mapped is not None and mapped.slack_user is not None:
            listed = by_slack.get(mapped.slack_user)
            people.append(agent_record(agent, agent.id, listed, mapped.slack_user, "override"))
            continue
        email = normalise_email(agent.email)
        if email is None:
            people.append(agent_record(agent, agent.id, None, None, "none", NO_EMAIL))
            continue
        sharing = agents_by_email.get(email, [])
        if len(sharing) > 1:
            ids = ", ".join(str(i) for i in sharing)
            note = (
                f"{len(sharing)} Zendesk agents share this e-mail (ids {ids}); map them with "
                "roster.agents[].slack_user"
            )
            if email not in warned_shared:
                warned_shared.add(email)
                warnings.append(f"Zendesk agents {ids} share one e-mail; none of them is matched")
            people.append(agent_record(agent, agent.id, None, None, "none", note))
            continue
        candidates = slack_by_email.get(email, [])
        free = [m for m in candidates if m.id not in claimed]
        good = [m for m in free if eligible(m)]
        if len(good) == 1:
            found = good[0]
            how: MatchedBy = "lookup" if found.found_by_lookup else "email"
            matched_slack.add(found.id)
            people.append(agent_record(agent, agent.id, found, found.id, how))
            continue
        if len(good) > 1:
            ids = ", ".join(m.id for m in good)
            note = f"several Slack users share this e-mail ({ids}); map with roster.agents"
            warnings.append(f"zendesk_user_id {agent.id}: {note}")
        elif free:
            reasons = sorted({str(ineligible_reason(m, include_guests)) for m in free})
            shown = ", ".join(m.id for m in free)
            note = f"the Slack user with this e-mail ({shown}) is excluded: {', '.join(reasons)}"
        elif candidates:
            owner = claimed[candidates[0].id]
            note = (
                f"Slack user {candidates[0].id} is already mapped to zendesk_user_id "
                f"{owner.zendesk_user_id} by {owner.where}"
            )
            warnings.append(f"zendesk_user_id {agent.id}: {note}")
        else:
            note = NO_SLACK_USER
            if agent.id not in tried and _zendesk_inactive(agent) is None:
                stragglers.append(agent)
        people.append(agent_record(agent, agent.id, None, None, "none", note))

    # 4. Overrides for users the synced Zendesk copy does not list (yet): YAML still works.
    for zendesk_id, entry in override_for.items():
        if zendesk_id in agent_by_id or entry.slack_user is None:
            continue
        people.append(
            agent_record(
                None, zendesk_id, by_slack.get(entry.slack_user), entry.slack_user, "override"
            )
        )

    # 5. Every other Slack user: an employee (inactive when not eligible).
    for member in by_slack.values():
        if member.id in matched_slack:
            continue
        reason = ineligible_reason(member, include_guests)
        people.append(
            PersonRecord(
                name=member.name,
                slack_user_id=member.id,
                email=normalise_email(member.email),
                tz=member.tz,
                active=reason is None,
                is_bot=member.is_bot or member.id == "USLACKBOT",
                is_guest=member.is_guest,
                inactive_reason=reason,
            )
        )
    return MatchResult(people, warnings, stragglers)


# --------------------------------------------------------------------------------------------
# Departments
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentSpec:
    """One ``roster.departments[]`` entry."""

    index: int
    name: str
    owner: str | None
    members: tuple[str, ...]
    usergroup: str | None
    line: int | None = None

    @property
    def where(self) -> str:
        return entry_label(f"roster.departments[{self.index}]", self.line)


def resolve_departments(
    specs: Sequence[DepartmentSpec],
    usergroups: Mapping[str, Sequence[str] | None],
    previous: Callable[[str], Sequence[str]],
) -> tuple[list[DepartmentInfo], list[str]]:
    """Departments with their members: YAML ``members`` plus the user group's members.

    ``usergroups[id]`` is ``None`` when the group could not be read this time; the department
    then keeps ``previous(name)`` (its last good members) and a warning says so.
    """
    out: list[DepartmentInfo] = []
    warnings: list[str] = []
    for spec in specs:
        members = list(spec.members)
        if spec.usergroup is not None:
            group = usergroups.get(spec.usergroup)
            if group is None:
                warnings.append(
                    f"{spec.where}: Slack user group {spec.usergroup} could not be read; "
                    f"{spec.name} keeps its last known members"
                )
                group = previous(spec.name)
            members += [m for m in group if m not in members]
        if spec.owner is None:
            warnings.append(
                f"{spec.where}: department {spec.name} has no owner; add `owner: U…` "
                "(detractor comments and reports go to the owner)"
            )
        out.append(
            DepartmentInfo(
                spec.name,
                spec.owner,
                tuple(members),
                "usergroup" if spec.usergroup else "yaml",
                spec.usergroup,
            )
        )
    return out, warnings
