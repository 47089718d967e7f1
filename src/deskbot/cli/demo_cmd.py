"""``deskbot demo``: run the whole bot against the bundled sandboxes (no credentials, no config)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    out: Annotated[
        Path, typer.Option(help="Where the transcript, chart images, database and config go.")
    ] = Path("deskbot-demo"),
    seed: Annotated[
        int, typer.Option(help="Seed of the generated help desk (same seed, same data).")
    ] = 7,
    tickets: Annotated[
        int, typer.Option(min=200, max=200_000, help="Tickets in the Zendesk sandbox.")
    ] = 3000,
) -> None:
    """Start local Zendesk and Slack sandboxes and run deskbot against them: sync, follow-ups,
    the Slack app, a digest with a chart, shout-outs. Shows what happens and where to look."""
    from deskbot.demo import Demo, DemoOptions

    result = Demo(DemoOptions(out_dir=out, seed=seed, tickets=tickets)).run()
    if not result.ok:
        raise typer.Exit(1)
