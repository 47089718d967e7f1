"""``deskbot people sync`` / ``people list`` as a person runs them, and the ``people`` job in
the job table (scheduled daily, failing with the scope to add and recovering)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskbot import bootstrap
from deskbot.adapters.db.job_ledger import SqlJobLedger
from deskbot.adapters.db.store import Database
from deskbot.cli import app
from deskbot.jobs import JOBS, PEOPLE_JOB, JobRunner, resolve_jobs
from deskbot.sandbox.slack import SlackSandbox
from deskbot.sandbox.slack.people import PeopleMirror, mirror_help_desk
from deskbot.sandbox.zendesk.data import State
from deskbot.testing import FakeClock, RecordingNotifier
from people_support import people_settings, store_agents


@pytest.fixture
def slack(clock: FakeClock) -> Iterator[SlackSandbox]:
    sb = SlackSandbox(seed=4, clock=clock)
    sb.start()
    yield sb
    sb.stop()


def staff(clock: FakeClock) -> list[object]:
    state = State(5, 1500, int(clock.now().timestamp()))
    return [u for u in state.users.values() if u.role != "end-user"]


def test_people_sync_and_list_from_the_command_line(
    tmp_path: Path, slack: SlackSandbox, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = staff(clock)
    mirror: PeopleMirror = mirror_help_desk(slack, users)  # type: ignore[arg-type]
    config = tmp_path / "deskbot.yaml"
    config.write_text(
        f"""zendesk: {{subdomain: acme}}
data_dir: {tmp_path / "data"}
slack: {{base_url: "{slack.base_url}"}}
people: {{lookup_by_email: false}}
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("DESKBOT_SLACK_BOT_TOKEN", slack.bot_token)
    settings = bootstrap.load(config)
    database = bootstrap.open_database(settings)
    store_agents(database, users)
    database.dispose()
    runner = CliRunner()

    synced = runner.invoke(app, ["--config", str(config), "people", "sync"])
    assert synced.exit_code == 0, synced.output
    assert "8 of 12 Zendesk agents matched to Slack users (8 by e-mail" in synced.output
    assert "Unmatched:" in synced.output and "@" not in synced.output

    listed = runner.invoke(
        app, ["--config", str(config), "people", "list", "--unmatched", "--json"]
    )
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert {r["zendesk_user_id"] for r in rows} == {
        z for z, s in mirror.expected_match.items() if s is None
    }
    assert all(r["why_unmatched"] and r["slack_user_id"] is None for r in rows)
    assert "@" not in listed.output  # no e-mail, ever

    everyone = runner.invoke(app, ["--config", str(config), "people", "list"])
    assert "matched by email" in everyone.output and "employee" in everyone.output


def test_the_people_job_is_daily_fails_naming_the_scope_and_recovers(
    db: Database, slack: SlackSandbox, clock: FakeClock
) -> None:
    users = staff(clock)
    store_agents(db, users)
    mirror_help_desk(slack, users)  # type: ignore[arg-type]
    settings = people_settings(slack)
    [job] = [j for j in resolve_jobs(JOBS, settings) if j.id == PEOPLE_JOB]
    assert job.cron == "40 5 * * *"
    off = people_settings(slack, "people: {enabled: false}\n")
    assert PEOPLE_JOB not in {j.id for j in resolve_jobs(JOBS, off)}
    runner = JobRunner(
        settings=settings,
        database=db,
        ledger=SqlJobLedger(db),
        clock=clock,
        stop=threading.Event(),
        notifier=RecordingNotifier(),
        instance="test",
        heartbeat=False,
    )
    slack.remove_scope("users:read")
    failed = runner.run_now(job)
    assert failed.outcome == "failed"
    assert failed.error is not None and "`users:read`" in failed.error
    assert not bootstrap.people_directory(settings, db).people()  # nothing half-written
    slack.grant_scope("users:read")
    clock.advance(60)
    ok = runner.run_now(job)
    assert ok.outcome == "ok", ok.error
    assert ok.summary is not None and ok.summary["matched"]["email"] == 8


def test_a_config_reload_runs_the_people_job_at_once(
    tmp_path: Path, db: Database, clock: FakeClock
) -> None:
    config = tmp_path / "deskbot.yaml"
    config.write_text("zendesk: {subdomain: acme}\nslack: {enabled: true}\n", encoding="utf-8")
    settings = bootstrap.load(config)
    daemon = bootstrap.make_daemon(config, settings, db, clock)
    asked: list[tuple[str, str | None]] = []
    daemon.run_job_now = lambda job, by=None: asked.append((job, by))  # type: ignore[assignment,method-assign,misc,return-value]
    for listener in daemon._reload_listeners:  # what an applied reload calls
        listener(settings)
    assert asked == [(PEOPLE_JOB, "config reload")]


def test_config_check_names_roster_conflicts_with_their_lines(tmp_path: Path) -> None:
    config = tmp_path / "deskbot.yaml"
    config.write_text(
        """zendesk: {subdomain: acme}
roster:
  agents:
    - zendesk_user_id: 1
      slack_user: U0AAA0001
    - zendesk_user_id: 2
      slack_user: U0AAA0001
""",
        encoding="utf-8",
    )
    checked = CliRunner().invoke(app, ["config", "check", str(config)])
    assert checked.exit_code == 0, checked.output
    assert (
        "roster.agents[1] (line 6): slack_user U0AAA0001 is already given to zendesk_user_id 1"
        in checked.output
    )
