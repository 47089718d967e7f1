"""The survey-response → good / bad / offered rule (domain/csat_survey.py, docs/SYNC.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from deskbot.domain.csat_survey import BadResponse, ScoreRule, map_response, ulid_time

# The list example of the API reference "CSAT Survey Responses" (List Survey Responses, 200 OK).
DOC_EXAMPLE: dict[str, Any] = {
    "answers": [
        {
            "created_at": "2024-08-14T12:00:00.000Z",
            "question": {
                "id": "01J1WBE8QR0YQVE373K2JDJR0F",
                "sub_type": "customer_satisfaction",
                "type": "rating_scale_numeric",
            },
            "rating": 1,
            "rating_category": "bad",
            "type": "rating_scale",
            "updated_at": "2024-08-14T12:00:00.000Z",
        },
        {
            "created_at": "2024-08-14T12:00:00.000Z",
            "question": {"id": "01J1WBGX1BR4ECKTS87CRJTXSF", "type": "closed_ended"},
            "selections": [{"option_id": "01J1WBKRG57E6M8C1145EXJ535", "type": "predefined"}],
            "type": "closed_ended",
            "updated_at": "2024-08-14T12:00:00.000Z",
        },
        {
            "created_at": "2024-08-14T12:00:00.000Z",
            "question": {"id": "01J1WBNS76ZC4TTFWP9RCNQ1S8", "type": "open_ended"},
            "type": "open_ended",
            "updated_at": "2024-08-14T12:00:00.000Z",
            "value": "I had to repeatedly answer the same questions.",
        },
        {
            "created_at": "2024-08-14T12:00:00.000Z",
            "question": {"id": "01J1WBSAZWVY2XR1EFZKS3CM13", "type": "open_ended"},
            "type": "skipped",
            "updated_at": "2024-08-14T12:00:00.000Z",
        },
    ],
    "expires_at": "2024-08-14T12:00:00.000Z",
    "id": "01J1WB51MG6HXTYWE6Q0C93RNW",
    "responder_id": 4398080151295,
    "subject_zrns": ["zen:ticket:99"],
    "subjects": [{"id": "99", "type": "ticket", "zrn": "zen:ticket:99"}],
    "survey": {"id": "01J58KJ9RAE0D2EK7HRVM7Z8F2", "state": "enabled", "version": 3},
}


def response(
    rating: int | None,
    *,
    qtype: str = "rating_scale_numeric",
    category: str | None = None,
    options: int | None = None,
    comment: str | None = None,
) -> dict[str, Any]:
    answers: list[dict[str, Any]] = []
    if rating is not None:
        question: dict[str, Any] = {"id": "q1", "type": qtype, "sub_type": "customer_satisfaction"}
        if options:
            question["options"] = [
                {"rating": n, "label": {"value": str(n)}} for n in range(1, options + 1)
            ]
        answer: dict[str, Any] = {
            "type": "rating_scale",
            "rating": rating,
            "question": question,
            "created_at": "2026-11-02T10:00:00Z",
            "updated_at": "2026-11-02T11:00:00Z",
        }
        if category:
            answer["rating_category"] = category
        answers.append(answer)
    if comment:
        answers.append(
            {"type": "open_ended", "value": comment, "question": {"id": "q3", "type": "open_ended"}}
        )
    return {
        "id": "01JB0000000000000000000001",
        "answers": answers,
        "subject_zrns": ["zen:ticket:42"],
        "responder_id": 7,
        "survey": {"id": "s1", "version": 1},
    }


def test_the_documented_example_maps_to_a_bad_rating_with_comment() -> None:
    r = map_response(DOC_EXAMPLE, ScoreRule())
    assert (r.ticket_id, r.rating, r.category, r.score) == (99, 1, "bad", "bad")
    assert r.comment == "I had to repeatedly answer the same questions."
    assert r.responder_id == 4398080151295
    assert r.survey_id == "01J58KJ9RAE0D2EK7HRVM7Z8F2" and r.survey_version == 3
    assert r.question_type == "rating_scale_numeric"
    assert r.created_at == ulid_time("01J1WB51MG6HXTYWE6Q0C93RNW")
    assert r.updated_at >= datetime(2024, 8, 14, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rating", "scale", "expected"),
    [
        (1, 5, "bad"),
        (2, 5, "bad"),
        (3, 5, "neutral"),
        (4, 5, "good"),
        (5, 5, "good"),
        (1, 2, "bad"),
        (2, 2, "good"),
        (1, 3, "bad"),
        (2, 3, "neutral"),
        (3, 3, "good"),
        (5, 10, "bad"),
        (6, 10, "good"),
    ],
)
def test_scale_rule_without_a_category(rating: int, scale: int, expected: str) -> None:
    r = map_response(response(rating, options=scale), ScoreRule())
    assert (r.rating, r.scale, r.category) == (rating, scale, expected)


@pytest.mark.parametrize(
    ("policy", "score"), [("ignore", "neutral"), ("bad", "bad"), ("good", "good")]
)
def test_neutral_counts_as_configured(policy: Any, score: str) -> None:
    r = map_response(response(3, options=5), ScoreRule(neutral=policy))
    assert r.category == "neutral" and r.score == score


def test_emoji_and_two_point_scales_use_zendesks_category() -> None:
    emoji = map_response(response(4, qtype="rating_scale_emoji", category="good"), ScoreRule())
    assert (emoji.score, emoji.scale, emoji.question_type) == ("good", 5, "rating_scale_emoji")
    two = map_response(
        response(2, qtype="rating_scale_custom_text", category="good"), ScoreRule(), {("s1", 1): 2}
    )
    assert (two.rating, two.scale, two.score) == (2, 2, "good")
    # The category wins over the scale rule when trusted; the scale rule when not.
    trusted = map_response(response(4, category="bad", options=5), ScoreRule())
    assert trusted.score == "bad"
    untrusted = map_response(
        response(4, category="bad", options=5), ScoreRule(use_rating_category=False)
    )
    assert untrusted.score == "good"


def test_scale_learnt_from_the_survey_beats_the_default() -> None:
    r = map_response(response(6, category=None), ScoreRule(), {("s1", 1): 7})
    assert (r.scale, r.category) == (7, "good")
    # 6 on the default 5-point scale, no category: cannot be read, skipped with a reason.
    with pytest.raises(BadResponse, match="above the assumed scale"):
        map_response(response(6), ScoreRule())


def test_no_rating_answer_is_offered() -> None:
    r = map_response(response(None), ScoreRule())
    assert (r.score, r.rating, r.category) == ("offered", None, None)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d.pop("id"), "id is missing"),
        (lambda d: d.update(subject_zrns=["zen:conversation:abc"]), "no ticket"),
        (lambda d: d.update(answers="nope"), "answers should be a list"),
        (lambda d: d["answers"][0].update(rating="5"), "no integer rating"),
        (lambda d: d["answers"][0].update(rating=0), "outside the scale"),
        (lambda d: d["answers"][0].update(rating_category="meh"), "not bad/neutral/good"),
        (lambda d: d["answers"][0].update(created_at=17), "ISO 8601"),
        (lambda d: d.update(responder_id="x"), "responder_id"),
    ],
)
def test_malformed_responses_say_why(mutate: Any, reason: str) -> None:
    doc = response(4, category="good", options=5)
    mutate(doc)
    with pytest.raises(BadResponse, match=reason):
        map_response(doc, ScoreRule())


def test_ulid_time_reads_the_creation_and_refuses_other_ids() -> None:
    assert ulid_time("01J1WB51MG6HXTYWE6Q0C93RNW") == datetime(
        2024, 7, 3, 13, 4, 44, 176000, tzinfo=UTC
    )
    assert ulid_time("not-a-ulid") is None


def test_agent_at_rating_time_is_taken_when_a_response_carries_it() -> None:
    doc = {**response(5, category="good"), "assignee_id": 11, "group_id": 22}
    r = map_response(doc, ScoreRule())
    assert (r.assignee_id, r.group_id) == (11, 22)
    assert map_response(response(5, category="good"), ScoreRule()).assignee_id is None
