"""``deskbot sync --budget-share`` and the CSAT line of ``deskbot sync status``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskbot.cli import app
from deskbot.sandbox.zendesk import ZendeskSandbox


@pytest.fixture
def sandbox() -> Iterator[ZendeskSandbox]:
    sb = ZendeskSandbox(
        seed=9, tickets=40, csat="survey", start=datetime.now(UTC) - timedelta(days=2)
    )
    sb.start()
    yield sb
    sb.stop()


def config(tmp_path: Path, sb: ZendeskSandbox) -> Path:
    path = tmp_path / "deskbot.yaml"
    path.write_text(
        "zendesk:\n"
        "  subdomain: acme\n"
        f"  base_url: {sb.base_url}\n"
        f"storage: {{url: 'sqlite:///{tmp_path / 'db.sqlite'}'}}\n"
        f"data_dir: {tmp_path / 'data'}\n"
    )
    return path


def test_sync_with_a_night_budget_share_and_status_names_the_csat_source(
    tmp_path: Path, sandbox: ZendeskSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESKBOT_ZENDESK_EMAIL", sandbox.email)
    monkeypatch.setenv("DESKBOT_ZENDESK_API_TOKEN", sandbox.token)
    cfg = config(tmp_path, sandbox)
    runner = CliRunner()
    result = runner.invoke(app, ["--config", str(cfg), "sync", "--budget-share", "0.9"])
    assert result.exit_code == 0, result.output
    assert "csat_survey_responses:" in result.output
    assert "csat source: survey_responses (auto: the account has survey responses)" in result.output
    status = runner.invoke(app, ["--config", str(cfg), "sync", "status"])
    assert status.exit_code == 0, status.output
    assert "CSAT source: survey_responses" in " ".join(status.output.split())
    refused = runner.invoke(app, ["--config", str(cfg), "sync", "--budget-share", "1.5"])
    assert refused.exit_code == 2 and "budget-share" in refused.output
