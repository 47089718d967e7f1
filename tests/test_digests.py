"""Digests: Block Kit rendering (golden), Slack limits, the chart, and posting exactly once."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from deskbot import bootstrap
from deskbot.adapters.db.kpi import SqlKpiSource
from deskbot.adapters.db.ledger import SqlActionLedger
from deskbot.adapters.db.store import Database
from deskbot.adapters.slack.charts import frt_histogram, render_chart
from deskbot.adapters.slack.digest_blocks import (
    MAX_BLOCKS,
    MAX_SECTION_TEXT,
    SlackDigestRenderer,
    chunk_lines,
    render_digest,
)
from deskbot.adapters.slack.notifier import SlackNotifier, make_client
from deskbot.domain.digest import Digest, TagLine
from deskbot.errors import SlackError
from deskbot.ports import OutgoingMessage
from deskbot.services.digests import DigestService, DryRunNotifier, find_digest
from deskbot.settings import Settings, parse_settings
from deskbot.testing import FakeClock
from fake_slack import FakeSlack, serve
from kpi_dataset import load, utc

GOLDEN = Path(__file__).parent / "golden" / "digest_blocks.json"
PERIOD = "2026-03-28..2026-03-29"
NOW = utc(2026, 4, 1, 7, 0)


def make_settings(url: str) -> Settings:
    return parse_settings(
        "timezone: Europe/Berlin\n"
        "zendesk: {subdomain: example}\n"
        f"storage: {{url: '{url}'}}\n"
        "team_tags: [hooray, lost_cause]\n"
        "workload: {daily_reply_threshold: 2}\n"
        "digests:\n"
        "  - name: daily-kpi\n"
        "    channel: '#kpi'\n"
        "    schedule: '0 9 * * *'\n"
    )


def service(db: Database, notifier: object, clock: FakeClock) -> tuple[DigestService, Settings]:
    settings = make_settings(db.url)
    svc = DigestService(
        settings,
        SqlKpiSource(db),
        SqlActionLedger(db, clock),
        notifier,
        SlackDigestRenderer(),  # type: ignore[arg-type]
    )
    return svc, settings


@pytest.fixture
def slack(clock: FakeClock) -> Iterator[FakeSlack]:
    with serve(clock) as fake:
        yield fake


def notifier_for(slack: FakeSlack, clock: FakeClock) -> SlackNotifier:
    return SlackNotifier(
        make_client("xoxb-test", f"{slack.base_url}api/", clock=clock), clock=clock
    )


def test_digest_blocks_match_golden(db: Database, clock: FakeClock) -> None:
    load(db)
    svc, settings = service(db, DryRunNotifier(), clock)
    composed = svc.compose(find_digest(settings, "#kpi"), NOW, PERIOD)
    rendered = [{"text": m.text, "blocks": m.blocks} for m in composed.messages]
    if os.environ.get("DESKBOT_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(rendered, indent=2, ensure_ascii=False) + "\n", "utf-8")
    assert rendered == json.loads(GOLDEN.read_text("utf-8"))
    assert composed.key == "digest:#kpi:2026-03-28"
    assert composed.chart is not None and composed.chart.startswith(b"\x89PNG\r\n\x1a\n")


def _big_digest(lines: int, line_length: int = 60) -> Digest:
    tags = tuple(TagLine(f"tag{i}", "A" * line_length, i, 0) for i in range(lines))
    return Digest(
        name="big",
        title="Weekly support digest: " + "x" * 200,
        period_label="p",
        previous_label="q",
        scope_label="all tickets",
        sections=("team_tags",),
        team_tags=tags,
    )


def test_long_digests_split_within_slack_limits() -> None:
    messages = render_digest(_big_digest(5000))
    assert len(messages) > 1
    for message in messages:
        assert message.blocks is not None and len(message.blocks) <= MAX_BLOCKS
        for block in message.blocks:
            if block["type"] == "section" and "text" in block:
                assert len(block["text"]["text"]) <= MAX_SECTION_TEXT
            if block["type"] == "header":
                assert len(block["text"]["text"]) <= 150
    assert messages[0].text.endswith(f"(1/{len(messages)})")
    # every tag line survives the split, in order
    text = "\n".join(
        b["text"]["text"] for m in messages for b in m.blocks or [] if b["type"] == "section"
    )
    assert text.count("`tag") == 5000 and text.index("`tag0`") < text.index("`tag4999`")


def test_an_overlong_line_is_cut_not_rejected() -> None:
    chunks = chunk_lines(["short", "y" * 7000, "tail"])
    assert all(len(c) <= MAX_SECTION_TEXT for c in chunks)
    assert "".join(chunks).replace("\n", "") == "short" + "y" * 7000 + "tail"


def test_chart_is_a_deterministic_png(db: Database, clock: FakeClock) -> None:
    load(db)
    svc, settings = service(db, DryRunNotifier(), clock)
    digest = svc.compose(find_digest(settings, "#kpi"), NOW, PERIOD).digest
    assert digest.chart is not None
    # a multi-day period charts weeks: 9-15 March: ticket 8; 16-22: 7, 9; 23-29: 1, 2, 3, 6
    # (4 is created at 00:00 on 30 March, 5 is deleted)
    assert digest.chart.unit == "week" and len(digest.chart.series) == 12
    assert [p.created for p in digest.chart.series[-3:]] == [1, 2, 4]
    assert [(p.good, p.bad) for p in digest.chart.series[-2:]] == [(0, 0), (2, 1)]
    assert digest.chart.frt_minutes == (10, 20, 30)
    first = render_chart(digest.chart, "t")
    assert first.startswith(b"\x89PNG") and len(first) > 10_000
    assert render_chart(digest.chart, "t") == first
    assert frt_histogram([0, 14, 15, 59, 60, 5000]) == [2, 1, 1, 1, 0, 0, 0, 0, 1]


def test_digest_is_posted_once(db: Database, clock: FakeClock, slack: FakeSlack) -> None:
    load(db)
    svc, settings = service(db, notifier_for(slack, clock), clock)
    config = find_digest(settings, "daily-kpi")
    outcome = svc.post(config, NOW, PERIOD)
    assert outcome.status == "posted" and len(outcome.posted) == 1
    assert slack.count("chat.postMessage") == 1
    message = slack.messages["C0KPI"][0]
    assert message["metadata"]["event_payload"] == {"key": "digest:#kpi:2026-03-28#0"}
    assert message["blocks"][0]["text"]["text"].startswith("2-day support digest")
    # the chart went into the digest's thread
    assert len(slack.uploads) == 1
    assert slack.uploads[0]["channel"] == "C0KPI"
    assert slack.uploads[0]["thread_ts"] == message["ts"]
    again = svc.post(config, NOW, PERIOD)
    assert again.status == "already_posted"
    assert slack.count("chat.postMessage") == 1 and len(slack.uploads) == 1
    record = SqlActionLedger(db, clock).get("digest:#kpi:2026-03-28")
    assert record is not None and record.status == "done"


class Crash(BaseException):
    """Stands in for the process dying (not an Exception: nothing catches it)."""


class CrashingLedger(SqlActionLedger):
    def __init__(self, db: Database, clock: FakeClock) -> None:
        super().__init__(db, clock)
        self.crash_on_checkpoint = True

    def checkpoint(self, key: str, result: dict[str, object]):  # type: ignore[no-untyped-def]
        if self.crash_on_checkpoint:
            raise Crash
        return super().checkpoint(key, result)


def test_crash_between_post_and_checkpoint_does_not_post_twice(
    db: Database, clock: FakeClock, slack: FakeSlack
) -> None:
    load(db)
    settings = make_settings(db.url)
    ledger = CrashingLedger(db, clock)
    svc = DigestService(
        settings, SqlKpiSource(db), ledger, notifier_for(slack, clock), SlackDigestRenderer()
    )
    config = find_digest(settings, "#kpi")
    with pytest.raises(Crash):
        svc.post(config, NOW, PERIOD)
    assert slack.count("chat.postMessage") == 1  # posted, but the ledger never heard of it
    pending = ledger.get("digest:#kpi:2026-03-28")
    assert pending is not None and pending.status == "pending" and pending.result is None
    ledger.crash_on_checkpoint = False
    clock.advance(600)
    outcome = svc.post(config, NOW, PERIOD)
    assert outcome.status == "resumed" and outcome.posted == []
    assert slack.count("chat.postMessage") == 1  # found by its marker in the history
    assert slack.count("conversations.history") == 1
    assert len(slack.uploads) == 1  # the chart had not started: uploaded now
    done = ledger.get("digest:#kpi:2026-03-28")
    assert done is not None and done.status == "done"
    first_ts = slack.messages["C0KPI"][0]["ts"]
    assert done.result is not None and done.result["parts"] == {"0": first_ts}


def test_cut_off_chart_upload_is_not_repeated(
    db: Database, clock: FakeClock, slack: FakeSlack
) -> None:
    load(db)
    svc, settings = service(db, notifier_for(slack, clock), clock)
    slack.faults["files.completeUploadExternal"].append((500, {"ok": False}, {}))
    with pytest.raises(Exception):  # noqa: B017  # whatever the HTTP failure looks like
        svc.post(find_digest(settings, "#kpi"), NOW, PERIOD)
    failed = SqlActionLedger(db, clock).get("digest:#kpi:2026-03-28")
    assert failed is not None and failed.status == "failed"
    outcome = svc.post(find_digest(settings, "#kpi"), NOW, PERIOD)
    assert outcome.status == "resumed" and outcome.chart_file is None
    assert slack.count("chat.postMessage") == 1
    assert slack.count("files.getUploadURLExternal") == 1  # at most once


def test_rate_limits_are_retried_and_posts_are_paced(clock: FakeClock, slack: FakeSlack) -> None:
    notifier = notifier_for(slack, clock)
    slack.faults["chat.postMessage"].append(
        (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})
    )
    first = notifier.post_message("#kpi", OutgoingMessage("one"))
    assert clock.sleeps == [7.0]  # Retry-After honoured, on the clock
    second = notifier.post_message("#kpi", OutgoingMessage("two"))  # 7 s later: no wait
    third = notifier.post_message("#kpi", OutgoingMessage("three"))  # right after: paced
    notifier.post_message("#wins", OutgoingMessage("elsewhere"))  # other channel: no wait
    assert first.channel == second.channel == third.channel == "C0KPI"
    assert slack.count("chat.postMessage") == 5  # one 429, then four posts
    assert clock.sleeps == [7.0, pytest.approx(1.0)]
    with pytest.raises(SlackError, match="channel_not_found"):
        notifier.post_message("#nope", OutgoingMessage("x"))


def test_scheduler_entry_points(db: Database, clock: FakeClock, slack: FakeSlack) -> None:
    load(db)
    settings = make_settings(db.url)
    notifier = notifier_for(slack, clock)
    kwargs = {"database": db, "notifier": notifier, "clock": clock}
    first = bootstrap.run_digest(settings, "daily-kpi", NOW, period=PERIOD, **kwargs)
    assert first.status == "posted" and first.key == "digest:#kpi:2026-03-28"
    # the configured period (daily): yesterday in Berlin, 31 March
    daily = bootstrap.run_digest(settings, "#kpi", NOW, **kwargs)
    assert daily.key == "digest:#kpi:2026-03-31" and daily.status == "posted"
    assert bootstrap.run_digest(settings, "#kpi", NOW, **kwargs).status == "already_posted"
    assert slack.count("chat.postMessage") == 2
    # shout-outs are off without a channel: nothing is posted, nothing recorded
    run = bootstrap.run_shoutouts(settings, NOW, **kwargs)
    assert run.posted == [] and slack.count("chat.postMessage") == 2


def test_next_scheduled_run_finishes_a_digest_left_unfinished(
    db: Database, clock: FakeClock, slack: FakeSlack
) -> None:
    load(db)
    settings = make_settings(db.url)
    notifier = notifier_for(slack, clock)
    slack.faults["chat.postMessage"].append((200, {"ok": False, "error": "not_in_channel"}, {}))
    with pytest.raises(SlackError, match="invite the bot"):
        bootstrap.run_digest(
            settings, "daily-kpi", NOW, database=db, notifier=notifier, clock=clock
        )
    ledger = SqlActionLedger(db, clock)
    failed = ledger.get("digest:#kpi:2026-03-31")
    assert failed is not None and failed.status == "failed"
    # the next morning: yesterday's digest is finished first, then today's is posted
    clock.advance(days=1)
    outcome = bootstrap.run_digest(
        settings, "daily-kpi", NOW + timedelta(days=1), database=db, notifier=notifier, clock=clock
    )
    assert outcome.key == "digest:#kpi:2026-04-01" and outcome.status == "posted"
    resumed = ledger.get("digest:#kpi:2026-03-31")
    assert resumed is not None and resumed.status == "done"
    markers = [m["metadata"]["event_payload"]["key"] for m in slack.messages["C0KPI"]]
    assert markers == ["digest:#kpi:2026-03-31#0", "digest:#kpi:2026-04-01#0"]
