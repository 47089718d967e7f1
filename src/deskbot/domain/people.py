"""Who is who: the people directory's vocabulary (pure; no I/O).

A ``Person`` joins a Zendesk user and a Slack user (matched by e-mail or a YAML override) with
their role in deskbot, team lead, departments and time zone. People are never deleted: someone
who leaves, is deactivated or suspended stays with ``active=False`` so history keeps its names.

Every feature that needs "who is this" (owners, reviewers, respondents, roles, shout-outs)
reads the directory through ``deskbot.ports.PeopleDirectory``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal


class Role(enum.IntEnum):
    """Who may do what. Higher roles may do everything lower roles may.

    ``EMPLOYEE`` is everyone in the workspace who is not a known agent, lead or admin: they may
    ask for help and answer their own internal NPS asks, nothing else.
    """

    EMPLOYEE = 0
    AGENT = 1
    LEAD = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        """Who holds this role or a higher one, for refusal messages ("only … may do this")."""
        return {
            Role.EMPLOYEE: "everyone",
            Role.AGENT: "agents, leads and admins",
            Role.LEAD: "leads and admins",
            Role.ADMIN: "admins",
        }[self]


MatchedBy = Literal["email", "override", "lookup", "none"]


@dataclass(frozen=True)
class Person:
    """One person as the directory knows them.

    ``email`` is stored for matching and never logged or rendered (``repr=False``).
    ``inactive_reason`` says why an inactive person is inactive (``"slack deactivated"``,
    ``"zendesk suspended"``, ``"bot"``, ``"guest"``, ``"no longer an agent"``…).
    """

    id: int  # the directory's own stable id (a row id), never reused
    name: str
    slack_user_id: str | None = None
    zendesk_user_id: int | None = None
    email: str | None = field(default=None, repr=False)
    tz: str | None = None  # IANA name from Slack, e.g. "Europe/Berlin"
    role: Role = Role.EMPLOYEE
    lead_slack_id: str | None = None  # the person's team lead (Slack user id)
    departments: tuple[str, ...] = ()
    active: bool = True
    is_bot: bool = False
    is_guest: bool = False
    matched_by: MatchedBy = "none"
    inactive_reason: str | None = None

    @property
    def is_agent(self) -> bool:
        """A Zendesk agent or admin known to deskbot (whatever their deskbot role)."""
        return self.zendesk_user_id is not None


@dataclass(frozen=True)
class DepartmentInfo:
    """A department as the directory resolved it: YAML ``members`` or a Slack user group."""

    name: str
    owner_slack_id: str | None
    members: tuple[str, ...]  # Slack user ids, active or not
    source: Literal["yaml", "usergroup"] = "yaml"
    usergroup_id: str | None = None
