"""``deskbot sandbox zendesk``."""

from __future__ import annotations

import typer


def zendesk() -> None:
    """Run the local Zendesk API server (not built yet)."""
    typer.echo("the zendesk sandbox is not built yet", err=True)
    raise typer.Exit(1)
