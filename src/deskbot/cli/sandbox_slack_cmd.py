"""``deskbot sandbox slack``."""

from __future__ import annotations

import typer


def slack() -> None:
    """Run the local Slack API server (not built yet)."""
    typer.echo("the slack sandbox is not built yet", err=True)
    raise typer.Exit(1)
