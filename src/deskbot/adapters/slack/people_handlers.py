"""``/deskbot whois @user|agent-name``: who is who, for leads and admins.

The command table lets everyone in (its roles come from the YAML file); the service checks the
caller's role through the people directory (``services.people.whois`` → ``Forbidden``), so a
lead the directory knows (a team lead, a department owner) may ask too. Registered in the
command table when this module is imported (``adapters.slack.app`` does).
"""

from __future__ import annotations

from collections.abc import Sequence

from deskbot.adapters.slack.blocks import Message, context, escape, header, section
from deskbot.adapters.slack.commands import (
    COMMANDS,
    Invocation,
    PermissionDenied,
    Reply,
)
from deskbot.domain.authz import Forbidden
from deskbot.domain.commands import CommandError
from deskbot.domain.people import Person, Role
from deskbot.services.people import describe, whois

MAX_SHOWN = 10


def render_whois(query: str, people: Sequence[Person], notes: dict[int, str]) -> Message:
    if not people:
        return Message(
            f"Nobody in the people directory matches {query}.",
            [section(f"Nobody in the people directory matches `{escape(query)}`.")],
            private=True,
        )
    lines = [describe(p, notes.get(p.id)) for p in people[:MAX_SHOWN]]
    blocks = [header(f"whois {query}"[:150])]
    blocks += [section(line) for line in lines]
    if len(people) > MAX_SHOWN:
        blocks.append(context(f"{len(people) - MAX_SHOWN} more; be more specific."))
    return Message(lines[0], blocks, private=True)


@COMMANDS.add(
    "whois",
    Role.AGENT,
    "whois @user|agent-name",
    "Who is this: Slack and Zendesk identity, role, lead, departments (leads and admins)",
)
def _whois(inv: Invocation) -> Reply:
    if not inv.args:
        raise CommandError("Tell me who: `whois @someone`, `whois Ada` or a Zendesk user id.")
    people = inv.need(inv.services.people, "People lookups")
    query = " ".join(inv.args)

    def work() -> Message:
        actor = people.actor(inv.user_id)
        try:
            found = whois(actor, people, query)
        except Forbidden as exc:
            raise PermissionDenied(exc.action, exc.who_may) from exc
        notes: dict[int, str] = getattr(people, "notes", dict)()
        return render_whois(query, found, notes)

    return work
