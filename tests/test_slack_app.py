"""The Slack app, driven the way bolt-python tests itself: signed requests dispatched through
``App.dispatch``, a local Web API server behind the ``WebClient``, an injected clock."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient

from deskbot.adapters.slack.app import build_app
from deskbot.adapters.slack.interactions import Interaction, InteractionRegistry
from deskbot.adapters.slack.work import BackgroundWork
from deskbot.domain.commands import AgentRef, GroupRef
from deskbot.domain.metrics import Window
from deskbot.errors import MissingSecretError
from deskbot.services.providers import (
    BadRating,
    FollowupState,
    ReloadResult,
    Shoutout,
    SlackServices,
    StreamStatus,
)
from deskbot.settings import Settings
from deskbot.testing import (
    FakeClock,
    FakeConfigReloader,
    FakeCsatProvider,
    FakeDirectory,
    FakeShoutouts,
    FakeStatsProvider,
    FakeSyncStatus,
    FakeSyncTrigger,
)
from slack_helpers import (
    ADMIN,
    AGENT,
    LEAD,
    OTHER_AGENT,
    STRANGER,
    FakeSlackApi,
    command_body,
    fake_slack_api,
    make_settings,
    sign,
    signed_request,
)

FIXTURES = Path(__file__).parent / "fixtures" / "slack"  # see SOURCES.md there


@dataclass
class Harness:
    api: FakeSlackApi
    clock: FakeClock
    app: App
    work: BackgroundWork
    registry: InteractionRegistry
    services: SlackServices
    stats: FakeStatsProvider
    trigger: FakeSyncTrigger
    reloader: FakeConfigReloader
    csat: FakeCsatProvider
    shoutouts: FakeShoutouts
    sync_status: FakeSyncStatus
    handled: list[Interaction] = field(default_factory=list)

    @property
    def now(self) -> int:
        return int(self.clock.now().timestamp())

    def command(
        self, text: str, user: str = AGENT, command: str = "/deskbot", **kw: Any
    ) -> BoltResponse:
        body = command_body(text, user, self.api.url + "/hooks/commands/1", command=command)
        return self.app.dispatch(signed_request(body, self.now, **kw))

    def finish(self) -> list[dict[str, Any]]:
        """Wait for the work queued after the acks; the messages sent to response_url."""
        assert self.work.wait_idle(timeout=10)
        return self.api.responses

    def side_effects(self) -> int:
        return (
            len(self.stats.queries)
            + len(self.trigger.requests)
            + self.reloader.calls
            + len(self.csat.calls)
            + self.shoutouts.calls
            + self.sync_status.calls
            + len(self.handled)
            + len(self.api.calls("/hooks/"))
        )


def _build(
    api: FakeSlackApi, settings: Settings, clock: FakeClock, services: SlackServices, **kw: Any
) -> tuple[App, BackgroundWork, InteractionRegistry]:
    work = BackgroundWork()
    registry = InteractionRegistry()
    client = WebClient(token="xoxb-test", base_url=api.api_url)
    app = build_app(
        settings,
        client,
        services,
        clock,
        interactions=registry,
        work=work,
        token_verification_enabled=False,
        **kw,
    )
    return app, work, registry


@pytest.fixture
def harness(clock: FakeClock) -> Iterator[Harness]:
    stats = FakeStatsProvider()
    trigger = FakeSyncTrigger()
    reloader = FakeConfigReloader()
    csat = FakeCsatProvider(
        [
            BadRating(
                ticket_id=4711,
                rated_at=datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
                agent_name="Ada Lovelace",
                comment="Took <forever> & a day",
                reason="Issue not resolved",
                followup=FollowupState("claimed", LEAD),
            )
        ]
    )
    shoutouts = FakeShoutouts(
        [Shoutout(datetime(2026, 11, 1, 15, 0, tzinfo=UTC), "csat", "Thanks, Ada!", AGENT)]
    )
    sync_status = FakeSyncStatus(
        [StreamStatus("tickets", datetime(2026, 11, 2, 8, 55, tzinfo=UTC), None, "HTTP 503")]
    )
    services = SlackServices(
        directory=FakeDirectory(
            [AgentRef(101, "Ada Lovelace"), AgentRef(102, "Grace Hopper", OTHER_AGENT)],
            [GroupRef(7, "Billing")],
        ),
        stats=stats,
        csat=csat,
        shoutouts=shoutouts,
        sync_status=sync_status,
        sync_trigger=trigger,
        config_reloader=reloader,
    )
    with fake_slack_api() as api:
        app, work, registry = _build(api, make_settings(), clock, services)
        h = Harness(
            api,
            clock,
            app,
            work,
            registry,
            services,
            stats,
            trigger,
            reloader,
            csat,
            shoutouts,
            sync_status,
        )
        registry.on_action("a", h.handled.append)
        registry.on_view("view-", h.handled.append)
        yield h
        work.shutdown()


def _ack_body(response: BoltResponse) -> dict[str, Any]:
    assert response.status == 200, response.body
    return json.loads(response.body) if response.body else {}


def _text(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# Real fixture payloads and Slack's documented signature example
# --------------------------------------------------------------------------------------------


def test_the_recorded_slash_command_is_accepted_and_answered(clock: FakeClock) -> None:
    body = (FIXTURES / "slash_command.txt").read_text()
    settings = make_settings(
        slack={"command": "/hello-world"},
        roster={"agents": [{"zendesk_user_id": 9, "slack_user": "W111"}]},  # the recorded user
    )
    with fake_slack_api() as api:
        app, work, _ = _build(api, settings, clock, SlackServices())
        response = app.dispatch(signed_request(body, int(clock.now().timestamp())))
        ack = _ack_body(response)
        # text "Hi" is no subcommand: an ephemeral answer with the command list
        assert ack["response_type"] == "ephemeral"
        assert "I don't know `/hello-world hi`" in _text(ack)
        assert "/hello-world stats [period] [group|@agent]" in _text(ack)
        work.shutdown()


def test_signature_example_from_slack_docs_verifies_with_an_injected_clock() -> None:
    example = json.loads((FIXTURES / "signature_example.json").read_text())
    ts = int(example["timestamp"])
    clock = FakeClock(datetime.fromtimestamp(ts, UTC))
    settings = make_settings(
        slack={"signing_secret": example["secret"], "command": "/webhook-collect"}
    )
    request = {
        "content-type": ["application/x-www-form-urlencoded"],
        "x-slack-request-timestamp": [example["timestamp"]],
        "x-slack-signature": [example["expected_signature"]],
    }
    with fake_slack_api() as api:
        app, work, _ = _build(api, settings, clock, SlackServices())
        ok = app.dispatch(BoltRequest(body=example["body"], headers=request))
        assert ok.status == 200
        assert "deskbot commands" in ok.body  # empty text: the help
        # the same request six minutes later is stale
        clock.advance(minutes=6)
        app2, work2, _ = _build(api, settings, clock, SlackServices())
        stale = app2.dispatch(BoltRequest(body=example["body"], headers=request))
        assert stale.status == 401
        work.shutdown()
        work2.shutdown()


def test_the_recorded_button_click_reaches_its_handler_once(harness: Harness) -> None:
    body = (FIXTURES / "block_actions_body.txt").read_text()
    response = harness.app.dispatch(signed_request(body, harness.now))
    assert response.status == 200
    harness.finish()
    assert len(harness.handled) == 1
    click = harness.handled[0]
    assert (click.kind, click.id, click.value, click.user_id) == (
        "block_actions",
        "a",
        "click_me_123",
        "W111",
    )
    assert click.channel_id == "C111" and click.message_ts == "111.222"
    assert click.trigger_id == "111.222.valid"

    # Slack retries it (new timestamp and signature, X-Slack-Retry-Num): acknowledged, ignored
    harness.clock.advance(seconds=3)
    retry = harness.app.dispatch(signed_request(body, harness.now, retry=1))
    assert (retry.status, retry.body) == (200, "")
    # the same delivery again without the retry header: a second click that never happened
    harness.clock.advance(seconds=3)
    again = harness.app.dispatch(signed_request(body, harness.now))
    assert again.status == 200
    harness.finish()
    assert len(harness.handled) == 1


def test_the_recorded_modal_submission_reaches_its_handler_with_values(harness: Harness) -> None:
    body = (FIXTURES / "view_submission_body.txt").read_text()
    response = harness.app.dispatch(signed_request(body, harness.now))
    assert (response.status, response.body) == (200, "")
    harness.finish()
    [submission] = harness.handled
    assert submission.kind == "view_submission" and submission.id == "view-id"
    assert submission.values == {"hspI": {"maBWU": "test"}}
    assert submission.private_metadata == "This is for you!"


def test_a_modal_that_fails_validation_shows_errors_and_runs_nothing(clock: FakeClock) -> None:
    body = (FIXTURES / "view_submission_body.txt").read_text()
    ran: list[Interaction] = []
    with fake_slack_api() as api:
        app, work, registry = _build(api, make_settings(), clock, SlackServices())
        registry.on_view(
            "view-",
            ran.append,
            validate=lambda i: (
                {"hspI": "Say more than that"} if i.values["hspI"]["maBWU"] == "test" else None
            ),
        )
        response = app.dispatch(signed_request(body, int(clock.now().timestamp())))
        assert response.status == 200
        assert json.loads(response.body) == {
            "response_action": "errors",
            "errors": {"hspI": "Say more than that"},
        }
        assert work.wait_idle(5)
        assert ran == []
        work.shutdown()


def test_a_failing_button_handler_is_logged_after_the_ack(clock: FakeClock) -> None:
    body = (FIXTURES / "block_actions_body.txt").read_text()

    def explode(interaction: Interaction) -> None:
        raise RuntimeError("claim failed")

    with fake_slack_api() as api:
        app, work, registry = _build(api, make_settings(), clock, SlackServices())
        registry.on_action("a", explode)
        response = app.dispatch(signed_request(body, int(clock.now().timestamp())))
        assert (response.status, response.body) == (200, "")
        assert work.wait_idle(5)
        assert work.failures == 1
        work.shutdown()


def test_the_longest_registered_prefix_wins() -> None:
    registry = InteractionRegistry()
    seen: list[str] = []
    registry.on_action("followup:", lambda i: seen.append("any"))
    registry.on_action("followup:claim", lambda i: seen.append("claim"))
    handler = registry.action("followup:claim:4711")
    assert handler is not None
    handler(None)  # type: ignore[arg-type]
    assert seen == ["claim"]
    assert registry.action("qa:score") is None
    with pytest.raises(ValueError, match="already registered"):
        registry.on_action("followup:claim", lambda i: None)


# --------------------------------------------------------------------------------------------
# Forged, stale, replayed and retried requests
# --------------------------------------------------------------------------------------------


def test_a_forged_signature_is_rejected_with_no_side_effect(harness: Harness) -> None:
    body = command_body("sync now", ADMIN, harness.api.url + "/hooks/x")
    forged = sign(body, harness.now, secret="not-the-secret")
    response = harness.app.dispatch(signed_request(body, harness.now, signature=forged))
    assert response.status == 401
    # tampered body with a valid signature for another body
    valid_for_other = sign(body.replace("sync+now", "help"), harness.now)
    tampered = harness.app.dispatch(signed_request(body, harness.now, signature=valid_for_other))
    assert tampered.status == 401
    harness.finish()
    assert harness.side_effects() == 0
    assert harness.api.requests == []  # not even auth.test


def test_a_stale_request_is_rejected(harness: Harness) -> None:
    body = command_body("sync now", ADMIN, harness.api.url + "/hooks/x")
    old = harness.now - 5 * 60 - 1
    assert harness.app.dispatch(signed_request(body, old)).status == 401
    future = harness.now + 5 * 60 + 1
    assert harness.app.dispatch(signed_request(body, future)).status == 401
    harness.finish()
    assert harness.side_effects() == 0


def test_a_replayed_request_is_rejected_and_a_retry_is_swallowed(harness: Harness) -> None:
    body = command_body("sync now", ADMIN, harness.api.url + "/hooks/x")
    first = signed_request(body, harness.now)
    assert harness.app.dispatch(first).status == 200
    harness.finish()
    assert harness.trigger.requests == [ADMIN]
    replay = signed_request(body, harness.now)  # identical timestamp and signature
    assert harness.app.dispatch(replay).status == 401
    harness.clock.advance(seconds=10)
    retry = harness.app.dispatch(signed_request(body, harness.now, retry=1))
    assert (retry.status, retry.body) == (200, "")
    harness.finish()
    assert harness.trigger.requests == [ADMIN]
    assert len(harness.api.responses) == 1


# --------------------------------------------------------------------------------------------
# Acknowledge first, work later
# --------------------------------------------------------------------------------------------


def test_ack_returns_before_the_slow_work(harness: Harness) -> None:
    gate = threading.Event()
    harness.stats.gate = gate
    response = harness.command("stats 7d")
    # the provider is still blocked, yet the acknowledgement is complete
    assert (response.status, response.body) == (200, "")
    assert harness.stats.started.wait(5)
    assert harness.stats.queries == [] and harness.api.responses == []
    gate.set()
    [answer] = harness.finish()
    assert answer["response_type"] == "ephemeral"
    assert "Numbers for the whole team" in _text(answer)
    assert "CSAT*: 91.5%" in _text(answer)
    assert "▲ 3.5 pts, better" in _text(answer)
    assert "35 min" in _text(answer) and "▼ 15 min, better" in _text(answer)


def test_share_posts_in_the_channel_but_refusals_stay_private(harness: Harness) -> None:
    harness.command("hero share")
    [answer] = harness.finish()
    assert answer["response_type"] == "in_channel"
    assert "Thanks, Ada!" in _text(answer)
    refused = _ack_body(harness.command("sync now share"))
    assert refused["response_type"] == "ephemeral"
    assert "only admins can start a sync" in _text(refused)


# --------------------------------------------------------------------------------------------
# Permissions: every subcommand, every role
# --------------------------------------------------------------------------------------------

EVERYONE = {ADMIN, LEAD, AGENT}
LEADS = {ADMIN, LEAD}
MATRIX = [
    ("help", EVERYONE, "deskbot commands"),
    ("me", EVERYONE, "Numbers for"),
    ("stats", EVERYONE, "Numbers for the whole team"),
    ("stats 30d billing", EVERYONE, "Numbers for Billing"),
    ("stats @me", EVERYONE, "Numbers for"),
    ("stats @grace", LEADS, "Numbers for Grace Hopper"),
    ("csat", LEADS, "Bad CSAT ratings"),
    ("hero", EVERYONE, "Recent shout-outs"),
    ("sync", EVERYONE, "Sync status"),
    ("sync now", {ADMIN}, "Sync started."),
    ("config reload", {ADMIN}, "Configuration reloaded"),
]


@pytest.mark.parametrize(("text", "allowed", "expected"), MATRIX, ids=[m[0] for m in MATRIX])
@pytest.mark.parametrize("user", [ADMIN, LEAD, AGENT])
def test_role_matrix(
    harness: Harness, text: str, allowed: set[str], expected: str, user: str
) -> None:
    ack = _ack_body(harness.command(text, user=user))
    messages = [ack, *harness.finish()] if ack else harness.finish()
    everything = _text(messages)
    if user in allowed:
        assert expected in everything
        assert "Sorry, only" not in everything
    else:
        assert "Sorry, only" in everything
        assert expected not in everything
        # the forbidden command did nothing: no provider behind a refusal was called
        assert harness.trigger.requests == [] and harness.reloader.calls == 0
        assert harness.csat.calls == [] and harness.stats.queries == []


def test_an_agent_sees_their_own_numbers_by_mention(harness: Harness) -> None:
    harness.command(f"stats <@{AGENT}|ada> 7d", user=AGENT)
    [answer] = harness.finish()
    assert "Numbers for Ada Lovelace" in _text(answer)
    [query] = harness.stats.queries
    assert query.target.agent is not None and query.target.agent.zendesk_user_id == 101
    # 09:00 UTC on Monday 2 Nov is 10:00 in Berlin: "7d" is the 7 complete days before it,
    # read by the same parser as `deskbot report --period 7d`
    assert query.period == Window(date(2026, 10, 26), date(2026, 11, 2), "Europe/Berlin")


def test_me_maps_the_slack_user_to_the_zendesk_agent(harness: Harness) -> None:
    harness.command("me", user=OTHER_AGENT)
    [answer] = harness.finish()
    [query] = harness.stats.queries
    assert query.target.agent is not None and query.target.agent.zendesk_user_id == 102
    # "me" defaults to this week so far: Monday 2 Nov, today, only
    assert query.period.name == "this week so far"
    assert query.period == Window(date(2026, 11, 2), date(2026, 11, 3), "Europe/Berlin")
    assert "Numbers for Grace Hopper" in _text(answer)


def test_me_for_someone_outside_the_roster_is_refused(harness: Harness) -> None:
    # not an agent, lead or admin: an employee, who gets help only
    answer = _ack_body(harness.command("me", user=STRANGER))
    assert "Sorry, only agents, leads and admins can" in _text(answer)
    assert harness.finish() == [] and harness.stats.queries == []


def test_me_for_a_lead_without_a_zendesk_agent_says_how_to_fix_it(clock: FakeClock) -> None:
    settings = make_settings(roles={"admins": [ADMIN], "leads": [LEAD, "ULEADX01"]})
    stats = FakeStatsProvider()
    with fake_slack_api() as api:
        app, work, _ = _build(api, settings, clock, SlackServices(stats=stats))
        body = command_body("me", "ULEADX01", api.url + "/hooks/commands/9")
        app.dispatch(signed_request(body, int(clock.now().timestamp())))
        assert work.wait_idle(10)
        [answer] = api.responses
        assert "slack_user: ULEADX01" in _text(answer)
        assert stats.queries == []


def test_config_reload_swaps_roles_in_the_running_app(harness: Harness) -> None:
    promoted = make_settings(roles={"admins": [ADMIN, AGENT], "leads": [LEAD]})
    harness.reloader.result = ReloadResult(True, "roles changed", promoted)
    assert "only admins" in _text(_ack_body(harness.command("sync now", user=AGENT)))
    harness.command("config reload", user=ADMIN)
    harness.finish()
    harness.command("sync now", user=AGENT)
    harness.finish()
    assert harness.trigger.requests == [AGENT]


def test_a_rejected_config_reload_keeps_the_old_config(harness: Harness) -> None:
    harness.reloader.result = ReloadResult(
        False, "deskbot.yaml:3: roles.admin: did you mean admins?"
    )
    harness.command("config reload", user=ADMIN)
    [answer] = harness.finish()
    assert "rejected" in _text(answer) and "did you mean admins?" in _text(answer)
    assert "only admins" in _text(_ack_body(harness.command("sync now", user=AGENT)))


# --------------------------------------------------------------------------------------------
# Typos, bad input, missing features, failures
# --------------------------------------------------------------------------------------------


def test_an_unknown_subcommand_gets_a_suggestion_and_the_help(harness: Harness) -> None:
    ack = _ack_body(harness.command("stast 7d share"))
    assert ack["response_type"] == "ephemeral"
    assert "I don't know `/deskbot stast`. Did you mean `stats`" in _text(ack)
    assert "/deskbot me [period]" in _text(ack)
    assert harness.finish() == []


def test_a_bad_period_is_answered_at_once_with_an_example(harness: Harness) -> None:
    ack = _ack_body(harness.command("stats 7x"))
    assert "`7x` is not a period" in _text(ack) and "`30d`" in _text(ack)
    assert "Usage: `/deskbot stats [period] [group|@agent]`" in _text(ack)
    assert harness.finish() == [] and harness.stats.queries == []


def test_an_unknown_agent_gets_suggestions(harness: Harness) -> None:
    harness.command("stats 7d @grase", user=LEAD)
    [answer] = harness.finish()
    assert "Did you mean `Grace Hopper`" in _text(answer)
    assert answer["response_type"] == "ephemeral"
    assert harness.stats.queries == []


def test_csat_lists_bad_ratings_escaped_with_followup_state(harness: Harness) -> None:
    harness.command("csat 30d", user=LEAD)
    [answer] = harness.finish()
    text = _text(answer)
    assert "#4711" in text and "Issue not resolved" in text
    assert "Took &lt;forever&gt; &amp; a day" in text
    assert f"Follow-up: *claimed* by <@{LEAD}>" in text
    [(period, limit)] = harness.csat.calls
    assert period == Window(date(2026, 10, 3), date(2026, 11, 2), "Europe/Berlin")
    assert limit == 10


def test_csat_by_default_lists_the_last_week_and_today(harness: Harness) -> None:
    # a bad rating that came in this morning is on the list (Monday 2 Nov, 10:00 in Berlin)
    harness.command("csat", user=LEAD)
    harness.finish()
    [(period, _limit)] = harness.csat.calls
    assert period == Window(date(2026, 10, 26), date(2026, 11, 3), "Europe/Berlin")


def test_sync_status_shows_positions_in_the_configured_timezone(harness: Harness) -> None:
    harness.command("sync")
    [answer] = harness.finish()
    assert "2026-11-02 09:55 CET" in _text(answer)
    assert "last error: HTTP 503" in _text(answer)


def test_a_feature_not_wired_says_so(clock: FakeClock) -> None:
    with fake_slack_api() as api:
        app, work, _ = _build(api, make_settings(), clock, SlackServices())
        body = command_body("hero", AGENT, api.url + "/hooks/1")
        ack = json.loads(app.dispatch(signed_request(body, int(clock.now().timestamp()))).body)
        assert "Shout-outs are not available in this deployment yet" in _text(ack)
        work.shutdown()


def test_a_failing_provider_answers_with_an_error_id(harness: Harness) -> None:
    def broken(query: object) -> None:
        raise RuntimeError("database is on fire")

    harness.stats.stats = broken  # type: ignore[method-assign,assignment]
    harness.command("stats share")
    [answer] = harness.finish()
    assert "failed on my side (error id `" in _text(answer)
    assert "on fire" not in _text(answer)
    assert answer["response_type"] == "ephemeral"


# --------------------------------------------------------------------------------------------
# Modes
# --------------------------------------------------------------------------------------------


def test_http_mode_needs_the_signing_secret(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DESKBOT_SLACK_SIGNING_SECRET", raising=False)
    settings = make_settings(slack={"signing_secret": None})
    client = WebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/")
    with pytest.raises(MissingSecretError, match="DESKBOT_SLACK_SIGNING_SECRET"):
        build_app(settings, client, SlackServices(), clock, token_verification_enabled=False)
    # Socket Mode has no signatures to check and does not ask for the secret
    app = build_app(
        settings, client, SlackServices(), clock, mode="socket", token_verification_enabled=False
    )
    assert app.process_before_response is False
    assert (
        build_app(
            make_settings(), client, SlackServices(), clock, token_verification_enabled=False
        ).process_before_response
        is True
    )
