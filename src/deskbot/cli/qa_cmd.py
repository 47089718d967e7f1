"""``deskbot qa …``: agent QA — draw a cycle's sample, list tasks, report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from deskbot.cli import state

app = typer.Typer(no_args_is_help=True, help="Agent QA: sample a cycle, list tasks, report.")


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


@app.command("sample")
def sample(
    ctx: typer.Context,
    cycle: Annotated[
        str | None, typer.Option("--cycle", help="2026-W49 or 2026-11 (default: the last one).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the sample; write nothing, send nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Draw a cycle's sample and assign reviewers (once: a drawn cycle is shown, not redrawn),
    then DM each reviewer their task list when Slack is configured."""
    from deskbot import bootstrap
    from deskbot.domain.qa import CycleError
    from deskbot.ports import SystemClock
    from deskbot.services.qa_types import QaError

    settings = bootstrap.load(state(ctx).config_path)
    database = bootstrap.open_database(settings)
    try:
        service = bootstrap.qa_service(settings, database, SystemClock())
        try:
            result = service.draw(cycle, dry_run=dry_run)
            sent = 0 if dry_run else service.dispatch(result.cycle.key)
        except (QaError, CycleError) as exc:
            _fail(exc)
            return
        summary = result.as_dict() | {"dry_run": dry_run, "task_dms": sent}
        if as_json:
            summary["samples_list"] = [
                {
                    "ticket_id": s.ticket_id,
                    "agent_id": s.agent_id,
                    "stratum": s.stratum,
                    "N_h": s.stratum_size,
                    "n_h": s.stratum_sample,
                    "N": s.population,
                    "reviewer": result.assignments.get(s.ticket_id),
                }
                for s in result.samples
            ]
            typer.echo(json.dumps(summary, indent=2))
            return
        what = "would draw" if dry_run else ("drew" if result.created else "already drawn:")
        typer.echo(
            f"{what} cycle {summary['cycle']}: {summary['samples']} tickets for "
            f"{summary['agents']} agents, due {result.cycle.due_at:%Y-%m-%d}"
        )
        typer.echo(f"  by stratum: {summary['by_stratum']}")
        typer.echo(f"  reviewer loads: {summary['reviewer_loads']}")
        if not dry_run:
            typer.echo(f"  task DMs sent now: {sent}")
    finally:
        database.dispose()


@app.command("tasks")
def tasks(
    ctx: typer.Context,
    cycle: Annotated[str | None, typer.Option("--cycle", help="Only this cycle.")] = None,
    reviewer: Annotated[str | None, typer.Option("--reviewer", help="A Slack user id.")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only open tasks.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Review tasks: who reviews which ticket, due when, done or not, disputes."""
    from deskbot import bootstrap
    from deskbot.adapters.db.qa_store import SqlQaStore
    from deskbot.domain.qa import CycleError, parse_cycle

    settings = bootstrap.load(state(ctx).config_path)
    database = bootstrap.open_database(settings)
    try:
        try:
            keys = [parse_cycle(cycle, settings.timezone).key] if cycle else None
        except CycleError as exc:
            _fail(exc)
            return
        rows = SqlQaStore(database).tasks(
            cycle_keys=keys, reviewer=reviewer, state="open" if open_only else None
        )
    finally:
        database.dispose()
    out: list[dict[str, Any]] = [
        {
            "task": t.id,
            "cycle": t.cycle_key,
            "ticket_id": t.sample.ticket_id,
            "agent_id": t.sample.agent_id,
            "stratum": t.sample.stratum,
            "reviewer": t.reviewer,
            "state": t.state,
            "due": t.due_at.isoformat(),
            "score": None if t.review is None else t.review.score,
            "version": None if t.review is None else t.review.version,
            "dispute": None if t.dispute is None else t.dispute.state,
        }
        for t in rows
    ]
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    if not out:
        typer.echo("no QA tasks")
    for r in out:
        score = "open" if r["score"] is None and r["state"] == "open" else f"score {r['score']}"
        dispute = f", dispute {r['dispute']}" if r["dispute"] else ""
        typer.echo(
            f"{r['cycle']} task {r['task']}: ticket #{r['ticket_id']} (agent {r['agent_id']}, "
            f"{r['stratum']}) → {r['reviewer']}, due {r['due'][:10]}: {score}{dispute}"
        )


@app.command("report")
def report(
    ctx: typer.Context,
    cycle: Annotated[str | None, typer.Option("--cycle", help="One cycle: 2026-W49.")] = None,
    period: Annotated[
        str | None, typer.Option("--period", help="Cycles starting in a period: 90d, 2026-11…")
    ] = None,
    agent: Annotated[
        str | None, typer.Option("--agent", help="Zendesk id, Slack id or name.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Also write the chart PNG here.")
    ] = None,
) -> None:
    """Per agent and team: stratified score with 95% CI, n, unweighted mean, competencies,
    trend, hero bonuses, disputes; per reviewer: done, on time, mean given vs. the team."""
    from deskbot import bootstrap
    from deskbot.domain.metrics import PeriodError
    from deskbot.domain.qa import CycleError
    from deskbot.ports import SystemClock
    from deskbot.services.qa_report import render_text
    from deskbot.services.qa_types import QaError

    if cycle and period:
        _fail(ValueError("give --cycle or --period, not both"))
    settings = bootstrap.load(state(ctx).config_path)
    database = bootstrap.open_database(settings)
    try:
        service = bootstrap.qa_service(settings, database, SystemClock())
        try:
            result = service.report(cycle_key=cycle, period=period, agent=agent)
        except (QaError, CycleError, PeriodError) as exc:
            _fail(exc)
            return
    finally:
        database.dispose()
    if chart is not None:
        from deskbot.adapters.slack.qa_charts import report_chart

        png = report_chart(result)
        if png:
            chart.write_bytes(png)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    typer.echo(render_text(result))
