"""The people directory from the YAML roster alone: the fallback every feature can read until
the synced directory (``people`` job) has run, and the behaviour of configurations written for
the hand-typed roster.

Roles: ``roles.admins`` → admin; ``roles.leads``, an agent's ``lead`` and department owners →
lead; ``roster.agents`` with a ``slack_user`` → agent; everyone else → employee.
"""

from __future__ import annotations

from collections.abc import Sequence

from deskbot.domain.authz import Actor
from deskbot.domain.people import DepartmentInfo, Person, Role
from deskbot.settings import Settings


class StaticPeopleDirectory:
    """A ``deskbot.ports.PeopleDirectory`` over people and departments given up front (the
    YAML roster's directory; tests build one directly)."""

    def __init__(
        self, people: Sequence[Person] = (), departments: Sequence[DepartmentInfo] = ()
    ) -> None:
        self._people = list(people)
        self._departments = list(departments)

    def by_slack_id(self, slack_user_id: str) -> Person | None:
        return next((p for p in self._people if p.slack_user_id == slack_user_id), None)

    def by_zendesk_id(self, zendesk_user_id: int) -> Person | None:
        return next((p for p in self._people if p.zendesk_user_id == zendesk_user_id), None)

    def people(self, *, include_inactive: bool = False) -> list[Person]:
        return [p for p in self._people if include_inactive or p.active]

    def departments(self) -> list[DepartmentInfo]:
        return list(self._departments)

    def department(self, name: str) -> DepartmentInfo | None:
        wanted = name.strip().lower()
        return next((d for d in self._departments if d.name.lower() == wanted), None)

    def actor(self, slack_user_id: str) -> Actor:
        person = self.by_slack_id(slack_user_id)
        if person is None or not person.active:
            return Actor(slack_user_id, Role.EMPLOYEE, person)
        return Actor(slack_user_id, person.role, person)


def roster_directory(settings: Settings) -> StaticPeopleDirectory:
    """A ``PeopleDirectory`` built only from ``roles`` and ``roster`` in the YAML file."""
    admins = set(settings.roles.admins)
    leads = set(settings.roles.leads)
    leads |= {a.lead for a in settings.roster.agents if a.lead}
    leads |= {d.owner for d in settings.roster.departments if d.owner}
    memberships: dict[str, list[str]] = {}
    for dept in settings.roster.departments:
        for member in dept.members:
            memberships.setdefault(member, []).append(dept.name)

    def role(slack_id: str, is_agent: bool) -> Role:
        if slack_id in admins:
            return Role.ADMIN
        if slack_id in leads:
            return Role.LEAD
        return Role.AGENT if is_agent else Role.EMPLOYEE

    people: list[Person] = []
    seen: set[str] = set()
    for agent in settings.roster.agents:
        if not agent.slack_user or agent.slack_user in seen:
            continue
        seen.add(agent.slack_user)
        people.append(
            Person(
                id=len(people) + 1,
                name=agent.slack_user,
                slack_user_id=agent.slack_user,
                zendesk_user_id=agent.zendesk_user_id,
                role=role(agent.slack_user, True),
                lead_slack_id=agent.lead,
                departments=tuple(memberships.get(agent.slack_user, ())),
                matched_by="override",
            )
        )
    for slack_id in sorted((admins | leads | set(memberships)) - seen):
        people.append(
            Person(
                id=len(people) + 1,
                name=slack_id,
                slack_user_id=slack_id,
                role=role(slack_id, False),
                departments=tuple(memberships.get(slack_id, ())),
            )
        )
    departments = [
        DepartmentInfo(d.name, d.owner, tuple(d.members), "yaml")
        for d in settings.roster.departments
    ]
    return StaticPeopleDirectory(people, departments)
