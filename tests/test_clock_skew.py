"""Issue 13: sync windows on Zendesk's clock. The sandbox's clock runs 30 minutes ahead of or
behind the host's (``clock_offset_seconds``); after a catch-up every rating is stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from deskbot import metrics_registry as metrics
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.sync_store import SqlSyncStore
from deskbot.adapters.zendesk.client import ZendeskClient
from deskbot.adapters.zendesk.http import ServerClock
from deskbot.sandbox.zendesk import ZendeskSandbox
from deskbot.services.sync import SyncService
from deskbot.settings import ZendeskRateLimits, ZendeskSettings
from deskbot.testing import FakeClock
from zendesk_fake import FakeZendesk, InMemorySource, make_rating, make_ticket

HALF_HOUR = 30 * 60
T0 = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp())


def _settings(sb: ZendeskSandbox) -> ZendeskSettings:
    return ZendeskSettings(
        subdomain="acme",
        base_url=sb.base_url,
        email=SecretStr(sb.email),
        api_token=SecretStr(sb.token),
        rate_limits=ZendeskRateLimits(account_per_minute=100_000),
    )


@pytest.fixture(params=[HALF_HOUR, -HALF_HOUR], ids=["zendesk_ahead", "zendesk_behind"])
def skewed(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[ZendeskSandbox]:
    sb = ZendeskSandbox(
        seed=11,
        tickets=80,
        start=clock.now(),
        clock_offset_seconds=request.param,
        account_limit=100_000,
        incremental_limit=100_000,
        monotonic=clock.monotonic,
    )
    sb.start()
    yield sb
    sb.stop()


def _stored(db: Database) -> set[tuple[int, str]]:
    with db.engine.connect() as conn:
        return {
            (r[0], r[1]) for r in conn.execute(text("SELECT id, score FROM satisfaction_ratings"))
        }


def _in_zendesk(sb: ZendeskSandbox) -> set[tuple[int, str]]:
    return {(r.id, r.score) for r in sb.state.ratings.values()}


def test_no_rating_is_lost_when_the_clocks_disagree_by_half_an_hour(
    db: Database, clock: FakeClock, skewed: ZendeskSandbox
) -> None:
    client = ZendeskClient.from_settings(_settings(skewed), clock)
    service = SyncService(client, SqlSyncStore(db), clock, ratings_overlap_minutes=15)
    assert service.run().ok
    assert _stored(db) == _in_zendesk(skewed)
    # Zendesk's skew is measured from its Date header and exported as a metric.
    assert client.clock_skew_seconds == pytest.approx(skewed.clock_offset_seconds, abs=2)
    assert metrics.ZENDESK_CLOCK_SKEW._value.get() == pytest.approx(
        skewed.clock_offset_seconds, abs=2
    )
    solved = [t.id for t in skewed.state.tickets.values() if t.status in ("solved", "closed")]
    assert len(solved) >= 20
    rated = 0
    for step in range(6):  # customers rate, and the schedule syncs every 10 minutes
        for i in range(20):
            skewed.advance(seconds=30)
            skewed.rate(solved[(step * 20 + i) % len(solved)], "bad" if i % 3 else "good")
            rated += 1
        clock.advance(minutes=10)
        assert service.run().ok
    # One catch-up sync later, every rating is stored, and from the ratings endpoint itself
    # (not only the copy a ticket carries): the windows covered Zendesk's whole timeline.
    clock.advance(minutes=10)
    skewed.advance(minutes=10)
    assert service.run().ok
    missing = _in_zendesk(skewed) - _stored(db)
    assert not missing, f"{len(missing)} of {rated} ratings never synced"
    with db.engine.connect() as conn:
        provisional = conn.execute(
            text("SELECT count(*) FROM satisfaction_ratings WHERE raw LIKE '%deskbot_source%'")
        ).scalar_one()
    assert provisional == 0


def test_the_first_page_start_time_is_on_zendesks_clock(
    db: Database, clock: FakeClock, skewed: ZendeskSandbox
) -> None:
    client = ZendeskClient.from_settings(_settings(skewed), clock)
    service = SyncService(
        client, SqlSyncStore(db), clock, start_date=(clock.now() + timedelta(days=2)).date()
    )
    # A start date in the future of both clocks: clamped to a minute before *Zendesk's* now,
    # which the sandbox accepts (the host's now, 30 minutes ahead, would be in its future).
    result = service.run(streams=["tickets"])
    assert result.ok, result.streams[0].error


def test_server_clock_follows_the_date_header(clock: FakeClock) -> None:
    server = ServerClock(clock)
    assert server.now() is None
    server.observe("Mon, 02 Nov 2026 09:30:00 GMT")  # the host says 09:00:00
    assert server.skew_seconds == pytest.approx(1800.5)
    clock.advance(seconds=90)
    now = server.now()
    assert now is not None and now.isoformat() == "2026-11-02T09:31:30+00:00"
    server.observe("not a date")  # ignored, not fatal
    assert server.skew_seconds == pytest.approx(1800.5)


# -- a rating seen on a ticket ----------------------------------------------------------------


def _rating_rows(db: Database) -> list[tuple[object, ...]]:
    with db.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text("SELECT id, score, updated_at, raw, assignee_id FROM satisfaction_ratings")
            )
        ]


def test_a_rating_change_on_a_ticket_updates_updated_at_and_raw(
    db: Database, clock: FakeClock
) -> None:
    at = int(clock.now().timestamp()) - 10 * 86400
    fake = FakeZendesk([make_ticket(10, T0)], [make_rating(5, 10, at, "good")])
    service = SyncService(InMemorySource(fake), SqlSyncStore(db), clock)
    service.run()
    clock.advance(hours=6)
    fake.ratings = []
    changed_at = int(clock.now().timestamp()) - 600
    bad = {"id": 5, "score": "bad", "comment": "Still broken", "reason": None}
    fake.tickets.append(make_ticket(10, changed_at, satisfaction_rating=bad))
    service.run()
    [(rid, score, updated_at, raw, assignee)] = _rating_rows(db)
    assert (rid, score, assignee) == (5, "bad", 77)
    assert json.loads(str(raw))["score"] == "bad"
    assert json.loads(str(raw))["comment"] == "Still broken"
    # updated_at moved to the change, so follow-ups (which look at recent updates) see it.
    assert _epoch(updated_at) == changed_at
    # The same ticket exported again (no change): nothing moves.
    fake.tickets.append(make_ticket(10, changed_at + 60, satisfaction_rating=bad))
    service.run()
    assert _epoch(_rating_rows(db)[0][2]) == changed_at


def test_a_rating_only_a_ticket_carries_is_stored(db: Database, clock: FakeClock) -> None:
    when = int(clock.now().timestamp()) - 3600
    rating = {"id": 9, "score": "bad", "comment": "No answer", "reason": None}
    offered = {"id": 8, "score": "offered", "comment": None, "reason": None}
    fake = FakeZendesk(
        [
            make_ticket(20, when, satisfaction_rating=rating, assignee_id=4242, group_id=7),
            make_ticket(21, when, satisfaction_rating=offered),
        ],
        [],  # the ratings endpoint never shows it (its window missed it)
    )
    SyncService(InMemorySource(fake), SqlSyncStore(db), clock).run()
    [(rid, score, updated_at, raw, assignee)] = _rating_rows(db)
    assert (rid, score, assignee) == (9, "bad", 4242)
    assert _epoch(updated_at) == when
    assert json.loads(str(raw))["ticket_id"] == 20
    # When the ratings endpoint brings the rating, its own row replaces the ticket's copy.
    fake.ratings = [make_rating(9, 20, when, "bad")]
    SyncService(InMemorySource(fake), SqlSyncStore(db), clock).run(
        full=True, streams=["satisfaction_ratings"]
    )
    [(rid, score, _updated, raw, assignee)] = _rating_rows(db)
    assert (rid, assignee) == (9, 77)
    assert "deskbot_source" not in str(raw)


def _epoch(value: object) -> int:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())
