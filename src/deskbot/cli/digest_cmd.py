"""``deskbot digest``: post (or preview) a configured KPI digest now."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from deskbot.cli import state
from deskbot.domain.metrics import PERIOD_HELP, PeriodError


def digest(
    ctx: typer.Context,
    channel: Annotated[
        str, typer.Option(help="The digest's channel (or name) as configured under 'digests:'.")
    ],
    period: Annotated[
        str | None,
        typer.Option(help=f"Override the configured period: {PERIOD_HELP}"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the Block Kit JSON; post nothing.")
    ] = False,
) -> None:
    """Post a digest once for its period (a second run posts nothing)."""
    # Heavy imports (SQLAlchemy, slack_sdk, matplotlib) stay inside so that --help is fast.
    from deskbot import bootstrap
    from deskbot.services.digests import DryRunNotifier, find_digest

    settings = bootstrap.load(state(ctx).config_path)
    config = find_digest(settings, channel)
    now = datetime.now(UTC)
    try:
        window = bootstrap.parse_window(settings, period or config.period, now)
    except PeriodError as exc:
        raise typer.BadParameter(str(exc), param_hint="--period") from exc
    database = bootstrap.open_database(settings)
    try:
        if dry_run:
            service = bootstrap.digest_service(settings, database, notifier=DryRunNotifier())
            composed = service.compose(config, now, period)
            out = {
                "key": composed.key,
                "channel": composed.channel,
                "window": window.label,
                "messages": [{"text": m.text, "blocks": m.blocks} for m in composed.messages],
                "chart_png_bytes": len(composed.chart) if composed.chart else None,
            }
            typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
            return
        outcome = bootstrap.run_digest(settings, config.name, now, database=database, period=period)
    finally:
        database.dispose()
    if outcome.status == "already_posted":
        typer.echo(f"{outcome.key}: already posted, nothing to do")
    else:
        typer.echo(
            f"{outcome.key}: {outcome.status}, {len(outcome.posted)} message(s)"
            + (f", chart {outcome.chart_file}" if outcome.chart_file else "")
        )
