"""Issue 13, follow-ups: fresh from the ledger's insert, the stop honoured between steps (and
pacing kept), stale-generation steps skipped, steps claimed before they run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from deskbot.adapters.db.followups_store import SqlFollowupStore
from deskbot.adapters.db.ledger import SqlActionLedger
from deskbot.adapters.db.store import Database
from followups_support import (
    T0,
    FollowupEnv,
    followup_env,
    seed_rating,
    zendesk_writer,
)

Env = FollowupEnv


@pytest.fixture
def env(db: Database) -> Iterator[Env]:
    with followup_env(db) as world:
        yield world


def test_a_stop_mid_pass_leaves_the_remaining_writes_for_the_next_run(env: Env) -> None:
    for i in (1, 2, 3):
        env.bad(i, 100 + i)
    stop = threading.Event()
    writer = zendesk_writer(env.clock)
    real = writer.update_ticket

    def update_then_sigterm(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        stop.set()  # SIGTERM arrives right after the first write
        return result

    writer.update_ticket = update_then_sigterm  # type: ignore[method-assign]
    summary = env.service(tickets=writer, stop_event=stop).run()
    # The stop woke the pacing wait, and no write went out after it (not back to back).
    assert env.zendesk.write_count() == 1
    assert env.slack.messages == []
    assert summary.steps_done == 1 and summary.steps_left_pending >= 5
    # The next run does the rest, each once.
    env.service().run()
    assert env.zendesk.write_count() == 3
    assert sorted(m["metadata"]["event_payload"]["key"] for m in env.slack.messages) == [
        f"followup:{i}:1:alert" for i in (1, 2, 3)
    ]


def test_an_older_generations_pending_ticket_step_writes_no_note(env: Env) -> None:
    env.bad(1, 100)
    # Zendesk is unreachable for a while: generation 1's ticket step stays pending ...
    env.service(tickets=None).run()
    # ... while the customer changes the rating to good, then to bad again (generation 2).
    seed_rating(env.db, 1, 100, "good", at=T0 + timedelta(minutes=5))
    env.service(tickets=None).run()
    seed_rating(env.db, 1, 100, "bad", at=T0 + timedelta(minutes=8))
    env.service(tickets=None).run()
    assert SqlFollowupStore(env.db).get(1).generation == 2  # type: ignore[union-attr]
    env.service().run()  # Zendesk is back
    assert env.notes(100, "[deskbot:followup:1:1]") == 0, "a stale generation wrote its note"
    assert env.notes(100, "[deskbot:followup:1:2]") == 1
    assert env.ledger.rows["followup:1:1:ticket"].status == "done"
    assert "superseded" in str(env.ledger.rows["followup:1:1:ticket"].result)


def test_a_step_claimed_by_another_pass_is_left_to_it(env: Env) -> None:
    env.bad(1, 100)
    service = env.service(tickets=None)  # records the intents; the ticket step stays pending
    service.run()
    assert env.ledger.claim("followup:1:1:ticket", "other-pass", 600)
    env.service().run()
    assert env.zendesk.write_count() == 0  # the other pass has it
    env.ledger.release("followup:1:1:ticket", "other-pass")
    env.service().run()
    assert env.zendesk.write_count() == 1


def test_fresh_comes_from_the_insert_and_claims_are_exclusive(db: Database) -> None:
    ledger = SqlActionLedger(db)
    barrier = threading.Barrier(4)
    fresh: list[bool] = []

    def begin() -> None:
        barrier.wait(10)
        fresh.append(ledger.begin("followup:9:1:alert", "followup_alert", "rating:9", {}).new)

    threads = [threading.Thread(target=begin) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(fresh) == [False, False, False, True]
    assert ledger.claim("followup:9:1:alert", "a", 600)
    assert ledger.claim("followup:9:1:alert", "a", 600)  # its owner renews
    assert not ledger.claim("followup:9:1:alert", "b", 600)
    ledger.release("followup:9:1:alert", "a")
    assert ledger.claim("followup:9:1:alert", "b", 600)
    ledger.complete("followup:9:1:alert", {})
    ledger.release("followup:9:1:alert", "b")
    assert not ledger.claim("followup:9:1:alert", "c", 600)  # done: nothing to claim
