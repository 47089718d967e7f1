"""Block Kit messages for ``/deskbot`` answers, always within Slack's limits.

Slack accepts at most 50 blocks per message and 3000 characters per section text. ``Message.
payload()`` splits long sections at line breaks and, when a message would still exceed 50 blocks,
degrades to plain text instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from deskbot.domain.metrics import Window
from deskbot.services.providers import (
    BadRating,
    MetricValue,
    ReloadResult,
    Shoutout,
    StatsSummary,
    StreamStatus,
    TriggerResult,
)

MAX_BLOCKS = 50
SECTION_TEXT_LIMIT = 3000
MAX_HEADER_TEXT = 150
MESSAGE_TEXT_LIMIT = 39_000  # Slack truncates message text at 40,000 characters

Block = dict[str, Any]


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:SECTION_TEXT_LIMIT]}]}


def header(text: str) -> Block:
    if len(text) > MAX_HEADER_TEXT:
        text = text[: MAX_HEADER_TEXT - 1] + "…"
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def divider() -> Block:
    return {"type": "divider"}


@dataclass
class Message:
    """An answer: fallback text plus blocks; ephemeral unless the person asked to share it."""

    text: str
    blocks: list[Block] = field(default_factory=list)
    ephemeral: bool = True
    private: bool = False  # refusals and errors: only ever shown to the person who asked

    def shared(self, share: bool) -> Message:
        """In the channel when asked to share, unless the message is private."""
        ephemeral = self.private or not share
        return Message(self.text, self.blocks, ephemeral=ephemeral, private=self.private)

    def payload(self) -> dict[str, Any]:
        """The body for ``ack``/``respond``/``chat.postMessage``, fitted to Slack's limits."""
        blocks = fit_blocks(self.blocks)
        out: dict[str, Any] = {"response_type": "ephemeral" if self.ephemeral else "in_channel"}
        if blocks is None:
            out["text"] = _truncate(plain_text(self.blocks) or self.text, MESSAGE_TEXT_LIMIT)
        else:
            out["text"] = _truncate(self.text, MESSAGE_TEXT_LIMIT)
            if blocks:
                out["blocks"] = blocks
        return out


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut(text: str, limit: int) -> list[str]:
    return [text[i : i + limit] for i in range(0, len(text), limit)] or [""]


def chunk_lines(lines: Iterable[str], limit: int = SECTION_TEXT_LIMIT) -> list[str]:
    """Join lines into texts of at most ``limit`` characters, breaking between lines (and
    inside a line only when the line alone is too long)."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        for piece in _cut(line, limit):
            candidate = f"{current}\n{piece}" if current else piece
            if len(candidate) <= limit:
                current = candidate
            else:
                chunks.append(current)
                current = piece
    if current:
        chunks.append(current)
    return chunks


def _split_text(text: str, limit: int = SECTION_TEXT_LIMIT) -> list[str]:
    """Split at line breaks (or hard, for a single overlong line) into chunks within ``limit``."""
    return chunk_lines(text.split("\n"), limit) or [""]


def fit_blocks(blocks: Sequence[Block]) -> list[Block] | None:
    """Blocks within Slack's limits, or None when the message must degrade to plain text."""
    fitted: list[Block] = []
    for block in blocks:
        text = block.get("text", {}).get("text") if block.get("type") == "section" else None
        if isinstance(text, str) and len(text) > SECTION_TEXT_LIMIT:
            fitted.extend(
                {**block, "text": {**block["text"], "text": chunk}} for chunk in _split_text(text)
            )
        else:
            fitted.append(block)
    return fitted if len(fitted) <= MAX_BLOCKS else None


def plain_text(blocks: Sequence[Block]) -> str:
    """The readable text of a list of blocks (for the plain-text fallback)."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("section", "header"):
            lines.append(str(block["text"]["text"]))
        elif kind == "context":
            lines.extend(str(e.get("text", "")) for e in block.get("elements", []))
        elif kind == "divider":
            lines.append("")
    return "\n".join(lines).strip()


def text_message(text: str) -> Message:
    return Message(text, [section(text)])


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------


def format_minutes(value: float) -> str:
    if value >= 60 * 24:
        return f"{value / (60 * 24):.1f} d"
    if value >= 60:
        hours, minutes = divmod(round(value), 60)
        return f"{hours} h {minutes:02d} min"
    return f"{value:.0f} min"


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "minutes":
        return format_minutes(value)
    formats = {"percent": "{:.1f}%", "score": "{:.1f}"}
    return formats.get(unit, "{:,.0f}").format(value)


def format_delta(metric: MetricValue) -> str:
    if metric.value is None or metric.previous is None:
        return ""
    diff = metric.value - metric.previous
    if abs(diff) < 1e-9:
        return "no change"
    arrow = "▲" if diff > 0 else "▼"
    better = (diff > 0) == metric.higher_is_better
    verdict = "better" if better else "worse"
    if metric.unit == "percent":
        amount = f"{abs(diff):.1f} pts"
    elif metric.unit == "minutes":
        amount = format_value(abs(diff), "minutes")
    elif metric.previous:
        amount = f"{abs(diff):,.0f} ({abs(diff) / abs(metric.previous) * 100:.0f}%)"
    else:
        amount = f"{abs(diff):,.0f}"
    return f"{arrow} {amount}, {verdict}"


def format_period(period: Window) -> str:
    """What was asked for, then its first and last day (one date for a single day)."""
    first, last = period.start_day, period.last_day
    span = first.isoformat() if period.days == 1 else f"{first} – {last}"
    return f"{period.name} ({span})" if period.name else span


def format_time(when: datetime | None, tz: ZoneInfo) -> str:
    if when is None:
        return "never"
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


# --------------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------------


def render_stats(summary: StatsSummary) -> Message:
    lines = []
    for metric in summary.metrics:
        delta = format_delta(metric)
        suffix = f"  _{delta}_" if delta else ""
        lines.append(f"*{escape(metric.label)}*: {format_value(metric.value, metric.unit)}{suffix}")
    blocks = [
        header(summary.title),
        context(f"{escape(format_period(summary.period))} · deltas against the previous period"),
        section("\n".join(lines) if lines else "_No data in this period._"),
    ]
    if summary.notes:
        blocks.append(section("\n".join(f"• {escape(n)}" for n in summary.notes)))
    fallback = f"{summary.title}, {format_period(summary.period)}"
    return Message(fallback, blocks)


def render_bad_ratings(ratings: Sequence[BadRating], period: Window, tz: ZoneInfo) -> Message:
    title = f"Bad CSAT ratings, {format_period(period)}"
    if not ratings:
        empty = section(f"None in {period.name or period.label}. :tada:")
        return Message(title, [header("Bad CSAT ratings"), empty])
    blocks: list[Block] = [header("Bad CSAT ratings"), context(escape(format_period(period)))]
    for rating in ratings:
        ticket = f"#{rating.ticket_id}"
        if rating.ticket_url:
            ticket = f"<{rating.ticket_url}|{ticket}>"
        parts = [f"*{ticket}* · {format_time(rating.rated_at, tz)}"]
        if rating.agent_name:
            parts[0] += f" · {escape(rating.agent_name)}"
        if rating.reason:
            parts.append(f"Reason: {escape(rating.reason)}")
        if rating.comment:
            parts.append("> " + escape(rating.comment).replace("\n", "\n> "))
        if (followup := rating.followup) is not None:
            owner = f" by <@{followup.owner_slack_user}>" if followup.owner_slack_user else ""
            parts.append(f"Follow-up: *{followup.status}*{owner}")
        blocks.append(section("\n".join(parts)))
    return Message(f"{title}: {len(ratings)}", blocks)


_SHOUTOUT_KIND = {
    "csat": ":star: Customer praise",
    "qa_hero": ":trophy: QA hero bonus",
    "hero_of_the_week": ":medal: Hero of the week",
    "nps": ":speech_balloon: Colleague praise",
}


def render_shoutouts(shoutouts: Sequence[Shoutout], tz: ZoneInfo) -> Message:
    if not shoutouts:
        return text_message("No shout-outs yet. Great work is coming, surely.")
    blocks: list[Block] = [header("Recent shout-outs")]
    for item in shoutouts:
        who = f"<@{item.slack_user}>" if item.slack_user else escape(item.agent_name or "someone")
        blocks.append(section(f"{_SHOUTOUT_KIND[item.kind]} for {who}\n{escape(item.text)}"))
        blocks.append(context(format_time(item.created_at, tz)))
    return Message(f"{len(shoutouts)} recent shout-outs", blocks)


def render_sync_status(streams: Sequence[StreamStatus], tz: ZoneInfo) -> Message:
    if not streams:
        return text_message("No sync has run yet.")
    lines = []
    for stream in streams:
        state = ":arrows_counterclockwise: running" if stream.running else ""
        error = ""
        if stream.last_error:
            error = f"\n   :warning: last error: {escape(stream.last_error)}"
        lines.append(
            f"*{escape(stream.name)}*: up to {format_time(stream.position, tz)}, "
            f"last success {format_time(stream.last_success, tz)} {state}".rstrip()
            + error
        )
    return Message("Sync status", [header("Sync status"), section("\n".join(lines))])


def render_trigger(result: TriggerResult) -> Message:
    icon = ":arrows_counterclockwise:" if result.accepted else ":hourglass:"
    return text_message(f"{icon} {escape(result.message)}")


def render_reload(result: ReloadResult) -> Message:
    if result.ok:
        return text_message(f":white_check_mark: Configuration reloaded. {escape(result.message)}")
    return text_message(
        ":x: The new configuration was rejected; the running one stays in force.\n"
        f"```{escape(result.message)}```"
    )
