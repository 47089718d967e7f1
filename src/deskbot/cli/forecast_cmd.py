"""``deskbot forecast``: half-hourly volume forecast and agents needed, per channel."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from deskbot.cli import state


def forecast(
    ctx: typer.Context,
    weeks: Annotated[
        int | None,
        typer.Option(min=1, max=4, help="Weeks to forecast (default: forecast.weeks)."),
    ] = None,
    channel: Annotated[
        str | None, typer.Option(help="Only this channel (Zendesk via.channel, e.g. email).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON with every half hour (docs/forecast.md).")
    ] = False,
) -> None:
    """Forecast tickets per half hour and the agents needed, from the synced history."""
    from deskbot import bootstrap
    from deskbot.services.forecast import report_lines, report_to_json

    settings = bootstrap.load(state(ctx).config_path)
    database = bootstrap.open_database(settings)
    try:
        service = bootstrap.forecast_service(settings, database)
        report = service.build(datetime.now(UTC), weeks=weeks, channel=channel)
    finally:
        database.dispose()
    if as_json:
        typer.echo(json.dumps(report_to_json(report), indent=2, ensure_ascii=False))
        return
    for line in report_lines(report):
        typer.echo(line)
