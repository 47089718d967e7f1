"""``deskbot run`` (the daemon), ``deskbot jobs`` (schedule and history), ``deskbot health``."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from deskbot.cli import state

jobs_app = typer.Typer(
    help="Scheduled jobs: what runs when, and what happened.", invoke_without_command=True
)


def run(
    ctx: typer.Context,
    now: Annotated[
        list[str] | None,
        typer.Option(
            "--now",
            metavar="JOB",
            help="Also run this job once at start (repeatable), e.g. --now sync.",
        ),
    ] = None,
) -> None:
    """Run the daemon: scheduled jobs, the Slack app (when slack.enabled), hot reload of the
    config, health and metrics."""
    from deskbot import bootstrap
    from deskbot.log import get_logger

    cli = state(ctx)
    settings = bootstrap.load(cli.config_path)
    database = bootstrap.open_database(settings)
    daemon = bootstrap.make_daemon(cli.config_path, settings, database)
    try:
        daemon.check_job_ids(now or ())
        # Socket Mode or HTTP as configured; stopped by the daemon when shutdown starts.
        bootstrap.attach_slack_app(daemon)
        clean = daemon.run_forever(now or ())
    finally:
        database.dispose()
    if not clean:
        # A job ignored the stop: its run is recorded as abandoned. Do not let its thread hold
        # the process past the container's stop timeout.
        get_logger(__name__).warning("daemon.forced_exit")
        sys.stderr.flush()
        os._exit(1)


@jobs_app.callback()
def jobs(
    ctx: typer.Context,
    history: Annotated[int, typer.Option(help="How many recent runs to show.")] = 15,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """List the scheduled jobs, their next fire times and the recent run history."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from deskbot import bootstrap
    from deskbot.adapters.db.job_ledger import SqlJobLedger
    from deskbot.jobs import job_table, next_fire_times, resolve_jobs

    settings = bootstrap.load(state(ctx).config_path)
    database = bootstrap.open_database(settings)
    ledger = SqlJobLedger(database)
    tz = settings.tz
    scheduled = resolve_jobs(job_table(), settings)
    now = datetime.now(UTC)
    upcoming = {job.id: next_fire_times(job, tz, now, 3) for job in scheduled}
    runs = ledger.recent_runs(limit=history)
    database.dispose()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "timezone": settings.timezone,
                    "jobs": [
                        {
                            "id": job.id,
                            "cron": job.cron,
                            "next": [t.isoformat() for t in upcoming[job.id]],
                        }
                        for job in scheduled
                    ],
                    "runs": [
                        {
                            "job": r.job,
                            "trigger": r.trigger_key,
                            "instance": r.instance,
                            "started_at": r.started_at.isoformat(),
                            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                            "outcome": r.outcome,
                            "error": r.error,
                            "detail": json.loads(r.detail) if r.detail else None,
                        }
                        for r in runs
                    ],
                },
                indent=2,
            )
        )
        return
    console = Console()
    table = Table(title=f"Scheduled jobs ({settings.timezone})")
    for column in ("job", "cron", "next runs", "description"):
        table.add_column(column)
    for job in scheduled:
        fires = ", ".join(t.astimezone(tz).strftime("%a %d %b %H:%M") for t in upcoming[job.id])
        table.add_row(job.id, job.cron, fires, job.spec.description)
    console.print(table)
    history_table = Table(title="Recent runs")
    for column in ("job", "trigger", "started", "took", "outcome", "instance", "error"):
        history_table.add_column(column)
    for r in runs:
        took = f"{(r.finished_at - r.started_at).total_seconds():.1f}s" if r.finished_at else ""
        style = {"ok": "green", "failed": "red", "abandoned": "yellow"}.get(r.outcome, "")
        history_table.add_row(
            r.job,
            r.trigger_key or "",
            r.started_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
            took,
            f"[{style}]{r.outcome}[/]" if style else r.outcome,
            r.instance or "",
            (r.error or "")[:80],
        )
    console.print(history_table)


@jobs_app.command("run")
def jobs_run(
    ctx: typer.Context,
    job: Annotated[str, typer.Argument(help="The job's id, as 'deskbot jobs' lists it.")],
) -> None:
    """Run one job now, in the foreground, recorded in the run history like a scheduled run."""
    import threading

    from deskbot import bootstrap
    from deskbot.adapters.db.job_ledger import SqlJobLedger
    from deskbot.errors import DeskbotError
    from deskbot.jobs import JobRunner, job_table, resolve_jobs
    from deskbot.ports import SystemClock

    settings = bootstrap.load(state(ctx).config_path)
    jobs_by_id = {j.id: j for j in resolve_jobs(job_table(), settings)}
    if job not in jobs_by_id:
        raise DeskbotError(
            f"no scheduled job called {job!r}; scheduled jobs: "
            f"{', '.join(sorted(jobs_by_id)) or 'none'}"
        )
    database = bootstrap.open_database(settings)
    stop = threading.Event()
    runner = JobRunner(
        settings=settings,
        database=database,
        ledger=SqlJobLedger(database),
        clock=SystemClock(stop),
        stop=stop,
        notifier=bootstrap.make_notifier(settings),
        jobs=lambda: jobs_by_id,  # the sync job runs a follow-up pass after it, as in the daemon
    )
    try:
        result = runner.run_now(jobs_by_id[job])
    except KeyboardInterrupt:
        stop.set()
        raise
    finally:
        database.dispose()
    typer.echo(
        json.dumps(
            {
                "job": result.job,
                "outcome": result.outcome,
                "summary": result.summary,
                "error": result.error,
            },
            default=str,
            indent=2,
        )
    )
    if result.outcome != "ok":
        raise typer.Exit(1)


def health(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(help="Health URL. Default: from daemon.health in the configuration."),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for an answer.")] = 5.0,
    ready: Annotated[
        bool,
        typer.Option(
            "--ready", help="Check readiness (/readyz: sync freshness) instead of liveness."
        ),
    ] = False,
) -> None:
    """Ask a running daemon whether it is alive (exit 0) or not (exit 1): the HEALTHCHECK.

    Liveness (``/healthz``) is the process and its database only; ``--ready`` asks
    ``/readyz``, which also fails when the last sync is too old (a Zendesk outage)."""
    import urllib.error
    import urllib.request

    if url is None:
        from deskbot import bootstrap

        settings = bootstrap.load(state(ctx).config_path)
        host = settings.daemon.health.host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104  # a wildcard bind is reached on loopback
            host = "127.0.0.1"
        endpoint = "/readyz" if ready else "/healthz"
        url = f"http://{host}:{settings.daemon.health.port}{endpoint}"
    if not url.startswith(("http://", "https://")):
        raise typer.BadParameter("use an http(s) URL", param_hint="--url")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310  # checked
            typer.echo(response.read().decode())
    except urllib.error.HTTPError as exc:
        typer.echo(exc.read().decode() or str(exc))
        raise typer.Exit(1) from exc
    except OSError as exc:
        typer.echo(f"unhealthy: cannot reach {url}: {exc}", err=True)
        raise typer.Exit(1) from exc
