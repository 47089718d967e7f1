"""The QA scorecard (PRODUCT.md §3), shared by QA reviews and calibration sessions. Pure.

Five competencies, each scored 0-4 (0 = not demonstrated, 1-3 = partly, 4 = fully) or
"not applicable" (``None``). A score normalises to 0-100 (0, 25, 50, 75, 100); a review's score
is the weighted mean of its applicable competencies; a review with none applicable has no score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Competency:
    key: str  # stable id: settings key (qa.weights.<key>), storage column, Slack block id
    label: str
    hint: str  # the seed playbook's example question, shown in the scoring modal


COMPETENCIES: tuple[Competency, ...] = (
    Competency(
        "comprehension",
        "Comprehension",
        "Did the agent understand what the customer was really asking?",
    ),
    Competency(
        "accuracy",
        "Accuracy",
        "Was the information and the solution correct and complete?",
    ),
    Competency(
        "judgment",
        "Judgment",
        "Did the agent make good calls: escalate, bend a rule, or hold the line when right?",
    ),
    Competency(
        "communication",
        "Communication / Empathy / Tone",
        "Was the reply clear, kind and in the customer's language?",
    ),
    Competency(
        "process_integrity",
        "Process Integrity",
        "Were tags, fields, macros and internal notes used as the process says?",
    ),
)
COMPETENCY_KEYS: tuple[str, ...] = tuple(c.key for c in COMPETENCIES)
MAX_SCORE = 4


class ScoreError(ValueError):
    """A scorecard that cannot be stored; the message names the competency and the problem."""


def normalise(score: int) -> float:
    """0-4 → 0-100."""
    if not 0 <= score <= MAX_SCORE:
        raise ScoreError(f"a score is 0-{MAX_SCORE}, got {score}")
    return score * 100.0 / MAX_SCORE


def validate(scores: Mapping[str, int | None]) -> dict[str, int | None]:
    """Every competency present, each 0-4 or ``None`` (N/A); unknown keys refused."""
    unknown = sorted(set(scores) - set(COMPETENCY_KEYS))
    if unknown:
        raise ScoreError(f"unknown competencies: {', '.join(unknown)}")
    out: dict[str, int | None] = {}
    for key in COMPETENCY_KEYS:
        if key not in scores:
            raise ScoreError(f"{key}: missing; score it 0-{MAX_SCORE} or mark it N/A")
        value = scores[key]
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SCORE
        ):
            raise ScoreError(f"{key}: {value!r} is not a score 0-{MAX_SCORE} or N/A")
        out[key] = value
    return out


def review_score(
    scores: Mapping[str, int | None], weights: Mapping[str, float] | None = None
) -> float | None:
    """The (weighted) mean of the applicable competencies on 0-100; ``None`` when none apply
    or every applicable competency has weight 0."""
    total = 0.0
    weight_sum = 0.0
    for key in COMPETENCY_KEYS:
        value = scores.get(key)
        if value is None:
            continue
        w = 1.0 if weights is None else float(weights.get(key, 1.0))
        total += w * normalise(value)
        weight_sum += w
    if weight_sum == 0:
        return None
    return total / weight_sum
