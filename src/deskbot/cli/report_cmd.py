"""``deskbot report``: the KPI numbers for a period, as a table or as JSON for scripts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from deskbot.cli import state
from deskbot.domain.metrics import FLAG_LABELS, PERIOD_HELP, PeriodError, parse_period
from deskbot.domain.report import (
    KpiReport,
    format_change,
    format_value,
    report_to_json,
    trend,
)


def report(
    ctx: typer.Context,
    period: Annotated[
        str,
        typer.Option(
            help=PERIOD_HELP,
        ),
    ] = "7d",
    group: Annotated[str | None, typer.Option(help="Zendesk group id or name.")] = None,
    agent: Annotated[str | None, typer.Option(help="Agent id, name or e-mail.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print stable JSON (see docs/report-json.md).")
    ] = False,
) -> None:
    """KPIs for a period with deltas against the previous equal period."""
    # Heavy imports (SQLAlchemy) stay inside the command so that --help is fast.
    from deskbot import bootstrap
    from deskbot.services.reporting import build_report

    settings = bootstrap.load(state(ctx).config_path)
    now = datetime.now(UTC)
    try:
        window = parse_period(period, now, settings.tz)
    except PeriodError as exc:
        raise typer.BadParameter(str(exc), param_hint="--period") from exc
    database = bootstrap.open_database(settings)
    try:
        source = bootstrap.kpi_source(database)
        if not source.uses_rollups(window):
            typer.echo(
                f"note: the per-day rollups are not built for {window.tz} yet, so this report "
                "reads every ticket (slower); the next sync builds them, or run "
                "'deskbot db check --repair'",
                err=True,
            )
        scope = source.resolve_scope(group=group, agent=agent)
        result = build_report(
            source,
            window,
            now,
            scope=scope,
            workload=settings.workload,
            team_tags=settings.team_tags,
        )
    finally:
        database.dispose()
    if as_json:
        typer.echo(json.dumps(report_to_json(result), indent=2, ensure_ascii=False))
    else:
        _print_tables(result)


def _print_tables(result: KpiReport) -> None:
    from rich.console import Console

    console = Console()
    _headline_table(console, result)
    _breakdown_tables(console, result)


def _headline_table(console: Any, result: KpiReport) -> None:
    from rich.table import Table

    title = (
        f"{result.window.label} ({result.window.days} days, {result.window.tz}) - "
        f"{result.scope.label}; vs {result.previous_window.label}"
    )
    table = Table(title=title, title_justify="left")
    for name, justify in (
        ("Metric", "left"),
        ("Value", "right"),
        ("Previous", "right"),
        ("Change", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    styles = {"better": "green", "worse": "red"}
    for headline, delta in result.headlines():
        style = styles.get(trend(headline, delta), "")
        table.add_row(
            headline.label,
            format_value(headline.unit, delta.current),
            format_value(headline.unit, delta.previous),
            f"[{style}]{format_change(headline, delta)}[/]"
            if style
            else format_change(headline, delta),
        )
    console.print(table)
    if result.current.backlog_method == "reconstructed":
        console.print("[dim]Backlog reconstructed at the window's end from solve times.[/]")


def _breakdown_tables(console: Any, result: KpiReport) -> None:
    from rich.table import Table

    channels = Table(title="Volume by channel", title_justify="left")
    for name in ("Channel", "Tickets", "Previous"):
        channels.add_column(name, justify="left" if name == "Channel" else "right")
    for name, now, before in result.channels():
        channels.add_row(name, f"{now:,}", f"{before:,}")
    console.print(channels)

    agents = Table(title="Agent workload", title_justify="left")
    for name in ("Agent", "Solved", "Replies/day", "Customers", "CSAT", "FRT median", "Flags"):
        agents.add_column(name, justify="left" if name in ("Agent", "Flags") else "right")
    for row in result.agents:
        s = row.stats
        agents.add_row(
            s.name or str(s.agent_id),
            f"{s.solved:,}",
            f"{row.replies_per_day:.1f}",
            f"{s.customers:,}",
            format_value("ratio", s.csat),
            format_value("minutes", s.frt_median),
            ", ".join(FLAG_LABELS[f] for f in row.flags),
        )
    console.print(agents)

    customers = Table(title="Customers in need", title_justify="left")
    for name in ("Customer", "Open tickets", "Bad ratings in window"):
        customers.add_column(name, justify="left" if name == "Customer" else "right")
    for c in result.customers.most_open:
        customers.add_row(c.name or f"{c.kind} {c.id}", str(c.open_tickets), "")
    for c in result.customers.bad_ratings:
        customers.add_row(c.name or f"{c.kind} {c.id}", "", str(c.bad_ratings))
    console.print(customers)

    if result.team_tags:
        tags = Table(title="Team tags", title_justify="left")
        for name in ("Agent", "Tag", "Count", "Previous"):
            tags.add_column(name, justify="right" if name in ("Count", "Previous") else "left")
        for t in result.team_tags:
            tags.add_row(
                t.agent_name or str(t.agent_id or "unassigned"),
                t.tag,
                str(t.count),
                str(t.previous),
            )
        console.print(tags)
