"""``deskbot sandbox slack``: a local Slack Web API for trying deskbot without a workspace."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer


def slack(
    *,
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = 0,
    host: Annotated[str, typer.Option(help="Address to bind (keep it on loopback).")] = "127.0.0.1",
    out: Annotated[
        Path,
        typer.Option("--out", help="Folder for transcripts (transcript/<channel>.md) and files."),
    ] = Path("slack-sandbox-out"),
    seed: Annotated[int, typer.Option(help="Seed for the workspace's ids, token and secret.")] = 1,
    post_burst: Annotated[
        int,
        typer.Option(help="Messages a channel takes at once before the 1/s limit answers 429."),
    ] = 1,
    quiet: Annotated[
        bool, typer.Option(help="Do not print the bot's messages as they arrive.")
    ] = False,
    without_scope: Annotated[
        list[str] | None,
        typer.Option(
            "--without-scope",
            help="Answer missing_scope where Slack needs this scope (e.g. users:read.email); "
            "repeatable.",
        ),
    ] = None,
) -> None:
    """Run the local Slack API server until Ctrl-C or SIGTERM, printing what the bot posts."""
    # Imported here so that `deskbot --help` stays fast.
    from rich.console import Console

    from deskbot.sandbox.slack import SlackSandbox

    if post_burst < 1:
        raise typer.BadParameter("must be at least 1", param_hint="--post-burst")
    console = Console(highlight=False)
    sandbox = SlackSandbox(
        out_dir=out,
        seed=seed,
        post_burst=post_burst,
        host=host,
        port=port,
        console=None if quiet else console,
    )
    for scope in without_scope or ():
        sandbox.remove_scope(scope)
    try:
        base_url = sandbox.start()
    except OSError as exc:
        typer.secho(
            f"error: cannot listen on {host}:{port}: {exc}; try --port 0", fg="red", err=True
        )
        raise typer.Exit(2) from exc
    typer.echo(f"base_url: {base_url}")
    typer.echo(f"bot_token: {sandbox.bot_token}")
    typer.echo(f"signing_secret: {sandbox.signing_secret}")
    typer.echo(
        f"team_id: {sandbox.team_id}  app_id: {sandbox.app_id}  bot_user_id: {sandbox.bot_user_id}"
    )
    typer.echo(f"transcripts: {out / 'transcript'}  files: {out / 'files'}")
    typer.echo("Ctrl-C stops the sandbox.", err=True)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sandbox.stop()
    written = sandbox.write_transcripts()
    typer.echo(f"stopped; {len(written)} transcript(s) in {out / 'transcript'}")
