"""The daemon's sync job end to end: Zendesk sandbox → store → /healthz, /metrics and Slack.

Nothing of ours is mocked: ``bootstrap.make_daemon`` builds the daemon from a config file,
``bootstrap.attach_slack_app`` serves the Slack app over HTTP (the Slack sandbox signs the slash
commands), and the sync job talks to the Zendesk sandbox through zenpy. Time is a
``FakeClock`` shared with the Zendesk sandbox's rate-limit windows, so pacing costs nothing.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from deskbot import bootstrap
from deskbot import metrics_registry as metrics
from deskbot.adapters.db.store import Database
from deskbot.adapters.slack.server import HttpHandle
from deskbot.daemon import Daemon
from deskbot.sandbox.slack import SlackSandbox
from deskbot.sandbox.zendesk import ZendeskSandbox
from deskbot.testing import FakeClock

NEVER = "0 3 1 1 *"  # 1 January, 03:00: no cron fires while a test runs


@pytest.fixture
def slack(tmp_path: Path, clock: FakeClock) -> Iterator[SlackSandbox]:
    sb = SlackSandbox(out_dir=tmp_path / "slack", seed=1, clock=clock, signature_clock=clock)
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture
def zendesk(clock: FakeClock) -> Iterator[ZendeskSandbox]:
    sb = ZendeskSandbox(
        seed=5,
        tickets=60,
        start=clock.now() - timedelta(days=3),
        account_limit=700,
        incremental_limit=10,
        monotonic=clock.monotonic,
    )
    sb.start()
    yield sb
    sb.stop()


def write_config(path: Path, tmp_path: Path, zendesk: ZendeskSandbox, slack: SlackSandbox) -> None:
    data: dict[str, Any] = {
        "timezone": "Europe/Berlin",
        "data_dir": str(tmp_path / "data"),
        "zendesk": {
            "subdomain": "acme",
            "base_url": zendesk.base_url,
        },
        "slack": {
            "mode": "http",
            "base_url": slack.base_url,
            "channels": {"alerts": "#csat-alerts", "admin": "#deskbot-admin"},
        },
        "roles": {"admins": [slack.user_id("maya.okafor")]},
        "roster": {"agents": [{"zendesk_user_id": 101, "slack_user": slack.user_id("sam.reyes")}]},
        "schedules": {
            "sync": NEVER,
            "followups": NEVER,
            "db_maintenance": NEVER,
            "shoutouts": None,
            "hero_of_the_week": None,
        },
        "daemon": {"health": {"port": 0, "max_sync_age_minutes": 30}},
    }
    path.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def answers(sb: SlackSandbox, needle: str) -> list[str]:
    return [t for t in (json.dumps(m) for m in sb.messages()) if needle in t]


@pytest.fixture
def running(
    tmp_path: Path,
    db: Database,
    clock: FakeClock,
    slack: SlackSandbox,
    zendesk: ZendeskSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Daemon, HttpHandle]]:
    monkeypatch.setenv("DESKBOT_SLACK_BOT_TOKEN", slack.bot_token)
    monkeypatch.setenv("DESKBOT_SLACK_SIGNING_SECRET", slack.signing_secret)
    monkeypatch.setenv("DESKBOT_ZENDESK_EMAIL", zendesk.email)
    monkeypatch.setenv("DESKBOT_ZENDESK_API_TOKEN", zendesk.token)
    config = tmp_path / "deskbot.yaml"
    write_config(config, tmp_path, zendesk, slack)
    daemon = bootstrap.make_daemon(config, bootstrap.load(config), db, clock)
    handle = bootstrap.attach_slack_app(daemon, host="127.0.0.1", port=0)
    assert isinstance(handle, HttpHandle) and handle.work is not None
    daemon.start(watch=False)
    try:
        yield daemon, handle
    finally:
        daemon.shutdown(grace=2)


def test_sync_job_against_the_sandbox_makes_healthz_healthy(
    running: tuple[Daemon, HttpHandle], clock: FakeClock, zendesk: ZendeskSandbox
) -> None:
    daemon, _ = running
    assert daemon.health_server is not None
    health = f"http://127.0.0.1:{daemon.health_server.port}"
    clock.advance(minutes=31)  # longer than max_sync_age without a sync
    status, body = get(health + "/readyz")
    assert status == 503 and json.loads(body)["checks"]["sync"]["ok"] is False
    assert get(health + "/healthz")[0] == 200  # liveness: process and database only

    rows_before = sample("deskbot_sync_rows_total", stream="tickets")
    limited_before = sample("deskbot_zendesk_rate_limited_total")
    zendesk.faults.inject(burst_429=1, retry_after=2, path_prefix="/api/v2/incremental")
    assert daemon.run_job_now("sync", requested_by="test").accepted
    assert daemon.wait_requested("sync", 60)

    [run] = daemon.ledger.recent_runs("sync")
    assert run.outcome == "ok", run.error
    summary = json.loads(run.detail or "{}")
    synced = summary["streams"]["tickets"]["rows"]
    assert synced == len(zendesk.state.tickets) > 0
    # The follow-up pass ran right after, through the runner, as its own recorded run.
    assert summary["followups"]["outcome"] == "ok"
    [followups] = daemon.ledger.recent_runs("followups")
    assert followups.outcome == "ok" and summary["followups"]["run_id"] == followups.id

    status, body = get(health + "/readyz")
    checks = json.loads(body)["checks"]
    assert status == 200 and checks["sync"]["ok"] and checks["sync"]["age_seconds"] == 0

    # /metrics counts what the sync wrote and the 429 the sandbox answered, where they happened.
    assert sample("deskbot_sync_rows_total", stream="tickets") - rows_before == synced
    assert sample("deskbot_zendesk_rate_limited_total") - limited_before == 1
    _, text = get(health + "/metrics")
    lag = [line for line in text.splitlines() if line.startswith("deskbot_sync_lag_seconds{")]
    assert {line.split('"')[1] for line in lag} >= {"tickets", "satisfaction_ratings"}


def test_slash_sync_shows_streams_and_sync_now_is_for_admins(
    running: tuple[Daemon, HttpHandle], slack: SlackSandbox
) -> None:
    daemon, handle = running
    assert handle.work is not None
    url = handle.url + daemon.settings.slack.http.path

    status, _ = slack.send_slash_command(url, text="sync", user_id="sam.reyes")
    assert status == 200 and handle.work.wait_idle(10)
    [before] = answers(slack, "Sync status")
    assert "*tickets*" in before and "*satisfaction_ratings*" in before
    assert "last success never" in before  # nothing synced yet

    status, body = slack.send_slash_command(url, text="sync now", user_id="sam.reyes")
    assert status == 200 and "only admins" in body
    assert handle.work.wait_idle(10)
    assert daemon.ledger.recent_runs("sync") == []  # refused: nothing ran

    status, _ = slack.send_slash_command(url, text="sync now", user_id="maya.okafor")
    assert status == 200 and handle.work.wait_idle(10)
    assert answers(slack, "sync started")
    assert daemon.wait_requested("sync", 60)
    [run] = daemon.ledger.recent_runs("sync")
    assert run.outcome == "ok" and (run.trigger_key or "").startswith("manual:")

    slack.send_slash_command(url, text="sync", user_id="sam.reyes")
    assert handle.work.wait_idle(10)
    after = answers(slack, "Sync status")[-1]
    assert after != before and "last success never" not in after.lower()
