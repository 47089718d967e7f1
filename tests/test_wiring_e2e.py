"""End to end through the composition root, against the Slack and Zendesk sandboxes.

Nothing of ours is mocked: the Slack app is served over HTTP by ``bootstrap.start_slack_app``,
the sandbox plays the user (signed slash commands, clicks, modal submissions), the providers
read a small synced-looking store, and ``deskbot run`` runs as a real process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from deskbot import bootstrap
from deskbot.adapters.db.job_ledger import SqlJobLedger
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import SatisfactionRating, Ticket, TicketMetric, User
from deskbot.adapters.log_notifier import LogNotifier
from deskbot.adapters.slack.server import HttpHandle
from deskbot.adapters.slack.work import BackgroundWork
from deskbot.jobs import JOBS, JobRunner, resolve_jobs
from deskbot.sandbox.slack import SlackSandbox
from deskbot.sandbox.zendesk import ZendeskSandbox
from deskbot.settings import Settings
from deskbot.testing import FakeClock
from kpi_dataset import metric, rating, ticket, user, utc
from test_daemon_process import Lines

SRC = Path(__file__).resolve().parents[1] / "src"
ADA, BOB = 101, 102


@pytest.fixture
def slack(tmp_path: Path, clock: FakeClock) -> Iterator[SlackSandbox]:
    sb = SlackSandbox(out_dir=tmp_path / "slack", seed=1, clock=clock, signature_clock=clock)
    sb.start()
    yield sb
    sb.stop()


def make_settings(sb: SlackSandbox, slack: dict[str, Any] | None = None, **extra: Any) -> Settings:
    data: dict[str, Any] = {
        "timezone": "Europe/Berlin",
        "zendesk": {"subdomain": "acme", "base_url": "https://support.acme.test"},
        "slack": {
            "mode": "http",
            "base_url": sb.base_url,
            "bot_token": sb.bot_token,
            "signing_secret": sb.signing_secret,
            "channels": {
                "alerts": "#csat-alerts",
                "admin": "#deskbot-admin",
                "shoutouts": "#shoutouts",
            },
            **(slack or {}),
        },
        "roles": {"admins": [sb.user_id("maya.okafor")], "leads": [sb.user_id("lucas.ferreira")]},
        "roster": {
            "agents": [
                {
                    "zendesk_user_id": ADA,
                    "slack_user": sb.user_id("sam.reyes"),
                    "lead": sb.user_id("lucas.ferreira"),
                },
                {"zendesk_user_id": BOB, "slack_user": sb.user_id("priya.nair")},
            ]
        },
    }
    data.update(extra)
    return Settings.model_validate(data)


def load_week(db: Database) -> None:
    """The clock says Monday 2 Nov 2026, 10:00 in Berlin. ``7d`` is 27 Oct .. 2 Nov: three
    tickets created, two solved, ratings 3 good / 1 bad (75 %). The week before: one ticket,
    solved, 1 good / 1 bad (50 %)."""
    with db.engine.begin() as conn:
        db.upsert(
            conn,
            Ticket,
            [
                ticket(1, utc(2026, 10, 30, 10), "solved", assignee=ADA, requester=500),
                ticket(2, utc(2026, 10, 31, 10), "solved", assignee=BOB, requester=501),
                ticket(3, utc(2026, 11, 1, 10), "open", assignee=ADA, requester=502),
                ticket(10, utc(2026, 10, 22, 10), "solved", assignee=BOB, requester=503),
            ],
        )
        db.upsert(
            conn,
            TicketMetric,
            [
                metric(1, utc(2026, 10, 30, 12), 30, 30, 120, 120, 1, 0),
                metric(2, utc(2026, 10, 31, 14), 90, 90, 240, 240, 2, 0),
                metric(10, utc(2026, 10, 22, 12), 45, 45, 100, 100, 1, 0),
            ],
            key=("ticket_id",),
        )
        bad = rating(4, 3, "bad_with_comment", utc(2026, 11, 1, 12), assignee=ADA)
        bad["comment"], bad["reason"] = "Nobody answered", "Issue took too long to resolve"
        db.upsert(
            conn,
            SatisfactionRating,
            [
                rating(1, 1, "good", utc(2026, 10, 30, 13), assignee=ADA),
                rating(2, 2, "good", utc(2026, 10, 31, 15), assignee=BOB),
                rating(3, 1, "good", utc(2026, 10, 31, 16), assignee=ADA),
                bad,
                rating(10, 10, "good", utc(2026, 10, 22, 13), assignee=BOB),
                rating(11, 10, "bad", utc(2026, 10, 22, 14), assignee=BOB),
            ],
        )
        db.upsert(
            conn,
            User,
            [user(ADA, "Ada Lovelace", "ada@example.com"), user(BOB, "Bob", "bob@example.com")],
        )


def serve(settings: Settings, db: Database, clock: FakeClock) -> tuple[HttpHandle, str, Any]:
    work = BackgroundWork()
    services = bootstrap.slack_services(db, settings, clock)
    handle = bootstrap.start_slack_app(
        settings, services, clock, host="127.0.0.1", port=0, work=work, database=db
    )
    assert isinstance(handle, HttpHandle)
    return handle, handle.url + settings.slack.http.path, work


def texts(sb: SlackSandbox, channel: str) -> list[str]:
    return [json.dumps(m) for m in sb.messages(channel)]


# -- (a) slash commands answered from the real KPI engine -------------------------------------


def test_slash_commands_answer_with_real_numbers(
    db: Database, clock: FakeClock, slack: SlackSandbox
) -> None:
    load_week(db)
    settings = make_settings(slack)
    handle, url, work = serve(settings, db, clock)
    try:
        status, _ = slack.send_slash_command(url, text="stats 7d", user_id="sam.reyes")
        assert status == 200
        assert work.wait_idle(10)
        [answer] = [t for t in texts(slack, "#support-leads") if "Numbers for the whole team" in t]
        assert "*CSAT*: 75.0%" in answer and "25.0 pts" in answer
        assert "*Tickets created*: 3" in answer and "*Tickets solved*: 2" in answer
        assert "3 good and 1 bad ratings" in answer

        # "me": the caller's own numbers (sam.reyes is Ada in the roster): 2 good, 1 bad
        slack.send_slash_command(url, text="me 7d", user_id="sam.reyes")
        assert work.wait_idle(10)
        [mine] = [t for t in texts(slack, "#support-leads") if "Numbers for Ada Lovelace" in t]
        assert "*CSAT*: 66.7%" in mine

        # "csat" (leads): the bad rating with its reason and comment, not yet followed up
        slack.send_slash_command(url, text="csat 7d", user_id="lucas.ferreira")
        assert work.wait_idle(10)
        [bad] = [t for t in texts(slack, "#support-leads") if "Bad CSAT ratings" in t]
        assert "#3" in bad and "Nobody answered" in bad and "Ada Lovelace" in bad
        # the same link helper as the alerts: under zendesk.base_url, not the subdomain
        assert "<https://support.acme.test/agent/tickets/3|" in bad

        status, body = slack.send_slash_command(url, text="help", user_id="sam.reyes")
        assert status == 200 and "deskbot commands" in body

        status, body = slack.send_slash_command(url, text="stast 7d", user_id="sam.reyes")
        assert status == 200 and "Did you mean `stats`" in body

        status, body = slack.send_slash_command(url, text="config reload", user_id="sam.reyes")
        assert status == 200 and "only admins" in body
    finally:
        handle.stop()


# -- (b) a bad rating's follow-up: Zendesk note once, Slack alert, Claim, Handled ---------------


def test_followup_alert_claim_and_handled(
    db: Database, clock: FakeClock, slack: SlackSandbox
) -> None:
    zendesk = ZendeskSandbox(
        seed=7,
        tickets=120,
        start=clock.now() - timedelta(days=2),
        account_limit=1_000_000,
        incremental_limit=1_000_000,
        monotonic=clock.monotonic,
    )
    zendesk_url = zendesk.start()
    try:
        tid = next(t.id for t in zendesk.state.tickets.values() if t.status == "solved")
        rated = clock.now() - timedelta(hours=1)
        with db.engine.begin() as conn:
            db.upsert(conn, Ticket, [ticket(tid, rated - timedelta(days=1), assignee=ADA)])
            bad = rating(77, tid, "bad_with_comment", rated, assignee=ADA, comment="Too slow")
            db.upsert(conn, SatisfactionRating, [bad])
        settings = make_settings(
            slack,
            zendesk={
                "subdomain": "acme",
                "base_url": zendesk_url,
                "email": zendesk.email,
                "api_token": zendesk.token,
            },
            followups={
                "rules": [
                    {
                        "name": "default",
                        "actions": {
                            "internal_note": "Bad CSAT: {comment}",
                            "add_tags": ["csat_followup"],
                        },
                    }
                ]
            },
        )
        summary = bootstrap.run_followups(settings, db, clock)
        assert (summary["opened"], summary["steps_done"], summary["steps_failed"]) == (1, 2, 0)
        [alert] = [m for m in slack.messages("#csat-alerts") if "followup_claim" in json.dumps(m)]
        assert f"#{tid}" in alert["text"] or f"#{tid}" in json.dumps(alert["blocks"])

        handle, url, work = serve(settings, db, clock)
        try:
            # sam.reyes is Ada, the agent who was rated; lucas.ferreira her lead
            lucas = slack.user_id("lucas.ferreira")
            # The rated agent may not claim her own bad rating: told privately, nothing changes.
            status, _ = slack.click_button(
                url,
                message_ts=alert["ts"],
                channel="#csat-alerts",
                action_id="followup_claim",
                user_id="sam.reyes",
            )
            assert status == 200 and work.wait_idle(10)
            [unchanged] = [m for m in slack.messages("#csat-alerts") if m["ts"] == alert["ts"]]
            assert "Claimed by" not in json.dumps(unchanged["blocks"])
            assert any("never the agent who was rated" in t for t in texts(slack, "#csat-alerts"))

            status, _ = slack.click_button(
                url,
                message_ts=alert["ts"],
                channel="#csat-alerts",
                action_id="followup_claim",
                user_id="lucas.ferreira",
            )
            assert status == 200 and work.wait_idle(10)
            [updated] = [m for m in slack.messages("#csat-alerts") if m["ts"] == alert["ts"]]
            assert f"Claimed by <@{lucas}>" in json.dumps(updated["blocks"])
            assert any("You own this follow-up now." in t for t in texts(slack, "#csat-alerts"))

            slack.click_button(
                url,
                message_ts=alert["ts"],
                channel="#csat-alerts",
                action_id="followup_handled",
                user_id="lucas.ferreira",
            )
            assert work.wait_idle(10)
            assert [v["view"]["callback_id"] for v in slack.views] == ["followup_handled_modal"]
            status, _ = slack.submit_view(
                url,
                callback_id="followup_handled_modal",
                values={"followup_note": {"note": "Called the customer, refunded"}},
                user_id="lucas.ferreira",
            )
            assert status == 200 and work.wait_idle(10)
            [done] = [m for m in slack.messages("#csat-alerts") if m["ts"] == alert["ts"]]
            assert f"Handled by <@{lucas}>" in json.dumps(done["blocks"])
            assert any("Marked handled" in t for t in texts(slack, "#csat-alerts"))

            # /deskbot csat shows the rating with its follow-up's state and owner
            # (no period: the last 7 days and today, so the rating that just came in is listed)
            slack.send_slash_command(url, text="csat", user_id="lucas.ferreira")
            assert work.wait_idle(10)
            [listed] = [t for t in texts(slack, "#support-leads") if "Bad CSAT ratings" in t]
            assert f"#{tid}" in listed and f"Follow-up: *handled* by <@{lucas}>" in listed
        finally:
            handle.stop()

        # A second pass changes nothing: the note and the tag were written exactly once.
        bootstrap.run_followups(settings, db, clock)
        writes = [w for w in zendesk.writes if w["ticket_id"] == tid]
        assert len(writes) == 1
        body = writes[0]["body"]["ticket"]
        assert body["comment"]["public"] is False
        assert body["comment"]["body"].startswith("Bad CSAT: Too slow")
        assert "csat_followup" in json.dumps(body)
        alerts = [m for m in slack.messages("#csat-alerts") if "followup_claim" in json.dumps(m)]
        assert len(alerts) == 1
    finally:
        zendesk.stop()


# -- (c) the digest: once, with its chart ----------------------------------------------------


def test_digest_posts_once_with_a_chart(
    db: Database, clock: FakeClock, slack: SlackSandbox
) -> None:
    load_week(db)
    settings = make_settings(
        slack,
        digests=[
            {"name": "weekly", "channel": "#support", "schedule": "0 9 * * mon", "period": "weekly"}
        ],
    )
    outcome = bootstrap.run_digest(settings, "weekly", database=db, clock=clock)
    assert outcome.status == "posted" and outcome.chart_file is not None
    posted = slack.messages("#support")
    assert len(slack.files) == 1 and slack.files[0]["name"].endswith(".png")
    assert any(m["kind"] == "file" for m in posted)
    [digest] = [m for m in posted if m["kind"] == "message"]
    assert "2026-10-26..2026-11-01" in digest["text"]
    assert "Tickets created: 3" in digest["text"] and "CSAT: 75.0% (+25.0 pts)" in digest["text"]

    # The scheduled job for the same week: already posted, nothing new in the channel.
    [job] = [j for j in resolve_jobs(JOBS, settings) if j.id == "digest:weekly"]
    runner = JobRunner(
        settings=settings,
        database=db,
        ledger=SqlJobLedger(db),
        clock=clock,
        stop=threading.Event(),
        notifier=bootstrap.make_notifier(settings, clock),
        heartbeat=False,
    )
    result = runner.run_now(job)
    assert result.outcome == "ok" and result.summary is not None
    assert result.summary["status"] == "already_posted"
    assert slack.messages("#support") == posted and len(slack.files) == 1


# -- (d) deskbot run: the daemon serves Slack and stops on SIGTERM ----------------------------

RUN_CONFIG = """\
timezone: Europe/Berlin
data_dir: {data}
zendesk:
  subdomain: acme
slack:
  mode: http
  base_url: "{base_url}"
  http: {{host: 127.0.0.1, port: {port}}}
  channels: {{admin: "#deskbot-admin"}}
roles:
  admins: [{admin}]
followups:
  enabled: false
schedules:
  db_maintenance: "17 3 * * *"
daemon:
  health: {{port: 0}}
"""


def free_port() -> int:
    """A port free right now (slack.http.port must be a real port, 0 is refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_deskbot_run_serves_slack_and_stops_on_sigterm(tmp_path: Path) -> None:
    sb = SlackSandbox(out_dir=tmp_path / "slack", seed=1)  # real clock: a real process
    sb.start()
    config = tmp_path / "deskbot.yaml"
    config.write_text(
        RUN_CONFIG.format(
            data=tmp_path / "data",
            base_url=sb.base_url,
            admin=sb.user_id("maya.okafor"),
            port=free_port(),
        ),
        encoding="utf-8",
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC)
    env["DESKBOT_SLACK_BOT_TOKEN"] = sb.bot_token
    env["DESKBOT_SLACK_SIGNING_SECRET"] = sb.signing_secret
    env.pop("DESKBOT_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "deskbot", "--log-format", "json", "-c", str(config), "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = Lines(proc.stderr)
        started = json.loads(lines.wait_for('"slack.http.started"'))
        url = started["url"] + started["path"]
        lines.wait_for('"daemon.started"')

        status, body = sb.send_slash_command(url, text="help", user_id="sam.reyes")
        assert status == 200 and "deskbot commands" in body

        # config reload by an admin reaches the daemon, which answers through response_url
        status, _ = sb.send_slash_command(url, text="config reload", user_id="maya.okafor")
        assert status == 200
        assert '"reason": "requested from Slack"' in lines.wait_for('"config.reloaded"')

        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=15)
        took = time.monotonic() - stopped_at
        assert code == 0
        assert took < 10
        # Stopping drains the Slack work queue: the reload's answer went out before the exit.
        assert any("Configuration reloaded" in json.dumps(m) for m in sb.messages())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sb.stop()


# -- shout-outs job and /deskbot hero ---------------------------------------------------------


def test_shoutouts_job_posts_and_hero_lists_them(
    db: Database, clock: FakeClock, slack: SlackSandbox
) -> None:
    rated = clock.now() - timedelta(hours=2)
    with db.engine.begin() as conn:
        db.upsert(conn, Ticket, [ticket(5, rated - timedelta(hours=5), assignee=ADA)])
        good = rating(50, 5, "good_with_comment", rated, assignee=ADA, comment="Ada was great!")
        db.upsert(conn, SatisfactionRating, [good])
        db.upsert(conn, User, [user(ADA, "Ada Lovelace", "ada@example.com")])
    settings = make_settings(slack)
    [job] = [j for j in resolve_jobs(JOBS, settings) if j.id == "shoutouts"]
    runner = JobRunner(
        settings=settings,
        database=db,
        ledger=SqlJobLedger(db),
        clock=clock,
        stop=threading.Event(),
        notifier=bootstrap.make_notifier(settings, clock),
        heartbeat=False,
    )
    result = runner.run_now(job)
    assert result.outcome == "ok" and result.summary is not None
    assert result.summary["posted"] == ["shoutout:ticket:5"]
    assert any("Ada was great!" in json.dumps(m) for m in slack.messages("#shoutouts"))
    again = runner.run_now(job).summary
    assert again == {"posted": [], "skipped": [], "already": ["shoutout:ticket:5"]}
    assert len(slack.messages("#shoutouts")) == 1

    handle, url, work = serve(settings, db, clock)
    try:
        slack.send_slash_command(url, text="hero", user_id="priya.nair")
        assert work.wait_idle(10)
        [answer] = [t for t in texts(slack, "#support-leads") if "Recent shout-outs" in t]
        assert f"<@{slack.user_id('sam.reyes')}>" in answer and "Customer praise" in answer
    finally:
        handle.stop()


# -- admin notices and reloads ---------------------------------------------------------------


def test_admin_notices_go_to_the_admin_channel(clock: FakeClock, slack: SlackSandbox) -> None:
    notifier = bootstrap.make_notifier(make_settings(slack), clock)
    notifier.post("#deskbot-admin", "deskbot job `sync` has failed 3 times in a row")
    [notice] = slack.messages("#deskbot-admin")
    assert notice["text"] == "deskbot job `sync` has failed 3 times in a row"
    off = bootstrap.make_notifier(make_settings(slack, slack={"enabled": False}), clock)
    assert isinstance(off, LogNotifier)
    off.post("#deskbot-admin", "logged only")
    assert len(slack.messages("#deskbot-admin")) == 1


def test_daemon_reloads_reach_the_running_app(
    tmp_path: Path,
    db: Database,
    clock: FakeClock,
    slack: SlackSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def write(admins: list[str]) -> None:
        data = {
            "timezone": "Europe/Berlin",
            "data_dir": str(tmp_path / "data"),
            "zendesk": {"subdomain": "acme"},
            "slack": {"mode": "http", "base_url": slack.base_url},
            "roles": {"admins": admins},
            "daemon": {"health": {"port": 0}},
        }
        config.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML

    monkeypatch.setenv("DESKBOT_SLACK_BOT_TOKEN", slack.bot_token)
    monkeypatch.setenv("DESKBOT_SLACK_SIGNING_SECRET", slack.signing_secret)
    config = tmp_path / "deskbot.yaml"
    maya, sam = slack.user_id("maya.okafor"), slack.user_id("sam.reyes")
    write([maya])
    settings = bootstrap.load(config)
    daemon = bootstrap.make_daemon(config, settings, db, clock)
    handle = bootstrap.attach_slack_app(daemon, host="127.0.0.1", port=0)
    daemon.start(paused=True, health=False, watch=False)
    assert isinstance(handle, HttpHandle)
    url = handle.url + settings.slack.http.path
    try:
        status, body = slack.send_slash_command(url, text="config reload", user_id="sam.reyes")
        assert "only admins" in body

        # The file now makes sam an admin; the daemon's reload (SIGHUP, file watch) reaches the
        # app, and sam's /deskbot config reload goes back to the daemon.
        write([maya, sam])
        assert daemon.reload("file changed")
        status, body = slack.send_slash_command(url, text="config reload", user_id="sam.reyes")
        assert status == 200 and "only admins" not in body
        # The reload runs after the acknowledgement, in the app's work pool: wait for its answer
        # before shutting down (a reload that comes during shutdown is declined).
        assert handle.work is not None and handle.work.wait_idle(10)
        assert any("Configuration reloaded" in t for t in texts(slack, "#support-leads"))
    finally:
        daemon.shutdown(grace=1)  # stops the app too
    assert handle.stopped
