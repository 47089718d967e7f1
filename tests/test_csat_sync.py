"""CSAT from either source, through zenpy/requests against the Zendesk sandbox.

The sandbox runs ``csat="legacy"`` (satisfaction ratings), ``"survey"`` (CSAT survey
responses; the legacy endpoint refuses) or ``"none"``; the same seed gives the same customers'
verdicts in both modes, so KPIs and follow-ups must come out the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from deskbot import bootstrap
from deskbot.adapters.db.csat_store import SqlCsatStore
from deskbot.adapters.db.followups_store import SqlFollowupStore
from deskbot.adapters.db.kpi import SqlKpiSource
from deskbot.adapters.db.rollups import SqlRollups
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import SatisfactionRating
from deskbot.cli import app
from deskbot.domain.metrics import parse_period
from deskbot.sandbox.zendesk import ZendeskSandbox
from deskbot.services.csat_sync import CSAT_SOURCE, csat_unavailable
from deskbot.services.digests import DryRunNotifier, find_digest
from deskbot.settings import Settings
from deskbot.testing import FakeClock

RATINGS: Any = SatisfactionRating.__table__  # type: ignore[attr-defined]


def sandbox(clock: FakeClock, csat: str, tickets: int = 200, **kw: Any) -> ZendeskSandbox:
    sb = ZendeskSandbox(
        seed=5,
        tickets=tickets,
        start=clock.now() - timedelta(days=3),
        monotonic=clock.monotonic,
        csat=csat,
        **kw,
    )
    sb.start()
    return sb


@pytest.fixture
def sandboxes(clock: FakeClock) -> Iterator[dict[str, ZendeskSandbox]]:
    made: dict[str, ZendeskSandbox] = {}
    yield made
    for sb in made.values():
        sb.stop()


def settings_for(sb: ZendeskSandbox, db: Database, **zendesk: Any) -> Settings:
    return Settings.model_validate(
        {
            "zendesk": {
                "subdomain": "acme",
                "base_url": sb.base_url,
                "email": sb.email,
                "api_token": sb.token,
                **zendesk,
            },
            "storage": {"url": db.url},
            "followups": {"max_age_hours": 2000},
            "digests": [{"name": "kpi", "channel": "#kpi", "schedule": "0 9 * * *"}],
        }
    )


def fresh_db(tmp_path: Path, name: str) -> Database:
    database = Database(f"sqlite:///{tmp_path / name}.sqlite")
    database.upgrade()
    return database


def rows(db: Database) -> dict[int, dict[str, Any]]:
    with db.engine.connect() as conn:
        return {r["ticket_id"]: dict(r) for r in conn.execute(select(RATINGS)).mappings()}


def verdicts(db: Database) -> dict[int, str]:
    return {tid: r["score"] for tid, r in rows(db).items()}


def test_both_sources_give_the_same_csat_kpis_and_followups(
    tmp_path: Path, clock: FakeClock, sandboxes: dict[str, ZendeskSandbox]
) -> None:
    out: dict[str, Any] = {}
    for mode in ("legacy", "survey"):
        sb = sandboxes[mode] = sandbox(clock, mode)
        db = fresh_db(tmp_path, mode)
        settings = settings_for(sb, db)
        summary = bootstrap.run_sync(settings, db, clock)
        assert summary["ok"], summary
        kpi = SqlKpiSource(db)
        stats = kpi.window_stats(
            parse_period("30d", clock.now(), settings.tz), kpi.resolve_scope(), clock.now()
        )
        followups = {
            (facts.ticket_id, facts.score)
            for facts, _ in SqlFollowupStore(db).candidates(clock.now() - timedelta(days=60))
        }
        out[mode] = (verdicts(db), (stats.good, stats.bad, stats.offered), followups, rows(db))
        assert SqlRollups(db).check().ok  # the sync built the rollups and kept them true
        assert SqlCsatStore(db).source(CSAT_SOURCE)["source"] == (  # type: ignore[index]
            "legacy" if mode == "legacy" else "survey_responses"
        )
    legacy, survey = out["legacy"], out["survey"]
    assert survey[0] == legacy[0]  # every ticket's good / bad / offered
    assert survey[1] == legacy[1] and survey[1][0] > 0 and survey[1][1] > 0
    assert survey[2] == legacy[2] and any(score == "bad" for _, score in survey[2])
    for tid, row in survey[3].items():
        assert row["source"] == "survey_responses" and row["survey_response_id"]
        if row["score"] == "good":
            assert row["raw_score"] in (4, 5) and row["scale"] == 5  # scale from the show call
        elif row["score"] == "bad":
            assert row["raw_score"] in (1, 2)
        else:
            assert row["raw_score"] is None
        assert row["attribution"] in ("ticket_at_solve", "ticket_at_sync")
        # An answered row carries the ticket's exported rating id, so the export's changes
        # and the survey stream name one row; an offered survey has no id yet.
        assert row["id"] == (legacy[3][tid]["id"] if row["score"] != "offered" else -tid)
        assert row["comment"] == legacy[3][tid]["comment"]
    assert {r["source"] for r in legacy[3].values()} == {"legacy"}
    assert {r["attribution"] for r in legacy[3].values()} == {"rating_time"}


def test_a_response_changed_after_the_first_sync_is_followed(
    db: Database, clock: FakeClock, sandboxes: dict[str, ZendeskSandbox]
) -> None:
    sb = sandboxes["s"] = sandbox(clock, "survey")
    settings = settings_for(sb, db)
    assert bootstrap.run_sync(settings, db, clock)["ok"]
    before = rows(db)
    good = next(tid for tid, r in sorted(before.items()) if r["score"] == "good")
    # The customer changes the answer days after the survey was offered: its created_at (the
    # survey window's filter) stays old; only the ticket export shows the change.
    sb.rate(good, "bad", comment="still broken")
    sb.advance(minutes=2)
    clock.advance(minutes=5)
    summary = bootstrap.run_sync(settings, db, clock)
    assert summary["ok"], summary
    after = rows(db)
    changed = after[good]
    assert changed["score"] == "bad" and changed["raw_score"] in (1, 2)
    assert changed["comment"] == "still broken"
    assert changed["id"] == before[good]["id"]  # the same row: a follow-up sees bad ← good
    assert changed["assignee_id"] == before[good]["assignee_id"]  # attribution is kept
    with db.engine.connect() as conn:
        per_ticket = conn.execute(
            text(
                "SELECT ticket_id, count(*) FROM satisfaction_ratings"
                " GROUP BY 1 HAVING count(*) > 1"
            )
        ).all()
    assert per_ticket == []  # one CSAT row per ticket
    # The changed verdict reached the per-day rollups in the page that wrote it.
    assert SqlRollups(db).check().ok


def test_detection_and_fixed_modes(
    tmp_path: Path, clock: FakeClock, sandboxes: dict[str, ZendeskSandbox]
) -> None:
    survey = sandboxes["survey"] = sandbox(clock, "survey", tickets=60)
    legacy = sandboxes["legacy"] = sandbox(clock, "legacy", tickets=60)
    cases = [
        (survey, "auto", "survey_responses"),
        (legacy, "auto", "legacy"),
        # A legacy account's survey-response list answers (empty): the configured source is
        # used and simply has nothing yet.
        (legacy, "survey_responses", "survey_responses"),
        # A survey account configured as legacy: the legacy endpoint refuses; one message.
        (survey, "legacy", "none"),
    ]
    for i, (sb, mode, expected) in enumerate(cases):
        db = fresh_db(tmp_path, f"d{i}")
        summary = bootstrap.run_sync(settings_for(sb, db, csat=mode), db, clock)
        source = SqlCsatStore(db).source(CSAT_SOURCE) or {}
        assert source["source"] == expected, (mode, source)
        assert summary["ok"]
        if expected == "none":
            assert "HTTP 403" in (csat_unavailable(SqlCsatStore(db)) or "")
    assert csat_unavailable(SqlCsatStore(fresh_db(tmp_path, "empty"))) is None


def test_no_csat_source_says_why_in_status_and_digest(
    tmp_path: Path, clock: FakeClock, sandboxes: dict[str, ZendeskSandbox]
) -> None:
    sb = sandboxes["none"] = sandbox(clock, "none", tickets=60)
    db = fresh_db(tmp_path, "none")
    settings = settings_for(sb, db)
    summary = bootstrap.run_sync(settings, db, clock)
    assert summary["ok"]  # tickets still sync; CSAT is reported, not failed
    note = summary["streams"]["satisfaction_ratings"]["note"]
    assert note.startswith("CSAT not available") and "HTTP 403" in note
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM satisfaction_ratings")).scalar() == 0
    # `deskbot sync status`: one clear line.
    config = tmp_path / "deskbot.yaml"
    config.write_text(f"zendesk: {{subdomain: acme}}\nstorage: {{url: '{db.url}'}}\n")
    result = CliRunner().invoke(app, ["--config", str(config), "sync", "status"])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "CSAT not available: neither CSAT source answers" in flat
    assert "admin's API token" in flat
    # The digest: "CSAT not available (why)", never 0%.
    svc = bootstrap.digest_service(settings, db, notifier=DryRunNotifier(), clock=clock)
    digest = svc.compose(find_digest(settings, "#kpi"), clock.now()).digest
    lines = {line.label: line.value for line in digest.headline}
    csat_lines = [v for k, v in lines.items() if "CSAT" in k]
    assert len(csat_lines) == 2
    assert all(v.startswith("CSAT not available (neither CSAT source answers") for v in csat_lines)
    assert not any("0%" in v or "0.0%" in v for v in csat_lines)


def test_malformed_survey_responses_are_skipped_counted_and_logged(
    db: Database, clock: FakeClock, sandboxes: dict[str, ZendeskSandbox], monkeypatch: Any
) -> None:
    sb = sandboxes["s"] = sandbox(clock, "survey", tickets=60)
    from deskbot.sandbox.zendesk import survey as sandbox_survey

    real = sandbox_survey.response_json
    broken: list[int] = []

    def flaky(rating: Any, **kw: Any) -> dict[str, Any]:
        doc = real(rating, **kw)
        if rating.ticket_id % 7 == 0 and doc["answers"]:
            doc["answers"][0]["rating"] = "five"  # not an integer
            broken.append(rating.ticket_id)
        return doc

    monkeypatch.setattr(sandbox_survey, "response_json", flaky)
    import structlog

    with structlog.testing.capture_logs() as logs:
        summary = bootstrap.run_sync(settings_for(sb, db), db, clock)
    assert summary["ok"], summary
    stream = summary["streams"]["csat_survey_responses"]
    assert broken and stream["skipped"] == len(set(broken))
    skipped = [e for e in logs if e["event"] == "csat.survey_response_skipped"]
    assert len(skipped) == len(set(broken))
    assert all("no integer rating" in e["reason"] for e in skipped)
    stored = rows(db)
    assert not set(broken) & set(stored)  # skipped, not half-written
    assert len(stored) > 0


def test_a_stopped_survey_window_resumes_at_its_page(
    db: Database, clock: FakeClock, sandboxes: dict[str, ZendeskSandbox]
) -> None:
    """A page and the window's cursor commit together: stopping after the first page (as a
    crash after its commit would) leaves the window and its page[after] in the cursor, and
    the next pass finishes it without losing or duplicating a response."""
    import json
    import threading

    from deskbot.adapters.db.sync_store import SqlSyncStore
    from deskbot.services.csat_sync import SURVEY_STREAM

    sb = sandboxes["s"] = sandbox(clock, "survey", tickets=300)
    settings = settings_for(sb, db)
    stop = threading.Event()

    def halt(p: Any) -> None:
        if p.stream == SURVEY_STREAM:
            stop.set()

    first = bootstrap.sync_service(settings, db, clock, stop).run(progress=halt)
    assert first.stopped
    state = SqlSyncStore(db).state(SURVEY_STREAM)
    window = json.loads(state.cursor or "{}")
    assert window["page"] and state.pages_total == 1 and state.position is None
    partial = rows(db)
    assert 0 < len(partial) <= 100
    second = bootstrap.sync_service(settings, db, clock).run()
    assert second.ok
    state = SqlSyncStore(db).state(SURVEY_STREAM)
    assert "page" not in json.loads(state.cursor or "{}") and state.position == window["end"]
    expected = {r.ticket_id for r in sb.state.ratings.values()}
    assert set(rows(db)) == expected  # every rated ticket once


def test_open_responses_are_read_again_until_they_expire(
    tmp_path: Path, clock: FakeClock, sandboxes: dict[str, ZendeskSandbox]
) -> None:
    """A customer may change the answer until ``expires_at``; even when nothing bumps the
    ticket, the next windows start at the oldest response still open."""
    import json

    from deskbot.adapters.db.sync_store import SqlSyncStore
    from deskbot.services.csat_sync import SURVEY_STREAM

    sb = sandboxes["s"] = ZendeskSandbox(
        seed=5, tickets=200, start=clock.now(), monotonic=clock.monotonic, csat="survey"
    )
    sb.start()
    db = fresh_db(tmp_path, "open")
    settings = settings_for(sb, db)
    assert bootstrap.run_sync(settings, db, clock)["ok"]
    cursor = json.loads(SqlSyncStore(db).state(SURVEY_STREAM).cursor or "{}")
    assert isinstance(cursor.get("reopen_from"), int)
    before = rows(db)
    now = int(clock.now().timestamp())
    open_good = next(
        r
        for r in sorted(sb.state.ratings.values(), key=lambda r: -r.id)
        if r.score == "good" and r.created + 3 * 24 * 3600 > now and r.ticket_id in before
    )
    open_good.score, open_good.comment = "bad", "changed my mind"  # the ticket is not touched
    clock.advance(hours=2)  # far past the 15-minute overlap
    assert bootstrap.run_sync(settings, db, clock)["ok"]
    after = rows(db)[open_good.ticket_id]
    assert after["score"] == "bad" and after["comment"] == "changed my mind"
    assert after["raw_score"] in (1, 2)
