"""The people directory from the YAML roster alone: the fallback every feature can read until
the synced directory (``people`` job) has run, and the behaviour of configurations written for
the hand-typed roster.

Roles: ``roles.admins`` → admin; ``roles.leads``, an agent's ``lead`` and department owners →
lead; ``roster.agents`` with a ``slack_user`` → agent; everyone else → employee.
"""

from __future__ import annotations

from deskbot.domain.people import DepartmentInfo, Person, Role
from deskbot.settings import Settings
from deskbot.testing import StaticPeopleDirectory


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
