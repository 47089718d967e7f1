"""Calibration sessions in Slack: the invitation DM, the results post (with its chart) and the
notes and lessons threads. Block Kit within Slack's limits (``blocks.Message.payload`` fits
them); the chart is a matplotlib dot plot (Agg canvas, never pyplot)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from deskbot.adapters.slack.blocks import Block, context, divider, escape, header, section
from deskbot.domain.calibration import Agreement
from deskbot.domain.links import ticket_url
from deskbot.domain.scorecard import COMPETENCIES
from deskbot.ports import OutgoingMessage
from deskbot.services.calibration import CalibrationReport, SessionRecord, SessionView

ACTION_SCORE = "calibration_score"  # value "{session}:{ticket}"
ACTION_LESSONS = "calibration_lessons"  # value "{session}"
CALLBACK_SCORECARD = "calibration_scorecard"  # private_metadata "{session}:{ticket}"
CALLBACK_LESSONS = "calibration_lessons_modal"  # private_metadata "{session}"
BLOCK_LESSONS = "lessons"
LABELS = {c.key: c.label for c in COMPETENCIES}


def parse_ref(value: str | None) -> tuple[int, int]:
    """``"{session}:{ticket}"`` -> ids; ``ValueError`` for anything else (a forged value)."""
    parts = (value or "").split(":")
    if len(parts) != 2 or not all(p.isdigit() and len(p) < 19 for p in parts):
        raise ValueError("not a calibration ticket reference")
    return int(parts[0]), int(parts[1])


def parse_session(value: str | None) -> int:
    text = value or ""
    if not text.isdigit() or len(text) >= 19:
        raise ValueError("not a calibration session reference")
    return int(text)


def invitation(session: SessionRecord, api_root: str) -> OutgoingMessage:
    """The DM every calibrator gets: the tickets, a Score button each, the deadline."""
    blocks: list[Block] = [
        header(f"Calibration session #{session.id}"),
        section(
            f"Please score these {len(session.tickets)} tickets on the QA scorecard by "
            f"*{session.deadline:%a %d %b %H:%M} UTC*. You will see the others' scores and "
            "notes once you have scored every ticket; nobody sees yours before that."
        ),
    ]
    for ticket_id, channel in session.tickets:
        url = ticket_url(api_root, ticket_id)
        label = f"<{url}|#{ticket_id}>" if url else f"#{ticket_id}"
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"{label} · {escape(channel or 'unknown')}"},
                "accessory": {
                    "type": "button",
                    "action_id": ACTION_SCORE,
                    "text": {"type": "plain_text", "text": f"Score #{ticket_id}"},
                    "value": f"{session.id}:{ticket_id}",
                },
            }
        )
    blocks.append(context(f"Chosen: {escape(session.how_chosen)}"))
    return OutgoingMessage(f"Calibration session #{session.id}: please score", blocks)


def scorecard_intro(session_id: int, ticket_id: int, api_root: str) -> list[Block]:
    url = ticket_url(api_root, ticket_id)
    link = f"<{url}|ticket #{ticket_id}>" if url else f"ticket #{ticket_id}"
    return [
        section(
            f"Calibration session #{session_id}: score {link} as you would in a QA review. "
            "Your scores are final once saved."
        )
    ]


def _alpha_line(label: str, agreement: Agreement) -> str:
    if agreement.alpha is None:
        what = "perfect agreement (no variation)" if agreement.perfect_agreement else "n/a"
        return f"*{label}*: {what} · {agreement.pairable_values} pairable values"
    ci = (
        f" (95% CI {agreement.ci_low:.2f} to {agreement.ci_high:.2f})"
        if agreement.ci_low is not None and agreement.ci_high is not None
        else ""
    )
    return f"*{label}*: α = {agreement.alpha:.2f}{ci} · {agreement.pairable_values} pairable values"


def results_message(report: CalibrationReport, api_root: str) -> OutgoingMessage:
    """The results post: agreement, flagged spreads, who scores high or low, and a button for
    the facilitator's lessons learned."""
    res = report.results
    session = report.session
    blocks: list[Block] = [
        header(f"Calibration session #{session.id}: results"),
        section(
            f"{len(res.calibrators)} calibrators · {len(res.tickets)} tickets · "
            f"acceptable variance ±{res.acceptable_variance} point(s)\n"
            + _alpha_line("Agreement, Krippendorff's alpha (ordinal)", res.overall)
        ),
        section(
            "\n".join(
                _alpha_line(LABELS[key], agreement) for key, agreement in res.per_competency.items()
            )
        ),
    ]
    flagged = res.flagged
    if flagged:
        lines = []
        for s in flagged[:30]:
            url = ticket_url(api_root, s.ticket_id)
            ticket = f"<{url}|#{s.ticket_id}>" if url else f"#{s.ticket_id}"
            scores = ", ".join(f"<@{c}> {v}" for c, v in s.scores.items())
            lines.append(
                f"{ticket} · {LABELS[s.competency]}: {scores} (range {s.range}, SD {s.sd:.2f})"
            )
        more = f"\n…and {len(flagged) - 30} more" if len(flagged) > 30 else ""
        blocks.append(
            section(":warning: *Beyond the acceptable variance*\n" + "\n".join(lines) + more)
        )
    else:
        blocks.append(section(":white_check_mark: Every score within the acceptable variance."))
    bias_lines = []
    for b in sorted(res.biases, key=lambda b: (b.mean_deviation is None, -(b.mean_deviation or 0))):
        if b.mean_deviation is None:
            bias_lines.append(f"<@{b.calibrator}>: no comparable scores")
            continue
        lean = "higher" if b.mean_deviation > 0 else "lower" if b.mean_deviation < 0 else "on"
        slope = report.drift.get(b.calibrator)
        trend = f" · drift {slope:+.2f}/session" if slope is not None else ""
        bias_lines.append(
            f"<@{b.calibrator}>: {b.mean_deviation:+.2f} points vs the median "
            f"({lean}{' the median' if lean == 'on' else ''}){trend}"
        )
    blocks.append(section("*Who scores high or low*\n" + "\n".join(bias_lines)))
    if res.missing:
        blocks.append(
            context(
                "Not scored: "
                + "; ".join(
                    f"<@{c}> " + ", ".join(f"#{t}" for t in tickets)
                    for c, tickets in res.missing.items()
                )
            )
        )
    blocks.append(divider())
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": ACTION_LESSONS,
                    "text": {"type": "plain_text", "text": "Write lessons learned"},
                    "value": str(session.id),
                }
            ],
        }
    )
    blocks.append(context("Each calibrator's notes are in the thread: discuss the differences."))
    alpha = f"{res.overall.alpha:.2f}" if res.overall.alpha is not None else "n/a"
    return OutgoingMessage(f"Calibration session #{session.id}: alpha {alpha}", blocks)


def notes_message(report: CalibrationReport) -> OutgoingMessage:
    """Each calibrator's notes per ticket, revealed in the results' thread."""
    lines: list[str] = []
    for ticket_id in report.results.tickets:
        notes = report.notes.get(ticket_id, {})
        if not notes:
            continue
        lines.append(f"*#{ticket_id}*")
        lines += [f"<@{c}>: {escape(text)}" for c, text in notes.items()]
    if not lines:
        return OutgoingMessage("No calibrator left notes.", [section("No calibrator left notes.")])
    return OutgoingMessage(
        "Calibrators' notes", [section(chunk) for chunk in _chunks(lines, 2900)][:45]
    )


def lessons_message(session: SessionRecord) -> OutgoingMessage:
    text = session.lessons or ""
    return OutgoingMessage(
        f"Lessons learned from calibration session #{session.id}",
        [
            header(f"Lessons learned · calibration #{session.id}"),
            *[section(escape(chunk)) for chunk in _chunks(text.splitlines() or [""], 2900)],
            context(f"Written by <@{session.facilitator}>"),
        ],
    )


def lessons_modal(session_id: int) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": CALLBACK_LESSONS,
        "private_metadata": str(session_id),
        "title": {"type": "plain_text", "text": "Lessons learned"},
        "submit": {"type": "plain_text", "text": "Share"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": BLOCK_LESSONS,
                "label": {"type": "plain_text", "text": "What did the team agree on?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "text",
                    "multiline": True,
                    "max_length": 3000,
                },
            }
        ],
    }


def view_message(view: SessionView) -> OutgoingMessage:
    """``/deskbot qa calibration S`` while open: progress, and scores once the viewer may see
    them."""
    session = view.session
    progress = view.progress
    lines = [
        f"*Calibration session #{session.id}* · {session.status} · due "
        f"{session.deadline:%a %d %b %H:%M} UTC",
        "Finished: " + (", ".join(f"<@{c}>" for c in progress.finished) or "nobody yet"),
        "Still scoring: " + (", ".join(f"<@{c}>" for c in progress.waiting) or "nobody"),
    ]
    if view.blind:
        lines.append("_Scores stay hidden until you have scored every ticket (or the close)._")
    blocks = [section("\n".join(lines))]
    if not view.blind:
        rows = []
        for stored in view.visible:
            card = stored.card
            values = " ".join(
                f"{LABELS[k][:4]} {'N/A' if v is None else v}" for k, v in card.scores.items()
            )
            note = f" — {escape(stored.notes)}" if stored.notes else ""
            rows.append(f"#{card.ticket_id} <@{card.calibrator}>: {values}{note}")
        blocks += [section(chunk) for chunk in _chunks(rows or ["No scores yet."], 2900)][:40]
    return OutgoingMessage(f"Calibration session #{session.id}", blocks)


def _chunks(lines: Sequence[str], limit: int) -> list[str]:
    out: list[str] = []
    current = ""
    for whole in lines:
        line = whole[:limit]
        if current and len(current) + 1 + len(line) > limit:
            out.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        out.append(current)
    return out


def results_chart(report: CalibrationReport, names: dict[str, str] | None = None) -> bytes:
    """A dot plot: each calibrator's score per ticket x competency, the spread as a line, and
    flagged cells in red."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    res = report.results
    names = names or {}
    rows = [(s.ticket_id, s.competency) for s in res.spreads]
    height = max(3.0, 0.28 * len(rows) + 1.5)
    fig = Figure(figsize=(8, height), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    palette = ["#4C78A8", "#F58518", "#54A24B", "#B279A2", "#E45756", "#72B7B2", "#9D755D"]
    colors = {c: palette[i % len(palette)] for i, c in enumerate(res.calibrators)}
    offsets = {
        c: (i - (len(res.calibrators) - 1) / 2) * 0.08 for i, c in enumerate(res.calibrators)
    }
    for y, spread in enumerate(res.spreads):
        if spread.scores:
            lo, hi = min(spread.scores.values()), max(spread.scores.values())
            ax.plot([lo, hi], [y, y], color="#E45756" if spread.flagged else "#BBBBBB", zorder=1)
        for cal, value in spread.scores.items():
            ax.scatter(value, y + offsets[cal], color=colors[cal], s=28, zorder=2)
    ax.set_yticks(range(len(rows)), [f"#{t} {LABELS[k][:18]}" for t, k in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xticks(range(5))
    ax.set_xlim(-0.4, 4.4)
    ax.set_xlabel("score (0 = not demonstrated … 4 = fully)")
    ax.grid(axis="x", color="#EEEEEE")
    for cal in res.calibrators:
        ax.scatter([], [], color=colors[cal], label=names.get(cal, cal))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4, fontsize=7, frameon=False)
    alpha = res.overall.alpha
    ax.set_title(
        f"Calibration #{report.session.id}: scores per ticket and competency (α = {alpha:.2f})"
        if alpha is not None
        else f"Calibration #{report.session.id}",
        fontsize=10,
    )
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
