"""The action ledger on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from deskbot.adapters.db.ledger import SqlActionLedger
from deskbot.adapters.db.store import Database
from deskbot.errors import StoreError
from deskbot.testing import FakeClock


def test_begin_is_idempotent_and_reports_who_inserted(db: Database, clock: FakeClock) -> None:
    ledger = SqlActionLedger(db, clock)
    first = ledger.begin("digest:#kpi:2026-11-01", "digest", "channel:#kpi", {"n": 1})
    assert first.new and first.status == "pending" and first.attempts == 1
    assert first.payload == {"n": 1}
    assert first.created_at == clock.now()
    clock.advance(60)
    again = ledger.begin("digest:#kpi:2026-11-01", "digest", "channel:#kpi", {"n": 2})
    assert not again.new
    assert again.payload == {"n": 1}  # the original intent is kept
    assert again.attempts == 2
    assert again.created_at == first.created_at


def test_complete_fail_checkpoint_get(db: Database, clock: FakeClock) -> None:
    ledger = SqlActionLedger(db, clock)
    ledger.begin("k1", "digest")
    ledger.checkpoint("k1", {"parts": {"0": "1.1"}})
    clock.advance(5)
    done = ledger.complete("k1", {"chart": "F1"})
    assert done.status == "done"
    assert done.result == {"parts": {"0": "1.1"}, "chart": "F1"}
    assert done.done_at == clock.now()
    # A done action stays done: begin does not count another attempt.
    assert ledger.begin("k1", "digest").attempts == 1
    ledger.begin("k2", "digest")
    failed = ledger.fail("k2", "slack said channel_not_found")
    assert failed.status == "failed" and failed.error == "slack said channel_not_found"
    assert ledger.get("missing") is None
    record = ledger.get("k2")
    assert record is not None and record.status == "failed"
    with pytest.raises(StoreError, match="begin"):
        ledger.complete("never-begun")


def test_pending_and_recent(db: Database, clock: FakeClock) -> None:
    ledger = SqlActionLedger(db, clock)
    start = clock.now()
    ledger.begin("a", "shoutout")
    clock.advance(10)
    ledger.begin("b", "shoutout")
    ledger.begin("c", "digest")
    ledger.complete("a")
    assert [r.key for r in ledger.pending("shoutout")] == ["b"]
    assert [r.key for r in ledger.recent("shoutout", start)] == ["a", "b"]
    assert [r.key for r in ledger.recent("shoutout", start + timedelta(seconds=5))] == ["b"]


def test_concurrent_begin_creates_one_row(db: Database, clock: FakeClock) -> None:
    ledger = SqlActionLedger(db, clock)
    barrier = threading.Barrier(4)
    results: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        record = ledger.begin("race", "digest")
        with lock:
            results.append(record.new)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    record = ledger.get("race")
    assert record is not None and record.attempts == 4
