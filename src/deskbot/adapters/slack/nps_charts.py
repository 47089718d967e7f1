"""The eNPS trend chart (matplotlib, Agg, deterministic bytes): one point per released cell
with its 95% interval, and a bar per quarter."""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from deskbot.services.nps import DepartmentResult


def render_nps_chart(result: DepartmentResult) -> bytes | None:
    """A PNG of a department's eNPS per released round and per quarter; None when nothing
    has been released."""
    if not result.trend:
        return None
    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    labels = [label.replace("round ", "") for label, _ in result.trend]
    x = list(range(len(labels)))
    left.plot(x, [v for _, v in result.trend], marker="o", color="#4C78A8", linewidth=2)
    left.axhline(0, color="#999999", linewidth=0.8)
    left.set_ylim(-100, 100)
    left.set_xticks(x, labels, rotation=30, ha="right", fontsize=7)
    left.set_ylabel("eNPS")
    left.set_title(f"{result.department}: eNPS per round", fontsize=10)
    quarters = [q for q, _, _ in result.quarters]
    values = [v for _, v, _ in result.quarters]
    colours = ["#54A24B" if v >= 0 else "#E45756" for v in values]
    right.bar(quarters, values, color=colours)
    right.axhline(0, color="#999999", linewidth=0.8)
    right.set_ylim(-100, 100)
    right.set_title("per quarter", fontsize=10)
    right.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
