"""The follow-up service end to end: the real store (SQLite and PostgreSQL), the real zenpy
writer and slack_sdk notifier against stateful ``responses`` mocks, an in-memory ledger."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import responses
from sqlalchemy import text

from deskbot.adapters.db.followups_store import SqlFollowupStore
from deskbot.adapters.db.store import Database
from deskbot.adapters.slack import followup_handlers as handlers
from deskbot.domain.authz import Actor, bind_view
from deskbot.domain.people import Role
from deskbot.services.followups import followup_metrics
from deskbot.testing import CrashError, FakeClock, InMemoryLedger
from followups_support import (
    LEAD_ZD,
    T0,
    FakeSlack,
    FakeZendesk,
    FollowupEnv,
    followup_env,
    make_settings,
    seed_people,
    seed_rating,
    seed_ticket,
)

Env = FollowupEnv


@pytest.fixture
def env(db: Database) -> Iterator[Env]:
    with followup_env(db) as world:
        yield world


def test_new_bad_rating_gets_note_tags_lead_and_one_alert(env: Env) -> None:
    env.bad(1, 100)
    summary = env.service().run()
    assert summary.opened == 1
    assert env.zendesk.write_count() == 1
    kind, ticket_id, body = env.zendesk.writes[0]
    assert (kind, ticket_id) == ("update", 100)
    assert body["comment"]["public"] is False
    assert "Reason: Issue took too long to resolve" in body["comment"]["body"]
    assert "[deskbot:followup:1:1]" in body["comment"]["body"]
    assert body["additional_tags"] == ["csat_followup"]
    assert body["assignee_id"] == LEAD_ZD  # the lead of the agent at rating time
    assert body["safe_update"] is True and body["updated_stamp"] == "2026-11-02T08:00:00Z"

    [alert] = env.slack.messages
    assert alert["channel"] == "C0ALERTS"
    text = json.dumps(alert["blocks"])
    assert "https://acme.zendesk.com/agent/tickets/100" in text
    assert "Maria" in text and "Lopez" not in text  # first name only
    assert "<@U0AGENT01>" in text  # agent at rating time
    assert "<@U0LEAD001>" in text  # owner mentioned
    assert "Nobody answered for a week" in text
    actions = next(b for b in alert["blocks"] if b["type"] == "actions")["elements"]
    assert [a["action_id"] for a in actions] == ["followup_claim", "followup_handled"]
    assert alert["metadata"]["event_payload"]["key"] == "followup:1:1:alert"

    # A second run (and a third) does nothing more.
    env.service().run()
    env.service().run()
    assert env.zendesk.write_count() == 1
    assert len(env.slack.messages) == 1
    row = env.store().get(1)
    assert row is not None and row.state == "open" and row.slack_ts == alert["ts"]


def test_vip_rule_matches_by_tag_and_goes_to_its_channel(env: Env) -> None:
    env.bad(2, 200, tags="vip billing")
    env.service().run()
    assert env.zendesk.writes[0][2]["additional_tags"] == ["csat_followup", "vip_followup"]
    assert env.slack.messages[0]["channel"] == "C0VIP"
    assert env.store().get(2).rule == "vip"  # type: ignore[union-attr]


def test_closed_ticket_gets_a_followup_ticket_not_an_update(env: Env) -> None:
    env.bad(3, 300, status="closed")
    env.service().run()
    assert env.zendesk.write_count("update") == 0
    assert env.zendesk.write_count("create") == 1
    _kind, new_id, body = env.zendesk.writes[0]
    assert body["via_followup_source_id"] == 300
    assert body["external_id"] == "deskbot-followup-3-1"
    assert (
        body["comment"]["public"] is False and "[deskbot:followup:3:1]" in body["comment"]["body"]
    )
    assert body["assignee_id"] == LEAD_ZD and body["tags"] == ["csat_followup"]
    assert env.ledger.get("followup:3:1:ticket").result["followup_ticket_id"] == new_id  # type: ignore[union-attr]


def test_ticket_closed_between_read_and_write_becomes_a_followup(env: Env) -> None:
    env.bad(4, 400, status="solved")
    original_put = env.zendesk._put

    def close_then_put(request: Any) -> Any:
        env.zendesk.tickets[400]["status"] = "closed"  # closed by Zendesk's automation just now
        return original_put(request)

    env.zendesk._put = close_then_put  # type: ignore[method-assign]
    env.mock.reset()  # the callbacks were bound at install: install again
    env.zendesk.install(env.mock)
    env.slack.install(env.mock)
    env.service().run()
    assert env.zendesk.write_count("update") == 0
    assert env.zendesk.write_count("create") == 1


def test_safe_update_conflict_is_retried_after_reading_again(env: Env) -> None:
    env.bad(5, 500)
    env.zendesk.conflicts_to_inject = 2
    env.service().run()
    puts = [c for c in env.mock.calls if c.request.method == "PUT"]
    assert len(puts) == 3  # two 409s, then the write
    stamps = [json.loads(c.request.body)["ticket"]["updated_stamp"] for c in puts]
    assert len(set(stamps)) == 3  # each retry used the freshly read stamp
    assert env.zendesk.write_count() == 1


def test_claim_and_handled_update_the_alert(env: Env) -> None:
    env.bad(6, 600)
    service = env.service()
    service.run()
    [alert] = env.slack.messages
    env.clock.advance(minutes=30)
    lead = Actor("U0LEAD001", Role.LEAD)
    outcome = handlers.handle_claim(service, lead, "6:1")
    assert outcome.ok
    update = env.slack.updates[-1]
    assert update["ts"] == alert["ts"] and update["channel"] == "C0ALERTS"
    assert "Claimed by <@U0LEAD001>" in json.dumps(update["blocks"])
    ids = [
        e["action_id"] for b in update["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert ids == ["followup_handled"]

    # A second click by someone else is refused and changes nothing.
    again = handlers.handle_claim(service, Actor("U0OTHER01", Role.LEAD), "6:1")
    assert not again.ok and "Already claimed by <@U0LEAD001>" in again.message
    assert env.store().get(6).claimed_by == "U0LEAD001"  # type: ignore[union-attr]

    opened = handlers.handle_handled_button(service, lead, "trigger-1", "6:1")
    assert opened.ok
    view = env.slack.views[-1]["view"]
    assert view["callback_id"] == "followup_handled_modal"
    assert view["private_metadata"] == bind_view("6:1", "U0LEAD001")  # bound to its opener

    env.clock.advance(hours=2)
    submitted = {
        **view,
        "state": {
            "values": {
                "followup_note": {
                    "note": {"type": "plain_text_input", "value": "Called her, refunded"}
                }
            }
        },
    }
    done = handlers.handle_handled_submit(service, lead, submitted)
    assert done.ok
    final = json.dumps(env.slack.updates[-1]["blocks"])
    assert "Handled by <@U0LEAD001>" in final and "Called her, refunded" in final
    assert "followup_handled" not in final  # no buttons left
    row = env.store().get(6)
    assert row is not None and row.state == "handled" and row.note == "Called her, refunded"

    metrics = followup_metrics(env.store(), T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert metrics.bad_ratings == 1 and metrics.followups_claimed == 1
    # The writer's Zendesk calls wait (a fraction of a second, on this clock) for the account
    # budget they share with the sync, after the follow-up was opened (at the default
    # zendesk.budget_share of 0.5 each wait is twice the full-limit spacing).
    assert metrics.median_minutes_to_claim == pytest.approx(30, abs=0.02)
    assert metrics.median_minutes_to_handle == pytest.approx(150, abs=0.02)


def test_forged_button_value_is_refused(env: Env) -> None:
    outcome = handlers.handle_claim(env.service(), Actor("U0LEAD001", Role.LEAD), "not-a-value")
    assert not outcome.ok and "rating_id:generation" in outcome.message
    assert env.slack.updates == []


def test_bad_then_good_closes_and_bad_again_opens_a_new_generation(env: Env) -> None:
    env.bad(7, 700)
    env.service().run()
    [alert] = env.slack.messages
    seed_rating(env.db, 7, 700, "good", at=T0 + timedelta(minutes=20))  # the customer changed it
    env.clock.advance(minutes=30)
    summary = env.service().run()
    assert summary.closed == 1
    [notice] = env.slack.thread(alert["ts"])
    assert "changed the rating to good" in notice["text"]
    assert "Closed" in json.dumps(env.slack.updates[-1]["blocks"])
    assert env.store().get(7).state == "closed"  # type: ignore[union-attr]
    assert env.store().active() == []

    seed_rating(env.db, 7, 700, "bad_with_comment", at=T0 + timedelta(minutes=40))
    env.clock.advance(minutes=30)
    env.service().run()
    row = env.store().get(7)
    assert row is not None and row.generation == 2 and row.state == "open"
    assert len(env.slack.top_level()) == 2  # a fresh alert for the new generation
    assert env.zendesk.write_count() == 2
    assert "[deskbot:followup:7:2]" in env.zendesk.writes[1][2]["comment"]["body"]


def test_unclaimed_followup_is_reminded_once_then_escalated(env: Env) -> None:
    env.bad(8, 800)
    env.service().run()
    [alert] = env.slack.messages
    env.clock.advance(hours=3)
    assert env.service().run().reminders == 0
    env.clock.advance(hours=1, minutes=1)
    assert env.service().run().reminders == 1
    env.clock.advance(hours=1)
    assert env.service().run().reminders == 0  # one reminder only
    [reminder] = env.slack.thread(alert["ts"])
    assert "<@U0LEAD001>" in reminder["text"] and "still unclaimed" in reminder["text"]
    env.clock.advance(hours=20)
    assert env.service().run().escalations == 1
    env.service().run()
    escalations = env.slack.top_level("C0LEADS")
    assert len(escalations) == 1 and "#800" in escalations[0]["text"]


def test_claimed_followup_is_not_reminded(env: Env) -> None:
    env.bad(9, 900)
    service = env.service()
    service.run()
    service.claim("9:1", Actor("U0LEAD001", Role.LEAD))
    env.clock.advance(hours=30)
    summary = env.service().run()
    assert summary.reminders == 0 and summary.escalations == 0
    assert len(env.slack.messages) == 1


def test_a_burst_collapses_into_one_summary_with_a_thread_reply_per_ticket(db: Database) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        zendesk, slack = FakeZendesk(), FakeSlack()
        zendesk.install(mock)
        slack.install(mock)
        seed_people(db)
        clock = FakeClock(T0 + timedelta(minutes=10))
        env = Env(db, clock, zendesk, slack, InMemoryLedger(), make_settings(burst=3), mock)
        for i in range(5):
            env.bad(20 + i, 2000 + i)
        summary = env.service().run()
        assert summary.bursts == 1 and summary.opened == 5
        [head] = slack.top_level()
        assert head["text"].startswith("5 bad CSAT ratings")
        replies = slack.thread(head["ts"])
        assert len(replies) == 5
        assert {r["metadata"]["event_payload"]["key"] for r in replies} == {
            f"followup:{20 + i}:1:alert" for i in range(5)
        }
        # Slack pacing: ~1 message/second/channel on the injected clock.
        assert sum(s for s in clock.sleeps if 0 < s <= 1.0) >= 4.9
        # Zendesk pacing: 60 updates/minute = one a second.
        assert zendesk.write_count() == 5
        env.service().run()
        assert len(slack.messages) == 6


def test_zendesk_writes_are_paced_within_the_configured_rate(env: Env) -> None:
    for i in range(4):
        env.bad(40 + i, 4000 + i)
    start = env.clock.monotonic()
    env.service().run()
    assert env.zendesk.write_count() == 4
    # 60/minute: 4 writes need at least 3 seconds between the first and the last.
    assert env.clock.monotonic() - start >= 3.0


def test_dry_run_changes_nothing(env: Env) -> None:
    env.bad(10, 1000)
    summary = env.service().run(dry_run=True)
    assert summary.dry_run and summary.opened == 1
    [plan] = summary.planned
    assert plan["action"] == "open" and plan["rule"] == "default"
    assert [s["kind"] for s in plan["steps"]] == ["followup_ticket", "followup_alert"]
    assert env.ledger.rows == {}
    assert env.store().get(10) is None
    assert [c.request.url for c in env.mock.calls] == []  # not even a read of Zendesk or Slack


def test_old_ratings_from_a_backfill_are_not_followed_up(env: Env) -> None:
    env.zendesk.add_ticket(1100)
    seed_ticket(env.db, 1100)
    seed_rating(env.db, 11, 1100, "bad", at=T0 - timedelta(days=30))
    summary = env.service().run()
    assert summary.opened == 0 and env.slack.messages == []


def test_deleted_ticket_fails_the_step_but_still_alerts(env: Env) -> None:
    seed_ticket(env.db, 1200)
    seed_rating(env.db, 12, 1200, "bad")  # no such ticket in Zendesk any more
    summary = env.service().run()
    assert summary.steps_failed == 1
    assert env.ledger.get("followup:12:1:ticket").status == "failed"  # type: ignore[union-attr]
    assert len(env.slack.messages) == 1
    env.service().run()
    assert len(env.slack.messages) == 1


# --------------------------------------------------------------------------------------------
# Crash safety: a kill between any two steps, then a restart, does everything exactly once.
# --------------------------------------------------------------------------------------------

CRASH_POINTS = [
    (op, suffix, when)
    for suffix in ("ticket", "alert")
    for op in ("begin", "complete")
    for when in ("before", "after")
] + [("store", "open_generation", "after"), ("store", "set_alert", "after")]


def _scenario(env: Env) -> None:
    env.bad(30, 3000)
    env.bad(31, 3100, status="closed")


@pytest.mark.parametrize(("op", "suffix", "when"), CRASH_POINTS)
def test_crash_anywhere_then_restart_does_each_write_once(
    env: Env, op: str, suffix: str, when: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _scenario(env)
    crashed: list[str] = []

    def crash_once(operation: str, key: str, moment: str) -> None:
        if not crashed and operation == op and key.endswith(":" + suffix) and moment == when:
            crashed.append(key)
            raise CrashError(f"killed at {op} {key} {when}")

    env.ledger.crash = crash_once
    if op == "store":
        original: Callable[..., Any] = getattr(SqlFollowupStore, suffix)

        def crash_after(self: SqlFollowupStore, *args: Any, **kwargs: Any) -> Any:
            out = original(self, *args, **kwargs)
            if not crashed:
                crashed.append(suffix)
                raise CrashError(f"killed after {suffix}")
            return out

        monkeypatch.setattr(SqlFollowupStore, suffix, crash_after)

    with pytest.raises(CrashError):
        env.service().run()
    assert crashed
    monkeypatch.undo()
    env.ledger.crash = None
    env.service().run()  # the restart
    env.service().run()  # and one more, for good measure

    assert env.zendesk.write_count("update") == 1  # rating 30: one note on ticket 3000
    assert env.zendesk.write_count("create") == 1  # rating 31: one follow-up of ticket 3100
    notes = [c for c in env.zendesk.comments[3000] if "[deskbot:followup:30:1]" in c["body"]]
    assert len(notes) == 1
    assert len(env.slack.top_level()) == 2  # one alert per rating
    keys = sorted(m["metadata"]["event_payload"]["key"] for m in env.slack.messages)
    assert keys == ["followup:30:1:alert", "followup:31:1:alert"]
    assert all(r.status == "done" for r in env.ledger.rows.values())
    for rating_id in (30, 31):
        row = env.store().get(rating_id)
        assert row is not None and row.generation == 1 and row.slack_ts is not None


def test_crash_between_slack_post_and_ledger_done_finds_the_message(env: Env) -> None:
    """The hardest window: Slack accepted the alert, the process died before recording it."""
    env.bad(32, 3200)
    crashed: list[str] = []

    def crash(operation: str, key: str, moment: str) -> None:
        if (
            not crashed
            and operation == "complete"
            and key.endswith(":alert")
            and moment == "before"
        ):
            crashed.append(key)
            raise CrashError("killed")

    env.ledger.crash = crash
    with pytest.raises(CrashError):
        env.service().run()
    env.ledger.crash = None
    # Also lose the row's record of the post, so only Slack itself knows.
    with env.db.engine.begin() as conn:
        conn.execute(text("UPDATE followups SET slack_ts = NULL, slack_channel = NULL"))
    env.service().run()
    assert len(env.slack.messages) == 1
    history_reads = [c for c in env.mock.calls if "conversations.history" in c.request.url]
    assert len(history_reads) == 1
    assert env.store().get(32).slack_ts == env.slack.messages[0]["ts"]  # type: ignore[union-attr]


def test_with_slack_disabled_only_zendesk_is_written(env: Env) -> None:
    env.settings = env.settings.model_copy(
        update={"slack": env.settings.slack.model_copy(update={"enabled": False})}
    )
    env.bad(13, 1300, tags="vip")  # the vip rule names its own channel
    env.service().run()
    env.clock.advance(hours=30)  # no reminder or escalation either
    env.service().run()
    assert env.zendesk.write_count() == 1
    assert env.slack.messages == []


def test_note_written_then_ticket_closed_before_restart_is_not_followed_up_again(env: Env) -> None:
    env.bad(14, 1400)

    def crash(operation: str, key: str, moment: str) -> None:
        if operation == "complete" and key.endswith(":ticket") and moment == "before":
            raise CrashError("killed after the note landed")

    env.ledger.crash = crash
    with pytest.raises(CrashError):
        env.service().run()
    env.ledger.crash = None
    env.zendesk.tickets[1400]["status"] = "closed"  # closed by Zendesk meanwhile
    env.service().run()
    assert env.zendesk.write_count("update") == 1
    assert env.zendesk.write_count("create") == 0
