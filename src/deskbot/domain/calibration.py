"""QA calibration: how much reviewers agree, where they differ, and who drifts. Pure.

A calibration session sends the same k tickets to every calibrator, who scores each on the
QA scorecard (``deskbot.domain.scorecard``: five competencies, 0-4 or N/A). This module turns
the submitted scorecards into the results a facilitator discusses:

- **spread** per ticket x competency: each calibrator's score, the range (max - min) and the
  sample standard deviation, flagged where the range exceeds the acceptable variance;
- **Krippendorff's alpha (ordinal)** per competency and overall, computed by the
  ``krippendorff`` package, with a bootstrap 95% CI and the number of pairable values;
- **bias**: each calibrator's mean deviation from the session median (who scores consistently
  high or low), and its trend across sessions.

Units and missing values, as Krippendorff defines them: a *unit* is one (ticket, competency)
pair; a calibrator who skipped a ticket or marked a competency N/A leaves a missing value in that
unit. Only units with at least two values are *pairable*; units with one value do not enter
alpha. Per competency the units are the session's tickets; overall they are every (ticket,
competency) pair.

Bootstrap: units are resampled with replacement (``draws`` times, seeded) and alpha recomputed;
the CI is the 2.5th and 97.5th percentile of the draws in which alpha is defined. (Hayes &
Krippendorff's bootstrap resamples pairable values instead; resampling units is the standard
nonparametric choice, keeps each unit's coders together, and is what the tests check for
coverage.)

Alpha is undefined when the pairable values show no variation at all (every score the same):
the calibrators agree perfectly, but the statistic is 0/0. It is then reported as ``None`` with
``perfect_agreement=True``.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from deskbot.domain.scorecard import COMPETENCY_KEYS, MAX_SCORE

VALUE_DOMAIN = tuple(range(MAX_SCORE + 1))  # 0..4: the ordinal scale alpha is computed on


@dataclass(frozen=True)
class CalibrationScore:
    """One calibrator's scorecard for one ticket (``None`` = N/A)."""

    calibrator: str  # Slack user id
    ticket_id: int
    scores: Mapping[str, int | None]


@dataclass(frozen=True)
class Spread:
    """How the calibrators scored one ticket on one competency."""

    ticket_id: int
    competency: str
    scores: Mapping[str, int]  # calibrator -> score (N/A and skipped left out)
    range: int | None  # max - min; None with fewer than two scores
    sd: float | None  # sample standard deviation; None with fewer than two scores
    median: float | None
    flagged: bool  # range > acceptable variance


@dataclass(frozen=True)
class Agreement:
    """Krippendorff's alpha (ordinal) over a set of units."""

    alpha: float | None
    ci_low: float | None
    ci_high: float | None
    pairable_values: int  # values in units with at least two values
    units: int  # units with at least two values
    perfect_agreement: bool = False  # no variation at all: alpha is 0/0, agreement is total


@dataclass(frozen=True)
class CalibratorBias:
    """A calibrator's mean deviation from the session median (positive = more lenient)."""

    calibrator: str
    mean_deviation: float | None
    values: int  # scores that entered the mean


@dataclass(frozen=True)
class CalibrationResults:
    spreads: list[Spread]
    per_competency: dict[str, Agreement]
    overall: Agreement
    biases: list[CalibratorBias]
    acceptable_variance: int
    calibrators: tuple[str, ...]
    tickets: tuple[int, ...]
    missing: dict[str, list[int]] = field(default_factory=dict)  # calibrator -> skipped tickets

    @property
    def flagged(self) -> list[Spread]:
        return [s for s in self.spreads if s.flagged]


# --------------------------------------------------------------------------------------------
# Krippendorff's alpha
# --------------------------------------------------------------------------------------------

Unit = Sequence[int | None]  # one value per calibrator, None where missing


def _pairable(units: Iterable[Unit]) -> list[list[int]]:
    return [vals for u in units if len(vals := [v for v in u if v is not None]) >= 2]


def ordinal_alpha(units: Sequence[Unit]) -> float | None:
    """Krippendorff's alpha, ordinal metric, over ``units`` (each: one value per coder, ``None``
    where missing). ``None`` when undefined (fewer than two pairable values, or no variation)."""
    import numpy as np
    from krippendorff import alpha

    pairable = _pairable(units)
    if sum(len(v) for v in pairable) < 2 or len({x for v in pairable for x in v}) < 2:
        return None
    coders = max(len(u) for u in units)
    matrix = np.full((coders, len(units)), np.nan)
    for j, unit in enumerate(units):
        for i, value in enumerate(unit):
            if value is not None:
                matrix[i, j] = value
    return float(
        alpha(
            reliability_data=matrix,
            level_of_measurement="ordinal",
            value_domain=sorted(set(VALUE_DOMAIN) | {x for v in pairable for x in v}),
        )
    )


def agreement(units: Sequence[Unit], *, draws: int = 1000, seed: int = 0) -> Agreement:
    """Alpha with a bootstrap 95% CI (units resampled with replacement, seeded)."""
    pairable = _pairable(units)
    values = sum(len(v) for v in pairable)
    point = ordinal_alpha(units)
    if point is None:
        perfect = values >= 2 and len({x for v in pairable for x in v}) == 1
        return Agreement(None, None, None, values, len(pairable), perfect_agreement=perfect)
    usable = [u for u in units if sum(v is not None for v in u) >= 2]
    rng = random.Random(seed)  # noqa: S311  # seeded, reproducible statistics
    boot: list[float] = []
    for _ in range(draws):
        sample = [usable[rng.randrange(len(usable))] for _ in usable]
        a = ordinal_alpha(sample)
        if a is not None and math.isfinite(a):
            boot.append(a)
    low = high = None
    if len(boot) >= max(20, draws // 10):
        boot.sort()
        low = _quantile(boot, 0.025)
        high = _quantile(boot, 0.975)
    return Agreement(point, low, high, values, len(pairable))


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


# --------------------------------------------------------------------------------------------
# A session's results
# --------------------------------------------------------------------------------------------


def results(
    scores: Sequence[CalibrationScore],
    calibrators: Sequence[str],
    tickets: Sequence[int],
    *,
    acceptable_variance: int = 1,
    draws: int = 1000,
    seed: int = 0,
) -> CalibrationResults:
    """Spreads, agreement and biases of one session's submitted scorecards."""
    order = list(dict.fromkeys(calibrators))
    by_key = {(s.calibrator, s.ticket_id): s for s in scores}
    spreads: list[Spread] = []
    units_by_competency: dict[str, list[list[int | None]]] = {k: [] for k in COMPETENCY_KEYS}
    deviations: dict[str, list[float]] = {c: [] for c in order}
    for ticket in tickets:
        for key in COMPETENCY_KEYS:
            unit: list[int | None] = []
            given: dict[str, int] = {}
            for cal in order:
                card = by_key.get((cal, ticket))
                value = card.scores.get(key) if card is not None else None
                unit.append(value)
                if value is not None:
                    given[cal] = value
            units_by_competency[key].append(unit)
            spreads.append(_spread(ticket, key, given, acceptable_variance))
            if len(given) >= 2:
                med = statistics.median(given.values())
                for cal, value in given.items():
                    deviations[cal].append(value - med)
    per_competency = {
        key: agreement(units, draws=draws, seed=seed + i)
        for i, (key, units) in enumerate(units_by_competency.items())
    }
    overall = agreement(
        [u for units in units_by_competency.values() for u in units], draws=draws, seed=seed
    )
    biases = [
        CalibratorBias(cal, statistics.fmean(devs) if devs else None, len(devs))
        for cal, devs in deviations.items()
    ]
    missing = {
        cal: [t for t in tickets if (cal, t) not in by_key]
        for cal in order
        if any((cal, t) not in by_key for t in tickets)
    }
    return CalibrationResults(
        spreads=spreads,
        per_competency=per_competency,
        overall=overall,
        biases=biases,
        acceptable_variance=acceptable_variance,
        calibrators=tuple(order),
        tickets=tuple(tickets),
        missing=missing,
    )


def _spread(ticket: int, key: str, given: Mapping[str, int], acceptable: int) -> Spread:
    values = list(given.values())
    if len(values) < 2:
        med = float(values[0]) if values else None
        return Spread(ticket, key, dict(given), None, None, med, False)
    rng = max(values) - min(values)
    return Spread(
        ticket,
        key,
        dict(given),
        rng,
        statistics.stdev(values),
        float(statistics.median(values)),
        rng > acceptable,
    )


def bias_trend(
    sessions: Sequence[tuple[str, Sequence[CalibratorBias]]],
) -> dict[str, list[tuple[str, float]]]:
    """Each calibrator's mean deviation session by session (oldest first), for drift."""
    trend: dict[str, list[tuple[str, float]]] = {}
    for label, biases in sessions:
        for b in biases:
            if b.mean_deviation is not None:
                trend.setdefault(b.calibrator, []).append((label, b.mean_deviation))
    return trend


def drift(points: Sequence[tuple[str, float]]) -> float | None:
    """Least-squares slope of a calibrator's deviation per session (``None`` under 3 sessions)."""
    if len(points) < 3:
        return None
    ys = [p[1] for p in points]
    xs = list(range(len(ys)))
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den


# --------------------------------------------------------------------------------------------
# Choosing the tickets
# --------------------------------------------------------------------------------------------


def pick_by_channel(
    candidates: Mapping[int, str | None], k: int, seed: int | str
) -> list[tuple[int, str]]:
    """``k`` tickets from ``candidates`` (ticket id -> channel), stratified by channel with
    proportional allocation (largest remainders, every channel with tickets rounding up before
    any gets a second extra), seeded and reproducible. Returns (ticket id, channel) by id."""
    strata: dict[str, list[int]] = {}
    for ticket, channel in sorted(candidates.items()):
        strata.setdefault(channel or "unknown", []).append(ticket)
    total = sum(len(v) for v in strata.values())
    k = min(k, total)
    if k <= 0:
        return []
    quotas = {ch: k * len(ids) / total for ch, ids in strata.items()}
    alloc = {ch: math.floor(q) for ch, q in quotas.items()}
    left = k - sum(alloc.values())
    for ch in sorted(quotas, key=lambda c: (-(quotas[c] - alloc[c]), c))[:left]:
        alloc[ch] += 1
    rng = random.Random(f"calibration:{seed}")  # noqa: S311  # seeded, reproducible choice
    picked: list[tuple[int, str]] = []
    for ch in sorted(strata):
        picked += [(t, ch) for t in rng.sample(strata[ch], alloc[ch])]
    return sorted(picked)
