"""The shared scorecard modal: valid Block Kit, round trip, field errors for bad input."""

from __future__ import annotations

from typing import Any

import pytest

from deskbot.adapters.slack.scorecard_blocks import (
    BLOCK_HERO,
    BLOCK_NOTES,
    ScorecardInvalid,
    block_id,
    parse_scorecard,
    scorecard_modal,
)
from deskbot.domain.scorecard import COMPETENCY_KEYS
from deskbot.sandbox.slack.blockkit import validate_view


def _values(scores: dict[str, str | None], hero: bool = False, notes: str | None = None) -> Any:
    out: dict[str, dict[str, Any]] = {block_id(k): {"score": v} for k, v in scores.items()}
    out[BLOCK_HERO] = {"hero": ["hero"] if hero else []}
    out[BLOCK_NOTES] = {"notes": notes}
    return out


def test_modal_is_valid_block_kit_with_hints_and_initial_values() -> None:
    view = scorecard_modal(
        callback_id="qa:score",
        private_metadata="12",
        initial={"comprehension": 3, "accuracy": None},
        hero=True,
        notes="old",
    )
    assert validate_view(view) == []
    first = view["blocks"][0]
    assert first["hint"]["text"].startswith("Did the agent understand")
    assert first["element"]["initial_option"]["value"] == "3"
    assert view["blocks"][1]["element"]["initial_option"]["value"] == "na"
    assert "initial_options" in view["blocks"][5]["element"]
    hidden = scorecard_modal(callback_id="cal", private_metadata="", hero=None, notes=None)
    assert len(hidden["blocks"]) == 5 and validate_view(hidden) == []


def test_parse_round_trip() -> None:
    got = parse_scorecard(
        _values({k: "4" for k in COMPETENCY_KEYS} | {"judgment": "na"}, True, "  great ")
    )
    assert got.scores["judgment"] is None and got.scores["accuracy"] == 4
    assert got.hero is True and got.notes == "great"


@pytest.mark.parametrize("bad", [None, "", "5", "-1", "x"])
def test_missing_or_out_of_range_scores_are_field_errors(bad: str | None) -> None:
    scores: dict[str, str | None] = {k: "2" for k in COMPETENCY_KEYS}
    scores["accuracy"] = bad
    with pytest.raises(ScorecardInvalid) as info:
        parse_scorecard(_values(scores))
    assert list(info.value.errors) == [block_id("accuracy")]


def test_forged_hero_option_is_refused() -> None:
    values = _values({k: "1" for k in COMPETENCY_KEYS})
    values[BLOCK_HERO] = {"hero": ["gold"]}
    with pytest.raises(ScorecardInvalid) as info:
        parse_scorecard(values)
    assert BLOCK_HERO in info.value.errors
