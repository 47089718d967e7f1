"""``deskbot nps plan --dry-run`` and ``deskbot nps report`` as a person runs them."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from test_cli import deskbot

ENV = {"DESKBOT_NPS_SECRET": "cli-test-secret-0123456789abcdef"}


def config(tmp_path: Path) -> Path:
    data = {
        "timezone": "UTC",
        "data_dir": str(tmp_path / "data"),
        "zendesk": {"subdomain": "acme"},
        "slack": {"enabled": False},
        "roster": {
            "departments": [
                {"name": "Support", "owner": "U0OWNER01", "members": ["U0SUP0001", "U0SUP0002"]},
                {"name": "Sales", "members": ["U0SAL0001", "U0SAL0002", "U0SAL0003"]},
            ]
        },
        "nps": {
            "per_round_cap": 4,
            "quiet_hours_start": "00:00",
            "quiet_hours_end": "00:00",
            "working_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        },
    }
    path = tmp_path / "deskbot.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_plan_dry_run_counts_per_department_and_stores_nothing(tmp_path: Path) -> None:
    path = config(tmp_path)
    result = deskbot("-c", str(path), "nps", "plan", "--dry-run", "--json", env=ENV)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert sum(out["per_department"].values()) == 4
    assert set(out["per_department"]) == {"Support", "Sales"}
    assert "asks" not in out  # no names without --names
    again = deskbot("-c", str(path), "nps", "plan", "--dry-run", "--json", env=ENV)
    assert json.loads(again.stdout)["per_department"] == out["per_department"]  # nothing stored
    named = deskbot("-c", str(path), "nps", "plan", "--dry-run", "--names", "--json", env=ENV)
    asks = json.loads(named.stdout)["asks"]
    assert all(
        a["slack_user"] not in ("U0SUP0001", "U0SUP0002")
        for a in asks
        if a["department"] == "Support"
    )


def test_report_refuses_an_unknown_department_and_a_bad_period(tmp_path: Path) -> None:
    path = config(tmp_path)
    result = deskbot("-c", str(path), "nps", "report", "--department", "Marketing", env=ENV)
    assert result.returncode == 2
    assert "no department named 'Marketing'" in result.stderr
    result = deskbot("-c", str(path), "nps", "report", "--period", "fortnight", env=ENV)
    assert result.returncode == 2 and "Unknown period" in result.stderr
    result = deskbot("-c", str(path), "nps", "report", "--json", env=ENV)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [d["department"] for d in report["departments"]] == ["Sales", "Support"]
    assert all(d["result"] is None for d in report["departments"])  # nothing released yet
