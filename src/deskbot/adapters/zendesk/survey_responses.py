"""Zendesk's CSAT survey responses (and probes of both CSAT endpoints), through zenpy.

Reads go through ``ZendeskClient`` (``PacedSession``: paced on the account budget, 429 and
5xx retried with bounded backoff). A page's *envelope* is validated (``MalformedPage``, retried
like any malformed page); the responses in it are returned raw, so the service maps each one
on its own and skips a malformed one with a reason instead of refusing the page.

Endpoints (API reference "CSAT Survey Responses"):
- ``GET /api/v2/guide/survey_responses`` — admins only; ``filter[created_at_start]`` /
  ``filter[created_at_end]`` (epoch milliseconds), ``filter[subject_zrns]``
  (``zen:ticket:123,...``), ``filter[responder_ids]``; cursor pages ``page[size]`` /
  ``page[after]`` with ``meta.has_more`` / ``meta.after_cursor``; ``sort=id|-id``.
- ``GET /api/v2/guide/{locale}/survey_responses/{id}`` — one response, its questions with
  their options (the list leaves them out), which gives the rating scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import requests
from zenpy.lib.exception import APIException

from deskbot.adapters.zendesk.client import ZendeskClient
from deskbot.adapters.zendesk.endpoints import SATISFACTION_RATINGS, SURVEY_RESPONSES, Endpoint
from deskbot.adapters.zendesk.mapping import URL_PREFIX, MalformedPage

MAX_PAGE = 100
ZRNS_PER_REQUEST = 50  # keeps the URL short


@dataclass(frozen=True)
class SurveyPage:
    items: list[Any]  # raw survey responses (mapped one by one by the service)
    next_after: str | None  # page[after] of the next page; None at the end


@dataclass(frozen=True)
class Probe:
    """What one CSAT endpoint answered: HTTP status, whether it holds any record, and what
    Zendesk said when it refused (a short text, never a customer's data)."""

    status: int
    has_data: bool
    detail: str = ""

    @property
    def available(self) -> bool:
        return 200 <= self.status < 300


def _envelope(body: Any) -> SurveyPage:
    if not isinstance(body, dict):
        raise MalformedPage("the survey responses page should be an object")
    items = body.get("survey_responses")
    if not isinstance(items, list):
        raise MalformedPage("survey_responses is missing or not a list")
    meta = body.get("meta") or {}
    if not isinstance(meta, dict):
        raise MalformedPage("meta should be an object")
    more = meta.get("has_more", False)
    if not isinstance(more, bool):
        raise MalformedPage("meta.has_more should be true or false")
    after = meta.get("after_cursor")
    if more and not (isinstance(after, str) and after):
        raise MalformedPage("meta.after_cursor is missing although meta.has_more is true")
    if "has_more" not in meta:  # no cursor meta: follow links.next (a URL) when given
        links = body.get("links") if isinstance(body.get("links"), dict) else {}
        nxt = links.get("next") if isinstance(links, dict) else None
        return SurveyPage(items, URL_PREFIX + nxt if isinstance(nxt, str) and nxt else None)
    return SurveyPage(items, after if more else None)


def _refusal(exc: BaseException) -> tuple[int, str]:
    response = getattr(exc, "response", None)
    status = int(getattr(response, "status_code", 0) or 0)
    detail = ""
    if response is not None:
        try:
            body = orjson.loads(response.content)
        except (orjson.JSONDecodeError, TypeError):
            body = None
        if isinstance(body, dict):
            errors = body.get("errors")
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                detail = str(errors[0].get("title") or errors[0].get("code") or "")
            else:
                detail = str(body.get("description") or body.get("error") or "")
    return status, detail[:160]


class SurveyResponsesSource:
    """Survey-response pages and CSAT probes (satisfies ``services.csat_sync.CsatSource``)."""

    def __init__(self, client: ZendeskClient, locale: str = "en-us") -> None:
        self.client = client
        self.locale = locale

    def page(self, *, start_ms: int, end_ms: int, after: str | None, per_page: int) -> SurveyPage:
        params: dict[str, Any] = {
            "filter[created_at_start]": start_ms,
            "filter[created_at_end]": end_ms,
            "page[size]": min(per_page, MAX_PAGE),
            "sort": "id",
        }
        url: str | None = None
        if after and after.startswith(URL_PREFIX):
            url = after[len(URL_PREFIX) :]
        elif after:
            params["page[after]"] = after
        return self.client.call(
            "survey responses",
            lambda: _envelope(self.client.get_json(SURVEY_RESPONSES, None if url else params, url)),
        )

    def for_tickets(self, ticket_ids: Sequence[int]) -> list[Any]:
        """Every survey response about these tickets (``filter[subject_zrns]``)."""
        out: list[Any] = []
        ids = list(dict.fromkeys(ticket_ids))
        for i in range(0, len(ids), ZRNS_PER_REQUEST):
            chunk = ids[i : i + ZRNS_PER_REQUEST]
            after: str | None = None
            while True:
                params: dict[str, Any] | None = {
                    "filter[subject_zrns]": ",".join(f"zen:ticket:{t}" for t in chunk),
                    "page[size]": MAX_PAGE,
                }
                url: str | None = None
                if after and after.startswith(URL_PREFIX):
                    url, params = after[len(URL_PREFIX) :], None
                elif after and params is not None:
                    params["page[after]"] = after
                page = self.client.call(
                    "survey responses by ticket",
                    lambda p=params, u=url: _envelope(  # type: ignore[misc]
                        self.client.get_json(SURVEY_RESPONSES, p, u)
                    ),
                )
                out.extend(page.items)
                if page.next_after is None:
                    break
                after = page.next_after
        return out

    def show(self, response_id: str) -> Any:
        """One response with its questions' options (None when Zendesk refuses it)."""
        endpoint = Endpoint(
            name="survey_response",
            path=f"guide/{self.locale}/survey_responses/{response_id}",
            data_key="survey_response",
            pagination="cursor",
            zenpy_api="tickets",
        )

        def fetch() -> Any:
            try:
                body = self.client.get_json(endpoint)
            except (APIException, requests.HTTPError):
                return None
            return body.get("survey_response") if isinstance(body, dict) else None

        return self.client.call("survey response", fetch)

    def _probe(self, what: str, endpoint: Endpoint, params: dict[str, Any], key: str) -> Probe:
        def fetch() -> Probe:
            try:
                body = self.client.get_json(endpoint, params)
            except (APIException, requests.HTTPError) as exc:
                status, detail = _refusal(exc)
                return Probe(status, False, detail)
            items = body.get(key) if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise MalformedPage(f"{key} is missing or not a list")
            return Probe(200, bool(items))

        return self.client.call(what, fetch)

    def probe_survey(self) -> Probe:
        return self._probe(
            "survey responses probe",
            SURVEY_RESPONSES,
            {"page[size]": 1, "sort": "-id"},
            "survey_responses",
        )

    def probe_legacy(self) -> Probe:
        return self._probe(
            "satisfaction ratings probe",
            SATISFACTION_RATINGS,
            {"page[size]": 1, "score": "received"},
            "satisfaction_ratings",
        )
