"""``run_sync``: the job the daemon schedules, wired through bootstrap to zenpy over HTTP."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from deskbot import bootstrap
from deskbot.adapters.db.sync_store import SqlSyncStore
from deskbot.errors import ZendeskError
from deskbot.settings import Settings
from deskbot.testing import FakeClock
from zendesk_fake import FakeZendesk, make_rating, make_ticket, running

T0 = 1_790_000_000


def settings_for(tmp_path: Path, base_url: str) -> Settings:
    return Settings.model_validate(
        {
            "data_dir": str(tmp_path),
            "zendesk": {
                "subdomain": "acme",
                "base_url": base_url,
                "email": "agent@example.com",
                "api_token": "token",
                "max_retries": 1,
            },
            "sync": {"page_size": 40},
        }
    )


def test_run_sync_returns_a_summary_and_paces_on_the_injected_clock(
    tmp_path: Path, clock: FakeClock
) -> None:
    fake = FakeZendesk(
        [make_ticket(i, T0 + i) for i in range(1, 201)],
        [make_rating(i, i, T0 + i) for i in range(1, 31)],
    )
    with running(fake) as url:
        settings = settings_for(tmp_path, url)
        database = bootstrap.open_database(settings)
        summary = bootstrap.run_sync(settings, database, clock, threading.Event())
        database.dispose()
    assert summary["ok"] is True and summary["stopped"] is False
    assert summary["rows"] == 230
    assert summary["streams"]["tickets"]["pages"] == 5
    assert summary["streams"]["tickets"]["position"] == T0 + 200
    assert summary["streams"]["satisfaction_ratings"]["backfill_complete"] is True
    # 5 export pages at 10/min: the pacing waited on the fake clock, never for real.
    # (the CSAT source's two probe requests go first, on the account budget, and shift the
    # first export wait; the five export pages still span four 6 s intervals)
    assert sum(clock.sleeps) >= 4 * 6.0
    requests = [r for r in fake.requests if "incremental" in r]
    assert all("per_page=40" in r and "include=users" in r for r in requests)


def test_run_sync_raises_after_recording_a_failed_stream(tmp_path: Path, clock: FakeClock) -> None:
    with running(FakeZendesk()) as url:
        settings = settings_for(tmp_path, url + "/not-zendesk")
        database = bootstrap.open_database(settings)
        with pytest.raises(ZendeskError, match=r"sync failed: tickets: .*404"):
            bootstrap.run_sync(settings, database, clock)
        summary = bootstrap.run_sync(settings, database, clock, raise_on_error=False)
        database.dispose()
    assert summary["ok"] is False
    assert "404" in summary["streams"]["satisfaction_ratings"]["error"]


def test_a_malformed_page_is_retried_then_reported_and_nothing_of_it_is_written(
    tmp_path: Path, clock: FakeClock
) -> None:
    fake = FakeZendesk([make_ticket(i, T0 + i) for i in range(1, 121)])
    export = fake.ticket_export

    def broken_second_page(query: dict[str, str]) -> dict[str, Any]:
        body = export(query)
        if "cursor" in query and body["tickets"]:
            body["tickets"][-1] = {**body["tickets"][-1], "generated_timestamp": "soon"}
        return body

    fake.ticket_export = broken_second_page  # type: ignore[method-assign]
    with running(fake) as url:
        settings = settings_for(tmp_path, url)
        database = bootstrap.open_database(settings)
        summary = bootstrap.run_sync(settings, database, clock, raise_on_error=False)
        store = SqlSyncStore(database)
        state = store.state("tickets")
        with database.engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM tickets")).scalar()
        database.dispose()
    assert summary["ok"] is False
    assert stored == 40  # the first page only: nothing of the malformed page
    assert state.rows_total == 40 and state.pages_total == 1
    assert "tickets[39].generated_timestamp should be an integer" in (state.last_error or "")
    assert len([r for r in fake.requests if "cursor=" in r]) == 2  # max_retries=1: 2 attempts


def test_a_whole_account_backfill_reports_progress_from_what_it_knows(tmp_path: Path) -> None:
    """With no start_date the pass starts at epoch 0: measuring against 1970 showed ~97% from
    the first page. The start is the oldest record the export returned; until a page has
    arrived the progress is 'estimating'."""
    from deskbot.cli.sync_cmd import progress_span
    from deskbot.services.sync import Progress

    day = 86_400
    # 200 days of history up to yesterday: progress is measured against Zendesk's now (the
    # fake's Date header, real time), so the history must end before it.
    end = int(time.time()) - day
    tickets = [make_ticket(i, end - (200 - i) * day) for i in range(1, 201)]
    clock = FakeClock(datetime.fromtimestamp(end + day, UTC))
    reports: list[Progress] = []
    fake = FakeZendesk(tickets, [])
    with running(fake) as url:
        settings = settings_for(tmp_path, url)
        assert settings.sync.start_date is None
        database = bootstrap.open_database(settings)
        bootstrap.run_sync(settings, database, clock, threading.Event(), progress=reports.append)
        database.dispose()
    shares = []
    for p in (r for r in reports if r.stream == "tickets"):
        done, span = progress_span(p)  # type: ignore[misc]
        shares.append(done / span)
    # 5 pages of 40 tickets spread evenly: about a fifth of the way after the first page
    assert 0.1 < shares[0] < 0.3, shares
    assert shares == sorted(shares) and shares[-1] == 1.0
    unknown = Progress("tickets", 0, 0, None, None, T0, False, 0.0)
    assert progress_span(unknown) is None
