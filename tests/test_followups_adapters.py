"""Follow-up adapters: the zenpy ticket writer's errors and retries, the Slack notifier, and the
``followups`` store's compare-and-set state changes (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest
import responses
from pydantic import SecretStr

from deskbot.adapters.db.followups_store import SqlFollowupStore
from deskbot.adapters.db.store import Database
from deskbot.adapters.slack import followup_blocks as fb
from deskbot.adapters.zendesk.writer import ZendeskTicketWriter
from deskbot.errors import SlackError, ZendeskError
from deskbot.services.followups import (
    AlertStatus,
    PermanentStepError,
    TicketClosed,
    TicketConflict,
    TicketGone,
)
from deskbot.testing import FakeClock
from followups_support import (
    SLACK,
    T0,
    ZD,
    make_settings,
    seed_people,
    seed_rating,
    seed_ticket,
    slack_notifier,
    zendesk_settings,
    zendesk_writer,
)


def _writer(clock: FakeClock, retries: int = 4) -> ZendeskTicketWriter:
    return zendesk_writer(clock, retries)


def _update(writer: ZendeskTicketWriter) -> None:
    writer.update_ticket(
        5, note="n", add_tags=["a"], assignee_id=None, group_id=9, updated_stamp="S"
    )


@responses.activate
def test_update_sends_one_safe_update_put() -> None:
    responses.put(ZD + "/tickets/5.json", json={"ticket": {"id": 5}, "audit": {"id": 1}})
    _update(_writer(FakeClock()))
    [call] = responses.calls
    body = json.loads(call.request.body)["ticket"]
    assert body == {
        "id": 5,
        "comment": {"body": "n", "public": False},
        "additional_tags": ["a"],
        "group_id": 9,
        "safe_update": True,
        "updated_stamp": "S",
    }


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            409,
            {"error": "UpdateConflict", "description": "Safe Update prevented the update"},
            TicketConflict,
        ),
        (
            422,
            {
                "error": "RecordInvalid",
                "details": {"status": [{"description": "Status: closed prevents ticket update"}]},
            },
            TicketClosed,
        ),
        (404, {"error": "RecordNotFound", "description": "Not found"}, TicketGone),
        (403, {"error": "Forbidden", "description": "no"}, TicketGone),
        (400, {"error": "BadRequest", "description": "no"}, ZendeskError),
    ],
)
@responses.activate
def test_zendesk_errors_map_to_what_the_service_handles(
    status: int, body: dict[str, object], error: type[Exception]
) -> None:
    responses.put(ZD + "/tickets/5.json", json=body, status=status)
    with pytest.raises(error):
        _update(_writer(FakeClock()))
    assert len(responses.calls) == 1  # not retried


@responses.activate
def test_server_errors_are_retried_with_backoff_on_the_clock() -> None:
    responses.get(ZD + "/tickets/5.json", json={"error": "oops"}, status=503)
    responses.get(ZD + "/tickets/5.json", json={"error": "oops"}, status=502)
    responses.get(
        ZD + "/tickets/5.json",
        json={"ticket": {"id": 5, "status": "open", "updated_at": "S", "tags": ["x"]}},
    )
    clock = FakeClock()
    snapshot = _writer(clock).get_ticket(5)
    assert snapshot.status == "open" and snapshot.tags == frozenset({"x"})
    assert len(clock.sleeps) == 2 and all(0 < s <= 30 for s in clock.sleeps)


@responses.activate
def test_server_errors_give_up_after_max_retries() -> None:
    responses.get(ZD + "/tickets/5.json", json={"error": "oops"}, status=500)
    with pytest.raises(ZendeskError, match="read ticket 5"):
        _writer(FakeClock(), retries=3).get_ticket(5)
    assert len(responses.calls) == 3


# --------------------------------------------------------------------------------------------
# Slack
# --------------------------------------------------------------------------------------------


ALERT = {
    "rating_id": 1,
    "generation": 2,
    "ticket_id": 10,
    "ticket_url": "https://acme.zendesk.com/agent/tickets/10",
    "subject": "<script> & co",
    "requester": "Maria",
    "agent_name": "Alex",
    "agent_slack": None,
    "comment": "line one\nline two",
    "reason": "slow",
    "owner": "U0LEAD001",
    "mention": "U0MGR0001",
}


def test_alert_blocks_escape_text_and_show_state() -> None:
    blocks = fb.alert_blocks(ALERT, AlertStatus("open"))
    text = json.dumps(blocks)
    assert "&lt;script&gt; &amp; co" in text and "<script>" not in text
    assert "> line one\\n> line two" in text
    assert "<@U0LEAD001> <@U0MGR0001> please claim" in text
    claimed = json.dumps(
        fb.alert_blocks(ALERT, AlertStatus("claimed", claimed_by="U0X", claimed_at=T0))
    )
    assert "Claimed by <@U0X>" in claimed and "please claim" not in claimed
    closed = fb.alert_blocks(ALERT, AlertStatus("closed", closed_at=T0))
    assert not [b for b in closed if b["type"] == "actions"]


def test_modal_note_reads_the_submitted_value() -> None:
    view = fb.handled_modal("1:2")
    assert view["private_metadata"] == "1:2"
    view["state"] = {"values": {"followup_note": {"note": {"value": "done"}}}}
    assert fb.modal_note(view) == "done"
    assert fb.modal_note({"state": {"values": {}}}) is None


@responses.activate
def test_find_message_resolves_a_channel_name_and_matches_the_key() -> None:
    responses.post(
        SLACK + "conversations.list",
        json={"ok": True, "channels": [{"id": "C1", "name": "csat-alerts"}]},
    )
    responses.post(
        SLACK + "conversations.history",
        json={
            "ok": True,
            "messages": [
                {"ts": "1.1", "metadata": {"event_payload": {"key": "other"}}},
                {"ts": "1.2", "blocks": [{"type": "section", "block_id": "dk:k1"}]},
            ],
        },
    )
    notifier = slack_notifier()
    found = notifier.find_message("#csat-alerts", "k1", T0 - timedelta(days=1))
    assert found is not None and (found.channel, found.ts) == ("C1", "1.2")
    assert notifier.find_message("#csat-alerts", "k9", T0) is None
    assert sum("conversations.list" in c.request.url for c in responses.calls) == 1  # cached


@responses.activate
def test_slack_errors_are_permanent_or_transient() -> None:
    responses.post(SLACK + "chat.postMessage", json={"ok": False, "error": "channel_not_found"})
    with pytest.raises(PermanentStepError, match="channel_not_found"):
        slack_notifier().post_text("#gone", "hi", "k")
    responses.replace(
        responses.POST, SLACK + "chat.postMessage", json={"ok": False, "error": "fatal_error"}
    )
    with pytest.raises(SlackError):
        slack_notifier().post_text("#x", "hi", "k")


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------


def _open(store: SqlFollowupStore, expected: int | None, generation: int) -> bool:
    return store.open_generation(
        1, expected, generation=generation, ticket_id=10, score="bad", rule="r", owner="U1", at=T0
    )


def test_state_changes_are_compare_and_set(db: Database) -> None:
    store = SqlFollowupStore(db)
    assert _open(store, None, 1)
    assert not _open(store, None, 1)  # a racing run loses
    assert not _open(store, 0, 1)
    assert store.claim(1, 1, "U1", T0 + timedelta(minutes=5))
    assert not store.claim(1, 1, "U2", T0 + timedelta(minutes=6))
    assert not store.claim(1, 9, "U2", T0)  # a stale generation
    assert store.handle(1, 1, "U2", "called", T0 + timedelta(hours=1))
    row = store.get(1)
    assert row is not None and row.state == "handled" and row.claimed_by == "U1"
    assert row.handled_by == "U2" and row.note == "called"
    assert row.opened_at == T0 and row.claimed_at is not None and row.claimed_at.tzinfo
    # Turning good after being handled keeps "handled" but remembers the score.
    assert store.close(1, 1, "good", T0 + timedelta(hours=2))
    row = store.get(1)
    assert row is not None and row.state == "handled" and row.last_seen_score == "good"
    assert _open(store, 1, 2)
    row = store.get(1)
    assert row is not None and row.generation == 2 and row.state == "open"
    assert row.claimed_by is None and row.handled_at is None


def test_candidates_find_changes_only(db: Database) -> None:
    seed_people(db)
    seed_ticket(db, 10, tags="vip billing", org=77)
    seed_rating(db, 1, 10, "bad")
    seed_rating(db, 2, 10, "good")
    seed_rating(db, 3, 10, "bad", at=T0 - timedelta(days=10))  # too old
    store = SqlFollowupStore(db)
    [(facts, row)] = store.candidates(T0 - timedelta(days=1))
    assert row is None and facts.rating_id == 1
    assert facts.ticket_tags == frozenset({"vip", "billing"})
    assert (facts.requester_name, facts.organization_name, facts.agent_name) == (
        "Maria Lopez",
        "Globex",
        "Alex Agent",
    )
    assert _open(store, None, 1)
    assert store.candidates(T0 - timedelta(days=1)) == []  # acted on: no longer a change
    seed_rating(db, 1, 10, "good_with_comment", at=T0 + timedelta(hours=1))
    [(facts, row)] = store.candidates(T0 - timedelta(days=1))
    assert facts.score == "good_with_comment" and row is not None and row.generation == 1


@responses.activate
def test_429_is_waited_out_on_the_clock_for_retry_after() -> None:
    responses.get(
        ZD + "/tickets/5.json",
        json={"error": "slow down"},
        status=429,
        headers={"Retry-After": "7"},
    )
    responses.get(
        ZD + "/tickets/5.json", json={"ticket": {"id": 5, "status": "open", "updated_at": "S"}}
    )
    clock = FakeClock()
    assert _writer(clock).get_ticket(5).id == 5
    assert clock.sleeps == [7.0]  # zenpy did not sleep on its own


@responses.activate
def test_429_gives_up_after_max_retries() -> None:
    responses.get(ZD + "/tickets/5.json", json={}, status=429, headers={"Retry-After": "2"})
    clock = FakeClock()
    with pytest.raises(ZendeskError, match="rate limited"):
        _writer(clock, retries=3).get_ticket(5)
    assert clock.sleeps == [2.0, 2.0]


def test_an_earlier_follow_up_ticket_is_found_through_the_source_tickets_followup_ids() -> None:
    """Crash between creating a follow-up ticket and recording it: the retry must find it with
    reads every Zendesk (and every fake of it) serves, not only the external-id search."""
    from deskbot.sandbox.zendesk import ZendeskSandbox

    sandbox = ZendeskSandbox(7, 400, account_limit=1_000_000, incremental_limit=1_000_000)
    sandbox.start()
    try:
        writer = zendesk_writer(
            FakeClock(),
            settings=zendesk_settings(sandbox.base_url, email=sandbox.email, token=sandbox.token),
        )
        closed = next(t.id for t in sandbox.state.tickets.values() if t.status == "closed")
        marker = "[deskbot:followup:42:1]"
        assert writer.find_followup_ticket(closed, "deskbot-followup-42-1", marker) is None
        created = writer.create_followup_ticket(
            closed,
            subject="Follow-up: refund",
            note=f"Bad CSAT rating.\n\n{marker}",
            tags=["csat_followup"],
            assignee_id=None,
            group_id=None,
            requester_id=None,
            # A Zendesk that dropped the external id: only the marker identifies the ticket.
            external_id="something-else",
        )
        assert writer.find_followup_ticket(closed, "deskbot-followup-42-1", marker) == created
        other = "[deskbot:followup:43:1]"
        assert writer.find_followup_ticket(closed, "deskbot-followup-43-1", other) is None
    finally:
        sandbox.stop()


class _NoHistoryClient:
    """A Slack (or proxy, or fake) that does not serve conversations.history."""

    def __init__(self, error: str) -> None:
        self.error = error
        self.retry_handlers: list[object] = []

    def conversations_history(self, **_: object) -> object:
        from slack_sdk.errors import SlackApiError
        from slack_sdk.web.slack_response import SlackResponse

        response = SlackResponse(
            client=None,
            http_verb="POST",
            api_url="https://slack.com/api/conversations.history",
            req_args={},
            data={"ok": False, "error": self.error},
            headers={},
            status_code=200,
        )
        raise SlackApiError(self.error, response)


@pytest.mark.parametrize("error", ["unknown_method", "missing_scope"])
def test_unreadable_history_means_post_again_rather_than_never(error: str) -> None:
    from datetime import UTC, datetime

    from deskbot.adapters.slack.followup_notifier import SlackFollowupNotifier

    notifier = SlackFollowupNotifier(_NoHistoryClient(error))  # type: ignore[arg-type]
    since = datetime(2026, 11, 2, tzinfo=UTC)
    assert notifier.find_message("C0ALERTS", "followup:1:1:alert", since) is None


def test_other_history_errors_still_fail_the_step() -> None:
    from datetime import UTC, datetime

    from deskbot.adapters.slack.followup_notifier import SlackFollowupNotifier

    notifier = SlackFollowupNotifier(_NoHistoryClient("internal_error"))  # type: ignore[arg-type]
    with pytest.raises((SlackError, PermanentStepError)):
        notifier.find_message("C0ALERTS", "followup:1:1:alert", datetime(2026, 11, 2, tzinfo=UTC))


def test_digest_notifier_treats_unreadable_history_as_nothing_posted() -> None:
    from datetime import UTC, datetime

    from deskbot.adapters.slack.notifier import SlackNotifier

    notifier = SlackNotifier(_NoHistoryClient("unknown_method"), clock=FakeClock())  # type: ignore[arg-type]
    assert notifier.find_marked("C0LEADS", "digest:", datetime(2026, 11, 2, tzinfo=UTC)) == {}
    failing = SlackNotifier(_NoHistoryClient("internal_error"), clock=FakeClock())  # type: ignore[arg-type]
    with pytest.raises(SlackError):
        failing.find_marked("C0LEADS", "digest:", datetime(2026, 11, 2, tzinfo=UTC))


@responses.activate
def test_the_writer_and_the_sync_spend_one_shared_account_budget() -> None:
    """PRODUCT §1: every call spends the account budget, whoever makes it. A sync client and
    the follow-up writer built in one process (as the daemon's jobs do) are paced together."""
    import re
    import threading

    from deskbot import bootstrap
    from deskbot.adapters.zendesk.client import ZendeskClient
    from deskbot.settings import ZendeskRateLimits

    limit = 6  # a tiny account budget: one request every ~10 s between both clients
    settings = make_settings()
    zendesk = settings.zendesk.model_copy(
        update={
            "email": SecretStr("bot@example.com"),
            "api_token": SecretStr("token"),
            "rate_limits": ZendeskRateLimits(account_per_minute=limit, incremental_per_minute=100),
        }
    )
    settings = settings.model_copy(update={"zendesk": zendesk})
    clock, stop = FakeClock(), threading.Event()
    sent: list[tuple[float, str]] = []

    def recorder(who: str, body: object) -> object:
        def reply(_request: object) -> tuple[int, dict[str, str], str]:
            sent.append((clock.monotonic(), who))
            return 200, {}, json.dumps(body)

        return reply

    ratings = {"satisfaction_ratings": [], "meta": {"has_more": False}, "links": {}}
    ticket = {"ticket": {"id": 5, "status": "open", "updated_at": "S", "tags": []}}
    responses.add_callback(
        responses.GET,
        re.compile(re.escape(ZD) + r"/satisfaction_ratings\.json.*"),
        callback=recorder("sync", ratings),
    )
    responses.add_callback(responses.GET, ZD + "/tickets/5.json", callback=recorder("read", ticket))
    responses.add_callback(
        responses.PUT, ZD + "/tickets/5.json", callback=recorder("write", {"ticket": {"id": 5}})
    )

    sync = ZendeskClient.from_settings(settings.zendesk, clock, stop)  # as bootstrap.sync_service
    writer = bootstrap.zendesk_ticket_writer(settings, clock, stop)
    assert writer.session.budgets.account is sync.session.budgets.account

    for _ in range(6):  # a sync page, then a follow-up burst: a read and an update
        sync.rating_page(start_time=0, end_time=10, page=None, per_page=100)
        writer.get_ticket(5)
        _update(writer)

    assert [who for _, who in sent] == ["sync", "read", "write"] * 6
    times = [t for t, _ in sent]
    # Never more than the account limit in any 60-second window, whichever client sent...
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 60) <= limit
    # ... because each request waited its turn behind the other client's (evenly spaced).
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 60 / limit
    assert writer.session.budgets.account.acquired == len(times)


def test_the_followups_job_builds_its_writer_on_the_daemons_stop_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The budget registry is keyed by clock and stop event: the follow-up job must pass the
    daemon's (as the sync job does) or its writer would pace against a budget of its own."""
    import threading
    from datetime import UTC, datetime

    from deskbot import bootstrap, jobs
    from deskbot.adapters.log_notifier import LogNotifier

    seen: dict[str, object] = {}

    def run_followups(*args: object, **kwargs: object) -> dict[str, object]:
        seen.update(kwargs, clock=args[2])
        return {}

    monkeypatch.setattr(bootstrap, "run_followups", run_followups)
    clock, stop = FakeClock(), threading.Event()
    ctx = jobs.JobContext(
        job="followups",
        variant=None,
        settings=make_settings(),
        database=None,  # type: ignore[arg-type]  # not touched: run_followups is replaced
        clock=clock,
        stop=stop,
        fire_time=datetime(2026, 11, 2, tzinfo=UTC),
        trigger_key="k",
        notifier=LogNotifier(),
    )
    jobs.followups_job(ctx)
    assert seen["stop_event"] is stop and seen["clock"] is clock


def test_a_follow_up_tickets_note_is_written_by_an_agent_not_the_customer() -> None:
    """Zendesk attributes a created ticket's first comment to the requester unless the payload
    names its author: the bad-CSAT note must not look written by the unhappy customer."""
    from deskbot.sandbox.zendesk import ZendeskSandbox

    sandbox = ZendeskSandbox(7, 400, account_limit=1_000_000, incremental_limit=1_000_000)
    sandbox.start()
    try:
        writer = zendesk_writer(
            FakeClock(),
            settings=zendesk_settings(sandbox.base_url, email=sandbox.email, token=sandbox.token),
        )
        source = next(t for t in sandbox.state.tickets.values() if t.status == "closed")
        created = writer.create_followup_ticket(
            source.id,
            subject="Follow-up: refund",
            note="Bad CSAT rating.",
            tags=["csat_followup"],
            assignee_id=None,
            group_id=None,
            requester_id=source.requester_id,
            external_id="deskbot-followup-44-1",
        )
        ticket = sandbox.state.tickets[created]
        first = sandbox.state.comments(ticket)[0]
        assert first.author_id != source.requester_id
        assert sandbox.state.users[first.author_id].role in ("agent", "admin")
        assert first.author_id == writer.acting_agent_id()
    finally:
        sandbox.stop()
