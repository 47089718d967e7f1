"""``deskbot followups …``: bad-CSAT follow-ups."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from deskbot.cli import state

app = typer.Typer(no_args_is_help=True, help="Bad-CSAT follow-ups: run a pass, list open ones.")


def _describe(item: dict[str, Any]) -> str:
    action = item["action"]
    if action == "open":
        steps = []
        for step in item["steps"]:
            if step["kind"] == "followup_ticket":
                what = ["internal note"] if step.get("note") else []
                if step.get("tags"):
                    what.append("tags " + ", ".join(step["tags"]))
                if step.get("assignee_id"):
                    what.append(f"assign to user {step['assignee_id']}")
                if step.get("group_id"):
                    what.append(f"assign to group {step['group_id']}")
                steps.append(
                    f"Zendesk ticket #{step['ticket_id']}: "
                    + ("; ".join(what) or "nothing")
                    + " (a follow-up ticket instead if it is closed)"
                )
            elif step["kind"] == "followup_alert":
                owner = f", owner <@{step['owner']}>" if step.get("owner") else ""
                where = " (in a burst thread)" if step.get("burst") else ""
                steps.append(f"Slack alert to {step['channel']}{owner}{where}")
        lines = [
            f"open follow-up for rating {item['rating_id']} (ticket #{item['ticket_id']}, "
            f"rule {item['rule']}):"
        ]
        return "\n".join(lines + [f"    - {s}" for s in steps])
    if action == "close":
        return (
            f"close follow-up of rating {item['rating_id']} "
            f"(ticket #{item['ticket_id']}): {item['transition'].replace('_', ' ')}"
        )
    if action == "burst_summary":
        return f"one summary message to {item['channel']} for {item['count']} bad ratings"
    if action == "resume":
        return f"finish pending step {item['key']}"
    return f"{action} for rating {item.get('rating_id')} (owner {item.get('owner') or 'none'})"


@app.command("run")
def run(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be done; change nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """One follow-up pass over the synced ratings (the daemon runs this after each sync)."""
    from deskbot import bootstrap
    from deskbot.ports import SystemClock

    settings = bootstrap.load(state(ctx).config_path)
    database = bootstrap.open_database(settings)
    try:
        if dry_run:  # reads only: no need to wait for a pass in progress
            summary = bootstrap.run_followups(settings, database, SystemClock(), dry_run=True)
        else:
            import threading

            from deskbot.adapters.db.job_mutex import exclusive_run

            # One pass at a time with the daemon's (scheduled or after a sync) on any replica.
            stop = threading.Event()
            lease = settings.daemon.lease_seconds
            with exclusive_run(database, "followups", lease, stop) as fenced:
                summary = bootstrap.run_followups(
                    settings, database, SystemClock(fenced), stop_event=fenced
                )
    finally:
        database.dispose()
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    if "skipped" in summary:
        typer.echo(f"follow-ups skipped: {summary['skipped']}")
        return
    if dry_run:
        typer.echo("dry run: nothing was written")
        for item in summary["planned"]:
            typer.echo("  " + _describe(item))
        if not summary["planned"]:
            typer.echo("  nothing to do")
        return
    typer.echo(
        f"opened {summary['opened']}, closed {summary['closed']}, steps done "
        f"{summary['steps_done']}, failed {summary['steps_failed']}, left pending "
        f"{summary['steps_left_pending']}, reminders {summary['reminders']}, escalations "
        f"{summary['escalations']}"
    )


@app.command("list")
def list_open(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Open follow-ups: age, owner, state."""
    from rich.console import Console
    from rich.table import Table

    from deskbot import bootstrap
    from deskbot.adapters.db.followups_store import SqlFollowupStore
    from deskbot.ports import SystemClock
    from deskbot.services.followups import open_followups

    settings = bootstrap.load(state(ctx).config_path)
    database = bootstrap.open_database(settings)
    try:
        rows = open_followups(SqlFollowupStore(database), SystemClock())
    finally:
        database.dispose()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no open follow-ups")
        return
    table = Table("rating", "ticket", "state", "owner", "age (h)", "rule", "nudged")
    for row in rows:
        nudged = "escalated" if row["escalated"] else ("reminded" if row["reminded"] else "")
        table.add_row(
            str(row["rating_id"]),
            f"#{row['ticket_id']}" if row["ticket_id"] else "",
            row["state"],
            row["claimed_by"] or row["owner"] or "",
            "" if row["age_hours"] is None else f"{row['age_hours']:.1f}",
            row["rule"] or "",
            nudged,
        )
    Console().print(table)
