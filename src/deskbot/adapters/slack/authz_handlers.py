"""The one pattern every button and modal follows (docs/SECURITY.md, "Adding a button").

::

    def handle_score(interaction: Interaction, actor: Actor) -> None:
        outcome = qa_service.score(interaction.value, actor, ...)   # the SERVICE checks
        tell(interaction, outcome.message)

    registry.on_action("qa_score", guarded(people, handle_score))

``guarded`` resolves the clicking Slack user to an ``Actor`` through the people directory, calls
the handler, and turns a ``Forbidden`` raised by the service into a private message saying who
may do it ("Sorry, only … may …. Nothing was changed."). The handler never checks roles itself
and never catches ``Forbidden``: the service decides, the adapter only renders.
"""

from __future__ import annotations

from collections.abc import Callable

from deskbot.adapters.slack.interactions import ActionHandler, Interaction
from deskbot.domain.authz import Actor, Forbidden
from deskbot.log import get_logger
from deskbot.ports import PeopleDirectory

log = get_logger(__name__)

GuardedHandler = Callable[[Interaction, Actor], None]


def refusal_text(exc: Forbidden) -> str:
    """The private message for a refusal: who may do it, and that nothing changed."""
    return (
        f":no_entry: Sorry, only {exc.who_may} may {exc.action}. Nothing was changed. "
        "Ask an admin if you think you should be able to."
    )


def tell(interaction: Interaction, text: str, channel: str | None = None) -> None:
    """Show ``text`` to the interacting user alone: through the click's ``response_url``, or as
    an ephemeral message in ``channel`` (or the click's channel) after a modal."""
    if not text:
        return
    try:
        if interaction.respond is not None:
            interaction.respond(text=text, response_type="ephemeral", replace_original=False)
            return
        target = channel or interaction.channel_id
        if target is None:
            log.info("slack.reply_unshown", kind=interaction.kind, id=interaction.id)
            return
        interaction.client.chat_postEphemeral(channel=target, user=interaction.user_id, text=text)
    except Exception as exc:  # the action is done (or refused); failing to say so is not fatal
        log.warning("slack.reply_not_shown", kind=interaction.kind, error=type(exc).__name__)


def refuse(interaction: Interaction, exc: Forbidden, channel: str | None = None) -> None:
    """Log the refusal and tell the user privately who may do it."""
    log.info(
        "authz.refused",
        kind=interaction.kind,
        id=interaction.id,
        user=interaction.user_id,
        action=exc.action,
    )
    tell(interaction, refusal_text(exc), channel)


def guarded(
    people: PeopleDirectory | Callable[[], PeopleDirectory],
    handler: GuardedHandler,
    channel: Callable[[Interaction], str | None] | None = None,
) -> ActionHandler:
    """An ``InteractionRegistry`` handler: resolve the actor, run ``handler``, render a refusal.

    ``people`` is the directory, or a callable returning the one in force (after reloads).
    ``channel`` says where a modal's refusal is shown (default: the click's channel).
    """

    def run(interaction: Interaction) -> None:
        directory = people() if callable(people) else people
        actor = directory.actor(interaction.user_id)
        try:
            handler(interaction, actor)
        except Forbidden as exc:
            refuse(interaction, exc, channel(interaction) if channel is not None else None)

    return run
