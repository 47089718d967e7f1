"""The one authorisation model (PRODUCT.md "Who may do what"), pure.

Every slash command, button and modal submission resolves the clicking Slack user to an
``Actor`` (through ``deskbot.ports.PeopleDirectory.actor``) and the *service* checks it with
``require`` or a rule of its own (e.g. "the follow-up's owner, a lead or an admin, never the
rated agent"). A refusal is a ``Forbidden`` whose message says who may do it; adapters render
it as a private message and change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from deskbot.domain.people import Person, Role


@dataclass(frozen=True)
class Actor:
    """Who is asking: their Slack id, role, and the directory's person when known."""

    slack_user_id: str
    role: Role
    person: Person | None = None

    @property
    def zendesk_user_id(self) -> int | None:
        return self.person.zendesk_user_id if self.person is not None else None

    def at_least(self, role: Role) -> bool:
        return self.role >= role


class Forbidden(Exception):
    """The actor may not do this; ``str()`` is the private message to show them."""

    def __init__(self, action: str, who_may: str) -> None:
        self.action = action
        self.who_may = who_may
        super().__init__(f"Only {who_may} may {action}.")


def require(actor: Actor, minimum: Role, action: str) -> None:
    """Raise ``Forbidden`` unless ``actor`` holds ``minimum`` or a higher role."""
    if not actor.at_least(minimum):
        raise Forbidden(action, minimum.label)


# A modal is bound to the user who opened it: its ``private_metadata`` carries their Slack id,
# and a submission by anyone else is refused before any handler runs (``authz_checks``).
_BOUND = "|by:"


def bind_view(value: str, slack_user_id: str) -> str:
    """``private_metadata`` for a modal opened by ``slack_user_id`` about ``value``."""
    return f"{value}{_BOUND}{slack_user_id}"


def view_binding(metadata: str) -> tuple[str, str | None]:
    """(value, the opener's Slack id) from ``bind_view``'s output; (metadata, None) if unbound."""
    value, sep, user = metadata.rpartition(_BOUND)
    if not sep:
        return metadata, None
    return value, user or None
