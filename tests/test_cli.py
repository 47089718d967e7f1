"""The command line as a person meets it (run as a subprocess, like the real console script)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from deskbot import __version__

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "deskbot.example.yaml"


def deskbot(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200", **(env or {})}
    full_env.pop("DESKBOT_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "deskbot", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=full_env,
        timeout=120,
        check=False,
    )


def test_version() -> None:
    result = deskbot("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"deskbot {__version__}"


def test_help_lists_command_groups() -> None:
    result = deskbot("--help")
    assert result.returncode == 0
    for group in ("config", "db", "sandbox"):
        assert group in result.stdout


def test_unknown_command_suggests() -> None:
    result = deskbot("confg", "check")
    assert result.returncode == 2
    assert "Did you mean 'config'" in result.stderr


def test_unknown_option_is_explained() -> None:
    result = deskbot("config", "check", "--strictt")
    assert result.returncode == 2
    assert "--strictt" in result.stderr


def test_config_check_passes_on_the_example() -> None:
    result = deskbot("config", "check", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout
    assert "DESKBOT_ZENDESK_API_TOKEN" in result.stdout


def test_config_check_lists_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "deskbot.yaml"
    bad.write_text(
        "zendesk:\n  subdomain: acme\n  plam: team\n  max_retries: lots\n"
        "  api_token: ${DESKBOT_TEST_UNSET_VAR}\n",
        encoding="utf-8",
    )
    result = deskbot("config", "check", str(bad))
    assert result.returncode == 1
    err = result.stderr
    assert "3 problems" in err
    assert f"{bad}:3:3: zendesk.plam: unknown key 'plam'; did you mean 'plan'?" in err
    assert f"{bad}:4:16: zendesk.max_retries:" in err
    assert (
        f"{bad}:5:14: zendesk.api_token: environment variable DESKBOT_TEST_UNSET_VAR is not set"
        in err
    )


def test_db_upgrade_creates_and_reports(tmp_path: Path) -> None:
    config = tmp_path / "deskbot.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\nzendesk:\n  subdomain: acme\n", encoding="utf-8"
    )
    first = deskbot("--config", str(config), "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert "applied 0001" in first.stdout
    assert (tmp_path / "data" / "deskbot.sqlite").exists()
    second = deskbot("--config", str(config), "db", "upgrade")
    assert "up to date" in second.stdout


def test_invalid_config_stops_other_commands(tmp_path: Path) -> None:
    config = tmp_path / "deskbot.yaml"
    config.write_text("zendesk:\n  subdomain: acme\n  colour: blue\n", encoding="utf-8")
    result = deskbot("--config", str(config), "db", "upgrade")
    assert result.returncode == 2
    assert "zendesk.colour: unknown key" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()
