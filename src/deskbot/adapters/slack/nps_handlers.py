"""Slack handlers for internal NPS, registered on the app's ``InteractionRegistry``, and the
``/deskbot nps`` subcommand.

===========================  ====================  =============================================
id                           kind                  what
===========================  ====================  =============================================
``nps_score_<n>``            button                answer (once; own ask only); opens the
                                                   comment modal
``nps_comment``              button                reopen the comment modal
``nps_comment_modal``        view submission       the comment and "may be shared" (length
                                                   checked in the modal)
``nps_reply``                button                the department's owner replies to a comment
``nps_reply_modal``          view submission       ... sent to the author by DM
``nps_author_reply``         button                the author answers the owner
``nps_author_reply_modal``   view submission       ... sent to the owner by DM
``nps_discussed``            button                owner (or a lead) marks a comment discussed
===========================  ====================  =============================================

Every handler resolves the clicking user with ``PeopleDirectory.actor`` and the service checks
it; a refusal or bad input is told to that user alone and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from deskbot.adapters.slack import nps_blocks as nb
from deskbot.adapters.slack.blocks import Message, context, escape, section
from deskbot.adapters.slack.interactions import Interaction, InteractionRegistry
from deskbot.adapters.slack.nps_notifier import SlackNpsMessenger
from deskbot.domain.authz import Forbidden
from deskbot.domain.commands import CommandError
from deskbot.domain.nps import COMMENT_MAX_CHARS, NpsInputError
from deskbot.domain.people import Role
from deskbot.log import get_logger
from deskbot.services.nps import NpsReport, NpsService

if TYPE_CHECKING:
    from deskbot.adapters.slack.commands import Invocation, Reply

log = get_logger(__name__)


def _tell(interaction: Interaction, messenger: SlackNpsMessenger, text: str) -> None:
    """Show ``text`` to the clicking user alone: through a click's ``response_url``, or in
    their DM with deskbot after a modal."""
    if not text:
        return
    try:
        if interaction.respond is not None:
            interaction.respond(text=text, response_type="ephemeral", replace_original=False)
        else:
            messenger.tell(interaction.user_id, text)
    except Exception as exc:  # what was done is done; failing to say so is not fatal
        log.warning("nps.outcome_not_shown", error=str(exc))


def _guarded(
    messenger: SlackNpsMessenger, handler: Callable[[Interaction], str]
) -> Callable[[Interaction], None]:
    def run(interaction: Interaction) -> None:
        try:
            text = handler(interaction)
        except (Forbidden, NpsInputError) as exc:
            text = f":no_entry: {exc}" if isinstance(exc, Forbidden) else f":warning: {exc}"
        except Exception as exc:
            # No traceback: its locals could pair a person with a score or a comment.
            error_id = uuid.uuid4().hex[:8]
            log.warning(
                "nps.handler_failed", id=interaction.id, error=type(exc).__name__, error_id=error_id
            )
            text = f":x: Sorry, that failed on my side (error id `{error_id}`); please try again."
        _tell(interaction, messenger, text)

    return run


def _split(value: str | None, parts: int) -> list[str]:
    pieces = (value or "").split(":")
    if len(pieces) != parts or not all(pieces):
        raise NpsInputError("This button's data is malformed; nothing was changed.")
    return pieces


def validate_comment(interaction: Interaction) -> dict[str, str] | None:
    text = (interaction.values.get(nb.COMMENT_BLOCK) or {}).get(nb.COMMENT_INPUT)
    if isinstance(text, str) and len(text) > COMMENT_MAX_CHARS:
        return {
            nb.COMMENT_BLOCK: f"At most {COMMENT_MAX_CHARS} characters, please "
            f"(this has {len(text)})."
        }
    return None


def validate_reply(interaction: Interaction) -> dict[str, str] | None:
    text = (interaction.values.get(nb.REPLY_BLOCK) or {}).get(nb.REPLY_INPUT)
    if not isinstance(text, str) or not text.strip():
        return {nb.REPLY_BLOCK: "Please write a reply."}
    if len(text) > COMMENT_MAX_CHARS:
        return {nb.REPLY_BLOCK: f"At most {COMMENT_MAX_CHARS} characters, please."}
    return None


def register_nps_handlers(  # noqa: PLR0915 (one small closure per button or modal)
    registry: InteractionRegistry, service: NpsService, messenger: SlackNpsMessenger
) -> None:
    directory = service.directory

    def score(interaction: Interaction) -> str:
        actor = directory.actor(interaction.user_id)
        ask_id, raw = _split(interaction.value, 2)
        outcome = service.answer(actor, ask_id, raw)
        if outcome.ok and outcome.box_id and outcome.ask is not None:
            view = service._view(outcome.ask)
            if outcome.ask.dm_channel and outcome.ask.message_ts:
                messenger.update_message(
                    outcome.ask.dm_channel,
                    outcome.ask.message_ts,
                    nb.answered_message(view, outcome.box_id),
                )
            if interaction.trigger_id:
                try:
                    messenger.open_view(
                        interaction.trigger_id,
                        nb.comment_modal(ask_id, outcome.box_id, outcome.ask.department),
                    )
                    return ""
                except Exception as exc:  # the trigger expired: the button stays
                    log.info("nps.comment_modal_not_opened", error=str(exc))
        return outcome.message

    def reopen_comment(interaction: Interaction) -> str:
        ask_id, box_id = _split(interaction.value, 2)
        ask = service.store.ask(ask_id)
        if ask is None or ask.slack_user_id != interaction.user_id:
            raise Forbidden("comment on this answer", "the person who answered")
        messenger.open_view(
            interaction.trigger_id or "", nb.comment_modal(ask_id, box_id, ask.department)
        )
        return ""

    def comment(interaction: Interaction) -> str:
        actor = directory.actor(interaction.user_id)
        ask_id, box_id = _split(interaction.private_metadata, 2)
        text = (interaction.values.get(nb.COMMENT_BLOCK) or {}).get(nb.COMMENT_INPUT)
        share = (interaction.values.get(nb.SHARE_BLOCK) or {}).get(nb.SHARE_INPUT) or []
        outcome = service.comment(
            actor, ask_id, box_id, text if isinstance(text, str) else None, "yes" in share
        )
        return outcome.message

    def open_reply(interaction: Interaction) -> str:
        actor = directory.actor(interaction.user_id)
        (answer_id,) = _split(interaction.value, 1)
        service.check_reply_allowed(actor, answer_id)
        messenger.open_view(
            interaction.trigger_id or "",
            nb.reply_modal(nb.CALLBACK_REPLY, answer_id, "Reply anonymously"),
        )
        return ""

    def reply(interaction: Interaction) -> str:
        actor = directory.actor(interaction.user_id)
        (answer_id,) = _split(interaction.private_metadata, 1)
        text = (interaction.values.get(nb.REPLY_BLOCK) or {}).get(nb.REPLY_INPUT)
        return service.reply_to_author(actor, answer_id, str(text or ""))

    def open_author_reply(interaction: Interaction) -> str:
        (answer_id,) = _split(interaction.value, 1)
        messenger.open_view(
            interaction.trigger_id or "",
            nb.reply_modal(nb.CALLBACK_AUTHOR_REPLY, answer_id, "Answer anonymously"),
        )
        return ""

    def author_reply(interaction: Interaction) -> str:
        actor = directory.actor(interaction.user_id)
        (answer_id,) = _split(interaction.private_metadata, 1)
        text = (interaction.values.get(nb.REPLY_BLOCK) or {}).get(nb.REPLY_INPUT)
        return service.reply_to_owner(actor, answer_id, str(text or ""))

    def discussed(interaction: Interaction) -> str:
        actor = directory.actor(interaction.user_id)
        (answer_id,) = _split(interaction.value, 1)
        view = service.mark_discussed(actor, answer_id)
        if interaction.channel_id and interaction.message_ts:
            messenger.update_message(
                interaction.channel_id, interaction.message_ts, nb.comment_message(view)
            )
        return ""

    registry.on_action(nb.ACTION_SCORE, _guarded(messenger, score))
    registry.on_action(nb.ACTION_COMMENT, _guarded(messenger, reopen_comment))
    registry.on_view(nb.CALLBACK_COMMENT, _guarded(messenger, comment), validate=validate_comment)
    registry.on_action(nb.ACTION_REPLY, _guarded(messenger, open_reply))
    registry.on_view(nb.CALLBACK_REPLY, _guarded(messenger, reply), validate=validate_reply)
    registry.on_action(nb.ACTION_AUTHOR_REPLY, _guarded(messenger, open_author_reply))
    registry.on_view(
        nb.CALLBACK_AUTHOR_REPLY, _guarded(messenger, author_reply), validate=validate_reply
    )
    registry.on_action(nb.ACTION_DISCUSSED, _guarded(messenger, discussed))


# --------------------------------------------------------------------------------------------
# /deskbot nps optout | optin | report [department] [period] | plan
# --------------------------------------------------------------------------------------------

NPS_USAGE = "nps optout | optin | report [department] [period] | plan"


def render_report(report: NpsReport) -> Message:
    blocks: list[dict[str, Any]] = [section(f"*Internal NPS, {escape(report.period)}*")]
    for d in report.departments:
        r = d.result
        if r is None:
            line = f"*{escape(d.department)}*: nothing to show (no group of {report.threshold}+)"
        else:
            rate = d.response_rate
            line = (
                f"*{escape(d.department)}*: eNPS {r.enps:+.0f} "
                f"(95% CI {r.ci_low:+.0f} to {r.ci_high:+.0f}) · "
                f"{r.promoters} promoters / {r.passives} passives / {r.detractors} detractors"
                + (f" · {100 * rate:.0f}% answered" if rate is not None else "")
            )
            if len(d.trend) > 1:
                line += "\ntrend: " + " → ".join(f"{v:+.0f}" for _, v in d.trend[-6:])
        blocks.append(section(line))
    blocks.append(
        context(
            f"Only groups of at least {report.threshold} answers are shown, released when a "
            "round closes."
        )
    )
    return Message(f"Internal NPS, {report.period}", blocks[:50])


def nps_subcommand(inv: Invocation) -> Reply:
    """``/deskbot nps ...``: the actor comes from the people directory and the service checks
    it; EMPLOYEE may opt out and in, owners/leads/admins see results."""
    service: NpsService = inv.need(inv.services.nps, "Internal NPS surveys")
    words = list(inv.args)
    if not words:
        raise CommandError(f"Try `{inv.command} {NPS_USAGE}`.")
    verb, rest = words[0].lower(), words[1:]
    actor = service.directory.actor(inv.user_id)

    def guarded(work: Callable[[], Message]) -> Callable[[], Message]:
        def run() -> Message:
            try:
                return work()
            except Forbidden as exc:
                message = Message(str(exc), [section(f":no_entry: {escape(str(exc))}")])
            except NpsInputError as exc:
                message = Message(str(exc), [section(f":warning: {escape(str(exc))}")])
            message.private = True
            return message

        return run

    def text(value: str) -> Message:
        return Message(value, [section(escape(value))], private=True)

    if verb in ("optout", "opt-out") and not rest:
        return guarded(lambda: text(service.opt_out(actor)))
    if verb in ("optin", "opt-in") and not rest:
        return guarded(lambda: text(service.opt_in(actor)))
    if verb == "report":
        period = None
        department = None
        if rest and _looks_like_period(rest[-1]):
            period = rest[-1]
            rest = rest[:-1]
        if rest:
            department = " ".join(rest)
        return guarded(lambda: render_report(service.report(actor, department, period)))
    if verb == "plan" and rest in ([], ["--dry-run"], ["dry-run"]):

        def plan() -> Message:
            p = service.plan(service.clock.now())
            body = nb.plan_text(p.counts(), p.eligible, p.excluded)
            if actor.at_least(Role.ADMIN):
                names = ", ".join(f"<@{a.slack_user_id}>→{escape(a.department)}" for a in p.asks)
                body += f"\n{names[:2500]}" if names else ""
            return Message("NPS plan", [section(body)], private=True)

        return guarded(plan)
    raise CommandError(f"I don't know `nps {escape(' '.join(words))}`. Try `{NPS_USAGE}`.")


def _looks_like_period(word: str) -> bool:
    w = word.lower()
    return w in ("quarter", "this-quarter", "last-quarter", "year", "all") or (
        len(w) == 7 and w[4:6] == "-q"
    )
