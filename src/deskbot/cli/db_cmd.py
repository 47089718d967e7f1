"""``deskbot db …``: database schema."""

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
