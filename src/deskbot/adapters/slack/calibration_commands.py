"""``/deskbot qa calibrate [n] [tickets…|tag:T]`` and ``/deskbot qa calibration [S]``.

The words are parsed here; who may do what is decided by ``CalibrationService`` (leads start
sessions; calibrators, leads and admins see one; results once it has closed)."""

from __future__ import annotations

from deskbot.adapters.slack.blocks import Message, context, section
from deskbot.adapters.slack.calibration_blocks import results_message, view_message
from deskbot.domain.authz import Forbidden
from deskbot.domain.commands import CommandError
from deskbot.services.calibration import CalibrationError, CalibrationService
from deskbot.services.providers import SlackServices

CALIBRATE_USAGE = "qa calibrate [n] [ticket ids…|tag:T]"
CALIBRATION_USAGE = "qa calibration [session]"


def _service(services: SlackServices) -> CalibrationService:
    if services.calibration is None:
        raise CommandError("Calibration sessions are not available in this deployment yet.")
    return services.calibration


def parse_calibrate(args: tuple[str, ...]) -> tuple[int | None, list[int], str | None]:
    """``[n] [ids…|tag:T]``: a lone small number is how many tickets; ``#123`` or several
    numbers are ticket ids; ``tag:refund`` draws from tagged tickets."""
    n: int | None = None
    ids: list[int] = []
    tag: str | None = None
    words = list(args)
    if words and words[0].isdigit() and int(words[0]) <= 20 and len(words) <= 2:
        rest = words[1:]
        if not rest or rest[0].lower().startswith("tag:"):
            n = int(words.pop(0))
    for word in words:
        if word.lower().startswith("tag:"):
            tag = word[4:].strip()
            if not tag:
                raise CommandError("Write the tag after `tag:`, e.g. `tag:refund`.")
        elif word.lstrip("#").isdigit() and len(word) < 20:
            ids.append(int(word.lstrip("#")))
        else:
            raise CommandError(
                f"I don't understand `{word}`: give a number of tickets, ticket ids or `tag:T`."
            )
    if ids and tag:
        raise CommandError("Name tickets or a tag, not both.")
    return n, ids, tag


def calibrate(user_id: str, args: tuple[str, ...], services: SlackServices) -> Message:
    service = _service(services)
    n, ids, tag = parse_calibrate(args)
    try:
        actor = service.directory.actor(user_id)
        session, _ = service.start(actor, n=n, ticket_ids=ids, tag=tag)
    except (CalibrationError, Forbidden) as exc:
        raise CommandError(str(exc)) from None
    poster = services.calibration_poster() if services.calibration_poster else None
    if poster is not None:
        poster.invite(session)
    who = ", ".join(f"<@{c}>" for c in session.calibrators)
    text = (
        f"Calibration session #{session.id} started: {len(session.tickets)} tickets "
        f"({session.how_chosen}) to {who}, due {session.deadline:%a %d %b %H:%M} UTC. "
        "Everyone gets a DM with Score buttons; results are posted when all have scored "
        "or at the deadline."
    )
    return Message(text, [section(text)])


def calibration(
    user_id: str, args: tuple[str, ...], services: SlackServices, api_root: str
) -> Message:
    service = _service(services)
    if len(args) > 1 or (args and not args[0].lstrip("#").isdigit()):
        raise CommandError("Give a session number, e.g. `qa calibration 3`, or nothing.")
    session_id = int(args[0].lstrip("#")) if args else None
    try:
        actor = service.directory.actor(user_id)
        if session_id is None:
            latest = service.store.sessions(limit=1)
            if not latest:
                raise CalibrationError("No calibration session yet: start one with `qa calibrate`.")
            session_id = latest[0].id
        view = service.view(actor, session_id)
        if view.session.status == "closed":
            report = service.report(actor, session_id)
            out = results_message(report, api_root)
        else:
            out = view_message(view)
    except (CalibrationError, Forbidden) as exc:
        raise CommandError(str(exc)) from None
    blocks = [b for b in (out.blocks or []) if b.get("type") != "actions"]
    blocks.append(context("Results: `deskbot qa calibration report --session N` for JSON."))
    return Message(out.text, blocks)
