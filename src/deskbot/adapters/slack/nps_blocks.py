"""Block Kit for internal NPS: the ask (0-10 buttons), its reminder, answered and expired
states, the comment modal, results, withheld notices, comments for the owner, and the two-way
anonymous reply thread.

Comments are shown as ``plain_text``: exactly what the colleague typed, unedited and never
interpreted as markup ("keep it real").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from deskbot.adapters.slack.blocks import escape
from deskbot.domain.nps import COMMENT_MAX_CHARS
from deskbot.ports import OutgoingMessage
from deskbot.services.nps import AskView, CommentView, DepartmentResult, ReplyView

ACTION_SCORE = "nps_score"  # nps_score_0 .. nps_score_10, value "<ask>:<score>"
ACTION_COMMENT = "nps_comment"  # value "<ask>:<box>"
ACTION_REPLY = "nps_reply"  # owner -> author, value "<answer>"
ACTION_AUTHOR_REPLY = "nps_author_reply"  # author -> owner, value "<answer>"
ACTION_DISCUSSED = "nps_discussed"  # value "<answer>"
CALLBACK_COMMENT = "nps_comment_modal"
CALLBACK_REPLY = "nps_reply_modal"
CALLBACK_AUTHOR_REPLY = "nps_author_reply_modal"
COMMENT_BLOCK, COMMENT_INPUT = "comment", "text"
SHARE_BLOCK, SHARE_INPUT = "share", "may_share"
REPLY_BLOCK, REPLY_INPUT = "reply", "text"


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _local(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).strftime("%a %d %b %H:%M")


ANONYMOUS_NOTE = (
    "Anonymous by design: deskbot keeps *that* you answered apart from *what* you answered, "
    "and shows results only for groups of colleagues, never one by one."
)


def ask_message(ask: AskView, *, reminder: bool = False) -> OutgoingMessage:
    buttons = [
        {
            "type": "button",
            "action_id": f"{ACTION_SCORE}_{n}",
            "text": _plain(str(n)),
            "value": f"{ask.ask_id}:{n}",
        }
        for n in range(11)
    ]
    intro = ":wave: Quick reminder: " if reminder else ""
    blocks = [
        _section(f"{intro}*{escape(ask.question)}*"),
        {"type": "actions", "block_id": "nps_scores_a", "elements": buttons[:6]},
        {"type": "actions", "block_id": "nps_scores_b", "elements": buttons[6:]},
        _context(
            "0 = not at all likely · 10 = extremely likely · open until "
            f"{_local(ask.expires_at, ask.tz)} · `/deskbot nps optout` to stop these"
        ),
        _context(ANONYMOUS_NOTE),
    ]
    return OutgoingMessage(text=ask.question, blocks=blocks)


def answered_message(ask: AskView, box_id: str | None = None) -> OutgoingMessage:
    """The ask once answered. The score is not repeated: a DM stays in Slack's history (and
    in workspace exports), the score must not."""
    blocks: list[dict[str, Any]] = [
        _section(f"*{escape(ask.question)}*"),
        _section(":white_check_mark: Thank you! Your answer is recorded, anonymously."),
    ]
    if box_id is not None:
        blocks.append(
            {
                "type": "actions",
                "block_id": "nps_comment",
                "elements": [
                    {
                        "type": "button",
                        "action_id": ACTION_COMMENT,
                        "text": _plain("Add a comment"),
                        "value": f"{ask.ask_id}:{box_id}",
                    }
                ],
            }
        )
    blocks.append(_context(ANONYMOUS_NOTE))
    return OutgoingMessage(text="Thank you! Your answer is recorded.", blocks=blocks)


def expired_message(ask: AskView) -> OutgoingMessage:
    text = f"This survey expired on {_local(ask.expires_at, ask.tz)}; answers are closed."
    return OutgoingMessage(
        text=text,
        blocks=[_section(f"~{escape(ask.question)}~"), _section(f":hourglass: {text}")],
    )


def comment_modal(ask_id: str, box_id: str, department: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": CALLBACK_COMMENT,
        "private_metadata": f"{ask_id}:{box_id}",
        "title": _plain("Anything to add?"),
        "submit": _plain("Send"),
        "close": _plain("No thanks"),
        "blocks": [
            {
                "type": "input",
                "block_id": COMMENT_BLOCK,
                "optional": True,
                "label": _plain(f"A comment for {department[:100]} (optional)"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": COMMENT_INPUT,
                    "multiline": True,
                    "max_length": COMMENT_MAX_CHARS,
                },
            },
            {
                "type": "input",
                "block_id": SHARE_BLOCK,
                "optional": True,
                "label": _plain("Sharing"),
                "element": {
                    "type": "checkboxes",
                    "action_id": SHARE_INPUT,
                    "options": [
                        {
                            "text": _plain("This comment may be shared (anonymously) as praise"),
                            "value": "yes",
                        }
                    ],
                },
            },
            _context(
                "Your comment goes to the department's owner without your name, unedited, "
                "once enough colleagues have answered."
            ),
        ],
    }


def reply_modal(callback_id: str, answer_id: str, title: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": answer_id,
        "title": _plain(title[:24]),
        "submit": _plain("Send"),
        "blocks": [
            {
                "type": "input",
                "block_id": REPLY_BLOCK,
                "label": _plain("Your reply"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REPLY_INPUT,
                    "multiline": True,
                    "max_length": COMMENT_MAX_CHARS,
                },
            },
            _context("Sent through deskbot: the other side does not see who you are."),
        ],
    }


def _fmt(value: float) -> str:
    return f"{value:+.0f}"


def results_message(result: DepartmentResult, threshold: int) -> OutgoingMessage:
    r = result.result
    title = f"Internal NPS: {result.department} ({result.period})"
    if r is None:
        return OutgoingMessage(
            text=title,
            blocks=[
                {"type": "header", "text": _plain(title[:150])},
                _section(
                    f"No results to show yet: results appear once at least {threshold} "
                    "colleagues have answered."
                ),
            ],
        )
    rate = result.response_rate
    fields = [
        f"*eNPS*\n{_fmt(r.enps)} (95% CI {_fmt(r.ci_low)} to {_fmt(r.ci_high)})",
        f"*Answers*\n{r.n} of {result.asked} asked"
        + (f" ({100 * rate:.0f}% response)" if rate is not None else ""),
        f"*Promoters (9-10)*\n{r.promoters}",
        f"*Passives (7-8)*\n{r.passives}",
        f"*Detractors (0-6)*\n{r.detractors}",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(title[:150])},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if len(result.quarters) > 1 or len(result.trend) > 1:
        trend = " → ".join(f"{escape(label)}: {_fmt(v)}" for label, v in result.trend[-8:])
        quarters = " · ".join(f"{q}: {_fmt(v)} (n={n})" for q, v, n in result.quarters[-4:])
        blocks.append(_section(f"*Trend*\n{trend}\n*Quarters*\n{quarters}"[:2900]))
    note = f"Only groups of at least {threshold} answers are shown; comments follow below."
    if result.withheld_cells:
        note += f" {result.withheld_cells} smaller round(s) are not shown."
    blocks.append(_context(note))
    return OutgoingMessage(text=f"{title}: eNPS {_fmt(r.enps)}", blocks=blocks)


def withheld_message(department: str, period: str, threshold: int) -> OutgoingMessage:
    what = (
        "These answers were deleted unread."
        if period.endswith("(pooled rounds)")  # a quarter's pool is final
        else "These answers are pooled with the rest of the quarter and shown if the pool "
        "reaches the threshold."
    )
    text = (
        f"Internal NPS for {department} ({period}): fewer than {threshold} colleagues answered, "
        f"so nothing is shown, to keep everyone anonymous. {what}"
    )
    return OutgoingMessage(text=text, blocks=[_section(escape(text))])


def comment_message(comment: CommentView) -> OutgoingMessage:
    head = (
        f":rotating_light: *Detractor* (score {comment.score})"
        if comment.flagged
        else f"Score {comment.score}"
    )
    buttons: list[dict[str, Any]] = [
        {
            "type": "button",
            "action_id": ACTION_REPLY,
            "text": _plain("Reply anonymously"),
            "value": comment.answer_id,
        }
    ]
    if not comment.discussed:
        buttons.append(
            {
                "type": "button",
                "action_id": ACTION_DISCUSSED,
                "text": _plain("Mark discussed"),
                "value": comment.answer_id,
            }
        )
    state = " · :speech_balloon: discussed with the team" if comment.discussed else ""
    blocks = [
        _section(
            f"{head} · a colleague about *{escape(comment.department)}* · {escape(comment.period)}"
            + state
        ),
        {"type": "section", "text": _plain(comment.comment)},
        {"type": "actions", "block_id": "nps_comment_actions", "elements": buttons},
    ]
    return OutgoingMessage(text=f"Comment about {comment.department}", blocks=blocks)


def reply_message(reply: ReplyView) -> OutgoingMessage:
    if reply.to_author:
        head = f"The owner of *{escape(reply.department)}* replied to your comment:"
        action, label = ACTION_AUTHOR_REPLY, "Answer (stays anonymous)"
    else:
        head = f"The author of a comment about *{escape(reply.department)}* answered you:"
        action, label = ACTION_REPLY, "Reply anonymously"
    blocks = [
        _section(head),
        {"type": "section", "text": _plain(reply.text)},
        {
            "type": "actions",
            "block_id": "nps_reply_actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": action,
                    "text": _plain(label),
                    "value": reply.answer_id,
                }
            ],
        },
    ]
    return OutgoingMessage(text=head.replace("*", ""), blocks=blocks)


def plan_text(counts: dict[str, int], eligible: int, excluded: dict[str, int]) -> str:
    lines = [f"• {escape(d)}: {n} ask(s)" for d, n in counts.items()] or ["• nobody is due"]
    why = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(excluded.items()))
    return (
        "*Next round (dry run)*\n"
        + "\n".join(lines)
        + f"\n{eligible} eligible colleague(s)"
        + (f"; not eligible: {why}" if why else "")
    )
