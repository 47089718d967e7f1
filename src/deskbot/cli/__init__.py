"""The ``deskbot`` command line: a thin typer layer that parses, calls a service, and prints.

Each command group lives in its own module under ``deskbot.cli`` and is registered in
``_register`` below: adding a command is one module and one line. Modules import heavy
dependencies (zenpy, matplotlib, slack) inside their command functions so that ``--help`` stays
fast.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from deskbot import __version__
from deskbot.errors import DeskbotError
from deskbot.log import LogFormat, configure_logging

DEFAULT_CONFIG = Path("config/deskbot.yaml")


@dataclass
class CliState:
    """Options every command can read: ``ctx.obj``."""

    config_path: Path
    config_given: bool
    log_level: str
    log_format: LogFormat


app = typer.Typer(
    name="deskbot",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Automation bot and sync daemon for support teams on Zendesk and Slack.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"deskbot {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="YAML configuration file. Default: $DESKBOT_CONFIG, else config/deskbot.yaml.",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    log_format: Annotated[
        str, typer.Option(help="auto (console on a terminal, JSON otherwise), json or console.")
    ] = "auto",
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    if log_format not in ("auto", "json", "console"):
        raise typer.BadParameter("use auto, json or console", param_hint="--log-format")
    env_config = os.environ.get("DESKBOT_CONFIG")
    path = config or (Path(env_config) if env_config else DEFAULT_CONFIG)
    fmt: LogFormat = log_format  # type: ignore[assignment]  # checked just above
    configure_logging(log_level, fmt)
    ctx.obj = CliState(
        config_path=path,
        config_given=config is not None or bool(env_config),
        log_level=log_level,
        log_format=fmt,
    )


def state(ctx: typer.Context) -> CliState:
    """The root options, for sub-commands."""
    obj: Any = ctx.find_root().obj
    assert isinstance(obj, CliState)
    return obj


def _register() -> None:
    # One line per command group; keep the list sorted by name.
    from deskbot.cli import (
        calibration_cmd,
        config_cmd,
        db_cmd,
        demo_cmd,
        digest_cmd,
        followups_cmd,
        forecast_cmd,
        nps_cmd,
        people_cmd,
        qa_cmd,
        report_cmd,
        run_cmd,
        sandbox_cmd,
        sync_cmd,
    )

    app.add_typer(config_cmd.app, name="config")
    app.add_typer(db_cmd.app, name="db")
    app.command("demo")(demo_cmd.demo)
    app.command("digest")(digest_cmd.digest)
    app.add_typer(followups_cmd.app, name="followups")
    app.command("forecast")(forecast_cmd.forecast)
    app.command("health")(run_cmd.health)
    qa_cmd.app.add_typer(calibration_cmd.app, name="calibration")
    app.add_typer(qa_cmd.app, name="qa")
    app.add_typer(run_cmd.jobs_app, name="jobs")
    app.add_typer(people_cmd.app, name="people")
    app.add_typer(nps_cmd.app, name="nps")
    app.command("report")(report_cmd.report)
    app.command("run")(run_cmd.run)
    app.add_typer(sandbox_cmd.app, name="sandbox")
    app.add_typer(sync_cmd.app, name="sync")


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: errors meant for people are printed without a traceback."""
    try:
        app(args=argv, prog_name="deskbot", standalone_mode=True)
    except DeskbotError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
