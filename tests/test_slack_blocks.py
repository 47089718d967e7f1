"""Block Kit rendering stays within Slack's limits and degrades to text."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from deskbot.adapters.slack.blocks import (
    MAX_BLOCKS,
    SECTION_TEXT_LIMIT,
    Message,
    escape,
    format_delta,
    format_period,
    format_value,
    render_bad_ratings,
    render_stats,
    section,
)
from deskbot.domain.metrics import Window, parse_period
from deskbot.services.providers import MetricValue, StatsSummary

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_long_section_is_split_at_line_breaks() -> None:
    lines = [f"line {i} " + "x" * 90 for i in range(100)]  # ~10,000 characters
    payload = Message("long", [section("\n".join(lines))]).payload()
    blocks = payload["blocks"]
    assert len(blocks) > 1
    assert all(len(b["text"]["text"]) <= SECTION_TEXT_LIMIT for b in blocks)
    assert "\n".join(b["text"]["text"] for b in blocks) == "\n".join(lines)


def test_a_single_overlong_line_is_cut_hard() -> None:
    payload = Message("long", [section("y" * 7000)]).payload()
    assert [len(b["text"]["text"]) for b in payload["blocks"]] == [3000, 3000, 1000]


def test_too_many_blocks_degrade_to_plain_text() -> None:
    blocks = [section(f"item {i}") for i in range(MAX_BLOCKS + 1)]
    payload = Message("summary", blocks).payload()
    assert "blocks" not in payload
    assert payload["text"].startswith("item 0\nitem 1")
    assert payload["text"].endswith(f"item {MAX_BLOCKS}")
    exactly = Message("ok", blocks[:MAX_BLOCKS]).payload()
    assert len(exactly["blocks"]) == MAX_BLOCKS


def test_sharing_and_privacy() -> None:
    assert Message("x").payload()["response_type"] == "ephemeral"
    assert Message("x").shared(True).payload()["response_type"] == "in_channel"
    assert Message("x", private=True).shared(True).payload()["response_type"] == "ephemeral"


def test_escape_and_numbers() -> None:
    assert escape("<@U1> & <!channel>") == "&lt;@U1&gt; &amp; &lt;!channel&gt;"
    assert format_value(None, "count") == "–"
    assert format_value(1234, "count") == "1,234"
    assert format_value(92.345, "percent") == "92.3%"
    assert format_value(45, "minutes") == "45 min"
    assert format_value(125, "minutes") == "2 h 05 min"
    assert format_value(3000, "minutes") == "2.1 d"
    assert format_delta(MetricValue("Solved", 110, 100)) == "▲ 10 (10%), better"
    assert format_delta(MetricValue("Backlog", 110, 100, higher_is_better=False)).endswith("worse")
    assert format_delta(MetricValue("CSAT", 90, 90, unit="percent")) == "no change"
    assert format_delta(MetricValue("CSAT", 90, None, unit="percent")) == ""


def test_stats_rendering_escapes_labels_and_lists_notes() -> None:
    period = Window(date(2026, 11, 1), date(2026, 11, 8), "Europe/Berlin", "last 7 complete days")
    summary = StatsSummary(
        "Numbers for Billing",
        period,
        (MetricValue("Replies <public>", 12, 10),),
        notes=("Ada: 80 replies/day, above the 50 threshold",),
    )
    payload = render_stats(summary).payload()
    text = str(payload["blocks"])
    assert "Replies &lt;public&gt;" in text
    assert "last 7 complete days (2026-11-01 – 2026-11-07)" in text
    assert "• Ada: 80 replies/day" in text


def test_periods_are_shown_as_asked_and_as_the_days_they_cover() -> None:
    now = datetime(2026, 11, 4, 9, tzinfo=UTC)
    assert format_period(parse_period("7d", now, BERLIN)) == (
        "last 7 complete days (2026-10-28 – 2026-11-03)"
    )
    assert format_period(parse_period("today", now, BERLIN)) == "today (2026-11-04)"
    # a date range needs no name: both days are shown, as typed
    assert format_period(parse_period("2026-11-01..2026-11-03", now, BERLIN)) == (
        "2026-11-01 – 2026-11-03"
    )
    empty = render_bad_ratings([], parse_period("2026-11-01..2026-11-03", now, BERLIN), BERLIN)
    assert "None in 2026-11-01..2026-11-03." in str(empty.payload()["blocks"])
