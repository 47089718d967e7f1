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
from deskbot.services.followups import FollowupService, InteractionOutcome

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
