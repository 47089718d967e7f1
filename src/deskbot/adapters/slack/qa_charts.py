"""QA chart images (matplotlib, Agg, no pyplot): per-agent scores with their 95% intervals
beside the team's, and a competency heat map (agents by competencies). ``team_only`` draws the
team's competencies alone (for the channel digest, which shows no per-agent results)."""

from __future__ import annotations

import io
import math
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from deskbot.domain.scorecard import COMPETENCIES


def report_chart(report: Any, *, team_only: bool = False) -> bytes | None:
    agents = [] if team_only else [a for a in report.agents if a.estimate.estimate is not None]
    if report.team.estimate is None and not agents:
        return None
    labels = [c.label.split(" /")[0] for c in COMPETENCIES]
    rows = [("Team", report.team, report.team_competencies)]
    rows += [(a.name, a.estimate, a.competencies) for a in agents]
    fig = Figure(figsize=(10, 3 + 0.45 * len(rows)), dpi=100)
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.2]})
    names = [r[0] for r in rows]
    y = list(range(len(rows)))
    for i, (_name, est, _comp) in enumerate(rows):
        if est.estimate is None:
            continue
        color = "#E45756" if i == 0 else "#4C78A8"
        if est.ci_low is not None and est.ci_high is not None:
            left.errorbar(
                est.estimate,
                i,
                xerr=[[est.estimate - est.ci_low], [est.ci_high - est.estimate]],
                fmt="o",
                color=color,
                capsize=4,
            )
        else:
            left.plot(est.estimate, i, "o", color=color)
        if est.unweighted_mean is not None:
            left.plot(est.unweighted_mean, i, "x", color="#999999")
    left.set_yticks(y, names, fontsize=8)
    left.invert_yaxis()
    left.set_xlim(0, 100)
    left.set_xlabel("QA score (stratified, 95% CI; x = unweighted mean)")
    left.set_title(f"QA {', '.join(report.cycles)}", fontsize=10)
    grid = [
        [float("nan") if comp.get(c.key) is None else float(comp[c.key]) for c in COMPETENCIES]
        for _name, _est, comp in rows
    ]
    image = right.imshow(grid, cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
    right.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    right.set_yticks(y, names, fontsize=8)
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            if not math.isnan(value):
                right.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=right, fraction=0.04)
    right.set_title("Competencies (0-100)", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
