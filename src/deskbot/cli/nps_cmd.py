"""``deskbot nps …``: internal NPS rounds and results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from deskbot.cli import state

app = typer.Typer(no_args_is_help=True, help="Internal NPS: plan a round, run a tick, report.")


@app.command("plan")
def plan(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show who would be asked; store and send nothing.")
    ] = False,
    names: Annotated[
        bool, typer.Option("--names", help="List the people too (admins, with --dry-run).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The next round: asks per department (a dry run), or start it now (persist, then send
    what is due in each respondent's local hours)."""
    from deskbot import bootstrap
    from deskbot.ports import SystemClock

    settings = bootstrap.load(state(ctx).config_path)
    database = bootstrap.open_database(settings)
    clock = SystemClock()
    try:
        if dry_run:
            service = bootstrap.nps_service(settings, database, clock, with_slack=False)
            p = service.plan(clock.now())
            out: dict[str, object] = {
                "round": p.round_id,
                "quarter": p.quarter,
                "per_department": p.counts(),
                "eligible": p.eligible,
                "not_eligible": p.excluded,
            }
            if names:
                out["asks"] = [
                    {"slack_user": a.slack_user_id, "department": a.department, "at": a.send_at}
                    for a in p.asks
                ]
        else:
            out = bootstrap.run_nps_round(settings, database, clock, clock.now())
    finally:
        database.dispose()
    if as_json:
        typer.echo(json.dumps(out, indent=2, default=str))
        return
    if dry_run:
        typer.echo(f"dry run for round {out['round']} ({out['quarter']}): nothing stored or sent")
    else:
        made = "planned" if out["created"] else "already planned"
        typer.echo(f"round {out['round']} {made}; sent now: {out['tick']['sent']}")  # type: ignore[index]
    for dept, n in dict(out["per_department"]).items():  # type: ignore[call-overload]
        typer.echo(f"  {dept}: {n} ask(s)")
    if dry_run:
        typer.echo(f"  eligible: {out['eligible']}; not eligible: {out['not_eligible']}")
        for a in out.get("asks", []):  # type: ignore[attr-defined]
            typer.echo(
                f"    {a['slack_user']} -> {a['department']} at {a['at']:%Y-%m-%d %H:%M} UTC"
            )


@app.command("tick")
def tick(ctx: typer.Context) -> None:
    """Send due asks, reminders and expiries; release closed rounds (what the daemon's
    ``nps_reminders`` job does)."""
    from deskbot import bootstrap
    from deskbot.ports import SystemClock

    settings = bootstrap.load(state(ctx).config_path)
    database = bootstrap.open_database(settings)
    try:
        summary = bootstrap.run_nps_tick(settings, database, SystemClock())
    finally:
        database.dispose()
    typer.echo(json.dumps(summary, indent=2, default=str))


@app.command("report")
def report(
    ctx: typer.Context,
    department: Annotated[
        str | None, typer.Option("--department", "-d", help="One department (by name).")
    ] = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period", "-p", help="quarter (default), last-quarter, year, all, or e.g. 2026-Q4"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Also write the trend chart (PNG) here.")
    ] = None,
) -> None:
    """Released results per department: eNPS with its 95% CI, promoters / passives /
    detractors, response rate, trend. Groups below the anonymity threshold never appear."""
    from deskbot import bootstrap
    from deskbot.adapters.slack.nps_charts import render_nps_chart
    from deskbot.domain.authz import Actor
    from deskbot.domain.nps import NpsInputError
    from deskbot.domain.people import Role
    from deskbot.errors import DeskbotError
    from deskbot.ports import SystemClock

    settings = bootstrap.load(state(ctx).config_path)
    database = bootstrap.open_database(settings)
    try:
        service = bootstrap.nps_service(settings, database, SystemClock(), with_slack=False)
        try:  # whoever runs the CLI has the database: an admin
            result = service.report(Actor("cli", Role.ADMIN), department, period)
        except NpsInputError as exc:
            raise DeskbotError(str(exc)) from exc
        if chart is not None and result.departments:
            trend = service.department_result(result.departments[0].department, None, "trend")
            png = render_nps_chart(trend)
            if png:
                chart.write_bytes(png)
    finally:
        database.dispose()
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    typer.echo(f"Internal NPS, {result.period} (anonymity threshold {result.threshold})")
    for d in result.departments:
        r = d.result
        if r is None:
            typer.echo(f"  {d.department}: nothing to show")
            continue
        rate = f", {100 * d.response_rate:.0f}% answered" if d.response_rate is not None else ""
        typer.echo(
            f"  {d.department}: eNPS {r.enps:+.1f} (95% CI {r.ci_low:+.1f} to {r.ci_high:+.1f}), "
            f"{r.promoters} P / {r.passives} p / {r.detractors} D, n={r.n}{rate}"
        )
        if d.trend:
            typer.echo("    trend: " + ", ".join(f"{c} {v:+.0f}" for c, v in d.trend))
