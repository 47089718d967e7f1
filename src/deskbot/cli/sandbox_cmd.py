"""``deskbot sandbox …``: local Zendesk and Slack API servers (for trying deskbot and for tests)."""

from __future__ import annotations

import typer

app = typer.Typer(
    no_args_is_help=True,
    help="Run a local Zendesk or Slack API server with generated data (no credentials needed).",
)


def _register() -> None:
    from deskbot.cli import sandbox_slack_cmd, sandbox_zendesk_cmd

    app.command("zendesk")(sandbox_zendesk_cmd.zendesk)
    app.command("slack")(sandbox_slack_cmd.slack)


_register()
