"""Consistent people across the two sandboxes: the Zendesk sandbox's agents in the Slack sandbox.

``mirror_help_desk`` adds a Slack user for every Zendesk agent and admin, with the same e-mail,
except for a few deliberate differences the people directory must handle (the last five
agents, sorted by id; the demo's roster overrides name the first ones):

- the last agent: the e-mail in upper case (still matches: e-mails compare case-insensitively);
- the 2nd and 3rd last: a different e-mail (``first.last@sandbox.example``; no e-mail match);
- the 4th last: deactivated in Slack (excluded, listed as unmatched with the reason);
- the 5th last: an integration account whose Slack user is a bot (excluded).

It also adds department user groups — Support (the mirrored agents), Engineering, Sales,
Finance and People — with employees who are not agents. Nothing existing is changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from deskbot.sandbox.slack.server import SlackSandbox

UPPER_CASE, DIFFERENT, DEACTIVATED, BOT = (-1,), (-2, -3), (-4,), (-5,)

# handle, name, existing sandbox people or new employees (name, real name, title, tz)
_DEPARTMENTS: list[tuple[str, str, list[str], list[tuple[str, str, str, str]]]] = [
    ("dept-engineering", "Engineering", ["grace.liu", "dev.patel"], []),
    ("dept-sales", "Sales", ["ines.garcia", "ben.walker"], []),
    (
        "dept-finance",
        "Finance",
        ["elena.petrova", "omar.haddad"],
        [("mila.accounts", "Mila Novak", "Accountant", "Europe/Berlin")],
    ),
    (
        "dept-people",
        "People",
        [],
        [
            ("rosa.hr", "Rosa Lindqvist", "Head of People", "Europe/Stockholm"),
            ("kai.recruit", "Kai Mensah", "Recruiter", "Europe/London"),
        ],
    ),
]


class HelpDeskUser(Protocol):
    """A Zendesk sandbox user (``deskbot.sandbox.zendesk.data.User``)."""

    id: int
    name: str
    email: str
    role: str
    suspended: bool


@dataclass
class PeopleMirror:
    """What was added, and what a correct directory should conclude."""

    slack_by_zendesk: dict[int, str] = field(default_factory=dict)  # every mirrored agent
    expected_match: dict[int, str | None] = field(default_factory=dict)  # None: must not match
    usergroups: dict[str, str] = field(default_factory=dict)  # department name → group id
    employees: list[str] = field(default_factory=list)  # Slack ids of non-agent employees
    variations: dict[int, str] = field(default_factory=dict)  # zid → upper/different/gone/bot


def _handle(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", ".", name.lower()).strip(".") or "agent"
    handle, n = base, 1
    while handle in taken:
        n += 1
        handle = f"{base}.{n}"
    taken.add(handle)
    return handle


def mirror_help_desk(slack: SlackSandbox, users: Iterable[HelpDeskUser]) -> PeopleMirror:
    """Add the help desk's agents (and department groups) to the Slack sandbox."""
    mirror = PeopleMirror()
    taken = {str(u["name"]) for u in slack.users}
    staff = sorted((u for u in users if u.role in ("agent", "admin")), key=lambda u: u.id)
    admins = [u for u in staff if u.role == "admin"]
    agents = [u for u in staff if u.role == "agent"]
    for position, user in enumerate(admins + agents):
        # Agents count back from the last (-1); admins are never varied.
        index = position - len(admins) - len(agents) if position >= len(admins) else 0
        email = user.email
        fields: dict[str, Any] = {"real_name": user.name, "tz": "Europe/Berlin"}
        expected = True  # suspended agents are matched too (and inactive)
        kind = {**dict.fromkeys(UPPER_CASE, "upper"), **dict.fromkeys(DIFFERENT, "different")}
        kind.update({**dict.fromkeys(DEACTIVATED, "gone"), **dict.fromkeys(BOT, "bot")})
        if index in kind and user.role == "agent":
            mirror.variations[user.id] = kind[index]
        if index in UPPER_CASE:
            email = email.upper()
        elif index in DIFFERENT:
            email = f"{_handle(user.name, set())}@sandbox.example"
            expected = False
        elif index in BOT:
            fields["is_bot"] = True
            expected = False
        added = slack.add_user(_handle(user.name, taken), email=email, **fields)
        if index in BOT:
            # Bots carry no e-mail on Slack; this integration account's profile shows one.
            with slack._state.lock:
                slack.workspace.users[added["id"]]["profile"]["email"] = user.email
        if index in DEACTIVATED:
            slack.deactivate_user(added["id"])
            expected = False
        mirror.slack_by_zendesk[user.id] = added["id"]
        mirror.expected_match[user.id] = added["id"] if expected else None
    support = [s for z, s in mirror.slack_by_zendesk.items() if mirror.expected_match.get(z)]
    group = slack.add_usergroup("dept-support", "Support", support)
    mirror.usergroups["Support"] = str(group["id"])
    for handle, name, existing, new in _DEPARTMENTS:
        ids = [slack.user_id(n) for n in existing]
        for person, real_name, title, tz in new:
            ids.append(slack.add_user(person, real_name=real_name, title=title, tz=tz)["id"])
        mirror.employees += ids
        group = slack.add_usergroup(handle, name, ids)
        mirror.usergroups[name] = str(group["id"])
    return mirror
