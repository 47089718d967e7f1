"""The scorecard modal (PRODUCT.md §3) as Block Kit, and its parser: shared by QA reviews and
calibration sessions.

``scorecard_modal`` builds a modal with one select per competency (0-4 or N/A, the seed's
example question as the hint), an optional Hero Bonus checkbox and optional notes.
``parse_scorecard`` reads a submitted modal's ``state_values`` back into validated scores, or
raises ``ScorecardInvalid`` whose ``errors`` are ready for ``response_action: errors`` (keyed by
the block ids this module chose). A forged value (``"7"``, an unknown option) is an error, never
a stored score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from deskbot.domain.scorecard import COMPETENCIES, MAX_SCORE, ScoreError, validate

BLOCK_PREFIX = "sc_"
ACTION_SCORE = "score"
BLOCK_HERO = "sc_hero"
ACTION_HERO = "hero"
BLOCK_NOTES = "sc_notes"
ACTION_NOTES = "notes"
NA = "na"
NOTES_MAX = 3000
_LEVELS = {
    0: "0 · not demonstrated",
    1: "1 · partly",
    2: "2 · partly",
    3: "3 · partly",
    4: "4 · fully",
}


def block_id(key: str) -> str:
    return f"{BLOCK_PREFIX}{key}"


def _option(value: str, text: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text}, "value": value}


def _score_options() -> list[dict[str, Any]]:
    return [_option(str(v), t) for v, t in _LEVELS.items()] + [_option(NA, "N/A")]


def scorecard_modal(
    *,
    callback_id: str,
    private_metadata: str,
    title: str = "Score ticket",
    intro: Sequence[dict[str, Any]] = (),
    initial: Mapping[str, int | None] | None = None,
    hero: bool | None = False,
    notes: str | None = "",
    submit: str = "Save",
) -> dict[str, Any]:
    """The modal. ``hero=None`` hides the Hero Bonus checkbox, ``notes=None`` hides the notes;
    ``initial`` pre-selects scores (an amendment); ``intro`` blocks go first (ticket context)."""
    blocks: list[dict[str, Any]] = list(intro)
    options = _score_options()
    for comp in COMPETENCIES:
        element: dict[str, Any] = {
            "type": "static_select",
            "action_id": ACTION_SCORE,
            "placeholder": {"type": "plain_text", "text": f"0-{MAX_SCORE} or N/A"},
            "options": options,
        }
        if initial is not None and comp.key in initial:
            value = initial[comp.key]
            element["initial_option"] = options[-1] if value is None else options[int(value)]
        blocks.append(
            {
                "type": "input",
                "block_id": block_id(comp.key),
                "label": {"type": "plain_text", "text": comp.label[:2000]},
                "hint": {"type": "plain_text", "text": comp.hint[:2000]},
                "element": element,
            }
        )
    if hero is not None:
        box: dict[str, Any] = {
            "type": "checkboxes",
            "action_id": ACTION_HERO,
            "options": [
                {
                    "text": {"type": "plain_text", "text": "Hero Bonus"},
                    "description": {
                        "type": "plain_text",
                        "text": "Exceptional work: it becomes a shout-out",
                    },
                    "value": "hero",
                }
            ],
        }
        if hero:
            box["initial_options"] = box["options"]
        blocks.append(
            {
                "type": "input",
                "block_id": BLOCK_HERO,
                "optional": True,
                "label": {"type": "plain_text", "text": "Hero Bonus"},
                "element": box,
            }
        )
    if notes is not None:
        text_input: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": ACTION_NOTES,
            "multiline": True,
            "max_length": NOTES_MAX,
        }
        if notes:
            text_input["initial_value"] = notes[:NOTES_MAX]
        blocks.append(
            {
                "type": "input",
                "block_id": BLOCK_NOTES,
                "optional": True,
                "label": {"type": "plain_text", "text": "Notes for the agent"},
                "element": text_input,
            }
        )
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": private_metadata,
        "title": {"type": "plain_text", "text": title[:24]},
        "submit": {"type": "plain_text", "text": submit[:24]},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks[:100],
    }


@dataclass(frozen=True)
class ScorecardInput:
    scores: dict[str, int | None]
    hero: bool
    notes: str | None


class ScorecardInvalid(ValueError):
    """Field errors by block id, for ``response_action: errors``."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def parse_scorecard(values: Mapping[str, Mapping[str, Any]]) -> ScorecardInput:
    """Scores, hero and notes from a submitted modal's state values (``state_values``)."""
    errors: dict[str, str] = {}
    scores: dict[str, int | None] = {}
    for comp in COMPETENCIES:
        bid = block_id(comp.key)
        raw = (values.get(bid) or {}).get(ACTION_SCORE)
        if raw is None or raw == "":
            errors[bid] = f"Pick a score 0-{MAX_SCORE}, or N/A if it does not apply."
            continue
        if raw == NA:
            scores[comp.key] = None
            continue
        text = str(raw)
        if not text.isdigit() or not 0 <= int(text) <= MAX_SCORE:
            errors[bid] = f"{text!r} is not a score: pick 0-{MAX_SCORE} or N/A."
            continue
        scores[comp.key] = int(text)
    hero_raw = (values.get(BLOCK_HERO) or {}).get(ACTION_HERO) or []
    if not isinstance(hero_raw, list) or any(v != "hero" for v in hero_raw):
        errors[BLOCK_HERO] = "Unknown option."
    notes_raw = (values.get(BLOCK_NOTES) or {}).get(ACTION_NOTES)
    notes = str(notes_raw).strip() if notes_raw else None
    if notes is not None and len(notes) > NOTES_MAX:
        errors[BLOCK_NOTES] = f"Notes are at most {NOTES_MAX} characters."
    if errors:
        raise ScorecardInvalid(errors)
    try:
        checked = validate(scores)
    except ScoreError as exc:  # unreachable with the fields above; kept as the last guard
        raise ScorecardInvalid({block_id(COMPETENCIES[0].key): str(exc)}) from exc
    return ScorecardInput(checked, bool(hero_raw), notes or None)
