"""The people directory in force, for authorisation: every call reads the current one.

Roles change when the configuration is reloaded (``roles``, ``roster``) or when the people
directory is synced; an app that resolved its directory once at start would keep stale roles.
``CurrentPeople`` wraps a factory (``bootstrap.people_directory`` over the settings in force) and
asks it again at every call.
"""

from __future__ import annotations

from collections.abc import Callable

from deskbot.domain.authz import Actor
from deskbot.domain.people import DepartmentInfo, Person
from deskbot.ports import PeopleDirectory


class CurrentPeople:
    """A ``PeopleDirectory`` that delegates every call to ``factory()``."""

    def __init__(self, factory: Callable[[], PeopleDirectory]) -> None:
        self._factory = factory

    def by_slack_id(self, slack_user_id: str) -> Person | None:
        return self._factory().by_slack_id(slack_user_id)

    def by_zendesk_id(self, zendesk_user_id: int) -> Person | None:
        return self._factory().by_zendesk_id(zendesk_user_id)

    def people(self, *, include_inactive: bool = False) -> list[Person]:
        return self._factory().people(include_inactive=include_inactive)

    def departments(self) -> list[DepartmentInfo]:
        return self._factory().departments()

    def department(self, name: str) -> DepartmentInfo | None:
        return self._factory().department(name)

    def actor(self, slack_user_id: str) -> Actor:
        return self._factory().actor(slack_user_id)
