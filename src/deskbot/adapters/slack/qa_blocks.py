"""Block Kit for agent QA: the reviewer's task list, the agent's review, disputes, reminders,
the overdue list, the team digest, and the modals (score, dispute, resolve, conversation).

Ids (``InteractionRegistry`` prefixes; the value or ``private_metadata`` is the task id):

- buttons ``qa:score:<task>``, ``qa:convo:<task>``, ``qa:dispute:<task>``, ``qa:resolve:<task>``
- modals ``qa:score_modal``, ``qa:dispute_modal``, ``qa:resolve_modal``, ``qa:convo_modal``

Slack's limits are kept: at most 50 blocks a message (100 a modal), 3000 characters a section.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from deskbot.adapters.slack.scorecard_blocks import scorecard_modal
from deskbot.domain.links import ticket_url
from deskbot.domain.qa import STRATUM_LABELS
from deskbot.domain.scorecard import COMPETENCIES, MAX_SCORE
from deskbot.services.qa import Comment
from deskbot.services.qa_types import CycleRecord, DisputeRecord, ReviewRecord, TaskView

ACTION_SCORE = "qa:score"
ACTION_CONVO = "qa:convo"
ACTION_DISPUTE = "qa:dispute"
ACTION_RESOLVE = "qa:resolve"
VIEW_SCORE = "qa:score_modal"
VIEW_DISPUTE = "qa:dispute_modal"
VIEW_RESOLVE = "qa:resolve_modal"
VIEW_CONVO = "qa:convo_modal"
BLOCK_REASON = "qa_reason"
BLOCK_OUTCOME = "qa_outcome"
BLOCK_NOTE = "qa_note"
SECTION_MAX = 3000
MAX_TASKS_SHOWN = 20  # 2 blocks each + header/context: within 50 blocks
MAX_COMMENTS = 40


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _day(value: datetime) -> str:
    return f"{value:%a %d %b}"


def ticket_link(api_root: str | None, ticket_id: int) -> str:
    """The agent-facing link (``domain.links.ticket_url``, the same as alerts and digests)."""
    if api_root:
        return f"<{ticket_url(api_root, ticket_id)}|#{ticket_id}>"
    return f"#{ticket_id}"


def _who(name: str) -> str:
    """A person's name, or a mention when the directory knows only their Slack id."""
    if re.fullmatch(r"[UW][A-Z0-9]{2,}", name):
        return f"<@{name}>"
    return _esc(name)


def _section(text: str, accessory: dict[str, Any] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": _clip(text, SECTION_MAX)},
    }
    if accessory is not None:
        block["accessory"] = accessory
    return block


def _button(text: str, action: str, task_id: int, style: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": f"{action}:{task_id}",
        "value": str(task_id),
    }
    if style:
        b["style"] = style
    return b


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(text, SECTION_MAX)}]}


def why_sampled(task: TaskView) -> str:
    s = task.sample
    label = STRATUM_LABELS.get(s.stratum, s.stratum)
    return f"{label} ({s.stratum_sample} of {s.stratum_size})"


def _task_line(task: TaskView, api_root: str | None) -> str:
    subject = _esc(_clip(task.subject or "(no subject)", 150))
    facts = [f"why: {why_sampled(task)}"]
    facts.append(f"CSAT: {task.csat or 'none'}")
    facts.append(f"replies: {task.replies if task.replies is not None else '?'}")
    state = " ✅ scored" if task.review is not None else ""
    return f"*{ticket_link(api_root, task.sample.ticket_id)}* {subject}{state}\n" + " · ".join(
        facts
    )


def task_list(
    cycle: CycleRecord, tasks: Sequence[TaskView], api_root: str | None, *, reminder: bool = False
) -> tuple[str, list[dict[str, Any]]]:
    n = len(tasks)
    due = _day(cycle.due_at)
    if reminder:
        text = f"Reminder: {n} QA review{'s' if n != 1 else ''} for {cycle.key} due {due}"
    else:
        text = f"QA reviews for {cycle.key}: {n} ticket{'s' if n != 1 else ''}, due {due}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(text, 150)}}
    ]
    for task in tasks[:MAX_TASKS_SHOWN]:
        blocks.append(
            _section(_task_line(task, api_root), _button("Score", ACTION_SCORE, task.id, "primary"))
        )
        blocks.append(
            {"type": "actions", "elements": [_button("View conversation", ACTION_CONVO, task.id)]}
        )
    if n > MAX_TASKS_SHOWN:
        blocks.append(
            _context(f"…and {n - MAX_TASKS_SHOWN} more: `/deskbot qa tasks` lists them all.")
        )
    blocks.append(
        _context(
            "Score each ticket on the five competencies (0-4 or N/A). You can change a score "
            f"until the cycle closes on {_day(cycle.closes_at)}."
        )
    )
    return text, blocks


def _scores_text(review: ReviewRecord) -> str:
    lines = []
    for comp in COMPETENCIES:
        v = review.scores.get(comp.key)
        lines.append(f"• {comp.label}: {'N/A' if v is None else f'{v}/{MAX_SCORE}'}")
    return "\n".join(lines)


def _score(value: float | None) -> str:
    return "no score (all N/A)" if value is None else f"{value:.0f}/100"


def review_message(
    task: TaskView,
    review: ReviewRecord,
    reviewer_shown: str | None,
    closes: datetime,
    api_root: str | None,
    *,
    can_dispute: bool = True,
) -> tuple[str, list[dict[str, Any]]]:
    link = ticket_link(api_root, task.sample.ticket_id)
    by = f" by {_who(reviewer_shown)}" if reviewer_shown else ""
    amended = f" (amended, version {review.version})" if review.version > 1 else ""
    text = f"Your QA review of ticket #{task.sample.ticket_id}: {_score(review.score)}"
    blocks: list[dict[str, Any]] = [
        _section(f"*Your QA review of {link}*{by}{amended}: *{_score(review.score)}*"),
        _section(_scores_text(review)),
    ]
    if review.hero:
        blocks.append(_section(":star2: *Hero Bonus!* Exceptional work on this ticket."))
    if review.notes:
        blocks.append(_section(f"*Notes:* {_esc(review.notes)}"))
    buttons = [_button("View conversation", ACTION_CONVO, task.id)]
    if can_dispute:
        buttons.append(_button("Dispute", ACTION_DISPUTE, task.id, "danger"))
    blocks.append({"type": "actions", "elements": buttons})
    blocks.append(
        _context(f"Disagree? Dispute it before {_day(closes)}: a QA owner or your lead will look.")
    )
    return text, blocks


def dispute_message(
    task: TaskView, dispute: DisputeRecord, agent_name: str, api_root: str | None
) -> tuple[str, list[dict[str, Any]]]:
    link = ticket_link(api_root, task.sample.ticket_id)
    text = f"{agent_name} disputes their QA review of ticket #{task.sample.ticket_id}"
    blocks: list[dict[str, Any]] = [
        _section(f"*{_who(agent_name)} disputes their QA review of {link}*"),
        _section(f"*Reason:* {_esc(dispute.reason)}"),
    ]
    if task.review is not None:
        blocks.append(
            _section(
                f"*Reviewed by <@{task.review.author}>: {_score(task.review.score)}*\n"
                + _scores_text(task.review)
            )
        )
    blocks.append(
        {
            "type": "actions",
            "elements": [
                _button("Resolve", ACTION_RESOLVE, task.id, "primary"),
                _button("View conversation", ACTION_CONVO, task.id),
            ],
        }
    )
    return text, blocks


def outcome_message(
    task: TaskView, dispute: DisputeRecord, api_root: str | None
) -> tuple[str, list[dict[str, Any]]]:
    link = ticket_link(api_root, task.sample.ticket_id)
    word = "changed" if dispute.state == "changed" else "upheld"
    text = f"Your dispute of the QA review of ticket #{task.sample.ticket_id}: {word}"
    blocks = [
        _section(
            f"*Your dispute of the QA review of {link} was {word}* by <@{dispute.resolved_by}>."
        ),
        _section(f"*Note:* {_esc(dispute.resolution_note or '')}"),
    ]
    if dispute.state == "changed" and task.review is not None:
        blocks.append(
            _section(f"*New score: {_score(task.review.score)}*\n" + _scores_text(task.review))
        )
    return text, blocks


def overdue_message(
    cycle: CycleRecord, tasks: Sequence[TaskView], names: Mapping[str, str]
) -> tuple[str, list[dict[str, Any]]]:
    by_reviewer: dict[str, int] = {}
    for t in tasks:
        by_reviewer[t.reviewer] = by_reviewer.get(t.reviewer, 0) + 1
    text = f"Overdue QA reviews for {cycle.key}: {len(tasks)} (due {_day(cycle.due_at)})"
    lines = [
        f"• <@{r}>: {n} open" for r, n in sorted(by_reviewer.items(), key=lambda x: (-x[1], x[0]))
    ]
    return text, [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(text, 150)}},
        _section("\n".join(lines[:60]) or "none"),
    ]


def digest_message(report: Any) -> tuple[str, list[dict[str, Any]]]:
    """Team-level numbers only (the channel sees no per-agent results)."""
    team = report.team
    cycles = ", ".join(report.cycles)
    if team.estimate is None:
        headline = "no scored reviews"
    else:
        ci = (
            f" (95% CI {team.ci_low:.0f}-{team.ci_high:.0f})"
            if team.ci_low is not None and team.ci_high is not None
            else ""
        )
        headline = f"*{team.estimate:.1f}/100*{ci}, n = {team.n}"
        if team.unweighted_mean is not None:
            headline += f" · unweighted mean {team.unweighted_mean:.1f}"
    text = f"QA results for {cycles}"
    comp_lines = []
    for comp in COMPETENCIES:
        v = report.team_competencies.get(comp.key)
        comp_lines.append(f"• {comp.label}: {'—' if v is None else f'{v:.0f}'}")
    d = report.disputes
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(text, 150)}},
        _section(f"Team QA score: {headline}"),
        _section("*By competency*\n" + "\n".join(comp_lines)),
        _section(
            f"Reviews done: {report.done} of {report.tasks} · hero bonuses: {report.hero} · "
            f"disputes: {d.get('opened', 0)} ({d.get('upheld', 0)} upheld, "
            f"{d.get('changed', 0)} changed, {d.get('open', 0)} open)"
        ),
        _context(
            "Scores are stratified estimates: risky tickets are oversampled and weighted back."
        ),
    ]
    return text, blocks


# -- modals -----------------------------------------------------------------------------------


def _intro(task: TaskView, api_root: str | None) -> list[dict[str, Any]]:
    return [_section(_task_line(task, api_root))]


def score_modal(task: TaskView, closes: datetime, api_root: str | None) -> dict[str, Any]:
    review = task.review
    return scorecard_modal(
        callback_id=VIEW_SCORE,
        private_metadata=str(task.id),
        title="Score ticket" if review is None else "Amend score",
        intro=[
            *_intro(task, api_root),
            _context(f"Editable until {_day(closes)}."),
        ],
        initial=review.scores if review is not None else None,
        hero=review.hero if review is not None else False,
        notes=(review.notes or "") if review is not None else "",
    )


def dispute_modal(task: TaskView, api_root: str | None) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": VIEW_DISPUTE,
        "private_metadata": str(task.id),
        "title": {"type": "plain_text", "text": "Dispute review"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            *_intro(task, api_root),
            {
                "type": "input",
                "block_id": BLOCK_REASON,
                "label": {"type": "plain_text", "text": "What do you disagree with, and why?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "reason",
                    "multiline": True,
                    "max_length": 2000,
                },
            },
        ],
    }


def resolve_modal(task: TaskView, api_root: str | None) -> dict[str, Any]:
    reason = task.dispute.reason if task.dispute is not None else ""
    options = [
        {"text": {"type": "plain_text", "text": "Upheld: the review stands"}, "value": "upheld"},
        {
            "text": {"type": "plain_text", "text": "Changed: store the scores below"},
            "value": "changed",
        },
    ]
    intro = [
        *_intro(task, api_root),
        _section(f"*Reason given:* {_esc(_clip(reason, 2500))}"),
        {
            "type": "input",
            "block_id": BLOCK_OUTCOME,
            "label": {"type": "plain_text", "text": "Outcome"},
            "element": {"type": "radio_buttons", "action_id": "outcome", "options": options},
        },
        {
            "type": "input",
            "block_id": BLOCK_NOTE,
            "label": {"type": "plain_text", "text": "Note for the agent"},
            "element": {
                "type": "plain_text_input",
                "action_id": "note",
                "multiline": True,
                "max_length": 2000,
            },
        },
    ]
    return scorecard_modal(
        callback_id=VIEW_RESOLVE,
        private_metadata=str(task.id),
        title="Resolve dispute",
        intro=intro,
        initial=task.review.scores if task.review is not None else None,
        hero=None,
        notes=None,
        submit="Resolve",
    )


def conversation_modal(
    task: TaskView, comments: Sequence[Comment] | None, api_root: str | None, error: str = ""
) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = _intro(task, api_root)
    if error:
        blocks.append(_section(f":warning: {_esc(error)}"))
    elif comments is None:
        blocks.append(_section("Loading the conversation from Zendesk…"))
    elif not comments:
        blocks.append(_section("No public comments on this ticket."))
    else:
        shown = list(comments)[-MAX_COMMENTS:]
        if len(comments) > len(shown):
            blocks.append(_context(f"Showing the last {len(shown)} of {len(comments)} comments."))
        for c in shown:
            when = f" · {c.created_at:%d %b %H:%M}" if c.created_at else ""
            blocks.append(_context(f"*{_esc(c.author)}*{when}"))
            blocks.append(_section(_esc(c.body.strip()) or "(empty)"))
    return {
        "type": "modal",
        "callback_id": VIEW_CONVO,
        "private_metadata": str(task.id),
        "title": {"type": "plain_text", "text": f"Ticket #{task.sample.ticket_id}"[:24]},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": blocks[:100],
    }
