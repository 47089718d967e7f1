"""``deskbot report`` end to end (subprocess), on the hand-built dataset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deskbot.adapters.db.store import Database
from kpi_dataset import loaded_config

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return loaded_config(tmp_path, "team_tags: [hooray, lost_cause]\n")


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(SRC), COLUMNS="200")
    env.pop("DESKBOT_CONFIG", None)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "deskbot",
            "--log-level",
            "warning",
            "--config",
            str(config),
            "report",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_report_json_keys_and_numbers(config: Path) -> None:
    proc = run(config, "--period", "2026-03-28..2026-03-29", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert list(data) == [
        "schema",
        "generated_at",
        "timezone",
        "window",
        "previous_window",
        "filters",
        "backlog_method",
        "metrics",
        "volume_by_channel",
        "agents",
        "customers_in_need",
        "team_tags",
    ]
    assert data["schema"] == "deskbot.report/1"
    assert data["window"] == {
        "start": "2026-03-27T23:00:00+00:00",
        "end": "2026-03-29T22:00:00+00:00",
        "first_day": "2026-03-28",
        "last_day": "2026-03-29",
        "days": 2,
    }
    assert set(data["metrics"]) >= {
        "tickets_created",
        "tickets_solved",
        "backlog",
        "csat",
        "csat_response_rate",
        "frt_median_minutes",
        "frt_p90_minutes",
        "frt_business_median_minutes",
        "resolution_median_minutes",
        "resolution_business_median_minutes",
        "one_touch_rate",
        "reopen_rate",
    }
    assert data["metrics"]["tickets_created"] == {
        "value": 3,
        "previous": 1,
        "change": 2,
        "change_pct": 200,
    }
    assert data["metrics"]["csat"]["value"] == 0.6667
    assert data["metrics"]["csat"]["previous"] is None
    assert data["metrics"]["frt_business_median_minutes"]["value"] == 6.5
    assert data["volume_by_channel"][0] == {"channel": "email", "tickets": 2, "previous": 1}
    assert set(data["agents"][0]) == {
        "id",
        "name",
        "solved",
        "public_replies",
        "replies_per_day",
        "customers",
        "csat",
        "csat_good",
        "csat_bad",
        "frt_median_minutes",
        "flags",
    }
    assert data["customers_in_need"]["most_open"][0]["name"] == "Acme"
    assert data["team_tags"][0] == {
        "agent_id": 100,
        "agent_name": "Ada Agent",
        "tag": "hooray",
        "count": 2,
        "previous": 1,
        "change": 1,
    }


def test_report_filters_and_table(config: Path) -> None:
    proc = run(config, "--period", "2026-03-28..2026-03-29", "--group", "Support", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["filters"]["group"] == {"id": 10, "name": "Support"}
    assert data["metrics"]["tickets_solved"]["value"] == 3
    table = run(config, "--period", "2026-03-28..2026-03-29", "--agent", "Ada Agent")
    assert table.returncode == 0, table.stderr
    assert "First reply (median)" in table.stdout and "20 min" in table.stdout
    assert "agent Ada Agent" in table.stdout


def test_bad_period_and_unknown_group_are_clear(config: Path) -> None:
    proc = run(config, "--period", "last month")
    assert proc.returncode == 2
    error = " ".join(line.strip(" │") for line in proc.stderr.splitlines())
    assert "`last month` is not a period I understand. Did you mean `last-month`?" in error
    assert "2026-11-01..2026-11-30" in error
    proc = run(config, "--group", "Suport")
    assert proc.returncode == 2
    assert "did you mean 'Support'" in proc.stderr


def test_digest_dry_run_prints_block_kit(config: Path) -> None:
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text + "digests:\n  - name: daily-kpi\n    channel: '#kpi'\n    schedule: '0 9 * * *'\n",
        encoding="utf-8",
    )
    env = dict(os.environ, PYTHONPATH=str(SRC))
    env.pop("DESKBOT_SLACK_BOT_TOKEN", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deskbot",
            "--log-level",
            "warning",
            "--config",
            str(config),
            "digest",
            "--channel",
            "#kpi",
            "--period",
            "2026-03-28..2026-03-29",
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["key"] == "digest:#kpi:2026-03-28"
    assert data["messages"][0]["blocks"][0]["type"] == "header"
    assert data["chart_png_bytes"] > 10_000
    unknown = subprocess.run(
        [
            sys.executable,
            "-m",
            "deskbot",
            "--config",
            str(config),
            "digest",
            "--channel",
            "#nope",
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert unknown.returncode == 2
    assert "no digest named or posting to '#nope'" in unknown.stderr
    assert "daily-kpi (#kpi)" in unknown.stderr


def test_the_same_json_from_the_tickets_and_from_the_rollups(config: Path, tmp_path: Path) -> None:
    """Before the rollups exist the report says so (on stderr) and reads the tickets; once
    built, the same command prints the same JSON from them, without the note."""
    from deskbot.adapters.db.rollups import SqlRollups

    args = ("--period", "2026-03-23..2026-03-29", "--json")
    before = run(config, *args)
    assert before.returncode == 0, before.stderr
    assert "rollups are not built for Europe/Berlin" in before.stderr
    database = Database(f"sqlite:///{tmp_path / 'deskbot.sqlite'}")
    SqlRollups(database).rebuild("Europe/Berlin")
    database.dispose()
    after = run(config, *args)
    assert after.returncode == 0, after.stderr
    assert "rollups" not in after.stderr

    def figures(text: str) -> dict[str, object]:
        data = json.loads(text)
        data.pop("generated_at")
        return data

    assert figures(after.stdout) == figures(before.stdout)
    assert figures(after.stdout)["metrics"]["tickets_solved"]["value"] > 0  # type: ignore[index]
