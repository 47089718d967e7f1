"""Missing Slack scopes are named once: `deskbot config check --online` and at start-up."""

from __future__ import annotations

from pathlib import Path

import structlog

from deskbot.adapters.slack.notifier import make_client
from deskbot.adapters.slack.scopes import REQUIRED_SCOPES, log_missing_scopes, missing_scopes
from deskbot.sandbox.slack import SlackSandbox
from test_cli import deskbot


def test_missing_scopes_are_those_required_and_not_granted() -> None:
    granted = [s for s in REQUIRED_SCOPES if s != "channels:history"] + ["reactions:read"]
    assert list(missing_scopes(granted)) == ["channels:history"]
    assert "at-least-once" in missing_scopes(granted)["channels:history"]
    assert missing_scopes(REQUIRED_SCOPES) == {}


def test_config_check_online_names_each_missing_scope(tmp_path: Path) -> None:
    sb = SlackSandbox(seed=1)
    sb.start()
    try:
        sb.scopes.remove("channels:history")
        sb.scopes.remove("groups:history")
        cfg = tmp_path / "deskbot.yaml"
        cfg.write_text(
            f"zendesk:\n  subdomain: acme\nslack:\n  base_url: {sb.base_url}\n",
            encoding="utf-8",
        )
        result = deskbot(
            "config", "check", str(cfg), "--online", env={"DESKBOT_SLACK_BOT_TOKEN": sb.bot_token}
        )
        assert result.returncode == 1, result.stdout + result.stderr
        assert "lacks 2 scope(s)" in result.stdout
        assert "channels:history" in result.stdout and "groups:history" in result.stdout
        assert "at-least-once" in result.stdout

        sb.scopes.extend(["channels:history", "groups:history"])
        result = deskbot(
            "config", "check", str(cfg), "--online", env={"DESKBOT_SLACK_BOT_TOKEN": sb.bot_token}
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "every scope deskbot uses" in result.stdout
    finally:
        sb.stop()


def test_start_up_logs_missing_scopes_once() -> None:
    sb = SlackSandbox(seed=1)
    sb.start()
    try:
        sb.scopes.remove("users:read.email")
        client = make_client(sb.bot_token, sb.base_url)
        with structlog.testing.capture_logs() as logs:
            missing = log_missing_scopes(client)
        assert missing is not None and list(missing) == ["users:read.email"]
        warnings = [e for e in logs if e["event"] == "slack.missing_scopes"]
        assert len(warnings) == 1 and warnings[0]["scopes"] == ["users:read.email"]
    finally:
        sb.stop()
