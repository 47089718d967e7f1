"""The staffing forecast's scene in ``deskbot demo``: the weekly post, once, with its chart."""

from __future__ import annotations

from typing import Any

from deskbot import bootstrap
from deskbot.settings import Settings


def forecast_scene(demo: Any, settings: Settings, database: Any, clock: Any, slack: Any) -> None:
    """Post this week's forecast to the digests channel, then run the job again (no-op)."""
    demo.step("The weekly staffing forecast")
    outcome = bootstrap.run_forecast_post(settings, clock.now(), database=database, clock=clock)
    chart = "with its chart" if outcome.chart_file else "without a chart"
    demo.record("forecast", f"weekly forecast {outcome.status} ({chart}), {outcome.key}")
    demo.show(slack, "support-leads", lines=12)
    again = bootstrap.run_forecast_post(settings, clock.now(), database=database, clock=clock)
    demo.record("forecast again", f"the job ran again: {again.status}, nothing new posted")
