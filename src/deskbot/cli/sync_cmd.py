"""``deskbot sync …``: one incremental pass, a full re-backfill, and where each stream stands."""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from deskbot.cli import state

app = typer.Typer(
    help="Copy Zendesk tickets and CSAT ratings into the local database.",
    invoke_without_command=True,
)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """First SIGINT/SIGTERM: finish the current page and stop. A second SIGINT: stop now."""

    def handler(signum: int, _frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        typer.secho("stopping after the current page (press Ctrl-C again to abort)…", err=True)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _when(epoch: int | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def progress_span(p: Any) -> tuple[int, int] | None:
    """(done, total) seconds of the stream's span from where the pass started to Zendesk's now;
    ``None`` while the start is not known yet (a whole-account backfill before its first page).
    A finished stream is complete whatever the arithmetic says."""
    if p.start_position is None:
        return None
    span = max(p.now - p.start_position, 1)
    if p.done:
        return span, span
    done = min(max((p.position or p.start_position) - p.start_position, 0), span)
    return done, span


def _log_progress() -> Callable[[Any], None]:
    from deskbot.log import get_logger  # keep --help fast

    log = get_logger("deskbot.sync.progress")

    def report(p: Any) -> None:
        elapsed = max(p.elapsed_seconds, 1e-6)
        known = progress_span(p)
        fraction = known[0] / known[1] if known else None
        eta = elapsed * (1 - fraction) / fraction if fraction else None
        log.info(
            "sync.progress",
            stream=p.stream,
            rows=p.rows,
            pages=p.pages,
            rows_per_second=round(p.rows / elapsed, 1),
            position=_when(p.position),
            percent=None if fraction is None else round(100 * fraction, 1),
            eta_seconds=None if p.done or eta is None else round(eta),
            estimating=fraction is None,
        )

    return report


@contextmanager
def bar_progress(console: Any = None) -> Iterator[Callable[[Any], None]]:
    """A rich progress bar per stream (rows, rate, position, ETA); yields the sync's callback."""
    from rich.progress import (  # keep --help fast
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    tasks: dict[str, Any] = {}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[percent]}"),
        TextColumn("{task.fields[rows]} rows"),
        TextColumn("{task.fields[rate]}/s"),
        TextColumn("at {task.fields[position]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        transient=False,
        console=console,
    ) as bar:

        def report(p: Any) -> None:
            known = progress_span(p)
            if p.stream not in tasks:
                tasks[p.stream] = bar.add_task(
                    p.stream, total=None, rows=0, rate=0, position="-", percent="estimating…"
                )
            elapsed = max(p.elapsed_seconds, 1e-6)
            bar.update(
                tasks[p.stream],
                # total=None: rich shows a pulsing bar and no ETA until the span is known
                total=known[1] if known else None,
                completed=known[0] if known else 0,
                percent=f"{100 * known[0] / known[1]:5.1f}%" if known else "estimating…",
                rows=f"{p.rows:,}",
                rate=f"{p.rows / elapsed:,.0f}",
                position=_when(p.position),
            )

        yield report


@app.callback(invoke_without_command=True)
def sync(
    ctx: typer.Context,
    full: Annotated[
        bool,
        typer.Option("--full", help="Re-backfill from sync.start_date (keeps existing rows)."),
    ] = False,
    budget_share: Annotated[
        float | None,
        typer.Option(
            "--budget-share",
            help="Share of the account-wide API budget for this run (0 < x <= 1), e.g. 0.9 "
            "for a night backfill; default zendesk.budget_share.",
            min=0.01,
            max=1.0,
        ),
    ] = None,
) -> None:
    """One incremental pass over tickets and satisfaction ratings (Ctrl-C stops cleanly)."""
    if ctx.invoked_subcommand is not None:
        return
    from deskbot import bootstrap  # keep --help fast
    from deskbot.ports import SystemClock

    cli = state(ctx)
    settings = bootstrap.load(cli.config_path)
    if budget_share is not None:
        zendesk = settings.zendesk.model_copy(update={"budget_share": budget_share})
        settings = settings.model_copy(update={"zendesk": zendesk})
    settings.zendesk.require_credentials()  # fail before touching the database
    database = bootstrap.open_database(settings)
    stop = threading.Event()
    clock = SystemClock(stop)
    terminal = sys.stderr.isatty()
    from deskbot.adapters.db.job_mutex import exclusive_run

    lease = settings.daemon.lease_seconds
    try:
        # One sync at a time with the daemon's runs on every replica (the job mutex).
        with _stop_on_signals(stop), exclusive_run(database, "sync", lease, stop) as fenced:
            # A progress bar on a terminal, structured progress logs otherwise.
            progress = bar_progress() if terminal else nullcontext(_log_progress())
            with progress as report:
                summary = bootstrap.run_sync(
                    settings,
                    database,
                    clock,
                    fenced,
                    full=full,
                    progress=report,
                    raise_on_error=False,
                )
    finally:
        database.dispose()
    for name, stream in summary["streams"].items():
        line = f"{name}: {stream['rows']:,} rows in {stream['pages']} pages"
        if stream["error"]:
            typer.secho(f"{line}; FAILED: {stream['error']}", fg=typer.colors.RED, err=True)
        else:
            typer.echo(f"{line}; at {_when(stream['position'])}")
        if stream.get("note"):
            typer.echo(f"  {stream['note']}")
        if stream.get("skipped"):
            typer.echo(f"  {stream['skipped']} malformed record(s) skipped (see the log)")
    if summary["stopped"]:
        typer.echo("stopped; everything up to the last page is saved — run again to resume")
        raise typer.Exit(130)
    if not summary["ok"]:
        raise typer.Exit(1)


@app.command("status")
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Where each stream stands: position, last success, rows, last error."""
    from deskbot import bootstrap  # keep --help fast
    from deskbot.adapters.db.sync_store import SqlSyncStore
    from deskbot.services.sync import stream_states

    settings = bootstrap.load(state(ctx).config_path)
    database = bootstrap.open_database(settings)
    states = stream_states(SqlSyncStore(database))
    from deskbot.adapters.db.csat_store import SqlCsatStore
    from deskbot.services.csat_sync import CSAT_SOURCE, csat_unavailable

    csat_store = SqlCsatStore(database)
    csat_source = csat_store.source(CSAT_SOURCE)
    csat_missing = csat_unavailable(csat_store)
    database.dispose()
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "stream": s.stream,
                        "position": _when(s.position) if s.position is not None else None,
                        "backfill_complete": s.backfill_complete,
                        "rows_total": s.rows_total,
                        "pages_total": s.pages_total,
                        "last_success_at": s.last_success_at.isoformat()
                        if s.last_success_at
                        else None,
                        "last_error": s.last_error,
                        "last_error_at": s.last_error_at.isoformat() if s.last_error_at else None,
                    }
                    for s in states
                ],
                indent=2,
            )
        )
        return
    from rich.console import Console  # keep --help fast
    from rich.table import Table

    table = Table(title="deskbot sync status")
    table.add_column("stream", no_wrap=True)
    for column in ("position", "backfill", "rows", "pages", "last success", "last error"):
        table.add_column(column)
    for s in states:
        error = "-"
        if s.last_error:
            at = s.last_error_at.strftime("%Y-%m-%d %H:%M") if s.last_error_at else ""
            error = f"{at} {s.last_error[:120]}"
        table.add_row(
            s.stream,
            _when(s.position),
            "complete"
            if s.backfill_complete
            else ("in progress" if s.pages_total else "not started"),
            f"{s.rows_total:,}",
            f"{s.pages_total:,}",
            s.last_success_at.strftime("%Y-%m-%d %H:%M:%S UTC") if s.last_success_at else "never",
            error,
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # piped: do not squeeze the table into 80 columns
    console.print(table)
    if csat_missing:
        console.print(f"[red]CSAT not available: {csat_missing}[/red]", soft_wrap=True)
    elif csat_source:
        console.print(f"CSAT source: {csat_source.get('source')} ({csat_source.get('reason')})")
