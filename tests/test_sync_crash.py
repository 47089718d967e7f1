"""The real ``deskbot sync`` process against a local Zendesk: killed mid-run, then resumed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from zendesk_fake import FakeZendesk, make_rating, make_ticket, running

SRC = Path(__file__).resolve().parents[1] / "src"
T0 = 1_790_000_000
TICKETS = 3000
RATINGS = 450

pytestmark = pytest.mark.slow


def source() -> FakeZendesk:
    tickets = [make_ticket(i, T0 + i // 40) for i in range(1, TICKETS + 1)]
    # Some tickets change while the export runs past them: they appear again, later.
    tickets += [make_ticket(i, T0 + 10_000 + i, status="closed") for i in range(1, 301, 3)]
    ratings = [
        make_rating(i, i, T0 + i * 30, "bad" if i % 5 == 0 else "good")
        for i in range(1, RATINGS + 1)
    ]
    return FakeZendesk(tickets, ratings, delay=0.01)


def config(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "deskbot.yaml"
    path.write_text(
        f"""
data_dir: {tmp_path}
zendesk:
  subdomain: acme
  base_url: {base_url}
  rate_limits:
    incremental_per_minute: 6000
    account_per_minute: 60000
  max_retries: 2
sync:
  page_size: 50
storage:
  url: sqlite:///{tmp_path / "deskbot.sqlite"}
""",
        encoding="utf-8",
    )
    return path


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = str(SRC) + os.pathsep + out.get("PYTHONPATH", "")
    out["DESKBOT_ZENDESK_EMAIL"] = "agent@example.com"
    out["DESKBOT_ZENDESK_API_TOKEN"] = "test-token"
    return out


def deskbot(cfg: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "deskbot", "--config", str(cfg), "--log-format", "json", *args]


def expected(fake: FakeZendesk) -> dict[int, dict[str, Any]]:
    latest: dict[int, dict[str, Any]] = {}
    for t in fake.tickets:  # export order: the last version of a ticket wins
        latest[t["id"]] = t
    return latest


def check_matches_source(db_path: Path, fake: FakeZendesk) -> None:
    want = expected(fake)
    with sqlite3.connect(db_path) as conn:
        got = {r[0]: r[1:] for r in conn.execute("SELECT id, status, subject, tags FROM tickets")}
        assert got == {i: (t["status"], t["subject"], " ".join(t["tags"])) for i, t in want.items()}
        assert conn.execute("SELECT count(*) FROM ticket_tags").fetchone()[0] == sum(
            len(t["tags"]) for t in want.values()
        )
        assert conn.execute("SELECT count(*) FROM ticket_metrics").fetchone()[0] == len(want)
        ratings = dict(conn.execute("SELECT id, score FROM satisfaction_ratings"))
        assert ratings == {r["id"]: r["score"] for r in fake.ratings}
        states = {
            r[0]: r[1:]
            for r in conn.execute("SELECT stream, rows_total, backfill_complete FROM sync_state")
        }
    # Every exported row was counted exactly once: no page was applied twice or lost.
    assert states["tickets"] == (len(fake.tickets), 1)
    assert states["satisfaction_ratings"] == (RATINGS, 1)


def test_sigkill_mid_run_then_resume_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    fake = source()
    fake.trip_after = 25
    with running(fake) as url:
        cfg = config(tmp_path, url)
        proc = subprocess.Popen(
            deskbot(cfg, "sync"), env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            assert fake.tripped.wait(60), "the sync never got going"
            proc.kill()  # SIGKILL: no cleanup, possibly inside a transaction
        finally:
            proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        with sqlite3.connect(tmp_path / "deskbot.sqlite") as conn:
            partial = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
        assert 0 < partial < TICKETS
        done = subprocess.run(
            deskbot(cfg, "sync"), check=False, env=env(), capture_output=True, timeout=120
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
    check_matches_source(tmp_path / "deskbot.sqlite", fake)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly_after_the_current_page(tmp_path: Path, sig: int) -> None:
    fake = source()
    fake.trip_after = 10
    with running(fake) as url:
        cfg = config(tmp_path, url)
        proc = subprocess.Popen(
            deskbot(cfg, "sync"), env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert fake.tripped.wait(60), "the sync never got going"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 130, err.decode()[-2000:]
        assert b"stopped" in out
        progress = [json.loads(line) for line in err.splitlines() if b'"sync.progress"' in line]
        assert progress and {"rows", "percent", "eta_seconds", "rows_per_second"} <= set(
            progress[-1]
        )
        with sqlite3.connect(tmp_path / "deskbot.sqlite") as conn:
            count = conn.execute("SELECT count(DISTINCT id) FROM tickets").fetchone()[0]
            rows_total, cursor = conn.execute(
                "SELECT rows_total, cursor FROM sync_state WHERE stream = 'tickets'"
            ).fetchone()
        assert cursor and 0 < count <= rows_total < TICKETS
        status = subprocess.run(
            deskbot(cfg, "sync", "status", "--json"),
            check=False,
            env=env(),
            capture_output=True,
            timeout=60,
        )
        report = {s["stream"]: s for s in json.loads(status.stdout)}
        assert report["tickets"]["rows_total"] == rows_total
        assert report["tickets"]["backfill_complete"] is False
        done = subprocess.run(
            deskbot(cfg, "sync"), check=False, env=env(), capture_output=True, timeout=120
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
    check_matches_source(tmp_path / "deskbot.sqlite", fake)
    status = subprocess.run(
        deskbot(cfg, "sync", "status"), check=False, env=env(), capture_output=True, timeout=60
    )
    assert b"complete" in status.stdout and b"tickets" in status.stdout
