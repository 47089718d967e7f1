"""Slack interaction handlers for follow-ups, as plain functions the Slack app registers.

Register them in the app's interactivity registry:

===========================  ==========================  ======================================
id                           kind                        handler
===========================  ==========================  ======================================
``followup_claim``           block action (button)       ``handle_claim(service, actor, value)``
``followup_handled``         block action (button)       ``handle_handled_button(service, actor,
                                                         trigger_id, value)`` (opens the modal)
``followup_handled_modal``   view submission callback    ``handle_handled_submit(service, actor,
                                                         view)``
===========================  ==========================  ======================================

Before the acknowledgement, ``check_button`` refuses (HTTP 400) a button whose value names
another follow-up than the alert clicked, and the registry refuses a modal submitted by anyone
but the user it was opened for (``bound=True``). Each handler then runs behind
``authz_handlers.guarded``: the clicking user becomes an ``Actor`` through the people directory
and the *service* authorises (owner, lead or admin; never the rated agent). Outcomes and
refusals are ephemeral. A malformed value is answered with an error and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from deskbot.adapters.slack import followup_blocks as fb
from deskbot.adapters.slack.authz_handlers import guarded, tell
from deskbot.adapters.slack.interactions import Interaction, InteractionRegistry
from deskbot.domain import csat
from deskbot.domain.authz import Actor, view_binding
from deskbot.log import get_logger
from deskbot.ports import PeopleDirectory
from deskbot.services.followups import FollowupService, InteractionOutcome

log = get_logger(__name__)

ACTION_CLAIM = fb.ACTION_CLAIM
ACTION_HANDLED = fb.ACTION_HANDLED
CALLBACK_HANDLED_MODAL = fb.CALLBACK_HANDLED_MODAL


def handle_claim(service: FollowupService, actor: Actor, value: str) -> InteractionOutcome:
    """The Claim button: the clicking user owns the follow-up; the alert shows it.
    ``Forbidden`` (from the service) propagates: ``guarded`` renders it."""
    try:
        return service.claim(value, actor)
    except ValueError as exc:
        return InteractionOutcome(False, str(exc))


def handle_handled_button(
    service: FollowupService, actor: Actor, trigger_id: str, value: str
) -> InteractionOutcome:
    """The Handled button: open the modal asking for a short note (bound to ``actor``)."""
    try:
        return service.open_handled_modal(trigger_id, value, actor)
    except ValueError as exc:
        return InteractionOutcome(False, str(exc))


def handle_handled_submit(
    service: FollowupService, actor: Actor, view_state: Mapping[str, Any]
) -> InteractionOutcome:
    """The Handled modal's submission (``view_state`` is the payload's ``view``): the
    follow-up is handled, with the note; the alert shows who and when."""
    value, _opener = view_binding(str(view_state.get("private_metadata") or ""))
    try:
        return service.handled(value, actor, fb.modal_note(view_state))
    except ValueError as exc:
        return InteractionOutcome(False, str(exc))


def check_button(service: FollowupService) -> Callable[[Mapping[str, Any], str | None], str | None]:
    """Before the acknowledgement: the button's value names a follow-up whose alert is the
    very message clicked (a value edited to another rating id is refused with 400)."""

    def check(body: Mapping[str, Any], value: str | None) -> str | None:
        try:
            rating_id, generation = csat.parse_claim_value(value or "")
        except ValueError:
            return "button value is not rating_id:generation"
        row = service.store.get(rating_id)
        if row is None:
            return "button names an unknown follow-up"
        if generation != row.generation:
            # an older alert of this rating (its message is not the current one): the service
            # answers "out of date" and, its writes being per generation, changes nothing
            return None
        container = body.get("container") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
        if row.slack_ts and (
            container.get("message_ts") != row.slack_ts
            or (row.slack_channel and channel != row.slack_channel)
        ):
            return "button value does not belong to the message clicked"
        return None

    return check


def register_followup_handlers(
    registry: InteractionRegistry,
    service: FollowupService,
    people: PeopleDirectory | Callable[[], PeopleDirectory],
) -> None:
    """Register Claim, Handled and the Handled modal in the app's interaction registry. Each
    resolves the clicking user through ``people``; the service authorises; every outcome and
    refusal is shown to the clicking user only (ephemeral)."""

    def claim(interaction: Interaction, actor: Actor) -> None:
        tell(interaction, handle_claim(service, actor, interaction.value or "").message)

    def handled(interaction: Interaction, actor: Actor) -> None:
        outcome = handle_handled_button(
            service, actor, interaction.trigger_id or "", interaction.value or ""
        )
        tell(interaction, outcome.message)

    def submit(interaction: Interaction, actor: Actor) -> None:
        view = interaction.body.get("view") or {}
        outcome = handle_handled_submit(service, actor, view)
        tell(interaction, outcome.message, _alert_channel(service, interaction.private_metadata))

    def modal_channel(interaction: Interaction) -> str | None:
        return _alert_channel(service, interaction.private_metadata)

    check = check_button(service)
    registry.on_action(ACTION_CLAIM, guarded(people, claim), check=check)
    registry.on_action(ACTION_HANDLED, guarded(people, handled), check=check)
    registry.on_view(CALLBACK_HANDLED_MODAL, guarded(people, submit, modal_channel), bound=True)


def _alert_channel(service: FollowupService, metadata: str | None) -> str | None:
    """The channel of the alert a modal was opened from (where its outcome is shown)."""
    value, _opener = view_binding(metadata or "")
    try:
        rating_id, _generation = csat.parse_claim_value(value)
    except ValueError:
        return None
    row = service.store.get(rating_id)
    return row.slack_channel if row is not None else None
