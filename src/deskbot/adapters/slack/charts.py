"""Chart images for digests (matplotlib, Agg backend, deterministic bytes for equal input).

Figures are built with ``matplotlib.figure.Figure`` and its Agg canvas directly, never through
pyplot: no global figure registry, no GUI backend, safe to call from scheduler threads."""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from deskbot.domain.digest import ChartData
from deskbot.domain.metrics import SeriesPoint

# First reply time bands (minutes): lower bound inclusive, upper exclusive.
FRT_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("<15m", 0, 15),
    ("15-30m", 15, 30),
    ("30-60m", 30, 60),
    ("1-2h", 60, 120),
    ("2-4h", 120, 240),
    ("4-8h", 240, 480),
    ("8-24h", 480, 1440),
    ("1-3d", 1440, 4320),
    (">3d", 4320, None),
)


def frt_histogram(minutes: Sequence[int]) -> list[int]:
    """Counts per ``FRT_BANDS`` band."""
    counts = [0] * len(FRT_BANDS)
    for value in minutes:
        for i, (_label, low, high) in enumerate(FRT_BANDS):
            if value >= low and (high is None or value < high):
                counts[i] += 1
                break
    return counts


def _label(point: SeriesPoint, unit: str) -> str:
    day = point.window.start_day
    return day.strftime("%d %b") if unit == "week" else day.strftime("%a %d")


def render_chart(data: ChartData, title: str) -> bytes:
    """A PNG: tickets created (bars) and CSAT (line) per bucket, and the FRT distribution."""
    fig = Figure(figsize=(9, 6.5), dpi=100)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 2]})
    labels = [_label(p, data.unit) for p in data.series]
    x = list(range(len(labels)))
    top.bar(x, [p.created for p in data.series], color="#4C78A8", label="tickets created")
    top.set_ylabel("tickets created")
    top.set_xticks(x, labels, rotation=45, ha="right", fontsize=8)
    top.set_title(title, fontsize=11)
    csat_axis = top.twinx()
    csat_x = [i for i, p in zip(x, data.series, strict=True) if p.csat is not None]
    csat_y = [100 * p.csat for p in data.series if p.csat is not None]
    csat_axis.plot(csat_x, csat_y, color="#E45756", marker="o", linewidth=2, label="CSAT %")
    csat_axis.set_ylim(0, 105)
    csat_axis.set_ylabel("CSAT %")
    handles = top.get_legend_handles_labels()[0] + csat_axis.get_legend_handles_labels()[0]
    top.legend(handles, [h.get_label() for h in handles], loc="upper left", fontsize=8)

    counts = frt_histogram(data.frt_minutes)
    bottom.bar([b[0] for b in FRT_BANDS], counts, color="#72B7B2")
    bottom.set_title(
        f"First reply time, tickets solved in the period (n={len(data.frt_minutes)})",
        fontsize=10,
    )
    bottom.set_ylabel("tickets")
    bottom.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    # No software/date metadata: equal data gives equal bytes.
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
