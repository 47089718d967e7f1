"""The endpoints deskbot reads, as data (name, path, data key, pagination kind).

One table instead of one function per endpoint: the client builds requests from a row, the
mapping module turns the row's ``data_key`` list into records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# export_cursor: after_cursor/end_of_stream; time_window: start_time/end_time + page[after].
# Groups and organizations arrive as sideloads of the ticket export, so they need no row here.
Pagination = Literal["export_cursor", "cursor", "time_window"]


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str  # under /api/v2/
    data_key: str
    pagination: Pagination
    zenpy_api: str  # the zenpy sub-API whose request path (session, status checks) is used
    include: tuple[str, ...] = ()


TICKETS_EXPORT = Endpoint(
    name="tickets",
    path="incremental/tickets/cursor.json",
    data_key="tickets",
    pagination="export_cursor",
    zenpy_api="tickets",
    include=("users", "groups", "organizations", "metric_sets"),
)
SATISFACTION_RATINGS = Endpoint(
    name="satisfaction_ratings",
    path="satisfaction_ratings.json",
    data_key="satisfaction_ratings",
    pagination="time_window",
    zenpy_api="satisfaction_ratings",
)
# Zendesk's current CSAT (API reference "CSAT Survey Responses"): cursor pages (page[size],
# page[after]; meta.has_more / meta.after_cursor), filters filter[created_at_start|end] (epoch
# ms), filter[subject_zrns], filter[responder_ids]; admins only.
SURVEY_RESPONSES = Endpoint(
    name="survey_responses",
    path="guide/survey_responses",
    data_key="survey_responses",
    pagination="cursor",
    zenpy_api="tickets",
)
ENDPOINTS: dict[str, Endpoint] = {
    e.name: e for e in (TICKETS_EXPORT, SATISFACTION_RATINGS, SURVEY_RESPONSES)
}
