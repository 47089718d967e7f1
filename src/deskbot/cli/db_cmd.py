"""``deskbot db …``: database schema and the per-day KPI rollups."""

from __future__ import annotations

import typer

from deskbot.cli import state

app = typer.Typer(no_args_is_help=True, help="Database schema and maintenance.")


@app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Apply pending schema migrations (deskbot also does this at start)."""
    from deskbot import bootstrap
    from deskbot.adapters.db.store import redact_url

    settings = bootstrap.load(state(ctx).config_path)
    database = bootstrap.open_database(settings, migrate=False)
    applied = database.upgrade()
    where = redact_url(settings.database_url)
    if applied:
        typer.echo(f"{where}: applied {', '.join(applied)}; now at {database.current_revision()}")
    else:
        typer.echo(f"{where}: up to date at {database.current_revision()}")
    database.dispose()


@app.command("current")
def current(ctx: typer.Context) -> None:
    """Print the schema revision of the configured database."""
    from deskbot import bootstrap

    settings = bootstrap.load(state(ctx).config_path)
    database = bootstrap.open_database(settings, migrate=False)
    typer.echo(database.current_revision() or "empty (run 'deskbot db upgrade')")
    database.dispose()


@app.command("check")
def check(
    ctx: typer.Context,
    repair: bool = typer.Option(
        False, "--repair", help="Rebuild the rollups if they differ, are missing or stale."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Verify the per-day KPI rollups against the tickets and ratings they summarise.

    Every cell is recomputed from the base tables and compared (about 35 s per million
    tickets). Exit status 1 when a cell differs (``--repair`` rebuilds them)."""
    import json
    import time

    from deskbot import bootstrap
    from deskbot.adapters.db.rollups import SqlRollups

    settings = bootstrap.load(state(ctx).config_path)
    database = bootstrap.open_database(settings)
    rollups = SqlRollups(database)
    started = time.perf_counter()
    result = rollups.check()
    repaired = False
    stale = result.status != "ready" or result.timezone != settings.timezone
    if repair and (stale or not result.ok):
        rollups.rebuild(settings.timezone, reason="deskbot db check --repair")
        result, repaired = rollups.check(), True
        stale = False
    seconds = round(time.perf_counter() - started, 1)
    database.dispose()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "status": result.status,
                    "timezone": result.timezone,
                    "configured_timezone": settings.timezone,
                    "cells": result.cells,
                    "labels": result.labels,
                    "ok": result.ok,
                    "problems": list(result.problems),
                    "repaired": repaired,
                    "seconds": seconds,
                }
            )
        )
    elif result.status != "ready":
        typer.echo(
            "rollups: not built yet — reports read the tickets until the next sync builds them "
            "(or run 'deskbot db check --repair')"
        )
    else:
        verb = "rebuilt; " if repaired else ""
        if result.ok:
            typer.echo(
                f"rollups ({result.timezone}): {verb}{result.cells:,} day cells and "
                f"{result.labels:,} label rows match the tickets and ratings ({seconds} s)"
            )
        else:
            typer.echo(f"rollups ({result.timezone}): {len(result.problems)} difference(s):")
            for problem in result.problems:
                typer.echo(f"  {problem}")
            typer.echo("run 'deskbot db check --repair' to rebuild them from the tickets")
        if stale:
            typer.echo(
                f"note: built for {result.timezone} but the configured timezone is "
                f"{settings.timezone}; reports read the tickets until the next sync rebuilds "
                "them (or run 'deskbot db check --repair')"
            )
    if not result.ok:
        raise typer.Exit(1)
