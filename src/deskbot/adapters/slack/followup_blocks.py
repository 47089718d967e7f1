"""Block Kit for bad-CSAT follow-ups: the alert (with Claim / Handled), the Handled modal, and
the burst summary.

Interaction ids the Slack app registers (see ``followup_handlers``):

- ``followup_claim``   button action: claim the follow-up (value ``"{rating_id}:{generation}"``)
- ``followup_handled`` button action: open the Handled modal (same value)
- ``followup_handled_modal`` view callback: the modal's submission; ``private_metadata`` carries
  the value, the note is ``state.values["followup_note"]["note"]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from deskbot.domain.csat import FollowupState, claim_value
from deskbot.services.followups import AlertStatus

ACTION_CLAIM = "followup_claim"
ACTION_HANDLED = "followup_handled"
CALLBACK_HANDLED_MODAL = "followup_handled_modal"
NOTE_BLOCK = "followup_note"
NOTE_ACTION = "note"

_SECTION_LIMIT = 3000
_QUOTE_LIMIT = 1500


def _escape(text: str) -> str:
    """Slack mrkdwn control characters (``&``, ``<``, ``>``) as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    epoch = int(value.timestamp())
    fallback = value.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{fallback}>"


def _user(user: str | None) -> str:
    return f"<@{user}>" if user else "nobody yet"


def alert_text(alert: Mapping[str, Any], status: AlertStatus) -> str:
    """The plain-text fallback (notifications, screen readers)."""
    ticket = alert.get("ticket_id")
    head = f"Bad CSAT on ticket #{ticket}" if ticket else "Bad CSAT rating"
    return f"{head} from {alert.get('requester') or 'a customer'} ({_state_words(status)})"


def _state_words(status: AlertStatus) -> str:
    if status.state == FollowupState.CLAIMED:
        return f"claimed by {_user(status.claimed_by)}"
    if status.state == FollowupState.HANDLED:
        return f"handled by {_user(status.handled_by)}"
    if status.state == FollowupState.CLOSED:
        return "closed: the rating is no longer bad"
    return "unclaimed"


def alert_blocks(alert: Mapping[str, Any], status: AlertStatus) -> list[dict[str, Any]]:
    """The alert: ticket link, subject, requester, agent at rating time, comment and reason,
    the owner mentioned, and where it stands (with buttons while it is open)."""
    ticket_id = alert.get("ticket_id")
    url = alert.get("ticket_url")
    ticket = (
        f"<{url}|#{ticket_id}>" if url and ticket_id else (f"#{ticket_id}" if ticket_id else "")
    )
    subject = _escape(str(alert.get("subject") or "(no subject)"))
    requester = _escape(str(alert.get("requester") or "a customer"))
    agent = (
        f"<@{alert['agent_slack']}>"
        if alert.get("agent_slack")
        else _escape(str(alert.get("agent_name") or "unassigned"))
    )
    headline = f":red_circle: *Bad CSAT* on {ticket} — {subject}".strip()
    fields = [
        {"type": "mrkdwn", "text": f"*Customer*\n{requester}"},
        {"type": "mrkdwn", "text": f"*Agent at rating time*\n{agent}"},
        {"type": "mrkdwn", "text": f"*Reason*\n{_escape(str(alert.get('reason') or '—'))}"},
        {"type": "mrkdwn", "text": f"*Owner*\n{_user(status.owner or alert.get('owner'))}"},
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(headline, _SECTION_LIMIT)}},
        {"type": "section", "fields": fields},
    ]
    comment = alert.get("comment")
    if comment:
        quoted = "\n".join(
            "> " + line for line in _escape(_clip(str(comment), _QUOTE_LIMIT)).splitlines()
        )
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": quoted or "> "}})
    mentions = [u for u in (alert.get("owner"), alert.get("mention")) if u]
    if mentions and status.state == FollowupState.OPEN:
        unique = list(dict.fromkeys(mentions))
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": " ".join(f"<@{u}>" for u in unique) + " please claim",
                    }
                ],
            }
        )
    blocks.append(_status_block(status))
    value = claim_value(int(alert["rating_id"]), int(alert["generation"]))
    buttons: list[dict[str, Any]] = []
    if status.state == FollowupState.OPEN:
        buttons.append(
            {
                "type": "button",
                "action_id": ACTION_CLAIM,
                "text": {"type": "plain_text", "text": "Claim"},
                "style": "primary",
                "value": value,
            }
        )
    if status.state in (FollowupState.OPEN, FollowupState.CLAIMED):
        buttons.append(
            {
                "type": "button",
                "action_id": ACTION_HANDLED,
                "text": {"type": "plain_text", "text": "Handled"},
                "value": value,
            }
        )
    if buttons:
        blocks.append(
            {"type": "actions", "block_id": f"followup_actions:{value}", "elements": buttons}
        )
    return blocks


def _status_block(status: AlertStatus) -> dict[str, Any]:
    parts: list[str] = []
    if status.claimed_by:
        parts.append(
            f":raising_hand: Claimed by {_user(status.claimed_by)} {_when(status.claimed_at)}"
        )
    if status.state == FollowupState.HANDLED:
        line = (
            f":white_check_mark: Handled by {_user(status.handled_by)} {_when(status.handled_at)}"
        )
        if status.note:
            line += f"\n_{_escape(_clip(status.note, 500))}_"
        parts.append(line)
    if status.state == FollowupState.CLOSED:
        parts.append(
            f":large_green_circle: Closed {_when(status.closed_at)}: "
            "the customer changed the rating"
        )
    if not parts:
        parts.append(":hourglass: Unclaimed")
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": _clip("\n".join(parts), _SECTION_LIMIT)}],
    }


def handled_modal(value: str) -> dict[str, Any]:
    """The modal the Handled button opens: a short note on how the loop was closed."""
    return {
        "type": "modal",
        "callback_id": CALLBACK_HANDLED_MODAL,
        "private_metadata": value,
        "title": {"type": "plain_text", "text": "Follow-up handled"},
        "submit": {"type": "plain_text", "text": "Mark handled"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": NOTE_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "What did you do?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": NOTE_ACTION,
                    "multiline": True,
                    "max_length": 2000,
                    "placeholder": {
                        "type": "plain_text",
                        "text": "e.g. Called the customer, refunded the order",
                    },
                },
            }
        ],
    }


def modal_note(view: Mapping[str, Any]) -> str | None:
    """The note typed in a submitted Handled modal."""
    values = (view.get("state") or {}).get("values") or {}
    value = (values.get(NOTE_BLOCK) or {}).get(NOTE_ACTION) or {}
    note = value.get("value")
    return str(note) if note else None


def burst_summary(count: int, tickets: Sequence[int]) -> tuple[str, list[dict[str, Any]]]:
    shown = ", ".join(f"#{t}" for t in list(tickets)[:30] if t is not None)
    more = f" and {len(tickets) - 30} more" if len(tickets) > 30 else ""
    text = f"{count} bad CSAT ratings arrived at once; one follow-up per ticket in this thread."
    return text, [
        {"type": "section", "text": {"type": "mrkdwn", "text": f":red_circle: *{_escape(text)}*"}},
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": _clip(f"Tickets: {shown}{more}", _SECTION_LIMIT)}
            ],
        },
    ]
