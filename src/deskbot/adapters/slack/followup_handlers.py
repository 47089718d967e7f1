"""Slack interaction handlers for follow-ups, as plain functions the Slack app registers.

Register them in the app's interactivity registry:

===========================  ==========================  ======================================
id                           kind                        handler
===========================  ==========================  ======================================
``followup_claim``           block action (button)       ``handle_claim(service, user, value)``
``followup_handled``         block action (button)       ``handle_handled_button(service,
                                                         trigger_id, value)`` (opens the modal)
``followup_handled_modal``   view submission callback    ``handle_handled_submit(service, user,
                                                         view)``
===========================  ==========================  ======================================

Each listener acks first, then calls the handler; the returned outcome's ``message`` is meant
for an ephemeral reply to the user. A malformed value (a forged request) is answered with an
error and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deskbot.adapters.slack import followup_blocks as fb
from deskbot.adapters.slack.interactions import Interaction, InteractionRegistry
from deskbot.domain import csat
from deskbot.log import get_logger
from deskbot.services.followups import FollowupService, InteractionOutcome

log = get_logger(__name__)

ACTION_CLAIM = fb.ACTION_CLAIM
ACTION_HANDLED = fb.ACTION_HANDLED
CALLBACK_HANDLED_MODAL = fb.CALLBACK_HANDLED_MODAL


def handle_claim(service: FollowupService, user_id: str, value: str) -> InteractionOutcome:
    """The Claim button: the clicking user owns the follow-up; the alert shows it."""
    try:
        return service.claim(value, user_id)
    except ValueError as exc:
        return InteractionOutcome(False, str(exc))


def handle_handled_button(
    service: FollowupService, trigger_id: str, value: str
) -> InteractionOutcome:
    """The Handled button: open the modal asking for a short note."""
    try:
        service.open_handled_modal(trigger_id, value)
    except ValueError as exc:
        return InteractionOutcome(False, str(exc))
    return InteractionOutcome(True, "")


def handle_handled_submit(
    service: FollowupService, user_id: str, view_state: Mapping[str, Any]
) -> InteractionOutcome:
    """The Handled modal's submission (``view_state`` is the payload's ``view``): the
    follow-up is handled, with the note; the alert shows who and when."""
    value = str(view_state.get("private_metadata") or "")
    try:
        return service.handled(value, user_id, fb.modal_note(view_state))
    except ValueError as exc:
        return InteractionOutcome(False, str(exc))


def register_followup_handlers(registry: InteractionRegistry, service: FollowupService) -> None:
    """Register Claim, Handled and the Handled modal in the app's interaction registry; each
    outcome's message is shown to the clicking user only (ephemeral)."""

    def claim(interaction: Interaction) -> None:
        outcome = handle_claim(service, interaction.user_id, interaction.value or "")
        _tell(interaction, outcome)

    def handled(interaction: Interaction) -> None:
        outcome = handle_handled_button(
            service, interaction.trigger_id or "", interaction.value or ""
        )
        _tell(interaction, outcome)

    def submit(interaction: Interaction) -> None:
        view = interaction.body.get("view") or {}
        outcome = handle_handled_submit(service, interaction.user_id, view)
        _tell(interaction, outcome, _alert_channel(service, interaction.private_metadata))

    registry.on_action(ACTION_CLAIM, claim)
    registry.on_action(ACTION_HANDLED, handled)
    registry.on_view(CALLBACK_HANDLED_MODAL, submit)


def _alert_channel(service: FollowupService, value: str | None) -> str | None:
    """The channel of the alert a modal was opened from (where its outcome is shown)."""
    try:
        rating_id, _generation = csat.parse_claim_value(value or "")
    except ValueError:
        return None
    row = service.store.get(rating_id)
    return row.slack_channel if row is not None else None


def _tell(
    interaction: Interaction, outcome: InteractionOutcome, channel: str | None = None
) -> None:
    """Show ``outcome.message`` to the user alone: through the ``response_url`` of a click, or
    as an ephemeral message in the alert's channel after a modal."""
    if not outcome.message:
        return
    try:
        if interaction.respond is not None:
            interaction.respond(
                text=outcome.message, response_type="ephemeral", replace_original=False
            )
            return
        target = channel or interaction.channel_id
        if target is None:
            log.info("followups.outcome_unshown", user=interaction.user_id, ok=outcome.ok)
            return
        interaction.client.chat_postEphemeral(
            channel=target, user=interaction.user_id, text=outcome.message
        )
    except Exception as exc:  # the action itself is done; failing to say so is not fatal
        log.warning("followups.outcome_not_shown", error=str(exc))
