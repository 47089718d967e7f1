"""``deskbot people``: refresh the people directory and list who is who."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from deskbot.cli import state

app = typer.Typer(
    no_args_is_help=True, help="The people directory: Zendesk agents matched to Slack users."
)


@app.command("sync")
def sync(ctx: typer.Context) -> None:
    """Refresh the directory now (Zendesk agents from the synced copy, Slack users and groups)."""
    from deskbot import bootstrap

    settings = bootstrap.load(state(ctx).config_path)
    database = bootstrap.open_database(settings)
    try:
        result = bootstrap.run_people(settings, database)
    finally:
        database.dispose()
    for line in result.lines():
        typer.echo(line)


@app.command("list")
def list_people(
    ctx: typer.Context,
    unmatched: Annotated[
        bool, typer.Option("--unmatched", help="Only Zendesk agents without a Slack user.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON (no e-mails).")] = False,
) -> None:
    """Who is matched, by what (e-mail / override / lookup), and who is not, with the reason."""
    from deskbot import bootstrap
    from deskbot.services.people import describe
    from deskbot.services.people import unmatched as unmatched_people

    settings = bootstrap.load(state(ctx).config_path)
    database = bootstrap.open_database(settings)
    try:
        directory = bootstrap.people_directory(settings, database)
        people = directory.people(include_inactive=True)
        notes: dict[int, str] = getattr(directory, "notes", dict)()
    finally:
        database.dispose()
    if unmatched:
        people = unmatched_people(people)
    if as_json:
        rows = [
            {
                "name": p.name,
                "slack_user_id": p.slack_user_id,
                "zendesk_user_id": p.zendesk_user_id,
                "role": p.role.name.lower(),
                "matched_by": p.matched_by,
                "why_unmatched": notes.get(p.id)
                if p.zendesk_user_id is not None and p.slack_user_id is None
                else None,
                "lead": p.lead_slack_id,
                "departments": list(p.departments),
                "tz": p.tz,
                "active": p.active,
                "inactive_reason": p.inactive_reason,
            }
            for p in people
        ]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not people:
        typer.echo("nobody" if unmatched else "the directory is empty; run 'deskbot people sync'")
    for person in people:
        typer.echo(describe(person, notes.get(person.id)).replace("<@", "@").replace(">", ""))
