"""NPS Block Kit is valid as Slack checks it, within its limits, and shows comments unedited."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from deskbot.adapters.slack import nps_blocks as nb
from deskbot.domain.nps import enps_from_counts
from deskbot.sandbox.slack.blockkit import validate_blocks, validate_view
from deskbot.services.nps import AskView, CommentView, DepartmentResult, ReplyView

ASK = AskView(
    "a" * 32,
    "R&D <core>",
    "How likely are you to recommend working with R&D <core> to a colleague?",
    datetime(2026, 11, 7, 9, 0, tzinfo=UTC),
    ZoneInfo("America/New_York"),
)
LONG = "Harsh *but* fair: <@U123> & co. " * 90  # ~2,900 characters, markup included


def test_every_message_and_modal_is_valid_block_kit() -> None:
    result = DepartmentResult(
        "Support",
        "round 2026-11-03T10:00",
        enps_from_counts(6, 2, 2),
        14,
        10,
        trend=[("round a", 10.0), ("round b", 40.0)],
        quarters=[("2026-Q3", 10.0, 8), ("2026-Q4", 40.0, 10)],
    )
    comment = CommentView("b" * 32, "Support", "round x", 2, LONG[:3000], True)
    messages = [
        nb.ask_message(ASK),
        nb.ask_message(ASK, reminder=True),
        nb.answered_message(ASK, "c" * 32),
        nb.expired_message(ASK),
        nb.results_message(result, 5),
        nb.results_message(DepartmentResult("Support", "q", None, 0, 0), 5),
        nb.withheld_message("Support", "round x", 5),
        nb.comment_message(comment),
        nb.reply_message(ReplyView("b" * 32, "Support", LONG[:3000], True)),
    ]
    for message in messages:
        assert validate_blocks(message.blocks) == [], message.text
    assert validate_view(nb.comment_modal("a" * 32, "c" * 32, "Support")) == []
    assert validate_view(nb.reply_modal(nb.CALLBACK_REPLY, "b" * 32, "Reply anonymously")) == []


def test_the_ask_has_eleven_distinct_score_buttons_and_local_expiry() -> None:
    blocks = nb.ask_message(ASK).blocks or []
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [b["text"]["text"] for b in buttons] == [str(n) for n in range(11)]
    assert len({b["action_id"] for b in buttons}) == 11
    assert all(b["value"] == f"{'a' * 32}:{n}" for n, b in enumerate(buttons))
    text = json.dumps(blocks)
    assert "Sat 07 Nov 04:00" in text  # 09:00 UTC in New York
    assert "R&amp;D &lt;core&gt;" in text  # escaped for mrkdwn


def test_comments_are_shown_unedited_as_plain_text_and_detractors_flagged() -> None:
    message = nb.comment_message(CommentView("b" * 32, "Support", "round x", 3, LONG, True))
    blocks = message.blocks or []
    plain = [b["text"]["text"] for b in blocks if (b.get("text") or {}).get("type") == "plain_text"]
    assert plain == [LONG]  # exactly as typed, never read as markup
    assert "Detractor" in json.dumps(blocks)
    praise = nb.comment_message(CommentView("b" * 32, "Support", "round x", 10, "Great", False))
    assert "Detractor" not in json.dumps(praise.blocks)


def test_a_destroyed_pool_says_so() -> None:
    assert "deleted unread" in nb.withheld_message("Support", "2026-Q4 (pooled rounds)", 5).text
    assert "pooled with the rest" in nb.withheld_message("Support", "round x", 5).text
