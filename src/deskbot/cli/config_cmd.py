"""``deskbot config …``: check a configuration file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from deskbot.cli import state

if TYPE_CHECKING:
    from rich.console import Console

    from deskbot.settings import Settings

app = typer.Typer(no_args_is_help=True, help="Check and explain the configuration.")


@app.command("check")
def check(
    ctx: typer.Context,
    path: Annotated[
        Path | None,
        typer.Argument(
            help="File to check. Default: --config, $DESKBOT_CONFIG or config/deskbot.yaml."
        ),
    ] = None,
    online: Annotated[
        bool,
        typer.Option(
            "--online", help="Also ask Slack which scopes the bot token has; name missing ones."
        ),
    ] = False,
) -> None:
    """Validate a configuration file: print every problem (exit 1) or a short summary (exit 0)."""
    from rich.console import Console

    from deskbot.adapters.db.store import redact_url
    from deskbot.errors import ConfigError
    from deskbot.settings import load_settings, secret_status

    target = path or state(ctx).config_path
    console = Console(highlight=False, soft_wrap=True)
    try:
        settings = load_settings(target)
    except ConfigError as exc:
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        count = len(exc.issues)
        err.print(f"[red]✗ {target}: {count} problem{'s' if count != 1 else ''}[/red]")
        for issue in exc.issues:
            err.print(f"  {issue}", markup=False)
        raise typer.Exit(1) from None

    jobs = [name for name, cron in settings.schedules.model_dump().items() if cron]
    console.print(f"[green]✓ {target} is valid[/green]")
    console.print(f"  timezone   {settings.timezone}")
    console.print(f"  database   {redact_url(settings.database_url)}", markup=False)
    console.print(
        f"  zendesk    {settings.zendesk.api_root} ({settings.zendesk.plan} plan: "
        f"{settings.zendesk.account_limit_per_minute}/min account, "
        f"{settings.zendesk.incremental_limit_per_minute}/min incremental export)",
        markup=False,
    )
    slack = f"{settings.slack.mode} mode" if settings.slack.enabled else "disabled"
    console.print(f"  slack      {slack}")
    console.print(f"  jobs       {', '.join(jobs) or 'none'}")
    console.print(f"  digests    {', '.join(d.name for d in settings.digests) or 'none'}")
    console.print(
        f"  roster     {len(settings.roster.departments)} departments, "
        f"{len(settings.roster.agents)} agents"
    )
    from deskbot.services.people import roster_warnings

    for warning in roster_warnings(settings, str(target)):
        console.print(f"  [yellow]warning[/yellow]    {warning}", markup=True)
    for key, (var, present) in secret_status(settings).items():
        mark = "[green]set[/green]" if present else "[yellow]not set[/yellow]"
        console.print(f"  secret     {key} ← ${var}: {mark}")
    if online:
        _check_online(settings, console)


def _check_online(settings: Settings, console: Console) -> None:
    """Ask Slack which OAuth scopes the bot token has and name each missing one (exit 1)."""
    from deskbot.adapters.slack.app import make_client
    from deskbot.adapters.slack.scopes import granted_scopes, missing_scopes
    from deskbot.errors import DeskbotError

    if not settings.slack.enabled:
        console.print("  online     slack is disabled: nothing to check")
        return
    try:
        granted = granted_scopes(make_client(settings))
    except DeskbotError as exc:
        console.print(f"[red]✗ slack: {exc}[/red]", markup=True)
        raise typer.Exit(1) from None
    if granted is None:
        console.print("  [yellow]slack did not say which scopes the token has[/yellow]")
        return
    missing = missing_scopes(granted)
    if not missing:
        console.print(f"  [green]slack token has every scope deskbot uses ({len(granted)})[/green]")
        return
    console.print(f"[red]✗ the Slack bot token lacks {len(missing)} scope(s):[/red]")
    for scope, why in missing.items():
        console.print(f"  {scope}: {why}", markup=False)
    console.print("  Add them under OAuth & Permissions in the Slack app, then reinstall it.")
    raise typer.Exit(1)
