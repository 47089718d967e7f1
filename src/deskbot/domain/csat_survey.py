"""Zendesk's current CSAT ("CSAT survey responses") mapped onto deskbot's good / bad / offered.

Pure: parsed JSON in, a typed result out; no I/O, no clock.

A survey response (API reference "CSAT Survey Responses") carries ``answers``; the CSAT answer
is the ``rating_scale`` answer (``rating`` 1..N, ``rating_category`` bad / neutral / good)
to a question of type ``rating_scale_numeric`` / ``rating_scale_emoji`` /
``rating_scale_custom_text`` with ``sub_type: customer_satisfaction``. A ``closed_ended``
answer gives the reason (the selected options' labels), an ``open_ended`` one the comment.
The rule (documented in docs/SYNC.md, configurable under ``zendesk.csat_mapping``):

1. the category is the answer's own ``rating_category`` when Zendesk sends it (and
   ``use_rating_category`` is on); otherwise it comes from the scale: below the middle is
   bad, above good, the middle of an odd scale neutral. On the 5-point scale 1-2 are bad,
   3 neutral, 4-5 good; on a 2-point scale 1 is bad, 2 good; on 3 points 1 / 2 / 3.
2. neutral counts as ``csat_mapping.neutral``: ``bad``, ``good`` or ``ignore`` (stored as
   ``neutral``: kept with its raw score, in neither CSAT nor the response rate).
3. a response without a rating answer (offered, not answered, or skipped) is ``offered``.

The scale is the largest option of the rating question when the response (or the survey,
via the show endpoint) lists the options, else ``csat_mapping.default_scale``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

NeutralPolicy = Literal["bad", "good", "ignore"]
Category = Literal["bad", "neutral", "good"]
RATING_TYPES = ("rating_scale_numeric", "rating_scale_emoji", "rating_scale_custom_text")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class BadResponse(ValueError):
    """One survey response whose shape is not what the API documents (skipped, counted)."""


@dataclass(frozen=True)
class ScoreRule:
    neutral: NeutralPolicy = "ignore"
    use_rating_category: bool = True
    default_scale: int = 5

    def category(self, rating: int, scale: int) -> Category:
        if not 1 <= rating <= scale:
            raise BadResponse(f"rating {rating} is outside the scale 1..{scale}")
        middle = (scale + 1) / 2
        if rating < middle:
            return "bad"
        return "neutral" if rating == middle else "good"

    def score(self, category: Category) -> str:
        if category == "neutral":
            return "neutral" if self.neutral == "ignore" else self.neutral
        return category


@dataclass(frozen=True)
class SurveyResponse:
    """One response, mapped. ``score`` is what satisfaction_ratings stores."""

    id: str
    ticket_id: int
    responder_id: int | None
    survey_id: str | None
    survey_version: int | None
    question_type: str | None
    rating: int | None  # the raw answer (None: offered, not answered)
    scale: int | None
    category: Category | None
    score: str  # good / bad / neutral / offered
    comment: str | None
    reason: str | None
    created_at: datetime  # when the survey was offered (the response's creation)
    updated_at: datetime  # the latest answer change (or created_at)
    expires_at: datetime | None  # until then the customer may change the answer
    # The agent and group at rating time, if a response ever carries them (not documented
    # today); the store otherwise takes the ticket's.
    assignee_id: int | None = None
    group_id: int | None = None


def ulid_time(value: str) -> datetime | None:
    """The creation time a ULID id carries in its first 10 characters (None: not a ULID)."""
    if len(value) != 26:
        return None
    ms = 0
    for ch in value[:10].upper():
        index = _CROCKFORD.find(ch)
        if index < 0:
            return None
        ms = ms * 32 + index
    try:
        return datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _time(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadResponse(f"{where} should be an ISO 8601 time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadResponse(f"{where} is not an ISO 8601 time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def ticket_of(doc: Mapping[str, Any]) -> int:
    """The ticket a response is about: ``subjects`` (type ticket) or ``subject_zrns``."""
    for subject in doc.get("subjects") or []:
        if isinstance(subject, dict) and subject.get("type") in ("ticket", "zen:ticket"):
            raw = subject.get("id")
            if isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit()):
                return int(raw)
    for zrn in doc.get("subject_zrns") or []:
        if isinstance(zrn, str) and zrn.startswith("zen:ticket:") and zrn[11:].isdigit():
            return int(zrn[11:])
    raise BadResponse("no ticket among subjects / subject_zrns")


def _label(option: Mapping[str, Any]) -> str | None:
    label = option.get("label")
    if isinstance(label, dict):
        value = label.get("value") or label.get("key")
        return value if isinstance(value, str) else None
    return label if isinstance(label, str) else None


def options_scale(question: Mapping[str, Any]) -> int | None:
    """The largest rating among a rating question's options (None when it lists none)."""
    options = question.get("options")
    if not isinstance(options, list):
        return None
    ratings = [o.get("rating") for o in options if isinstance(o, dict)]
    values = [r for r in ratings if isinstance(r, int) and not isinstance(r, bool)]
    return max(values) if values else None


def map_response(  # noqa: PLR0912, PLR0915 (one documented shape, checked in order)
    doc: Any, rule: ScoreRule, scales: Mapping[tuple[str, int], int] | None = None
) -> SurveyResponse:
    """A survey response → ``SurveyResponse`` (``BadResponse`` says why one cannot be used).

    ``scales`` maps (survey id, version) to the scale learnt from the show endpoint.
    """
    if not isinstance(doc, dict):
        raise BadResponse("a survey response should be an object")
    rid = doc.get("id")
    if not isinstance(rid, str) or not rid:
        raise BadResponse("id is missing")
    ticket_id = ticket_of(doc)
    answers = doc.get("answers")
    if answers is None:
        answers = []
    if not isinstance(answers, list):
        raise BadResponse("answers should be a list")
    survey: Mapping[str, Any] = doc["survey"] if isinstance(doc.get("survey"), dict) else {}
    survey_id = survey.get("id") if isinstance(survey.get("id"), str) else doc.get("survey_id")
    version = survey.get("version", doc.get("survey_version"))
    version = version if isinstance(version, int) and not isinstance(version, bool) else None
    responder = doc.get("responder_id")
    if responder is not None and (isinstance(responder, bool) or not isinstance(responder, int)):
        if isinstance(responder, str) and responder.isdigit():
            responder = int(responder)
        else:
            raise BadResponse("responder_id should be an integer")

    rating_answer: Mapping[str, Any] | None = None
    comment: str | None = None
    reasons: list[str] = []
    times: list[datetime] = []
    for i, answer in enumerate(answers):
        if not isinstance(answer, dict):
            raise BadResponse(f"answers[{i}] should be an object")
        kind = answer.get("type")
        question: Mapping[str, Any] = (
            answer["question"] if isinstance(answer.get("question"), dict) else {}
        )
        for key in ("created_at", "updated_at"):
            when = _time(answer.get(key), f"answers[{i}].{key}")
            if when is not None:
                times.append(when)
        if kind == "rating_scale":
            csat = question.get("sub_type") in (None, "customer_satisfaction")
            if rating_answer is None or (
                csat
                and rating_answer.get("question", {}).get("sub_type") != "customer_satisfaction"
            ):
                rating_answer = answer
        elif kind == "open_ended":
            value = answer.get("value")
            if isinstance(value, str) and value.strip() and comment is None:
                comment = value
        elif kind == "closed_ended":
            by_id = {
                o.get("id"): _label(o) for o in question.get("options") or [] if isinstance(o, dict)
            }
            for sel in answer.get("selections") or []:
                if isinstance(sel, dict):
                    text = by_id.get(sel.get("option_id")) or sel.get("value")
                    if isinstance(text, str) and text:
                        reasons.append(text)

    rating: int | None = None
    scale: int | None = None
    category: Category | None = None
    qtype: str | None = None
    if rating_answer is not None:
        question = (
            rating_answer["question"] if isinstance(rating_answer.get("question"), dict) else {}
        )
        qtype = question.get("type") if isinstance(question.get("type"), str) else None
        raw = rating_answer.get("rating")
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise BadResponse("the rating answer has no integer rating")
        rating = raw
        scale = options_scale(question)
        if scale is None and scales and survey_id and version is not None:
            scale = scales.get((survey_id, version))
        given = rating_answer.get("rating_category")
        if given is not None and given not in ("bad", "neutral", "good"):
            raise BadResponse(f"rating_category {str(given)[:20]!r} is not bad/neutral/good")
        if scale is None:
            scale = max(rule.default_scale, 2) if rating <= rule.default_scale else None
        if rule.use_rating_category and given is not None:
            category = given
            if scale is not None and not 1 <= rating <= scale:
                raise BadResponse(f"rating {rating} is outside the scale 1..{scale}")
        elif scale is None:
            raise BadResponse(f"rating {rating} is above the assumed scale and has no category")
        else:
            category = rule.category(rating, scale)

    created = (
        _time(doc.get("created_at"), "created_at")  # not documented, but explicit if sent
        or ulid_time(rid)
        or (min(times) if times else None)
    )
    if created is None:
        raise BadResponse("no creation time (id is not a ULID and no answer has a time)")
    updated = max([created, *times, *filter(None, [_time(doc.get("updated_at"), "updated_at")])])
    return SurveyResponse(
        id=rid,
        ticket_id=ticket_id,
        responder_id=responder,
        survey_id=survey_id if isinstance(survey_id, str) else None,
        survey_version=version,
        question_type=qtype,
        rating=rating,
        scale=scale,
        category=category,
        score=rule.score(category) if category is not None else "offered",
        comment=comment,
        reason="; ".join(reasons) or None,
        created_at=created,
        updated_at=updated,
        expires_at=_time(doc.get("expires_at"), "expires_at"),
        assignee_id=_opt_int(doc.get("assignee_id")),
        group_id=_opt_int(doc.get("group_id")),
    )


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
