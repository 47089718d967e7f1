"""CSAT from whichever source the account uses: legacy ratings or CSAT survey responses.

Zendesk runs one CSAT per account ("Satisfaction Ratings" is the legacy one; "CSAT Survey
Responses" the current one). ``CsatSync`` decides which to read (``zendesk.csat``: ``auto``
detects it, see ``detect``), then either runs the legacy ratings stream unchanged or the
survey-response stream below, which gives the same guarantees:

- **window with overlap**: responses are listed by ``filter[created_at_start|end]`` (their
  creation, i.e. when the survey was offered) over ``[previous end - overlap, now]``; a window
  in progress (its ``page[after]``) is stored in the stream's cursor, so a crash resumes at
  the same page, and a page and the cursor commit in one transaction;
- **updates followed**: a customer may answer or change the answer until the response's
  ``expires_at``, long after the window moved on. Zendesk then updates the ticket, whose
  ``satisfaction_rating`` (score, comment) the ticket export carries (developer docs,
  "Getting the CSAT ratings of tickets"). The refresh walks the tickets synced since its last
  position (``generated_timestamp``, id) and re-reads, by ``filter[subject_zrns]``, the
  responses of every ticket whose exported rating differs from the stored one (or has none);
- **paced**: every request goes through the paced client (account budget, header pacing);
- **bad input**: a malformed response is skipped with a logged reason and counted
  (``StreamResult.skipped``), never stops the sync; a malformed page envelope is retried as
  any malformed page.

Mapping rule: ``deskbot.domain.csat_survey`` (docs/SYNC.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from deskbot import metrics_registry as metrics
from deskbot.domain.csat_survey import BadResponse, ScoreRule, SurveyResponse, map_response
from deskbot.domain.sync import StreamState
from deskbot.errors import ZendeskError
from deskbot.log import get_logger
from deskbot.ports import Clock, StopEvent

if TYPE_CHECKING:
    from deskbot.services.sync import ProgressCallback, StreamResult

log = get_logger(__name__)

CSAT_SOURCE = "csat_source"  # sync_state row: the source in use and why
SURVEY_STREAM = "csat_survey_responses"
REFRESH_STREAM = "csat_survey_refresh"
Source = Literal["legacy", "survey_responses", "none"]
Mode = Literal["auto", "legacy", "survey_responses"]
REFRESH_BATCH = 200


class ProbeResult(Protocol):
    @property
    def status(self) -> int: ...

    @property
    def has_data(self) -> bool: ...

    @property
    def detail(self) -> str: ...

    @property
    def available(self) -> bool: ...


class SurveyPageLike(Protocol):
    @property
    def items(self) -> list[Any]: ...

    @property
    def next_after(self) -> str | None: ...


class CsatSource(Protocol):
    def page(
        self, *, start_ms: int, end_ms: int, after: str | None, per_page: int
    ) -> SurveyPageLike: ...

    def for_tickets(self, ticket_ids: Sequence[int]) -> list[Any]: ...

    def show(self, response_id: str) -> Any: ...

    def probe_survey(self) -> ProbeResult: ...

    def probe_legacy(self) -> ProbeResult: ...


class ExportRatingLike(Protocol):
    @property
    def ticket_id(self) -> int: ...

    @property
    def generated_timestamp(self) -> int: ...

    @property
    def updated_at(self) -> datetime | None: ...

    @property
    def score(self) -> str | None: ...

    @property
    def comment(self) -> str | None: ...


class CsatStore(Protocol):
    def apply_survey_page(
        self,
        responses: Sequence[tuple[SurveyResponse, Any]],
        state: StreamState,
        synced_at: datetime,
    ) -> int: ...

    def max_ticket_position(self) -> tuple[int, int]: ...

    def tickets_after(self, after: tuple[int, int], limit: int) -> Sequence[ExportRatingLike]: ...

    def stored(
        self, ticket_ids: Sequence[int]
    ) -> dict[int, tuple[str, str | None, datetime | None]]: ...

    def source(self, stream: str) -> dict[str, Any] | None: ...

    def record_source(
        self, stream: str, value: dict[str, Any], error: str | None, at: datetime
    ) -> None: ...


class StateReader(Protocol):
    def state(self, stream: str) -> StreamState: ...


@dataclass(frozen=True)
class Detection:
    source: Source
    reason: str  # why this source (or why none)
    short: str = ""  # for a digest line
    not_found: bool = False  # every endpoint asked answered 404: maybe a wrong base URL


LEGACY_HINT = "legacy CSAT is off, or the token's agent may not read satisfaction ratings"
SURVEY_HINT = (
    "survey responses need Support Professional / Suite Growth or above, the current CSAT "
    "turned on, and an admin's API token"
)


# What "this CSAT is not available here" looks like (a CSAT turned off, a plan without it, a
# token that may not read it); anything else (401, 400) is a configuration problem and fails
# the stream. Both endpoints answering 404 is either: the stream fails *and* CSAT is reported
# not available, so a wrong base URL is not mistaken for an account without CSAT.
UNAVAILABLE_LEGACY = (403, 404)
UNAVAILABLE_SURVEY = (403, 404)


def _check(what: str, probe: ProbeResult, unavailable: tuple[int, ...]) -> ProbeResult:
    if probe.available or probe.status in unavailable:
        return probe
    said = f" ({probe.detail})" if probe.detail else ""
    hint = (
        "check DESKBOT_ZENDESK_EMAIL / DESKBOT_ZENDESK_API_TOKEN"
        if probe.status == 401
        else "check zendesk.subdomain / zendesk.base_url"
    )
    raise ZendeskError(f"{what}: Zendesk answered {probe.status}{said}; {hint}")


def _refused(what: str, probe: ProbeResult, hint: str) -> str:
    said = f" {probe.detail!r}" if probe.detail else ""
    return f"{what} answered HTTP {probe.status}{said} ({hint})"


def csat_unavailable(store: CsatStore, *, short: bool = False) -> str | None:
    """Why CSAT cannot be synced (None when a source is in use or nothing was detected yet).
    ``deskbot sync status`` shows the full reason, the digests the short one, instead of a
    0% CSAT."""
    value = store.source(CSAT_SOURCE)
    if value and value.get("source") == "none":
        reason = value.get("short") if short else None
        return str(reason or value.get("reason") or "no CSAT source answers")
    return None


class CsatSync:
    def __init__(
        self,
        source: CsatSource,
        store: CsatStore,
        states: StateReader,
        clock: Clock,
        *,
        mode: Mode = "auto",
        rule: ScoreRule | None = None,
        overlap_minutes: int = 15,
        start_time: int = 0,
        page_size: int = 100,
        stop_event: StopEvent | None = None,
    ) -> None:
        self.source = source
        self.store = store
        self.states = states
        self.clock = clock
        self.mode = mode
        self.rule = rule or ScoreRule()
        self.overlap_seconds = overlap_minutes * 60
        self.start_time = start_time
        self.page_size = min(page_size, 100)
        self.stop_event = stop_event
        self.skipped = 0
        self._scales: dict[tuple[str, int], int] = {}
        self._asked: set[tuple[str, int]] = set()

    def _stopping(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    def _epoch(self) -> int:
        return int(self.clock.now().timestamp())

    def reset(self, store: Any) -> None:
        """``--full``: forget the survey stream's window and the refresh position."""
        for stream in (SURVEY_STREAM, REFRESH_STREAM):
            store.reset_cursor(stream)

    # -- which source ---------------------------------------------------------------------------

    def detect(self) -> Detection:
        """Ask Zendesk which CSAT answers (two small paced requests), remember it, log a change.

        ``auto``: survey responses when that endpoint holds any (only the current CSAT
        creates them); else legacy when ``/satisfaction_ratings`` answers (an account on the
        legacy CSAT, or one without any rating yet); else survey responses when only that
        endpoint answers (a new account on the current CSAT: the legacy endpoint refuses);
        else none, with what each endpoint said. A fixed ``zendesk.csat`` probes only its own
        endpoint, so a token without access still gets one clear message.
        """
        if self.mode == "legacy":
            legacy = self._legacy()
            found = (
                Detection("legacy", "zendesk.csat is legacy")
                if legacy.available
                else Detection(
                    "none",
                    _refused("/satisfaction_ratings", legacy, LEGACY_HINT),
                    f"legacy satisfaction ratings refused (HTTP {legacy.status})",
                    legacy.status == 404,
                )
            )
        elif self.mode == "survey_responses":
            survey = self._survey_probe()
            found = (
                Detection("survey_responses", "zendesk.csat is survey_responses")
                if survey.available
                else Detection(
                    "none",
                    _refused("/guide/survey_responses", survey, SURVEY_HINT),
                    f"survey responses refused (HTTP {survey.status}); an admin token is needed",
                    survey.status == 404,
                )
            )
        else:
            survey = self._survey_probe()
            if survey.available and survey.has_data:
                found = Detection("survey_responses", "auto: the account has survey responses")
            else:
                legacy = self._legacy()
                legacy_said = _refused("/satisfaction_ratings", legacy, LEGACY_HINT)
                if legacy.available:
                    found = Detection("legacy", "auto: /satisfaction_ratings answers")
                elif survey.available:
                    found = Detection(
                        "survey_responses", f"auto: only survey responses answer ({legacy_said})"
                    )
                else:
                    found = Detection(
                        "none",
                        f"neither CSAT source answers: {legacy_said}; "
                        + _refused("/guide/survey_responses", survey, SURVEY_HINT),
                        f"neither CSAT source answers: legacy HTTP {legacy.status}, "
                        f"survey responses HTTP {survey.status}",
                        legacy.status == survey.status == 404,
                    )
        self._remember(found)
        if found.source == "none" and found.not_found:
            raise ZendeskError(
                f"CSAT: {found.reason}; if the account does have CSAT, check zendesk.subdomain / "
                "zendesk.base_url"
            )
        return found

    def export_creates_ratings(self) -> bool:
        """Whether the ticket export may create a rating it sees on a ticket (issue 13's safety
        net for the legacy ratings window): not with survey responses, whose own refresh
        re-reads every ticket whose rating changed (raw score and scale, malformed ones
        skipped). In ``auto`` mode the remembered source decides; before the first detection,
        one is made."""
        if self.mode != "auto":
            return self.mode == "legacy"
        remembered = (self.store.source(CSAT_SOURCE) or {}).get("source")
        if remembered is None:
            remembered = self.detect().source
        return remembered == "legacy"

    def _remember(self, found: Detection) -> None:
        previous = self.store.source(CSAT_SOURCE) or {}
        if previous.get("source") != found.source or previous.get("reason") != found.reason:
            log.info("csat.source", source=found.source, reason=found.reason, mode=self.mode)
            error = f"CSAT not available: {found.reason}" if found.source == "none" else None
            self.store.record_source(
                CSAT_SOURCE,
                {
                    "source": found.source,
                    "reason": found.reason,
                    "short": found.short,
                    "mode": self.mode,
                },
                error,
                self.clock.now(),
            )

    def _legacy(self) -> ProbeResult:
        return _check("satisfaction ratings", self.source.probe_legacy(), UNAVAILABLE_LEGACY)

    def _survey_probe(self) -> ProbeResult:
        return _check("survey responses", self.source.probe_survey(), UNAVAILABLE_SURVEY)

    # -- the stream -----------------------------------------------------------------------------

    def run(
        self,
        outcome: StreamResult,
        progress: ProgressCallback | None,
        *,
        legacy: Callable[[StreamResult, ProgressCallback | None], None],
    ) -> None:
        """The CSAT step of a sync pass: detect, then the legacy or the survey stream."""
        found = self.detect()
        outcome.note = f"csat source: {found.source} ({found.reason})"
        if found.source == "legacy":
            legacy(outcome, progress)
        elif found.source == "survey_responses":
            outcome.stream = SURVEY_STREAM
            self._survey(outcome, progress)
            if not self._stopping():
                self._refresh(outcome)
        else:
            outcome.note = f"CSAT not available: {found.reason}"

    def _map(self, items: Sequence[Any]) -> list[tuple[SurveyResponse, Any]]:
        self._learn_scales(items)
        out: list[tuple[SurveyResponse, Any]] = []
        for raw in items:
            try:
                out.append((map_response(raw, self.rule, self._scales), raw))
            except BadResponse as exc:
                self.skipped += 1
                rid = raw.get("id") if isinstance(raw, dict) else None
                log.warning(
                    "csat.survey_response_skipped",
                    reason=str(exc),
                    response_id=rid if isinstance(rid, str) else None,
                )
        return out

    def _learn_scales(self, items: Sequence[Any]) -> None:
        """Ask the show endpoint once per survey version for its rating options (the list
        leaves them out) so the raw score keeps its scale."""
        for raw in items:
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
                continue
            survey = raw.get("survey")
            if not isinstance(survey, dict):
                continue
            key = (survey.get("id"), survey.get("version"))
            if not isinstance(key[0], str) or not isinstance(key[1], int) or key in self._asked:
                continue
            answers: list[Any] = raw["answers"] if isinstance(raw.get("answers"), list) else []
            if not any(isinstance(a, dict) and a.get("type") == "rating_scale" for a in answers):
                continue
            self._asked.add(key)  # type: ignore[arg-type]
            try:
                doc = self.source.show(raw["id"])
            except ZendeskError as exc:  # the scale then comes from the category / default
                log.warning("csat.survey_scale_unknown", survey_id=key[0], error=str(exc)[:200])
                continue
            shown = doc.get("answers") if isinstance(doc, dict) else None
            for answer in shown if isinstance(shown, list) else []:
                if not isinstance(answer, dict):
                    continue
                question = answer.get("question")
                options = question.get("options") if isinstance(question, dict) else None
                if answer.get("type") == "rating_scale" and isinstance(options, list):
                    top = [o.get("rating") for o in options if isinstance(o, dict)]
                    values = [t for t in top if isinstance(t, int)]
                    if values:
                        self._scales[key] = max(values)  # type: ignore[index]

    def _survey(self, outcome: StreamResult, progress: ProgressCallback | None) -> None:
        from deskbot.services.sync import Progress

        state = self.states.state(SURVEY_STREAM)
        began = self.clock.monotonic()
        saved = _parse_cursor(state.cursor)
        window = saved if saved is not None and "page" in saved else None
        if window is None:
            if state.position is not None:
                start = max(0, state.position - self.overlap_seconds)
                # Responses the customer may still change (``expires_at`` ahead) are read
                # again until they expire, from the oldest of them.
                reopen = (saved or {}).get("reopen_from")
                if isinstance(reopen, int):
                    start = min(start, reopen)
            else:
                start = self.start_time
            window = {"start": start, "end": self._epoch(), "page": None, "open": None}
        while not self._stopping():
            page = self.source.page(
                start_ms=window["start"] * 1000,
                end_ms=window["end"] * 1000 + 999,
                after=window["page"],
                per_page=self.page_size,
            )
            mapped = self._map(page.items)
            now = self.clock.now()
            still_open = [
                int(r.created_at.timestamp())
                for r, _ in mapped
                if r.expires_at is not None and r.expires_at > now
            ]
            if still_open:
                window["open"] = min(
                    [*still_open, *([window["open"]] if window.get("open") else [])]
                )
            new = replace(state)
            if page.next_after:
                window = {**window, "page": page.next_after}
                new.cursor = json.dumps(window)
            else:
                reopen = window.get("open")
                new.cursor = json.dumps({"reopen_from": reopen}) if reopen else None
                new.position = window["end"]
                new.backfill_complete = True
            new.pages_total += 1
            new.rows_total += len(mapped)
            new.last_success_at = self.clock.now()
            written = self.store.apply_survey_page(mapped, new, self.clock.now())
            state = new
            outcome.pages += 1
            outcome.rows += written
            outcome.skipped += len(page.items) - len(mapped)
            outcome.position = state.position
            outcome.backfill_complete = state.backfill_complete
            metrics.SYNC_ROWS.labels(stream=SURVEY_STREAM).inc(written)
            if progress:
                reached = max(
                    (int(r.created_at.timestamp()) for r, _ in mapped), default=window["start"]
                )
                progress(
                    Progress(
                        SURVEY_STREAM,
                        outcome.pages,
                        outcome.rows,
                        state.position if page.next_after is None else reached,
                        window["start"],
                        window["end"],
                        page.next_after is None,
                        self.clock.monotonic() - began,
                    )
                )
            if not page.next_after:
                return

    def _refresh(self, outcome: StreamResult) -> None:
        """Re-read the responses of tickets whose exported rating changed (see module doc)."""
        state = self.states.state(REFRESH_STREAM)
        position = _parse_position(state.cursor)
        if position is None:
            # The window pass just read every response; only later ticket changes matter.
            position = self.store.max_ticket_position()
            new = replace(state, cursor=json.dumps(position), pages_total=state.pages_total + 1)
            new.last_success_at = self.clock.now()
            new.backfill_complete = True
            self.store.apply_survey_page([], new, self.clock.now())
            return
        while not self._stopping():
            tickets = self.store.tickets_after(position, REFRESH_BATCH)
            if not tickets:
                return
            stored = self.store.stored([t.ticket_id for t in tickets])
            stale = [t.ticket_id for t in tickets if _differs(t, stored.get(t.ticket_id))]
            items = self.source.for_tickets(stale) if stale else []
            mapped = self._map(items)
            outcome.skipped += len(items) - len(mapped)
            last = tickets[-1]
            position = (last.generated_timestamp, last.ticket_id)
            new = replace(state, cursor=json.dumps(position), pages_total=state.pages_total + 1)
            new.position = last.generated_timestamp
            new.rows_total += len(mapped)
            new.last_success_at = self.clock.now()
            new.backfill_complete = True
            written = self.store.apply_survey_page(mapped, new, self.clock.now())
            state = new
            outcome.rows += written
            if stale:
                log.info("csat.refreshed", tickets=len(stale), rows=written)


def _differs(
    ticket: ExportRatingLike, stored: tuple[str, str | None, datetime | None] | None
) -> bool:
    """Whether a ticket's survey response may have changed since it was stored: the export
    shows a rating and the row is missing, says otherwise, or is older than the ticket's last
    change (Zendesk updates the ticket when the customer answers; the ticket export's own
    rating change path may already have copied score and comment, not the raw answer)."""
    if ticket.score not in ("good", "bad"):
        return False
    if stored is None:
        return True
    score, comment, updated = stored
    if score in ("good", "bad") and score != ticket.score:
        return True
    if (ticket.comment or None) != (comment or None):
        return True
    return updated is None or (ticket.updated_at is not None and ticket.updated_at > updated)


def _parse_cursor(cursor: str | None) -> dict[str, Any] | None:
    """The survey stream's cursor: a window in progress (``start``, ``end``, ``page``, the
    oldest still-open response ``open``) or, between windows, ``reopen_from``."""
    if not cursor:
        return None
    try:
        value = json.loads(cursor)
    except ValueError:
        value = None
    if isinstance(value, dict) and (
        {"start", "end", "page"} <= value.keys() or "reopen_from" in value
    ):
        return value
    log.warning("csat.bad_survey_cursor", detail="restarting the survey-response window")
    return None


def _parse_position(cursor: str | None) -> tuple[int, int] | None:
    if not cursor:
        return None
    try:
        value = json.loads(cursor)
        return int(value[0]), int(value[1])
    except (ValueError, TypeError, IndexError, KeyError):
        return None
