"""Block Kit rendering of digests and shout-outs, within Slack's limits.

Limits honoured (https://api.slack.com/reference/block-kit/blocks): at most 50 blocks a
message, 3000 characters in a section's text, 10 fields of 2000 characters, 150 characters in a
header. Long content is split over several sections and several messages; a single over-long
line is cut into pieces. Rendering never fails on size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deskbot.adapters.slack.blocks import (
    MAX_BLOCKS,
    Block,
    chunk_lines,
    context,
    escape,
    header,
)
from deskbot.adapters.slack.blocks import SECTION_TEXT_LIMIT as MAX_SECTION_TEXT

__all__ = [
    "MAX_BLOCKS",
    "MAX_SECTION_TEXT",
    "SlackDigestRenderer",
    "chunk_lines",
    "digest_blocks",
    "render_digest",
    "render_shoutout",
]
from deskbot.domain.digest import Digest
from deskbot.domain.shoutouts import Shoutout
from deskbot.ports import OutgoingMessage

MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_FALLBACK_TEXT = 3000

ARROWS = {"up": "▲", "down": "▼", "flat": "▬"}
TREND_EMOJI = {"better": " :large_green_circle:", "worse": " :red_circle:"}


def sections(lines: Sequence[str]) -> list[Block]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}} for text in chunk_lines(lines)
    ]


def field_sections(fields: Sequence[str]) -> list[Block]:
    blocks = []
    for i in range(0, len(fields), MAX_FIELDS):
        group = fields[i : i + MAX_FIELDS]
        blocks.append(
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": f[:MAX_FIELD_TEXT]} for f in group],
            }
        )
    return blocks


def split_messages(blocks: Sequence[Block], fallback: str) -> list[OutgoingMessage]:
    """Messages of at most 50 blocks; the fallback text says which part each one is."""
    parts = [list(blocks[i : i + MAX_BLOCKS]) for i in range(0, len(blocks), MAX_BLOCKS)]
    if not parts:
        return [OutgoingMessage(fallback[:MAX_FALLBACK_TEXT])]
    if len(parts) == 1:
        return [OutgoingMessage(fallback[:MAX_FALLBACK_TEXT], parts[0])]
    return [
        OutgoingMessage(f"{fallback} ({n}/{len(parts)})"[:MAX_FALLBACK_TEXT], part)
        for n, part in enumerate(parts, start=1)
    ]


def _headline_field(line: Any) -> str:
    text = f"*{escape(line.label)}*\n{escape(line.value)}"
    if line.change:
        arrow = ARROWS.get(line.direction or "", "")
        text += f"  {arrow} {escape(line.change)}{TREND_EMOJI.get(line.trend, '')}"
    return text


def digest_blocks(digest: Digest) -> list[Block]:
    """Every block of a digest, before splitting into messages."""
    blocks: list[Block] = [
        header(digest.title),
        context(
            f"{escape(digest.scope_label)} · {digest.period_label} compared with "
            f"{digest.previous_label}"
        ),
    ]
    if digest.has("headline"):
        blocks += field_sections([_headline_field(line) for line in digest.headline])
    if digest.has("workload"):
        blocks.append({"type": "divider"})
        lines = ["*Workload*"]
        if digest.workload:
            lines += [
                f"• *{escape(w.agent)}*: {escape(', '.join(w.flags))} ({escape(w.summary)})"
                for w in digest.workload
            ]
        else:
            lines.append("No one is over the thresholds. :relieved:")
        blocks += sections(lines)
    if digest.has("customers_in_need"):
        blocks.append({"type": "divider"})
        lines = ["*Customers in need*"]
        if digest.customers_open:
            lines.append("_Most open tickets_")
            lines += [f"• {escape(c)}" for c in digest.customers_open]
        if digest.customers_bad:
            lines.append("_Bad ratings this period_")
            lines += [f"• {escape(c)}" for c in digest.customers_bad]
        if len(lines) == 1:
            lines.append("Nobody is waiting on a pile of open tickets.")
        blocks += sections(lines)
    if digest.has("team_tags") and digest.team_tags:
        blocks.append({"type": "divider"})
        lines = ["*Team tags*"]
        for t in digest.team_tags:
            change = t.count - t.previous
            arrow = ARROWS["up"] if change > 0 else ARROWS["down"] if change < 0 else ARROWS["flat"]
            lines.append(f"• `{escape(t.tag)}` {escape(t.agent)}: {t.count} ({arrow} {change:+d})")
        blocks += sections(lines)
    return blocks


def digest_fallback(digest: Digest) -> str:
    """Plain text for notifications and clients without Block Kit."""
    parts = [f"{digest.title} ({digest.scope_label})"]
    parts += [
        f"{line.label}: {line.value}" + (f" ({line.change})" if line.change else "")
        for line in digest.headline[:4]
    ]
    return "; ".join(parts)


def render_digest(digest: Digest) -> list[OutgoingMessage]:
    return split_messages(digest_blocks(digest), digest_fallback(digest))


class SlackDigestRenderer:
    """``DigestRenderer`` and ``ShoutoutRenderer`` for Slack: Block Kit messages and a
    matplotlib PNG."""

    def render(self, digest: Digest) -> list[OutgoingMessage]:
        return render_digest(digest)

    def chart(self, digest: Digest) -> bytes | None:
        if digest.chart is None or not digest.has("charts"):
            return None
        from deskbot.adapters.slack.charts import render_chart  # matplotlib is slow to import

        return render_chart(digest.chart, f"{digest.title} ({digest.scope_label})")

    def render_shoutout(self, shoutout: Shoutout) -> OutgoingMessage:
        return render_shoutout(shoutout)


SHOUTOUT_EMOJI = {
    "rating": ":tada:",
    "hero_of_the_week": ":trophy:",
    "qa_hero": ":star2:",
    "nps_story": ":handshake:",
}


def render_shoutout(shoutout: Shoutout) -> OutgoingMessage:
    """A short celebratory message; the agent is @-mentioned when their Slack id is known."""
    who = (
        f"<@{shoutout.agent_slack_id}>"
        if shoutout.agent_slack_id
        else escape(shoutout.agent_name or "the team")
    )
    emoji = SHOUTOUT_EMOJI.get(shoutout.kind, ":tada:")
    title = escape(shoutout.title)
    if shoutout.agent_name and shoutout.agent_slack_id:
        title = title.replace(escape(shoutout.agent_name), who)
    lines = [f"{emoji} *{title}*"]
    if shoutout.quote:
        lines += ["> " + escape(line) for line in shoutout.quote.splitlines() or [""]]
    if shoutout.attribution:
        lines.append(f"- {escape(shoutout.attribution)}")
    if shoutout.detail:
        lines.append(escape(shoutout.detail))
    blocks = sections(lines)
    if shoutout.ticket_id is not None:
        blocks.append(context(f"Ticket #{shoutout.ticket_id}"))
    plain = shoutout.title + (f': "{shoutout.quote}"' if shoutout.quote else "")
    return split_messages(blocks[:MAX_BLOCKS], plain)[0]
