"""Short commands import only what they use: no Slack, Zendesk or scheduler libraries.

Each case runs the real CLI in a fresh interpreter (the import cache of the test process would
hide the difference) and lists the vendor packages loaded once the command has finished.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kpi_dataset import loaded_config

SRC = Path(__file__).resolve().parents[1] / "src"
HEAVY = ("slack_bolt", "slack_sdk", "zenpy", "apscheduler", "requests")

# Runs the CLI in-process, then prints which heavy top-level packages got imported.
PROBE = """
import json, sys
from deskbot.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = %r
print("LOADED=" + json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return loaded_config(
        tmp_path,
        "daemon:\n  health:\n    port: 1\n"  # nobody listens: health answers "unhealthy"
        # schedules as real configurations write them (validated when the settings load)
        "schedules:\n  sync: '*/5 * * * *'\n  hero_of_the_week: '0 16 * * fri'\n"
        "  db_maintenance: '17 3 * * mon-fri'\n",
    )


def loaded(*argv: str) -> tuple[list[str], str]:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    env.pop("DESKBOT_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), "--log-level", "warning", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    line = [x for x in proc.stdout.splitlines() if x.startswith("LOADED=")]
    assert line, proc.stdout + proc.stderr
    return json.loads(line[-1].removeprefix("LOADED=")), proc.stdout + proc.stderr


def test_report_imports_no_slack_zendesk_or_scheduler(config: Path) -> None:
    modules, output = loaded("--config", str(config), "report", "--period", "30d", "--json")
    assert "deskbot.report/1" in output  # the report really ran
    assert modules == []


def test_health_imports_no_slack_zendesk_scheduler_or_database(config: Path) -> None:
    modules, output = loaded("--config", str(config), "health", "--timeout", "0.5")
    assert "unhealthy" in output  # it really asked
    assert modules == []


def test_help_and_health_stay_off_sqlalchemy(config: Path) -> None:
    """``--help`` and ``health`` do not load SQLAlchemy (the database layer) at all."""
    env = dict(os.environ, PYTHONPATH=str(SRC))
    code = (
        "import sys\nfrom deskbot.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print('SQLA=' + str('sqlalchemy' in sys.modules))"
    )
    for argv in (["--help"], ["--config", str(config), "health", "--timeout", "0.5"]):
        proc = subprocess.run(
            [sys.executable, "-c", code, *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert "SQLA=False" in proc.stdout, (argv, proc.stdout, proc.stderr)


def test_the_schedule_still_gets_its_scheduler() -> None:
    """The lazy imports moved, they did not vanish: a job's trigger loads APScheduler."""
    code = (
        "import sys\nfrom datetime import UTC, datetime\nfrom zoneinfo import ZoneInfo\n"
        "from deskbot import jobs\n"
        "assert 'apscheduler' not in sys.modules\n"
        "job = jobs.ScheduledJob('x', jobs.job_table()[0], '0 7 * * *')\n"
        "when = jobs.next_fire_times(job, ZoneInfo('UTC'), datetime(2026, 1, 1, tzinfo=UTC), 1)\n"
        "print(when[0].isoformat(), 'apscheduler' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert proc.stdout.split() == ["2026-01-01T07:00:00+00:00", "True"], proc.stderr
