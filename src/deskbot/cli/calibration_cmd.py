"""``deskbot qa calibration …``: QA calibration sessions from the command line."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from deskbot.cli import state

if TYPE_CHECKING:
    from deskbot.services.calibration import CalibrationReport

app = typer.Typer(no_args_is_help=True, help="QA calibration sessions: report, run a pass.")


def report_json(report: CalibrationReport) -> dict[str, Any]:
    """The results of a closed session as JSON (documented in docs/calibration.md)."""
    res = report.results
    session = report.session

    def agreement(a: Any) -> dict[str, Any]:
        return {
            "alpha": a.alpha,
            "ci95": [a.ci_low, a.ci_high] if a.ci_low is not None else None,
            "pairable_values": a.pairable_values,
            "units": a.units,
            "perfect_agreement": a.perfect_agreement,
        }

    return {
        "session": {
            "id": session.id,
            "title": session.title,
            "facilitator": session.facilitator,
            "status": session.status,
            "how_chosen": session.how_chosen,
            "created_at": session.created_at.isoformat(),
            "deadline": session.deadline.isoformat(),
            "closed_at": session.closed_at.isoformat() if session.closed_at else None,
            "lessons": session.lessons,
        },
        "calibrators": list(res.calibrators),
        "tickets": list(res.tickets),
        "acceptable_variance": res.acceptable_variance,
        "alpha": {
            "overall": agreement(res.overall),
            "per_competency": {k: agreement(a) for k, a in res.per_competency.items()},
        },
        "spreads": [
            {
                "ticket_id": s.ticket_id,
                "competency": s.competency,
                "scores": dict(s.scores),
                "range": s.range,
                "sd": s.sd,
                "median": s.median,
                "flagged": s.flagged,
            }
            for s in res.spreads
        ],
        "bias": [
            {
                "calibrator": b.calibrator,
                "mean_deviation": b.mean_deviation,
                "values": b.values,
                "trend": [
                    {"session": lbl, "mean_deviation": v}
                    for lbl, v in report.trend.get(b.calibrator, [])
                ],
                "drift_per_session": report.drift.get(b.calibrator),
            }
            for b in res.biases
        ],
        "missing": res.missing,
        "notes": {str(t): n for t, n in report.notes.items()},
    }


@app.command("report")
def report(
    ctx: typer.Context,
    session: Annotated[
        int | None, typer.Option("--session", help="Session number; default the latest closed.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Agreement (Krippendorff's alpha), spreads and each calibrator's bias of a closed session."""
    from deskbot import bootstrap
    from deskbot.ports import SystemClock
    from deskbot.services.calibration import CalibrationError

    settings = bootstrap.load(state(ctx).config_path)
    database = bootstrap.open_database(settings)
    try:
        service = bootstrap.calibration_service(settings, database, SystemClock())
        try:
            result = service.report(None, session)
        except CalibrationError as exc:
            typer.secho(str(exc), fg=typer.colors.YELLOW, err=True)
            raise typer.Exit(1) from None
    finally:
        database.dispose()
    data = report_json(result)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    overall = data["alpha"]["overall"]
    alpha = "n/a" if overall["alpha"] is None else f"{overall['alpha']:.3f}"
    ci = overall["ci95"]
    typer.echo(
        f"Calibration #{result.session.id} ({result.session.title}): alpha {alpha}"
        + (f" (95% CI {ci[0]:.3f} to {ci[1]:.3f})" if ci else "")
        + f", {overall['pairable_values']} pairable values"
    )
    for key, a in data["alpha"]["per_competency"].items():
        value = "n/a" if a["alpha"] is None else f"{a['alpha']:.3f}"
        typer.echo(f"  {key:<18} alpha {value}")
    flagged = [s for s in data["spreads"] if s["flagged"]]
    typer.echo(f"{len(flagged)} ticket x competency beyond ±{data['acceptable_variance']}:")
    for s in flagged:
        typer.echo(f"  #{s['ticket_id']} {s['competency']}: {s['scores']} (range {s['range']})")
    typer.echo("bias (mean deviation from the median):")
    for b in data["bias"]:
        dev = "n/a" if b["mean_deviation"] is None else f"{b['mean_deviation']:+.2f}"
        typer.echo(f"  {b['calibrator']}: {dev}")


@app.command("run")
def run(ctx: typer.Context) -> None:
    """One calibration pass now: invitations, closing, results and lessons (each once)."""
    from deskbot import bootstrap
    from deskbot.ports import SystemClock

    settings = bootstrap.load(state(ctx).config_path)
    database = bootstrap.open_database(settings)
    try:
        summary = bootstrap.run_calibration(settings, database, SystemClock())
    finally:
        database.dispose()
    typer.echo(", ".join(f"{k} {v}" for k, v in summary.items()))
