"""``deskbot sandbox zendesk``: serve a local Zendesk API with generated data until stopped."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from typing import Annotated

import typer


def zendesk(
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one.", min=0, max=65535)] = 0,
    host: Annotated[str, typer.Option(help="Address to bind (keep it on loopback).")] = "127.0.0.1",
    seed: Annotated[
        int, typer.Option(help="Seed of the generated data (same seed, same data).")
    ] = 7,
    tickets: Annotated[int, typer.Option(help="How many tickets to generate.", min=0)] = 2000,
    time_scale: Annotated[
        float,
        typer.Option(
            help="How many times faster than real time the clock and rate-limit minutes run.",
            min=0.001,
        ),
    ] = 1.0,
    account_limit: Annotated[
        int, typer.Option(help="Requests per minute for the whole account.", min=1)
    ] = 700,
    incremental_limit: Annotated[
        int, typer.Option(help="Incremental-export requests per minute.", min=1)
    ] = 10,
    start: Annotated[
        str | None,
        typer.Option(help="Sandbox clock at start, ISO 8601 with a timezone (default: now)."),
    ] = None,
    clock_offset: Annotated[
        float,
        typer.Option(
            help="Seconds the sandbox's clock runs ahead of this host's (negative: behind); "
            "for testing clock skew.",
        ),
    ] = 0.0,
    csat: Annotated[
        str,
        typer.Option(
            help="The account's active CSAT: legacy (satisfaction ratings), survey (CSAT "
            "survey responses) or none (neither available)."
        ),
    ] = "legacy",
) -> None:
    """Run the local Zendesk API server (Ctrl-C or SIGTERM stops it).

    Its clock runs with real time (times --time-scale) and generates new activity as it goes.
    Control endpoints: POST /_sandbox/advance, POST /_sandbox/faults, GET /_sandbox/counters,
    GET /_sandbox/writes.
    """
    from deskbot.sandbox.zendesk import ZendeskSandbox

    when = None
    if start is not None:
        try:
            when = datetime.fromisoformat(start)
        except ValueError:
            raise typer.BadParameter(
                f"not an ISO 8601 time: {start!r} (e.g. 2026-11-02T09:00:00+00:00)",
                param_hint="--start",
            ) from None
        if when.tzinfo is None:
            raise typer.BadParameter(
                "give a timezone, e.g. 2026-11-02T09:00:00+00:00", param_hint="--start"
            )
        when = when.astimezone(UTC)
    if csat not in ("legacy", "survey", "none"):
        raise typer.BadParameter("choose legacy, survey or none", param_hint="--csat")
    sandbox = ZendeskSandbox(
        csat=csat,
        seed=seed,
        tickets=tickets,
        time_scale=time_scale,
        account_limit=account_limit,
        incremental_limit=incremental_limit,
        start=when,
        host=host,
        port=port,
        live_clock=True,
        clock_offset_seconds=clock_offset,
    )
    stop = threading.Event()

    def _stop(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    base_url = sandbox.start()
    typer.echo(f"Zendesk sandbox listening on {base_url}")
    typer.echo(f"  email: {sandbox.email}")
    typer.echo(f"  token: {sandbox.token}")
    typer.echo(f"  auth:  HTTP Basic '{sandbox.email}/token' : '{sandbox.token}'")
    typer.echo(f"  data:  seed {seed}, {tickets} tickets, clock {sandbox.now.isoformat()}")
    typer.echo(f"  csat:  {csat}")
    typer.echo("Press Ctrl-C to stop.", err=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        typer.echo("Zendesk sandbox stopped.", err=True)
