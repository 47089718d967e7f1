"""Calibration buttons and modals, registered in the app's ``InteractionRegistry``.

================================  ======================  ====================================
id                                kind                    does
================================  ======================  ====================================
``calibration_score``             button in the DM        opens the scorecard modal
``calibration_scorecard``         modal submission        stores the scorecard (final)
``calibration_lessons``           button on the results   opens the lessons modal
``calibration_lessons_modal``     modal submission        stores and shares the lessons
================================  ======================  ====================================

The service decides who may do what; a refusal is shown in the modal (field errors) or as a
private message, and changes nothing. A forged value is refused the same way.

The scorecard is stored by the modal's validation step, before the acknowledgement (one short
insert): a refusal (not a calibrator, the session closed meanwhile) is shown in the modal, and
a submission Slack shows as accepted is never lost. A Slack retry finds it stored and says
nothing more.
"""

from __future__ import annotations

from collections.abc import Callable

from deskbot.adapters.slack import calibration_blocks as cb
from deskbot.adapters.slack.blocks import Block
from deskbot.adapters.slack.interactions import Interaction, InteractionRegistry
from deskbot.adapters.slack.scorecard_blocks import (
    ScorecardInvalid,
    block_id,
    parse_scorecard,
    scorecard_modal,
)
from deskbot.domain.authz import Forbidden
from deskbot.domain.people import Role
from deskbot.domain.scorecard import COMPETENCIES
from deskbot.log import get_logger
from deskbot.ports import OutgoingMessage
from deskbot.services.calibration import (
    CalibrationError,
    CalibrationReport,
    CalibrationService,
    SessionRecord,
)
from deskbot.services.calibration_dispatch import CalibrationDispatcher

log = get_logger(__name__)


class SlackCalibrationRenderer:
    """``services.calibration_dispatch.CalibrationRenderer`` in Block Kit."""

    def __init__(self, api_root: str, name_of: Callable[[str], str] | None = None) -> None:
        self.api_root = api_root
        self.name_of = name_of or (lambda slack_id: slack_id)

    def invitation(self, session: SessionRecord) -> OutgoingMessage:
        return cb.invitation(session, self.api_root)

    def results(self, report: CalibrationReport) -> OutgoingMessage:
        return cb.results_message(report, self.api_root)

    def notes(self, report: CalibrationReport) -> OutgoingMessage:
        return cb.notes_message(report)

    def lessons(self, session: SessionRecord) -> OutgoingMessage:
        return cb.lessons_message(session)

    def chart(self, report: CalibrationReport) -> bytes | None:
        names = {c: self.name_of(c) for c in report.results.calibrators}
        return cb.results_chart(report, names)


class CalibrationHandlers:
    """The calibration buttons and modals (see the module docstring)."""

    def __init__(
        self,
        service: CalibrationService,
        dispatcher: Callable[[], CalibrationDispatcher | None],
        api_root: str,
    ) -> None:
        self.service = service
        self.dispatcher = dispatcher
        self.api_root = api_root

    def score_button(self, interaction: Interaction) -> None:
        try:
            session_id, ticket_id = cb.parse_ref(interaction.value)
        except ValueError:
            _tell(interaction, "That button is not valid.")
            return
        try:
            actor = self.service.directory.actor(interaction.user_id)
            view = self.service.view(actor, session_id)
            if interaction.user_id not in view.session.calibrators:
                raise Forbidden(f"score tickets in session #{session_id}", "its calibrators")
            if view.session.status != "open":
                raise CalibrationError(f"Calibration session #{session_id} has closed.")
            own = {
                s.card.ticket_id for s in view.visible if s.card.calibrator == actor.slack_user_id
            }
            if ticket_id in own:
                raise CalibrationError(f"You have already scored #{ticket_id}: scores are final.")
        except (CalibrationError, Forbidden) as exc:
            _tell(interaction, str(exc))
            return
        modal = scorecard_modal(
            callback_id=cb.CALLBACK_SCORECARD,
            private_metadata=f"{session_id}:{ticket_id}",
            title=f"Calibrate #{ticket_id}",
            intro=cb.scorecard_intro(session_id, ticket_id, self.api_root),
            hero=None,
            notes="",
        )
        interaction.client.views_open(trigger_id=interaction.trigger_id, view=modal)

    def validate_scorecard(self, interaction: Interaction) -> dict[str, str] | None:
        first = block_id(COMPETENCIES[0].key)
        try:
            session_id, ticket_id = cb.parse_ref(interaction.private_metadata)
        except ValueError:
            return {first: "This form is not valid any more; open it again from your DM."}
        try:
            card = parse_scorecard(interaction.values)
        except ScorecardInvalid as exc:
            return dict(exc.errors)
        try:
            actor = self.service.directory.actor(interaction.user_id)
            outcome = self.service.submit(actor, session_id, ticket_id, card.scores, card.notes)
        except (CalibrationError, Forbidden) as exc:
            return {first: str(exc)}
        if not outcome.stored:
            return None  # a retry or double click of one already stored: nothing to say
        # The scorecard is stored before the acknowledgement: a submission that Slack shows
        # as accepted is never lost.
        log.info("calibration.scorecard_stored", session=session_id, ticket_id=ticket_id)
        return None

    def scorecard_submitted(self, interaction: Interaction) -> None:
        try:
            session_id, _ticket = cb.parse_ref(interaction.private_metadata)
        except ValueError:
            return
        actor = self.service.directory.actor(interaction.user_id)
        view = self.service.view(actor, session_id)
        done = view.progress.scored_by_calibrator.get(interaction.user_id, 0)
        total = view.progress.tickets
        text = f"Saved. You have scored {done} of {total} tickets in calibration #{session_id}." + (
            f" You can now see the others' scores: `/deskbot qa calibration {session_id}`."
            if done >= total
            else ""
        )
        _dm(interaction, text)
        poster = self.dispatcher()
        if poster is not None and not view.progress.waiting:
            poster.after_submission()

    def lessons_button(self, interaction: Interaction) -> None:
        try:
            session_id = cb.parse_session(interaction.value)
            session = self.service.store.get(session_id)
            actor = self.service.directory.actor(interaction.user_id)
            if session is None:
                raise CalibrationError(f"There is no calibration session #{session_id}.")
            if interaction.user_id != session.facilitator and not actor.at_least(Role.ADMIN):
                raise Forbidden(
                    f"write the lessons of calibration session #{session_id}",
                    "its facilitator and admins",
                )
            if session.lessons:
                raise CalibrationError("The lessons of this session were already written.")
        except ValueError:
            _tell(interaction, "That button is not valid.")
            return
        except (CalibrationError, Forbidden) as exc:
            _tell(interaction, str(exc))
            return
        interaction.client.views_open(
            trigger_id=interaction.trigger_id, view=cb.lessons_modal(session_id)
        )

    def validate_lessons(self, interaction: Interaction) -> dict[str, str] | None:
        text = str((interaction.values.get(cb.BLOCK_LESSONS) or {}).get("text") or "")
        try:
            session_id = cb.parse_session(interaction.private_metadata)
            actor = self.service.directory.actor(interaction.user_id)
            self.service.record_lessons(actor, session_id, text)
        except ValueError:
            return {cb.BLOCK_LESSONS: "This form is not valid any more."}
        except (CalibrationError, Forbidden) as exc:
            return {cb.BLOCK_LESSONS: str(exc)}
        return None

    def lessons_submitted(self, interaction: Interaction) -> None:
        try:
            session_id = cb.parse_session(interaction.private_metadata)
        except ValueError:
            return
        session = self.service.store.get(session_id)
        poster = self.dispatcher()
        if session is not None and poster is not None:
            poster.after_lessons(session)


def register_calibration_handlers(
    registry: InteractionRegistry,
    service: CalibrationService,
    dispatcher: Callable[[], CalibrationDispatcher | None],
    api_root: str,
) -> CalibrationHandlers:
    """Register the calibration buttons and modals. ``dispatcher`` builds the poster used
    after a submission (``None`` when Slack posting is not configured)."""
    h = CalibrationHandlers(service, dispatcher, api_root)
    registry.on_action(cb.ACTION_SCORE, h.score_button)
    registry.on_view(cb.CALLBACK_SCORECARD, h.scorecard_submitted, validate=h.validate_scorecard)
    registry.on_action(cb.ACTION_LESSONS, h.lessons_button)
    registry.on_view(cb.CALLBACK_LESSONS, h.lessons_submitted, validate=h.validate_lessons)
    return h


def _tell(interaction: Interaction, text: str) -> None:
    """A private answer to a click."""
    try:
        if interaction.respond is not None:
            interaction.respond(text=text, response_type="ephemeral", replace_original=False)
        elif interaction.channel_id:
            interaction.client.chat_postEphemeral(
                channel=interaction.channel_id, user=interaction.user_id, text=text
            )
    except Exception as exc:  # saying so is best effort; nothing was changed
        log.warning("calibration.reply_failed", error=str(exc))


def _dm(interaction: Interaction, text: str) -> None:
    try:
        blocks: list[Block] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
        interaction.client.chat_postMessage(channel=interaction.user_id, text=text, blocks=blocks)
    except Exception as exc:
        log.warning("calibration.reply_failed", error=str(exc))
