"""Slack handlers for agent QA, registered in the app's ``InteractionRegistry``.

Buttons (value = task id): **Score** opens the scorecard modal, **View conversation** the
ticket's public comments, **Dispute** the reason modal, **Resolve** the resolution modal.

Modal submissions are parsed *and stored* in the registry's ``validate`` step, before the
acknowledgement, so every refusal — a missing or out-of-range score, a task that is not the
user's, a closed cycle — is shown in the modal (``response_action: errors``) and nothing is
stored. It is one short transaction. The submission key is the modal's view id: a double click
or a Slack retry stores one version. The follow-ups (the agent's DM, the shout-out, the
resolvers' DMs) run after the acknowledgement.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deskbot.adapters.slack import qa_blocks as qb
from deskbot.adapters.slack.interactions import Interaction, InteractionRegistry
from deskbot.adapters.slack.scorecard_blocks import (
    ScorecardInvalid,
    block_id,
    parse_scorecard,
)
from deskbot.domain.authz import Forbidden
from deskbot.domain.scorecard import COMPETENCY_KEYS
from deskbot.log import get_logger
from deskbot.services.qa import QaService
from deskbot.services.qa_types import QaError

log = get_logger(__name__)

FIRST_SCORE_BLOCK = block_id(COMPETENCY_KEYS[0])


def _task_id(text: str | None) -> int:
    if not text or not text.strip().isdigit():
        raise QaError("This button or form is not a QA task (malformed value).")
    return int(text.strip())


def _tell(interaction: Interaction, text: str) -> None:
    try:
        if interaction.respond is not None:
            interaction.respond(text=text, response_type="ephemeral", replace_original=False)
        elif interaction.channel_id:
            interaction.client.chat_postEphemeral(
                channel=interaction.channel_id, user=interaction.user_id, text=text
            )
    except Exception as exc:  # nothing changed; failing to say so is not fatal
        log.warning("qa.tell_failed", error=str(exc)[:200])


def _button(action: Callable[[str, int, str], None]) -> Callable[[Interaction], None]:
    def handle(interaction: Interaction) -> None:
        try:
            action(interaction.user_id, _task_id(interaction.value), interaction.trigger_id or "")
        except (Forbidden, QaError) as exc:
            _tell(interaction, str(exc))
        except Exception as exc:
            log.warning("qa.button_failed", action=interaction.id, error=str(exc)[:200])
            _tell(interaction, "Sorry, that did not work; try again in a moment.")

    return handle


def _view_id(interaction: Interaction) -> str:
    view = interaction.body.get("view") or {}
    return str(view.get("id") or view.get("hash") or interaction.trigger_id or "")


def _text(interaction: Interaction, block: str, action: str) -> str:
    value = (interaction.values.get(block) or {}).get(action)
    return str(value).strip() if value else ""


def register_qa_handlers(registry: InteractionRegistry, service: QaService) -> None:
    def validate_score(interaction: Interaction) -> dict[str, str] | None:
        try:
            task_id = _task_id(interaction.private_metadata)
            card = parse_scorecard(interaction.values)
            service.submit_score(
                interaction.user_id,
                task_id,
                submission=_view_id(interaction),
                scores=card.scores,
                hero=card.hero,
                notes=card.notes,
            )
        except ScorecardInvalid as exc:
            return exc.errors
        except (Forbidden, QaError) as exc:
            return {FIRST_SCORE_BLOCK: str(exc)}
        return None

    def after_score(interaction: Interaction) -> None:
        service.after_review(_task_id(interaction.private_metadata))

    def validate_dispute(interaction: Interaction) -> dict[str, str] | None:
        reason = _text(interaction, qb.BLOCK_REASON, "reason")
        if not reason:
            return {qb.BLOCK_REASON: "Say what you disagree with."}
        try:
            service.submit_dispute(
                interaction.user_id, _task_id(interaction.private_metadata), reason
            )
        except (Forbidden, QaError) as exc:
            return {qb.BLOCK_REASON: str(exc)}
        return None

    def after_dispute(interaction: Interaction) -> None:
        service.after_dispute(_task_id(interaction.private_metadata))

    def validate_resolve(interaction: Interaction) -> dict[str, str] | None:
        outcome = _text(interaction, qb.BLOCK_OUTCOME, "outcome")
        note = _text(interaction, qb.BLOCK_NOTE, "note")
        errors: dict[str, str] = {}
        if outcome not in ("upheld", "changed"):
            errors[qb.BLOCK_OUTCOME] = "Choose upheld or changed."
        if not note:
            errors[qb.BLOCK_NOTE] = "Add a note for the agent."
        scores: dict[str, Any] | None = None
        if outcome == "changed":
            try:
                scores = dict(parse_scorecard(interaction.values).scores)
            except ScorecardInvalid as exc:
                errors.update(exc.errors)
        if errors:
            return errors
        try:
            service.resolve_dispute(
                interaction.user_id,
                _task_id(interaction.private_metadata),
                outcome=outcome,
                note=note,
                submission=_view_id(interaction),
                scores=scores,
            )
        except (Forbidden, QaError) as exc:
            return {qb.BLOCK_OUTCOME: str(exc)}
        return None

    def after_resolve(interaction: Interaction) -> None:
        service.after_resolution(_task_id(interaction.private_metadata))

    registry.on_action(qb.ACTION_SCORE, _button(service.open_score))
    registry.on_action(qb.ACTION_CONVO, _button(service.open_conversation))
    registry.on_action(qb.ACTION_DISPUTE, _button(service.open_dispute))
    registry.on_action(qb.ACTION_RESOLVE, _button(service.open_resolve))
    registry.on_view(qb.VIEW_SCORE, after_score, validate=validate_score)
    registry.on_view(qb.VIEW_DISPUTE, after_dispute, validate=validate_dispute)
    registry.on_view(qb.VIEW_RESOLVE, after_resolve, validate=validate_resolve)
