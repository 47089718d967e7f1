"""Store-level sync behaviour on SQLite and PostgreSQL: atomic, idempotent, resumable."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from deskbot.adapters.db.store import Database
from deskbot.adapters.db.sync_store import SqlSyncStore
from deskbot.adapters.zendesk.mapping import map_rating, parse_rating_page, parse_ticket_page
from deskbot.domain.sync import StreamState
from deskbot.errors import SyncConflict, ZendeskError
from deskbot.services.sync import Progress, SyncService
from deskbot.testing import FakeClock
from zendesk_fake import FakeZendesk, InMemorySource, fixture, iso, make_rating, make_ticket

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
T0 = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp())


def scalar(db: Database, sql: str, **params: Any) -> Any:
    with db.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def rows(db: Database, sql: str, **params: Any) -> list[Any]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def service(db: Database, fake: FakeZendesk, clock: FakeClock, **kw: Any) -> SyncService:
    kw.setdefault("page_size", 100)
    return SyncService(InMemorySource(fake), SqlSyncStore(db), clock, **kw)


def test_reapplying_a_recorded_page_is_idempotent(db: Database) -> None:
    store = SqlSyncStore(db)
    page = parse_ticket_page(fixture("incremental_tickets_cursor_page.json"), NOW)
    state = StreamState(
        "tickets",
        cursor=page.after_cursor,
        position=page.max_generated_timestamp,
        rows_total=87,
        pages_total=1,
        backfill_complete=True,
    )
    store.apply_page(page.records, state)
    before = rows(db, "SELECT id, status, is_deleted, raw FROM tickets ORDER BY id")
    store.apply_page(page.records, replace(state, pages_total=2, rows_total=174))
    assert rows(db, "SELECT id, status, is_deleted, raw FROM tickets ORDER BY id") == before
    assert len(before) == 87
    assert rows(db, "SELECT id, status FROM tickets WHERE is_deleted") == [(4034, "deleted")]
    saved = store.state("tickets")
    assert (saved.cursor, saved.position, saved.pages_total) == (
        "MTcwNzI3MTc0MS4wfHw0MDQ1fA==",
        page.max_generated_timestamp,
        2,
    )


def test_page_and_cursor_commit_together(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SqlSyncStore(db)
    page = parse_ticket_page(fixture("incremental_tickets_cursor_page.json"), NOW)

    def crash(*_args: Any) -> None:
        raise RuntimeError("killed between the upsert and the cursor write")

    monkeypatch.setattr(store, "_write_state", crash)
    with pytest.raises(RuntimeError):
        store.apply_page(page.records, StreamState("tickets", cursor="after"))
    assert scalar(db, "SELECT count(*) FROM tickets") == 0
    assert scalar(db, "SELECT count(*) FROM ticket_tags") == 0
    assert store.state("tickets").cursor is None


def test_more_than_a_page_of_tickets_sharing_one_generated_timestamp(
    db: Database, clock: FakeClock
) -> None:
    fake = FakeZendesk([make_ticket(i, T0) for i in range(1, 2501)])
    result = service(db, fake, clock, page_size=1000).run(streams=["tickets"])
    assert result.ok and result.streams[0].pages == 3
    assert scalar(db, "SELECT count(*) FROM tickets") == 2500
    assert scalar(db, "SELECT count(DISTINCT ticket_id) FROM ticket_metrics") == 2500
    state = SqlSyncStore(db).state("tickets")
    assert (state.position, state.rows_total, state.backfill_complete) == (T0, 2500, True)
    # The next pass resumes at the stored end-of-stream cursor: nothing is read twice.
    again = service(db, fake, clock, page_size=1000).run(streams=["tickets"])
    assert again.streams[0].rows == 0
    assert SqlSyncStore(db).state("tickets").rows_total == 2500


def test_position_is_generated_timestamp_not_updated_at(db: Database, clock: FakeClock) -> None:
    stale = make_ticket(1, T0 + 500, updated_at=iso(T0 - 86400))
    fake = FakeZendesk([make_ticket(2, T0), stale])
    service(db, fake, clock).run(streams=["tickets"])
    assert SqlSyncStore(db).state("tickets").position == T0 + 500


def test_first_run_starts_at_start_date_then_resumes_from_cursor(
    db: Database, clock: FakeClock
) -> None:
    fake = FakeZendesk([make_ticket(i, T0 + i) for i in range(1, 6)])
    svc = service(db, fake, clock, page_size=2, start_date=datetime(2026, 10, 1).date())
    svc.run(streams=["tickets"])
    calls = svc.source.calls  # type: ignore[attr-defined]
    assert calls[0]["start_time"] == str(T0) and "cursor" not in calls[0]
    assert all("cursor" in c for c in calls[1:]) and calls[1]["per_page"] == "2"
    fake.tickets.append(make_ticket(3, T0 + 100, status="solved"))
    svc.run(streams=["tickets"])
    assert scalar(db, "SELECT status FROM tickets WHERE id = 3") == "solved"
    assert scalar(db, "SELECT count(*) FROM tickets") == 5


def test_deleted_ticket_is_marked_and_tags_follow(db: Database, clock: FakeClock) -> None:
    fake = FakeZendesk([make_ticket(7, T0, tags=["vip", "hooray"])])
    service(db, fake, clock).run(streams=["tickets"])
    assert rows(db, "SELECT tag FROM ticket_tags WHERE ticket_id = 7 ORDER BY tag") == [
        ("hooray",),
        ("vip",),
    ]
    fake.tickets.append(make_ticket(7, T0 + 60, status="deleted", tags=["vip"]))
    service(db, fake, clock).run(streams=["tickets"])
    assert rows(db, "SELECT status, is_deleted FROM tickets WHERE id = 7") == [("deleted", True)]
    assert rows(db, "SELECT tag FROM ticket_tags WHERE ticket_id = 7") == [("vip",)]


def test_rating_turning_good_updates_the_row_and_keeps_rating_time_assignee(
    db: Database, clock: FakeClock
) -> None:
    at = int(NOW.timestamp()) - 3600
    fake = FakeZendesk(ratings=[make_rating(1, 10, at, "bad")])
    service(db, fake, clock).run(streams=["satisfaction_ratings"])
    assert rows(db, "SELECT score, assignee_id FROM satisfaction_ratings") == [("bad", 77)]
    clock.advance(minutes=30)
    changed = make_rating(1, 10, at, "good")
    changed["updated_at"] = iso(int(clock.now().timestamp()) - 60)
    fake.ratings = [changed]
    service(db, fake, clock).run(streams=["satisfaction_ratings"])
    assert rows(db, "SELECT id, score, assignee_id, group_id FROM satisfaction_ratings") == [
        (1, "good", 77, 88)
    ]


def test_ratings_overlap_catches_a_rating_written_at_the_boundary(
    db: Database, clock: FakeClock
) -> None:
    fake = FakeZendesk(ratings=[make_rating(1, 10, int(clock.now().timestamp()) - 7200)])
    svc = service(db, fake, clock, ratings_overlap_minutes=15)
    svc.run(streams=["satisfaction_ratings"])
    first_end = SqlSyncStore(db).state("satisfaction_ratings").position
    assert first_end == int(clock.now().timestamp())
    # Committed late by Zendesk with a timestamp just before the previous window's end.
    fake.ratings.append(make_rating(2, 11, first_end - 120))
    clock.advance(minutes=5)
    svc.run(streams=["satisfaction_ratings"])
    assert rows(db, "SELECT id FROM satisfaction_ratings ORDER BY id") == [(1,), (2,)]
    last = svc.source.calls[-1]  # type: ignore[attr-defined]
    assert last["start_time"] == str(first_end - 15 * 60)


def test_ratings_window_pages_and_resume_after_stop(db: Database, clock: FakeClock) -> None:
    base = int(clock.now().timestamp()) - 86400
    fake = FakeZendesk(ratings=[make_rating(i, i, base + i) for i in range(1, 251)])
    stop = threading.Event()

    def stop_after_first(p: Progress) -> None:
        stop.set()

    svc = service(db, fake, clock, stop_event=stop)
    result = svc.run(streams=["satisfaction_ratings"], progress=stop_after_first)
    assert result.stopped and result.streams[0].rows == 100
    state = SqlSyncStore(db).state("satisfaction_ratings")
    assert state.cursor is not None and state.position is None
    stop.clear()
    svc.run(streams=["satisfaction_ratings"])
    assert scalar(db, "SELECT count(*) FROM satisfaction_ratings") == 250
    assert SqlSyncStore(db).state("satisfaction_ratings").rows_total == 250


def test_failing_page_writes_nothing_and_is_recorded(db: Database, clock: FakeClock) -> None:
    fake = FakeZendesk([make_ticket(i, T0 + i) for i in range(1, 251)])
    source = InMemorySource(fake)
    real = source.ticket_page
    calls = {"n": 0}

    def flaky(**kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ZendeskError("incremental ticket export: Zendesk sent a malformed page")
        return real(**kw)

    source.ticket_page = flaky  # type: ignore[method-assign]
    svc = SyncService(source, SqlSyncStore(db), clock, page_size=100)
    result = svc.run()
    assert not result.ok and result.streams[0].error
    assert result.streams[1].error is None  # ratings still ran
    assert scalar(db, "SELECT count(*) FROM tickets") == 100
    state = SqlSyncStore(db).state("tickets")
    assert state.rows_total == 100 and "malformed" in (state.last_error or "")
    assert result.summary()["ok"] is False
    svc.run()
    assert scalar(db, "SELECT count(*) FROM tickets") == 250


def test_full_rebackfill_resets_cursors_and_keeps_rows(db: Database, clock: FakeClock) -> None:
    fake = FakeZendesk([make_ticket(i, T0 + i) for i in range(1, 11)], [make_rating(1, 1, T0 + 5)])
    svc = service(db, fake, clock, start_date=datetime(2026, 10, 1).date())
    svc.run()
    svc.run(full=True)
    calls = svc.source.calls  # type: ignore[attr-defined]
    restarts = [c for c in calls if c["stream"] == "tickets" and "start_time" in c]
    assert [c["start_time"] for c in restarts] == [str(T0), str(T0)]
    assert scalar(db, "SELECT count(*) FROM tickets") == 10
    assert SqlSyncStore(db).state("tickets").rows_total == 20


def test_a_cursor_that_does_not_advance_is_an_error_not_a_loop(
    db: Database, clock: FakeClock
) -> None:
    fake = FakeZendesk([make_ticket(i, T0 + i) for i in range(1, 4)])
    svc = service(db, fake, clock, page_size=2)
    svc.run(streams=["tickets"])
    stuck = fake.ticket_export

    def never_ending(query: dict[str, str]) -> dict[str, Any]:
        body = stuck(query)
        body.update(tickets=[], end_of_stream=False, after_cursor=query.get("cursor"))
        return body

    fake.ticket_export = never_ending  # type: ignore[method-assign]
    result = svc.run(streams=["tickets"])
    assert "did not advance" in (result.streams[0].error or "")
    assert len([c for c in svc.source.calls if "cursor" in c]) <= 3  # type: ignore[attr-defined]


def test_recorded_sideloads_metrics_and_ratings_are_stored(db: Database) -> None:
    store = SqlSyncStore(db)
    body = fixture("incremental_tickets_cursor_page_midstream.json")
    body["users"] = fixture("incremental_users_time_page.json")["users"]
    body["groups"] = fixture("groups_page.json")["groups"]
    body["organizations"] = fixture("organizations_page.json")["organizations"]
    metric = fixture("ticket_metric_airbyte.json")["ticket_metric"]
    body["tickets"][0]["metric_set"] = {**metric, "ticket_id": body["tickets"][0]["id"]}
    body["metric_sets"] = [fixture("ticket_metric.json")["ticket_metric"]]
    page = parse_ticket_page(body, NOW)
    store.apply_page(page.records, StreamState("tickets", cursor=page.after_cursor, pages_total=1))
    assert scalar(db, "SELECT count(*) FROM users WHERE active = false") == 6
    assert scalar(db, "SELECT count(*) FROM groups") == len(body["groups"])
    assert "\U0001f3af" in "".join(r[0] for r in rows(db, "SELECT name FROM groups"))
    assert scalar(db, "SELECT count(*) FROM organizations") == len(body["organizations"])
    assert rows(
        db, "SELECT ticket_id, metric_id, replies FROM ticket_metrics ORDER BY ticket_id"
    ) == [(28, 5527084754447, 0), (8864, 26211102, 1)]

    ratings = parse_rating_page(fixture("satisfaction_ratings_page.json"), NOW).records
    ratings.ratings += [
        map_rating(r, NOW) for r in fixture("satisfaction_ratings_records_airbyte.json")
    ]
    store.apply_page(ratings, StreamState("satisfaction_ratings", position=1, pages_total=1))
    assert scalar(db, "SELECT count(*) FROM satisfaction_ratings") == 65 + 3
    assert rows(
        db, "SELECT score, comment, assignee_id FROM satisfaction_ratings WHERE id = 20001907"
    ) == [("good", "Satisfaction!", 20014182)]
    assert scalar(db, "SELECT max(id) FROM satisfaction_ratings") == 9862120719631


def test_a_rating_changed_outside_the_window_follows_through_the_ticket_export(
    db: Database, clock: FakeClock
) -> None:
    at = int(clock.now().timestamp()) - 10 * 86400  # rated ten days ago
    fake = FakeZendesk([make_ticket(10, T0)], [make_rating(5, 10, at, "bad")])
    service(db, fake, clock).run()
    assert rows(db, "SELECT score FROM satisfaction_ratings WHERE id = 5") == [("bad",)]
    # The customer changes their mind; the ratings window (15 min overlap) has long moved on,
    # and the ratings endpoint filters on the rating's original time.
    clock.advance(hours=6)
    fake.ratings = []
    changed = {"id": 5, "score": "good", "comment": "Sorted, thanks!", "reason": None}
    fake.tickets.append(make_ticket(10, T0 + 999, satisfaction_rating=changed))
    service(db, fake, clock).run()
    assert rows(
        db, "SELECT score, comment, assignee_id, group_id FROM satisfaction_ratings WHERE id = 5"
    ) == [("good", "Sorted, thanks!", 77, 88)]


def test_two_syncs_of_one_stream_cannot_interleave_pages(db: Database, clock: FakeClock) -> None:
    store = SqlSyncStore(db)
    fake = FakeZendesk([make_ticket(i, T0 + i) for i in range(1, 301)])
    source = InMemorySource(fake)
    real = source.ticket_page
    other = SqlSyncStore(db)

    def meanwhile(**kw: Any) -> Any:
        page = real(**kw)
        if len(source.calls) == 2:  # another process commits a page of the same stream
            theirs = other.state("tickets")
            theirs.pages_total += 1
            theirs.cursor = "theirs"
            other.apply_page(
                InMemorySource(FakeZendesk())
                .ticket_page(cursor=None, start_time=0, per_page=1)
                .records,
                theirs,
            )
        return page

    source.ticket_page = meanwhile  # type: ignore[method-assign]
    result = SyncService(source, store, clock, page_size=100).run(streams=["tickets"])
    assert "another sync of stream 'tickets'" in (result.streams[0].error or "")
    assert scalar(db, "SELECT count(*) FROM tickets") == 100  # our second page rolled back
    assert store.state("tickets").cursor == "theirs"
    with pytest.raises(SyncConflict):
        store.apply_page(
            source.ticket_page(cursor=None, start_time=0, per_page=5).records,
            StreamState("tickets", pages_total=1),
        )


def test_a_time_based_export_page_continues_from_its_end_time(
    db: Database, clock: FakeClock
) -> None:
    timed = parse_ticket_page(fixture("incremental_tickets_time_page.json"), NOW)
    last = parse_ticket_page(fixture("incremental_tickets_cursor_page.json"), NOW)
    calls: list[dict[str, Any]] = []

    class Source:
        def ticket_page(self, **kw: Any) -> Any:
            calls.append(kw)
            return timed if len(calls) == 1 else last

        def rating_page(self, **kw: Any) -> Any:
            raise AssertionError("not asked")

    result = SyncService(Source(), SqlSyncStore(db), clock).run(streams=["tickets"])
    assert result.ok and result.streams[0].pages == 2
    assert calls[1] == {"cursor": None, "start_time": 1695052664, "per_page": 1000}
    assert scalar(db, "SELECT count(*) FROM tickets") == 87
