"""The forecast over the store (SQLite and PostgreSQL): counts by local half hour, the report,
bad input, the CLI, the weekly post (exactly once) and ``/deskbot forecast``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from slack_sdk import WebClient
from typer.testing import CliRunner

from deskbot import bootstrap
from deskbot.adapters.db.forecast_store import SqlForecastSource
from deskbot.adapters.db.ledger import SqlActionLedger
from deskbot.adapters.db.store import Database
from deskbot.adapters.slack.app import build_app
from deskbot.adapters.slack.forecast_blocks import render_forecast_chart
from deskbot.adapters.slack.notifier import SlackNotifier, make_client
from deskbot.adapters.slack.work import BackgroundWork
from deskbot.cli import app as cli_app
from deskbot.domain.authz import Actor, Forbidden
from deskbot.domain.forecast import counts_on_grid, slot_grid
from deskbot.domain.metrics import local_midnight
from deskbot.domain.people import Role
from deskbot.jobs import JOBS, resolve_jobs
from deskbot.services.forecast import ForecastService, report_to_json
from deskbot.services.forecast_post import forecast_key
from deskbot.services.providers import SlackServices
from deskbot.settings import Settings, parse_settings
from deskbot.testing import FakeClock
from fake_slack import FakeSlack, serve
from forecast_data import _row, insert, poisson_counts, seasonal_rate, ticket_rows
from slack_helpers import AGENT, LEAD, command_body, fake_slack_api, make_settings, signed_request

TZ = "Europe/Berlin"
TODAY = date(2026, 11, 2)  # a Monday; the history spans the 25-hour Sunday of 25 October
NOW = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)  # 08:00 in Berlin


def settings_for(url: str, extra: str = "") -> Settings:
    return parse_settings(
        f"timezone: {TZ}\n"
        "zendesk: {subdomain: example}\n"
        f"storage: {{url: '{url}'}}\n"
        "slack: {channels: {digests: '#kpi'}}\n"
        "forecast:\n"
        "  history_days: 60\n"
        "  country: DE\n"
        "  channels:\n"
        "    - {name: email, kind: deferred, handle_minutes: 8}\n"
        "    - {name: chat, kind: live, handle_minutes: 6, service_level: 0.8,"
        " answer_seconds: 60}\n"
        "    - {name: web, kind: deferred, handle_minutes: 8}\n"
        "    - {name: voice, kind: live, handle_minutes: 6}\n" + extra
    )


def load(db: Database) -> dict[str, np.ndarray]:
    """Six weeks of e-mail and chat, ten days of web, no voice; one deleted e-mail."""
    grid = slot_grid(TODAY - timedelta(days=42), TODAY, TZ)
    counts = {
        "email": poisson_counts(seasonal_rate(grid, 120), 1),
        "chat": poisson_counts(seasonal_rate(grid, 60), 2),
    }
    insert(db, ticket_rows(grid, counts["email"], "email", 1, seed=1))
    insert(db, ticket_rows(grid, counts["chat"], "chat", 1_000_000, seed=2))
    recent = grid.day >= grid.days - 10
    web = np.where(recent, poisson_counts(seasonal_rate(grid, 30), 3), 0.0)
    insert(db, ticket_rows(grid, web, "web", 2_000_000, seed=3))
    deleted = _row(3_000_000, datetime(2026, 10, 30, 10, 5, tzinfo=UTC), "email")
    deleted["is_deleted"] = True
    insert(db, iter([deleted]))
    return {**counts, "web": web, "grid": grid}  # type: ignore[dict-item]


@pytest.fixture
def loaded(db: Database) -> tuple[Database, dict[str, Any]]:
    """On SQLite and PostgreSQL: for what depends on the store."""
    return db, load(db)


@pytest.fixture(scope="module")
def sqlite_loaded(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Database, dict[str, Any]]]:
    """One SQLite copy shared by the tests of what sits above the store."""
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('fc')}/deskbot.sqlite")
    database.upgrade()
    data = load(database)
    yield database, data
    database.dispose()


def test_counts_by_local_half_hour_match_the_tickets(loaded: tuple[Database, Any]) -> None:
    db, data = loaded
    grid = data["grid"]
    source = SqlForecastSource(db)
    origin, until = grid.origin, local_midnight(TODAY, ZoneInfo(TZ))
    counts = source.created_counts(origin, until)
    for channel in ("email", "chat", "web"):
        dense = counts_on_grid(grid, counts[channel])
        assert np.array_equal(dense, data[channel]), channel  # deleted ticket not counted
    # the fall-back Sunday has 50 half hours, and the second 02:00 holds its own tickets
    sunday = (date(2026, 10, 25) - grid.start_day).days
    assert grid.slots_of_day(sunday) == 50
    # a window with a minority of the tickets (read through the index on SQLite): the same
    week = slot_grid(TODAY - timedelta(days=7), TODAY, TZ)
    recent = source.created_counts(week.origin, until)
    assert np.array_equal(counts_on_grid(week, recent["email"]), data["email"][-len(week) :])


def test_the_report_forecasts_staffs_and_explains_bad_input(loaded: tuple[Database, Any]) -> None:
    db, _data = loaded
    settings = settings_for(db.url)
    report = ForecastService(SqlForecastSource(db), settings).build(NOW)
    by_channel = {s.channel: s for s in report.series}
    email, chat = by_channel["email"], by_channel["chat"]
    assert email.forecast is not None and chat.forecast is not None
    assert len(email.forecast.target) == 14 * 48  # no DST change in these two weeks
    assert email.forecast.expected.sum() == pytest.approx(2 * 7 * 120, rel=0.25)
    assert email.staffing is not None and email.staffing.problem is None
    assert chat.staffing is not None and chat.staffing.kind == "live"
    assert max(chat.staffing.scheduled) >= 2
    # bad input: too little history, no tickets at all: a clear sentence, no numbers
    assert by_channel["web"].problem is not None
    assert "only 10 days of history" in by_channel["web"].problem
    assert by_channel["voice"].problem is not None
    assert "no tickets on channel 'voice'" in by_channel["voice"].problem
    doc = report_to_json(report)
    assert doc["start"] == "2026-11-02" and doc["weeks"] == 2
    email_doc = next(s for s in doc["series"] if s["channel"] == "email")
    assert email_doc["method"] in ("model", "baseline")
    assert set(email_doc["backtest"]) >= {"model", "baseline", "weeks"}
    assert email_doc["slots"][0]["start"] == "2026-11-02T00:00:00+01:00"
    assert {"expected", "lower", "upper", "agents", "scheduled"} <= set(email_doc["slots"][0])
    assert next(s for s in doc["series"] if s["channel"] == "voice")["problem"]


class StaleSync(SqlForecastSource):
    """The local copy reaches only Friday 30 October, 15:00 UTC."""

    def synced_until(self) -> datetime | None:
        return datetime(2026, 10, 30, 15, 0, tzinfo=UTC)


def test_a_stale_sync_ends_the_history_where_the_copy_ends(
    sqlite_loaded: tuple[Database, Any],
) -> None:
    db, _data = sqlite_loaded
    assert SqlForecastSource(db).synced_until() is None  # never synced: "now" it is
    report = ForecastService(StaleSync(db), settings_for(db.url)).build(NOW, channel="email")
    assert report.start_day == date(2026, 10, 30)  # not Monday 2 November
    assert any("reaches only 2026-10-30 15:00 UTC" in n for n in report.notes)
    [email] = report.series
    assert email.forecast is not None and email.forecast.target.start_day == date(2026, 10, 30)


def test_data_that_stopped_long_ago_is_forecast_from_its_last_day(
    sqlite_loaded: tuple[Database, Any],
) -> None:
    db, _data = sqlite_loaded
    later = NOW + timedelta(days=20)  # three weeks without a single ticket
    report = ForecastService(SqlForecastSource(db), settings_for(db.url)).build(
        later, channel="email"
    )
    assert report.start_day == TODAY  # not 22 November: silence is not a forecast
    assert any("No ticket was created after 2026-11-01" in n for n in report.notes)
    [email] = report.series
    assert email.forecast is not None and email.forecast.expected.sum() > 1000


def test_only_leads_and_admins_see_the_forecast(sqlite_loaded: tuple[Database, Any]) -> None:
    db, _data = sqlite_loaded
    service = ForecastService(SqlForecastSource(db), settings_for(db.url))
    with pytest.raises(Forbidden, match="see the staffing forecast"):
        service.build(NOW, actor=Actor("U1", Role.AGENT))
    assert service.build(NOW, weeks=1, channel="email", actor=Actor("U2", Role.LEAD)).weeks == 1


def test_an_impossible_service_level_is_reported_not_crashed(
    sqlite_loaded: tuple[Database, Any],
) -> None:
    db, _data = sqlite_loaded
    settings = settings_for(db.url).model_copy()
    text = settings_for(db.url).forecast.model_dump()
    text["channels"][1]["service_level"] = 1.0
    from deskbot.settings import ForecastSettings

    settings = settings.model_copy(update={"forecast": ForecastSettings.model_validate(text)})
    report = ForecastService(SqlForecastSource(db), settings).build(NOW, channel="chat")
    [chat] = report.series
    assert chat.forecast is not None  # the volume forecast stands
    assert chat.staffing is not None and chat.staffing.problem is not None
    assert "can never be met" in chat.staffing.problem


def test_groups_are_forecast_on_their_own(db: Database) -> None:
    grid = slot_grid(TODAY - timedelta(days=35), TODAY, TZ)
    counts = poisson_counts(seasonal_rate(grid, 50), 4)
    rows = (
        {**r, "group_id": 7 if r["id"] % 2 else 8} for r in ticket_rows(grid, counts, "email", 1)
    )
    insert(db, rows)
    from deskbot.adapters.db.tables import Group

    with db.engine.begin() as conn:
        conn.execute(
            Group.__table__.insert(),
            [  # type: ignore[attr-defined]
                {"id": 7, "name": "Billing", "deleted": False, "updated_at": NOW, "raw": "{}"}
            ],
        )
    settings = settings_for(db.url, "  groups: [Billing, Nonexistent]\n")
    report = ForecastService(SqlForecastSource(db), settings).build(NOW, channel="email")
    assert [s.scope for s in report.series] == ["team", "Billing"]
    team, billing = report.series
    assert team.forecast is not None and billing.forecast is not None
    assert billing.forecast.expected.sum() < 0.7 * team.forecast.expected.sum()
    assert any("Nonexistent" in note for note in report.notes)


def test_cli_prints_text_and_json(sqlite_loaded: tuple[Database, Any], tmp_path: Any) -> None:
    db, _data = sqlite_loaded
    config = tmp_path / "deskbot.yaml"
    config.write_text(
        f"timezone: {TZ}\nzendesk: {{subdomain: example}}\nstorage: {{url: '{db.url}'}}\n"
        "forecast: {history_days: 400}\n"
    )
    runner = CliRunner()
    result = runner.invoke(
        cli_app, ["-c", str(config), "forecast", "--channel", "email", "--weeks", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "email: Using the" in result.output and "Backtest on the last 2 weeks" in result.output
    as_json = runner.invoke(cli_app, ["-c", str(config), "forecast", "--json", "--weeks", "1"])
    assert as_json.exit_code == 0, as_json.output
    doc = json.loads(as_json.stdout)
    assert doc["weeks"] == 1 and {s["channel"] for s in doc["series"]} == {
        "email",
        "web",
        "chat",
        "voice",
    }


# -- the weekly post ----------------------------------------------------------------------------


@pytest.fixture
def slack(clock: FakeClock) -> Iterator[FakeSlack]:
    with serve(clock) as fake:
        yield fake


def test_weekly_post_goes_out_once_with_its_chart(
    sqlite_loaded: tuple[Database, Any], clock: FakeClock, slack: FakeSlack
) -> None:
    db, _data = sqlite_loaded
    settings = settings_for(db.url)
    notifier = SlackNotifier(
        make_client("xoxb-test", f"{slack.base_url}api/", clock=clock), clock=clock
    )
    kwargs = {"database": db, "notifier": notifier, "clock": clock}
    first = bootstrap.run_forecast_post(settings, NOW, **kwargs)
    assert first.status == "posted" and first.key == forecast_key("#kpi", TODAY)
    assert first.key == "forecast:#kpi:2026-11-02"
    [message] = slack.messages["C0KPI"]
    assert message["metadata"]["event_payload"] == {"key": "forecast:#kpi:2026-11-02#0"}
    text = json.dumps(message["blocks"])
    assert "Staffing forecast" in text and "Backtest on the last" in text
    assert len(slack.uploads) == 1 and slack.uploads[0]["thread_ts"] == message["ts"]
    # later the same week (a retry, a second replica): nothing new
    again = bootstrap.run_forecast_post(settings, NOW + timedelta(days=2), **kwargs)
    assert again.status == "already_posted"
    assert slack.count("chat.postMessage") == 1 and len(slack.uploads) == 1
    record = SqlActionLedger(db, clock).get(first.key)
    assert record is not None and record.status == "done"


def test_the_forecast_job_is_scheduled_only_with_a_channel(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/x.sqlite"
    with_channel = [j.id for j in resolve_jobs(JOBS, settings_for(url))]
    assert "forecast" in with_channel
    bare = parse_settings("zendesk: {subdomain: example}\n")
    assert "forecast" not in [j.id for j in resolve_jobs(JOBS, bare)]


def test_chart_is_a_deterministic_png(sqlite_loaded: tuple[Database, Any]) -> None:
    db, _data = sqlite_loaded
    report = ForecastService(SqlForecastSource(db), settings_for(db.url)).build(NOW)
    first = render_forecast_chart(report)
    assert first is not None and first.startswith(b"\x89PNG")
    assert render_forecast_chart(report) == first
    heat = report.heatmap()
    assert heat is not None and heat.shape == (7, 48)
    assert np.nanmax(heat[0]) > np.nanmin(heat[0])  # busier at noon than at night


# -- /deskbot forecast ----------------------------------------------------------------------------


def test_slash_command_answers_leads_and_refuses_agents(
    sqlite_loaded: tuple[Database, Any], clock: FakeClock
) -> None:
    db, _data = sqlite_loaded
    clock.set(NOW)
    forecast_settings = settings_for(db.url)
    services = SlackServices(
        forecast=bootstrap.forecast_provider(db, lambda: forecast_settings, clock)
    )
    settings = make_settings()
    with fake_slack_api() as api:
        work = BackgroundWork()
        client = WebClient(token="xoxb-test", base_url=api.api_url)
        app = build_app(
            settings, client, services, clock, work=work, token_verification_enabled=False
        )
        try:

            def command(text: str, user: str) -> dict[str, Any]:
                body = command_body(text, user, api.url + "/hooks/commands/1")
                response = app.dispatch(signed_request(body, int(clock.now().timestamp())))
                assert response.status == 200
                return json.loads(response.body) if response.body else {}

            refused = command("forecast", AGENT)
            assert "only" in json.dumps(refused).lower() and api.responses == []
            command("forecast email 1", LEAD)
            assert work.wait_idle(timeout=30)
            [answer] = api.responses
            text = json.dumps(answer)
            assert "Staffing forecast" in text and "email" in text and "chat" not in text
            typo = command("forecast email 9", LEAD)
            assert "from 1 to 4" in json.dumps(typo) and len(api.responses) == 1
        finally:
            work.shutdown()


def test_without_the_extra_every_channel_uses_the_baseline_and_says_how_to_enable_it(
    sqlite_loaded: tuple[Database, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import deskbot.domain.forecast as domain
    import deskbot.services.forecast as service

    monkeypatch.setattr(domain, "model_available", lambda: False)
    monkeypatch.setattr(service, "model_available", lambda: False)
    db, _data = sqlite_loaded
    report = ForecastService(SqlForecastSource(db), settings_for(db.url)).build(NOW)
    methods = {s.channel: s.forecast.method for s in report.series if s.forecast}
    assert methods == {"email": "baseline", "chat": "baseline"}
    assert any("pip install 'deskbot[forecast]'" in note for note in report.notes)
    doc = report_to_json(report)
    assert doc["model_installed"] is False
    assert doc["enable_model"] == "pip install 'deskbot[forecast]'"


class Crash(BaseException):
    """Stands in for the process dying right after Slack accepted the message."""


class CrashingLedger(SqlActionLedger):
    def __init__(self, db: Database, clock: FakeClock) -> None:
        super().__init__(db, clock)
        self.crash = True

    def checkpoint(self, key: str, result: dict[str, object]):  # type: ignore[no-untyped-def]
        if self.crash:
            raise Crash
        return super().checkpoint(key, result)


def test_a_crash_after_posting_does_not_post_twice(
    sqlite_loaded: tuple[Database, Any], clock: FakeClock, slack: FakeSlack
) -> None:
    from deskbot.adapters.slack.forecast_blocks import SlackForecastRenderer
    from deskbot.services.forecast_post import ForecastPoster

    db, _data = sqlite_loaded
    settings = settings_for(db.url).model_copy(
        update={"slack": settings_for(db.url).slack.model_copy(update={"channels": _wins()})}
    )
    notifier = SlackNotifier(
        make_client("xoxb-test", f"{slack.base_url}api/", clock=clock), clock=clock
    )
    ledger = CrashingLedger(db, clock)
    poster = ForecastPoster(
        ForecastService(SqlForecastSource(db), settings),
        ledger,
        notifier,
        SlackForecastRenderer(settings.tz),
        settings,
    )
    with pytest.raises(Crash):
        poster.post(NOW)
    assert slack.count("chat.postMessage") == 1  # posted; the ledger never heard of it
    ledger.crash = False
    clock.advance(600)
    outcome = poster.post(NOW)
    assert outcome.status == "resumed" and outcome.ts is None
    assert slack.count("chat.postMessage") == 1  # found by its marker, not posted again
    assert len(slack.uploads) == 1  # the chart had not started: uploaded now
    done = ledger.get("forecast:#wins:2026-11-02")
    assert done is not None and done.status == "done"


def _wins() -> Any:
    from deskbot.settings import SlackChannels

    return SlackChannels(digests="#wins")
