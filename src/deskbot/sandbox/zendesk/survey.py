"""The sandbox's CSAT in either mode: legacy satisfaction ratings or CSAT survey responses.

Zendesk lets an account run only one CSAT at a time ("CSAT Survey Responses" and "Satisfaction
Ratings" in the API reference). In ``csat="survey"`` mode the sandbox serves every generated
rating as a survey response (``GET /api/v2/guide/survey_responses``, cursor-paginated, filters
``filter[subject_zrns]``, ``filter[responder_ids]``, ``filter[created_at_start|end]`` in epoch
milliseconds, ``sort=id|-id``; ``GET /api/v2/guide[/{locale}]/survey_responses/{id}``), and the
legacy endpoint answers 403 as an account without legacy CSAT does. In ``legacy`` mode the
survey-response list is available (Professional plan) but empty. ``none`` refuses both
(a plan without CSAT, or a token that is not an admin's).

A response is derived from the same seeded rating the legacy mode serves, so both modes give
the same good / bad per ticket: on the 5-point scale good is 4 or 5, bad is 1 or 2. The
response is created when the survey is offered (``created_at`` filters on that) and its
answers carry their own ``created_at`` / ``updated_at`` (a customer may change the rating
until ``expires_at``). Like Zendesk's list answer, the rating question carries no options;
``rating_category`` says bad / neutral / good. The show endpoint adds the options.
"""

from __future__ import annotations

import bisect
import hashlib
from typing import TYPE_CHECKING, Any

from deskbot.sandbox.zendesk.data import BAD_REASONS, Rating, iso

if TYPE_CHECKING:
    from deskbot.sandbox.zendesk.server import ZendeskSandbox

CSAT_MODES = ("legacy", "survey", "none")
SURVEY_ID = "01J58KJ9RAE0D2EK7HRVM7Z8F2"
RATING_QUESTION = "01J1WBE8QR0YQVE373K2JDJR0F"
REASON_QUESTION = "01J1WBGX1BR4ECKTS87CRJTXSF"
COMMENT_QUESTION = "01J1WBNS76ZC4TTFWP9RCNQ1S8"
EDIT_SECONDS = 3 * 24 * 3600  # how long a customer may change the answer
QUESTION_TYPES = ("rating_scale_numeric", "rating_scale_emoji", "rating_scale_custom_text")
LEGACY_DISABLED = {
    "error": "Forbidden",
    "description": "You do not have access to this page. Please contact the account owner of "
    "this help desk for further help.",
}
SURVEY_FORBIDDEN = {
    "errors": [
        {"code": "Forbidden", "status": "403", "title": "Access to the resource is forbidden"}
    ]
}
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_EMOJI = {1: "😡", 2: "🙁", 3: "😐", 4: "🙂", 5: "😍"}
_LABELS = {
    1: "Very unsatisfied",
    2: "Unsatisfied",
    3: "Neutral",
    4: "Satisfied",
    5: "Very satisfied",
}


def _b32(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        out.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(out))


def response_id(rating: Rating) -> str:
    """A ULID-shaped id: 48-bit time (the offer, in ms) + 80 bits from the rating id."""
    return _b32(rating.created * 1000, 10) + _b32(rating.id, 16)


def rating_of(rating: Rating, points: int) -> int | None:
    """The answer a customer gave on a ``points`` scale (None: offered, not answered)."""
    if rating.score not in ("good", "bad"):
        return None
    top = hashlib.blake2s(str(rating.id).encode(), digest_size=1).digest()[0] % 5 < 3
    if points == 2:
        return 2 if rating.score == "good" else 1
    if rating.score == "good":
        return points if top else points - 1
    return 1 if top else 2


def category(value: int, points: int) -> str:
    mid = (points + 1) / 2
    return "bad" if value < mid else ("neutral" if value == mid else "good")


def _options(points: int, qtype: str) -> list[dict[str, Any]]:
    opts = []
    for n in range(1, points + 1):
        key = 5 if points == 2 and n == 2 else n
        opt: dict[str, Any] = {"rating": n, "label": {"type": "static", "value": _LABELS[key]}}
        if qtype == "rating_scale_emoji":
            opt["emoji"] = {"type": "static", "value": _EMOJI[key]}
        opts.append(opt)
    return opts


def response_json(
    rating: Rating, *, points: int, qtype: str, with_options: bool = False
) -> dict[str, Any]:
    value = rating_of(rating, points)
    answered = iso(rating.updated)
    answers: list[dict[str, Any]] = []
    if value is not None:
        question: dict[str, Any] = {
            "id": RATING_QUESTION,
            "type": qtype,
            "sub_type": "customer_satisfaction",
        }
        if with_options:
            question["alias"] = "rating"
            question["options"] = _options(points, qtype)
        answers.append(
            {
                "type": "rating_scale",
                "rating": value,
                "rating_category": category(value, points),
                "question": question,
                "created_at": answered,
                "updated_at": answered,
            }
        )
        if rating.score == "bad" and rating.reason_code is not None:
            reasons = dict(BAD_REASONS)
            answers.append(
                {
                    "type": "closed_ended",
                    "selections": [
                        {"type": "predefined", "option_id": f"reason-{rating.reason_code}"}
                    ],
                    "question": {
                        "id": REASON_QUESTION,
                        "type": "closed_ended",
                        "alias": "reason",
                        "options": [
                            {
                                "id": f"reason-{rating.reason_code}",
                                "label": {"type": "static", "value": reasons[rating.reason_code]},
                            }
                        ],
                    },
                    "created_at": answered,
                    "updated_at": answered,
                }
            )
        comment_question = {"id": COMMENT_QUESTION, "type": "open_ended", "alias": "comment"}
        if rating.comment:
            answers.append(
                {
                    "type": "open_ended",
                    "value": rating.comment,
                    "question": comment_question,
                    "created_at": answered,
                    "updated_at": answered,
                }
            )
        else:
            answers.append(
                {
                    "type": "skipped",
                    "question": comment_question,
                    "created_at": answered,
                    "updated_at": answered,
                }
            )
    zrn = f"zen:ticket:{rating.ticket_id}"
    return {
        "answers": answers,
        "expires_at": iso(rating.created + EDIT_SECONDS),
        "id": response_id(rating),
        "responder_id": rating.requester_id,
        "subject_zrns": [zrn],
        "subjects": [{"id": str(rating.ticket_id), "type": "ticket", "zrn": zrn}],
        "survey": {"id": SURVEY_ID, "state": "enabled", "version": 3},
    }


def _ms(query: dict[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw) // 1000
    except ValueError:
        from deskbot.sandbox.zendesk.server import ApiError

        raise ApiError(
            400,
            {"errors": [{"code": "InvalidValue", "status": "400", "title": f"{name}: {raw!r}"}]},
        ) from None


def list_responses(
    sb: ZendeskSandbox, base: str, query: dict[str, str], _body: bytes
) -> tuple[int, Any, dict[str, str]]:
    from deskbot.sandbox.zendesk.server import _paginate

    if sb.csat_mode == "none":
        return 403, SURVEY_FORBIDDEN, {}
    st = sb.state
    start = _ms(query, "filter[created_at_start]")
    end = _ms(query, "filter[created_at_end]")
    zrns = [z for z in query.get("filter[subject_zrns]", "").split(",") if z]
    tickets = {int(z.rsplit(":", 1)[-1]) for z in zrns if z.rsplit(":", 1)[-1].isdigit()}
    responders = {int(x) for x in query.get("filter[responder_ids]", "").split(",") if x.isdigit()}

    def keep(r: Rating) -> bool:
        return (
            sb.csat_mode == "survey"
            and (start is None or r.created >= start)
            and (end is None or r.created <= end)
            and (not zrns or r.ticket_id in tickets)
            and (not responders or r.requester_id in responders)
        )

    def fetch(after_id: int, limit: int) -> tuple[list[Any], bool]:
        out: list[Rating] = []
        if zrns:  # a lookup by ticket, as Zendesk indexes subjects
            ids = sorted(
                t.rating_id
                for tid in tickets
                if (t := st.tickets.get(tid)) is not None and t.rating_id is not None
            )
        else:
            ids = st.rating_ids
        for rid in ids[bisect.bisect_right(ids, after_id) :]:
            r = st.ratings[rid]
            if not keep(r):
                continue
            if len(out) == limit:
                return out, True
            out.append(r)
        return out, False

    filters = {k: v for k, v in query.items() if k.startswith("filter[")}
    q = dict(query)
    q.setdefault("page[size]", "100")  # cursor pagination only
    return _paginate(
        base,
        "/api/v2/guide/survey_responses",
        "survey_responses",
        query=q,
        filters=filters,
        fetch=fetch,
        render=lambda r: response_json(r, points=sb.csat_points, qtype=sb.csat_question),
        ident=lambda r: r.id,
    )


def show_response(
    sb: ZendeskSandbox, base: str, query: dict[str, str], body: bytes, *ids: str
) -> tuple[int, Any, dict[str, str]]:
    if sb.csat_mode == "none":
        return 403, SURVEY_FORBIDDEN, {}
    wanted = ids[-1]
    st = sb.state
    if sb.csat_mode == "survey" and len(wanted) == 26:
        rid = 0
        for ch in wanted[10:]:
            rid = rid * 32 + _CROCKFORD.index(ch) if ch in _CROCKFORD else -1
        r = st.ratings.get(rid)
        if r is not None and response_id(r) == wanted:
            doc = response_json(r, points=sb.csat_points, qtype=sb.csat_question, with_options=True)
            return 200, {"survey_response": doc}, {}
    return (
        404,
        {"errors": [{"code": "NotFound", "status": "404", "title": "Survey response not found"}]},
        {},
    )
