"""The sync use case: Zendesk → local store, incremental, resumable, one page at a time.

Streams
-------
``tickets``
    The cursor-based incremental export with sideloads (users, groups, organizations,
    metric_sets). The first run starts at ``sync.start_date`` (or the account's beginning); later
    runs resume from the stored cursor. ``position`` is the largest ``generated_timestamp``
    seen — never ``updated_at``, which Zendesk does not bump for every change the export
    reports. The cursor Zendesk returns at ``end_of_stream`` is stored too: the next run
    resumes there and sees only what changed since.
``satisfaction_ratings``
    Time windows ``[start, end)`` on the rating timestamp, paginated. A window starts
    ``sync.ratings_overlap_minutes`` before the last completed window's end, so a rating
    written at a boundary (or changed, e.g. bad → good) is read again; the upsert makes
    re-reading harmless. A window in progress is stored in ``cursor`` (JSON), so a crash
    resumes at the same page.

Every page and the stream's new state are applied in one transaction (``SyncStore.apply_page``):
nothing is lost or duplicated whatever moment the process dies. Memory is bounded by the page
size: a page is mapped, written and dropped before the next is fetched.

Shutdown: the stop event is checked between pages, and every wait (pacing, Retry-After,
backoff) wakes on it; a stop ends the pass after the last committed page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from deskbot import metrics_registry as metrics
from deskbot.domain.sync import (
    SATISFACTION_RATINGS,
    STREAMS,
    TICKETS,
    PageRecords,
    StreamState,
)
from deskbot.errors import DeskbotError, Interrupted, SyncConflict, ZendeskError
from deskbot.log import get_logger
from deskbot.ports import Clock, KpiRollups, StopEvent, SyncStore, ZendeskSource

if TYPE_CHECKING:
    from deskbot.services.csat_sync import CsatSync

log = get_logger(__name__)

RATINGS_MAX_PAGE = 100  # Zendesk's page[size] ceiling for list endpoints
_skew_warned = False  # ``sync.clock_skew`` is logged once per process


@dataclass(frozen=True)
class Progress:
    """Reported after each committed page (for progress bars and structured logs)."""

    stream: str
    pages: int  # in this pass
    rows: int  # in this pass
    position: int | None  # epoch seconds the stream has reached
    # Where this pass started (for an ETA against ``now``); ``None`` while unknown: a
    # whole-account backfill (no start_date) learns it from its first page's oldest record.
    start_position: int | None
    now: int  # epoch seconds
    done: bool
    elapsed_seconds: float  # since this stream's pass started (for a rate)


ProgressCallback = Callable[[Progress], None]


@dataclass
class StreamResult:
    stream: str
    pages: int = 0
    rows: int = 0
    position: int | None = None
    backfill_complete: bool = False
    error: str | None = None
    note: str | None = None  # e.g. which CSAT source was read, or why none (csat_sync.py)
    skipped: int = 0  # malformed records skipped with a logged reason


@dataclass
class SyncResult:
    started_at: datetime
    finished_at: datetime | None = None
    stopped: bool = False
    streams: list[StreamResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.error is None for s in self.streams)

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.streams)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (the daemon stores it in its run history)."""
        end = self.finished_at or self.started_at
        return {
            "ok": self.ok,
            "stopped": self.stopped,
            "started_at": self.started_at.isoformat(),
            "finished_at": end.isoformat(),
            "seconds": round((end - self.started_at).total_seconds(), 3),
            "rows": self.rows,
            "streams": {
                s.stream: {k: v for k, v in asdict(s).items() if k != "stream"}
                for s in self.streams
            },
        }


def _epoch(when: datetime) -> int:
    return int(when.timestamp())


def stream_states(store: SyncStore) -> list[StreamState]:
    """Every stream's ``sync_state`` row, the known streams first (in sync order, a default
    state for one that never ran), then any others the table holds. ``deskbot sync status``
    and ``/deskbot sync`` both show this."""
    known = {s.stream: s for s in store.states()}
    states = [known.get(name) or StreamState(stream=name) for name in STREAMS]
    return states + [s for name, s in known.items() if name not in STREAMS]


class SyncService:
    def __init__(
        self,
        source: ZendeskSource,
        store: SyncStore,
        clock: Clock,
        *,
        page_size: int = 1000,
        start_date: date | None = None,
        ratings_overlap_minutes: int = 15,
        stop_event: StopEvent | None = None,
        csat: CsatSync | None = None,
        rollups: KpiRollups | None = None,
        timezone: str = "UTC",
    ) -> None:
        self.source = source
        # The per-day KPI rollups: every page keeps them (SyncStore.apply_page); built here
        # when missing or of another timezone, and rebuilt after a full resync completes.
        self.rollups = rollups
        self.timezone = timezone
        self.csat = csat  # picks the CSAT source for the ratings step (services/csat_sync.py)
        self.store = store
        self.clock = clock
        self.page_size = page_size
        self.start_time = (
            _epoch(datetime(start_date.year, start_date.month, start_date.day, tzinfo=UTC))
            if start_date
            else 0
        )
        self.overlap_seconds = ratings_overlap_minutes * 60
        self.stop_event = stop_event

    def _stopping(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    def _zendesk_now(self) -> int:
        """Now on Zendesk's clock (epoch seconds): where windows over its timestamps end.

        The host's clock is never used when the source knows Zendesk's: 30 minutes ahead, a
        ratings window ending at the host's now skips for good every rating written in
        Zendesk's next ``overlap`` minutes. A skew above half the overlap is warned once."""
        server_now = getattr(self.source, "server_now", None)
        local = self.clock.now()
        zendesk = server_now() if callable(server_now) else local
        skew = (zendesk - local).total_seconds()
        global _skew_warned  # noqa: PLW0603 (once per process, not per pass)
        if abs(skew) > self.overlap_seconds / 2 and not _skew_warned:
            _skew_warned = True
            log.warning(
                "sync.clock_skew",
                skew_seconds=round(skew),
                overlap_seconds=self.overlap_seconds,
                hint="this host's clock disagrees with Zendesk's; deskbot follows Zendesk's, "
                "but fix NTP on this host (logs and schedules use its clock)",
            )
        return _epoch(zendesk)

    def reset(self, streams: Sequence[str] = STREAMS) -> None:
        """Forget the streams' cursors so the next pass re-backfills (rows are kept)."""
        for stream in streams:
            self.store.reset_cursor(stream)
        if self.csat is not None and SATISFACTION_RATINGS in streams:
            self.csat.reset(self.store)
        log.info("sync.reset", streams=list(streams))

    def run(
        self,
        *,
        full: bool = False,
        streams: Sequence[str] = STREAMS,
        progress: ProgressCallback | None = None,
    ) -> SyncResult:
        """One pass over ``streams``. A failing stream is recorded and the next one still runs."""
        unknown = [s for s in streams if s not in STREAMS]
        if unknown:
            raise DeskbotError(f"unknown sync stream(s) {unknown}; known: {', '.join(STREAMS)}")
        if self.rollups is not None:
            self.rollups.ensure(self.timezone)
        if full:
            self.reset(streams)
        result = SyncResult(started_at=self.clock.now())
        runners: dict[str, Callable[[StreamResult, ProgressCallback | None], None]] = {
            TICKETS: self._tickets,
            SATISFACTION_RATINGS: self._ratings,
        }
        if self.csat is not None:
            runners[SATISFACTION_RATINGS] = partial(self.csat.run, legacy=self._ratings)
        for stream in streams:
            if self._stopping():
                result.stopped = True
                break
            outcome = StreamResult(stream)
            result.streams.append(outcome)
            try:
                runners[stream](outcome, progress)
            except Interrupted:
                result.stopped = True
                log.info("sync.stopped", stream=stream, pages=outcome.pages, rows=outcome.rows)
                break
            except (ZendeskError, SyncConflict) as exc:
                outcome.error = str(exc)
                self.store.record_error(outcome.stream, str(exc), self.clock.now())
                log.error("sync.stream_failed", stream=outcome.stream, error=str(exc))
            except Exception as exc:
                self.store.record_error(
                    outcome.stream, f"{type(exc).__name__}: {exc}", self.clock.now()
                )
                raise
            if self._stopping():
                result.stopped = True
                break
        result.finished_at = self.clock.now()
        completed = not result.stopped and not any(s.error for s in result.streams)
        if full and completed and self.rollups is not None:
            self.rollups.rebuild(self.timezone, reason="full resync")
        log.info("sync.done", **{k: v for k, v in result.summary().items() if k != "streams"})
        return result

    # -- streams --------------------------------------------------------------------------------

    def _commit(
        self, records: PageRecords, state: StreamState, outcome: StreamResult
    ) -> StreamState:
        """Apply one page and the stream's new state atomically; then count it."""
        rows = records.primary_rows
        state.rows_total += rows
        state.pages_total += 1
        state.last_success_at = self.clock.now()
        self.store.apply_page(records, state)
        metrics.SYNC_ROWS.labels(stream=state.stream).inc(rows)
        if state.position is not None:
            lag = max(0, _epoch(state.last_success_at) - state.position)
            metrics.SYNC_LAG.labels(stream=state.stream).set(lag)
        outcome.pages += 1
        outcome.rows += rows
        outcome.position = state.position
        outcome.backfill_complete = state.backfill_complete
        return state

    def _export_creates_ratings(self) -> bool:
        """Legacy CSAT (or none configured): a rating seen only on a ticket is stored from it.
        With survey responses the CSAT refresh reads it instead (``services.csat_sync``)."""
        if self.csat is None:
            return True
        try:
            return self.csat.export_creates_ratings()
        except ZendeskError as exc:  # the CSAT step will say why; tickets still sync
            log.warning("sync.csat_detection_failed", error=str(exc))
            return True

    def _tickets(self, outcome: StreamResult, progress: ProgressCallback | None) -> None:
        state = self.store.state(TICKETS)
        began = self.clock.monotonic()
        start_position = state.position if state.position is not None else self.start_time
        known_start: int | None = start_position or None
        creates_ratings = self._export_creates_ratings()
        while not self._stopping():
            # Without a cursor (first run, or after --full) start from the stored position —
            # a generated_timestamp, safe to re-read — or from sync.start_date.
            start = state.position if state.position is not None else self.start_time
            # Zendesk refuses a start_time within the last minute (of *its* clock). A start
            # a day or more back needs no clamp, whatever the skew (and no request for it).
            if not state.cursor and start > _epoch(self.clock.now()) - 86400:
                start = min(start, self._zendesk_now() - 61)
            page = self.source.ticket_page(
                cursor=state.cursor,
                start_time=None if state.cursor else start,
                per_page=self.page_size,
            )
            new = replace(state)
            if page.after_cursor:
                new.cursor = page.after_cursor
            if page.max_generated_timestamp is not None:
                new.position = max(new.position or 0, page.max_generated_timestamp)
            if not page.after_cursor and page.end_time is not None:
                new.cursor = None  # a time-based page: continue from its end_time
                new.position = max(new.position or 0, page.end_time)
            if page.end_of_stream:
                new.backfill_complete = True
            elif state.cursor and new.cursor == state.cursor and not page.records.tickets:
                raise ZendeskError(
                    "incremental ticket export: the cursor did not advance and the stream did "
                    "not end; run `deskbot sync --full` to restart the export"
                )
            page.records.create_missing_ratings = creates_ratings
            state = self._commit(page.records, new, outcome)
            rows = page.records.primary_rows
            log.debug(
                "sync.page",
                stream=TICKETS,
                rows=rows,
                position=state.position,
                end_of_stream=page.end_of_stream,
            )
            if known_start is None and page.records.tickets:
                known_start = min(t["generated_timestamp"] for t in page.records.tickets)
            if progress:
                progress(
                    Progress(
                        TICKETS,
                        outcome.pages,
                        outcome.rows,
                        state.position,
                        known_start,
                        self._zendesk_now(),  # progress against Zendesk's now, not the host's
                        page.end_of_stream,
                        self.clock.monotonic() - began,
                    )
                )
            if page.end_of_stream:
                return

    def _ratings(self, outcome: StreamResult, progress: ProgressCallback | None) -> None:
        state = self.store.state(SATISFACTION_RATINGS)
        began = self.clock.monotonic()
        window = _parse_window(state.cursor)
        if window is None:
            base = state.position if state.position is not None else self.start_time
            start = max(0, base - self.overlap_seconds) if state.position is not None else base
            end = self._zendesk_now()
            # A position past Zendesk's now (left by a host clock that ran ahead): re-read.
            window = {
                "start": min(start, max(0, end - self.overlap_seconds)),
                "end": end,
                "page": None,
            }
        known_start: int | None = window["start"] or None
        while not self._stopping():
            page = self.source.rating_page(
                start_time=window["start"],
                end_time=window["end"],
                page=window["page"],
                per_page=min(self.page_size, RATINGS_MAX_PAGE),
            )
            new = replace(state)
            if page.next_page:
                window = {**window, "page": page.next_page}
                new.cursor = json.dumps(window)  # position moves only when the window ends
            else:
                new.cursor = None
                new.position = window["end"]
                new.backfill_complete = True
            state = self._commit(page.records, new, outcome)
            rows = page.records.primary_rows
            log.debug(
                "sync.page",
                stream=SATISFACTION_RATINGS,
                rows=rows,
                position=state.position,
                window_start=window["start"],
                window_end=window["end"],
                more=page.next_page is not None,
            )
            seen = [_epoch(r["updated_at"]) for r in page.records.ratings if r.get("updated_at")]
            if known_start is None and seen:
                known_start = min(seen)
            if progress:
                reached = page.max_updated_at if page.next_page else window["end"]
                progress(
                    Progress(
                        SATISFACTION_RATINGS,
                        outcome.pages,
                        outcome.rows,
                        reached,
                        known_start,
                        window["end"],
                        page.next_page is None,
                        self.clock.monotonic() - began,
                    )
                )
            if not page.next_page:
                return


def _parse_window(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        window = json.loads(cursor)
        if isinstance(window, dict) and {"start", "end", "page"} <= window.keys():
            return window
    except ValueError:
        pass
    log.warning("sync.bad_ratings_cursor", detail="restarting the ratings window")
    return None
