"""Calibration statistics: Krippendorff's alpha against the published worked example and the
package, spreads, biases, and ticket choice."""

from __future__ import annotations

import random

import krippendorff
import numpy as np
import pytest

from deskbot.domain.calibration import (
    CalibrationScore,
    agreement,
    bias_trend,
    drift,
    ordinal_alpha,
    pick_by_channel,
    results,
)
from deskbot.domain.scorecard import COMPETENCY_KEYS

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four observers,
# twelve units, values 1-5, with missing data. Published: nominal .743, ordinal .815,
# interval .849, ratio .797.
N = None
WORKED = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]


def _matrix(rows: list[list[int | None]]) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_the_package_reproduces_the_published_worked_example(level: str, published: float) -> None:
    value = krippendorff.alpha(reliability_data=_matrix(WORKED), level_of_measurement=level)
    assert round(float(value), 3) == published


def test_ordinal_alpha_on_the_worked_example_matches_the_publication() -> None:
    # ours takes units (one value per coder); the worked example's values are 1-5, and the
    # ordinal metric depends only on the values that occur, so the 0-4 domain changes nothing
    units = [list(col) for col in zip(*WORKED, strict=True)]
    assert round(ordinal_alpha(units), 3) == 0.815  # type: ignore[arg-type]


def test_ordinal_alpha_matches_the_package_on_random_data_with_missing_values() -> None:
    rng = random.Random(4)
    for _ in range(30):
        coders, units_n = rng.randint(2, 6), rng.randint(3, 15)
        rows = [
            [None if rng.random() < 0.2 else rng.randint(0, 4) for _ in range(units_n)]
            for _ in range(coders)
        ]
        units = [list(col) for col in zip(*rows, strict=True)]
        ours = ordinal_alpha(units)
        try:
            theirs = float(
                krippendorff.alpha(
                    reliability_data=_matrix(rows),
                    level_of_measurement="ordinal",
                    value_domain=[0, 1, 2, 3, 4],
                )
            )
        except ValueError:
            theirs = None
        if ours is None:
            assert theirs is None or not np.isfinite(theirs)
        else:
            assert ours == pytest.approx(theirs)


def test_perfect_agreement_is_one_and_systematic_disagreement_is_negative() -> None:
    agree = [[0, 0, 0], [2, 2, 2], [4, 4, 4], [1, 1, 1]]
    assert ordinal_alpha(agree) == pytest.approx(1.0)
    # every unit split between the extremes: observed disagreement above what chance gives
    disagree = [[0, 4], [4, 0], [0, 4], [4, 0]]
    value = ordinal_alpha(disagree)
    assert value is not None and value < 0


def test_no_variation_at_all_is_perfect_agreement_with_an_undefined_alpha() -> None:
    result = agreement([[3, 3], [3, 3, 3]], draws=50)
    assert result.alpha is None and result.perfect_agreement
    assert result.pairable_values == 5 and result.units == 2


def test_units_with_one_value_are_not_pairable() -> None:
    result = agreement([[1, None, None], [2, 2, None], [0, 1, 1]], draws=50)
    assert result.units == 2 and result.pairable_values == 5


def test_bootstrap_interval_brackets_the_estimate_and_is_reproducible() -> None:
    rng = random.Random(1)
    truth = [rng.randint(0, 4) for _ in range(40)]
    units = [[min(4, max(0, t + rng.choice((-1, 0, 0, 0, 1)))) for _ in range(4)] for t in truth]
    a = agreement(units, draws=400, seed=3)
    b = agreement(units, draws=400, seed=3)
    assert a == b
    assert a.alpha is not None and a.ci_low is not None and a.ci_high is not None
    assert a.ci_low <= a.alpha <= a.ci_high
    assert 0.5 < a.alpha < 1.0


def _cards(calibrator: str, tickets: list[int], value: int) -> list[CalibrationScore]:
    return [CalibrationScore(calibrator, t, dict.fromkeys(COMPETENCY_KEYS, value)) for t in tickets]


def test_results_spread_flags_and_missing_values() -> None:
    tickets = [1, 2]
    scores = [
        *_cards("UA", tickets, 2),
        *_cards("UB", tickets, 3),
        CalibrationScore("UC", 1, {**dict.fromkeys(COMPETENCY_KEYS, 4), "accuracy": None}),
        # UC skipped ticket 2
    ]
    res = results(scores, ["UA", "UB", "UC"], tickets, acceptable_variance=1, draws=50)
    spread = next(s for s in res.spreads if s.ticket_id == 1 and s.competency == "judgment")
    assert spread.scores == {"UA": 2, "UB": 3, "UC": 4}
    assert spread.range == 2 and spread.flagged
    assert spread.sd == pytest.approx(1.0) and spread.median == 3
    acc = next(s for s in res.spreads if s.ticket_id == 1 and s.competency == "accuracy")
    assert acc.scores == {"UA": 2, "UB": 3} and acc.range == 1 and not acc.flagged
    assert res.missing == {"UC": [2]}
    # ticket 1: three values on four competencies, two on accuracy; ticket 2: two on each
    assert res.overall.pairable_values == 3 * 4 + 2 + 2 * 5
    assert {b.calibrator for b in res.biases} == {"UA", "UB", "UC"}


def _clamp(value: int) -> int:
    return min(4, max(0, value))


def _noise(rng: random.Random) -> int:
    return rng.choice((-1, 0, 0, 0, 0, 1))


def test_a_harsh_and_a_lenient_reviewer_are_detected() -> None:
    rng = random.Random(9)
    tickets = list(range(1, 13))
    truth = {(t, k): rng.randint(1, 3) for t in tickets for k in COMPETENCY_KEYS}  # room both ways
    shift = {"UHARSH": -1, "UFAIR1": 0, "UFAIR2": 0, "UFAIR3": 0, "ULENIENT": 1}
    scores = [
        CalibrationScore(
            cal,
            t,
            {
                k: min(
                    4,
                    max(0, truth[(t, k)] + d + (rng.choice((-1, 0, 0, 0, 0, 1)) if d == 0 else 0)),
                )
                for k in COMPETENCY_KEYS
            },
        )
        for cal, d in shift.items()
        for t in tickets
    ]
    res = results(scores, list(shift), tickets, draws=50)
    bias = {b.calibrator: b.mean_deviation for b in res.biases}
    assert bias["UHARSH"] < -0.6 and bias["ULENIENT"] > 0.6  # type: ignore[operator]
    assert all(abs(bias[c]) < 0.3 for c in ("UFAIR1", "UFAIR2", "UFAIR3"))  # type: ignore[arg-type]
    assert min(bias, key=lambda c: bias[c]) == "UHARSH"  # type: ignore[arg-type,return-value]


def test_bias_trend_and_drift_across_sessions() -> None:
    from deskbot.domain.calibration import CalibratorBias

    sessions = [
        (f"S{i}", [CalibratorBias("UA", 0.1 * i, 10), CalibratorBias("UB", None, 0)])
        for i in range(4)
    ]
    trend = bias_trend(sessions)
    assert list(trend) == ["UA"] and [p[0] for p in trend["UA"]] == ["S0", "S1", "S2", "S3"]
    assert drift(trend["UA"]) == pytest.approx(0.1)
    assert drift(trend["UA"][:2]) is None


def test_tickets_are_stratified_by_channel_and_reproducible() -> None:
    candidates = {i: ("email" if i <= 60 else "chat" if i <= 90 else "web") for i in range(1, 101)}
    picked = pick_by_channel(candidates, 10, seed=5)
    assert picked == pick_by_channel(candidates, 10, seed=5)
    assert picked != pick_by_channel(candidates, 10, seed=6)
    by_channel: dict[str, int] = {}
    for _, ch in picked:
        by_channel[ch] = by_channel.get(ch, 0) + 1
    assert by_channel == {"email": 6, "chat": 3, "web": 1}
    assert len({t for t, _ in picked}) == 10
    assert pick_by_channel({1: "email"}, 5, seed=1) == [(1, "email")]
    assert pick_by_channel({}, 5, seed=1) == []
