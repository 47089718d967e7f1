"""The staffing forecast in Slack: Block Kit text and the chart image.

The chart (matplotlib, Agg, deterministic bytes) has two panels: the team's total forecast per
half hour with its 80% band beside the last two weeks' actuals, and a heat map of agents to
schedule (all channels) by weekday * half hour for the first forecast week.
"""

from __future__ import annotations

import io
from datetime import timedelta
from zoneinfo import ZoneInfo

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from deskbot.adapters.slack.blocks import Message, chunk_lines, context, escape, header
from deskbot.adapters.slack.commands import Invocation, PermissionDenied, Reply
from deskbot.domain.authz import Actor, Forbidden
from deskbot.domain.commands import CommandError
from deskbot.domain.forecast import ENABLE_HINT, SLOTS_PER_DAY, slot_label
from deskbot.errors import DeskbotError
from deskbot.ports import OutgoingMessage
from deskbot.services.forecast import ForecastReport, report_lines, series_lines

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def forecast_blocks(report: ForecastReport) -> list[dict[str, object]]:
    last = report.end_day - timedelta(days=1)
    title = f"Staffing forecast {report.start_day:%a %d %b} – {last:%a %d %b}"
    blocks: list[dict[str, object]] = [header(title)]
    intro = [
        f"{report.weeks} week{'s' * (report.weeks != 1)}, half hours in {report.tz}; "
        f"agents include {report.shrinkage:.0%} shrinkage."
    ]
    intro.extend(f":information_source: {escape(note)}" for note in report.notes)
    lines = list(intro)
    for series in report.series:
        lines.append("")
        lines.extend(escape(line) for line in series_lines(series, markdown=True))
    blocks.extend(
        {"type": "section", "text": {"type": "mrkdwn", "text": text}} for text in chunk_lines(lines)
    )
    blocks = blocks[:49]  # Slack's limit is 50; the last one says how to read the numbers
    blocks.append(
        context(
            "The model is used only where it beat the seasonal-naive baseline (same half hour "
            "last week) on the held-out weeks. Method and reading guide: docs/forecast.md."
            + ("" if report.model_installed else f" Enable the model: `{ENABLE_HINT}`.")
        )
    )
    return blocks


def render_forecast(report: ForecastReport) -> Message:
    """The answer to ``/deskbot forecast``."""
    return Message(report_lines(report)[0], forecast_blocks(report))


class SlackForecastRenderer:
    def __init__(self, tz: ZoneInfo) -> None:
        self._tz = tz

    def render(self, report: ForecastReport) -> OutgoingMessage:
        return OutgoingMessage(report_lines(report)[0][:3000], forecast_blocks(report))

    def chart(self, report: ForecastReport) -> bytes | None:
        return render_forecast_chart(report)


def render_forecast_chart(report: ForecastReport) -> bytes | None:
    """PNG: forecast band vs the last two weeks' actuals; agents heat map. None: no data."""
    team = [s for s in report.series if s.scope == "team" and s.forecast is not None]
    if not team:
        return None
    fig = Figure(figsize=(11, 7.5), dpi=100)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1, 1]})

    first = team[0].forecast
    assert first is not None
    target = first.target
    expected = np.sum([s.forecast.expected for s in team if s.forecast], axis=0)
    lower = np.sum([s.forecast.lower for s in team if s.forecast], axis=0)
    upper = np.sum([s.forecast.upper for s in team if s.forecast], axis=0)
    fx = (target.utc - target.utc[0]) / 86_400.0
    recent = [s.recent for s in team if s.recent is not None]
    if recent:
        grid = recent[0][0]
        actual = np.sum([r[1] for r in recent if len(r[1]) == len(grid)], axis=0)
        ax = (grid.utc - target.utc[0]) / 86_400.0
        top.plot(ax, actual, color="#555555", linewidth=0.8, label="actual (last 2 weeks)")
    top.fill_between(fx, lower, upper, color="#4C78A8", alpha=0.25, label="80% band")
    top.plot(fx, expected, color="#4C78A8", linewidth=1.0, label="forecast")
    top.axvline(0, color="#E45756", linestyle="--", linewidth=1)
    top.set_ylabel("tickets per half hour")
    top.set_xlabel(f"days from {report.start_day:%a %d %b} ({report.tz})")
    channels = ", ".join(s.channel for s in team)
    top.set_title(f"Tickets created per half hour: {channels}", fontsize=11)
    top.legend(loc="upper left", fontsize=8)

    heat = report.heatmap("team")
    if heat is None:
        bottom.text(0.5, 0.5, "no staffing (see the message)", ha="center", va="center")
        bottom.set_axis_off()
    else:
        image = bottom.imshow(
            np.ma.masked_invalid(heat), aspect="auto", cmap="YlOrRd", interpolation="nearest"
        )
        bottom.set_yticks(range(7), WEEKDAYS)
        ticks = list(range(0, SLOTS_PER_DAY, 4))
        bottom.set_xticks(ticks, [slot_label(w) for w in ticks], fontsize=8)
        bottom.set_title("Agents to schedule (all channels, first week)", fontsize=10)
        fig.colorbar(image, ax=bottom, label="agents")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def forecast_command(inv: Invocation) -> Reply:
    """``/deskbot forecast [channel] [weeks]``: leads and admins (the table checks the role;
    the service checks the actor again)."""
    weeks: int | None = None
    channel: str | None = None
    for word in inv.args:
        digits = word.lower().removesuffix("w").removesuffix("weeks").removesuffix("week")
        if digits.isdigit():
            if weeks is not None or not 1 <= int(digits) <= 4:
                raise CommandError("Give the number of weeks once, from 1 to 4, e.g. `2`.")
            weeks = int(digits)
        elif channel is None:
            channel = word.lower()
        else:
            raise CommandError(
                f"`forecast` takes one channel and a number of weeks, not `{escape(word)}`."
            )
    provider = inv.need(inv.services.forecast, "Staffing forecasts")
    actor = Actor(inv.user_id, inv.role)

    def work() -> Message:
        try:
            report = provider.forecast(actor, weeks, channel)
        except Forbidden as exc:
            raise PermissionDenied(exc.action, exc.who_may) from exc
        except DeskbotError as exc:
            raise CommandError(str(exc)) from exc
        return render_forecast(report)

    return work
