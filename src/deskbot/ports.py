"""Interfaces between the services and the outside world (typing.Protocols).

Services depend on these, never on zenpy, slack_sdk or SQLModel. A test fake is a small class
or function that satisfies the protocol (see ``deskbot.testing``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from deskbot.domain.sync import PageRecords, RatingPage, StreamState, TicketPage


class Clock(Protocol):
    """Where "now" comes from, and how waiting happens. Tests inject a fake one."""

    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic scale (for pacing)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait; a clock used by a stoppable worker should wake early on shutdown."""
        ...


class SystemClock:
    """The real clock. ``sleep`` waits on an optional stop event so shutdown is never blocked."""

    def __init__(self, stop_event: StopEvent | None = None) -> None:
        self._stop = stop_event

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._stop is not None:
            self._stop.wait(seconds)
        else:
            time.sleep(seconds)


class StopEvent(Protocol):
    """A ``threading.Event``-like flag that shutdown sets."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class ZendeskSource(Protocol):
    """Pages from Zendesk, paced, retried and validated (a bad page raises, never half-maps)."""

    def ticket_page(
        self, *, cursor: str | None, start_time: int | None, per_page: int
    ) -> TicketPage:
        """One incremental-export page: from ``cursor`` when given, else from ``start_time``."""
        ...

    def rating_page(
        self, *, start_time: int, end_time: int, page: str | None, per_page: int
    ) -> RatingPage:
        """One page of ratings in ``[start_time, end_time)``; ``page`` continues a window."""
        ...


class SyncStore(Protocol):
    """Where synced pages land. ``apply_*`` write a page and its stream state atomically."""

    def state(self, stream: str) -> StreamState: ...

    def states(self) -> list[StreamState]: ...

    def apply_page(self, records: PageRecords, state: StreamState) -> None:
        """Write the page and ``state`` in one transaction. ``state.pages_total`` must be one
        more than the stored value, else ``SyncConflict`` (another sync advanced the stream)
        and nothing is written."""
        ...

    def record_error(self, stream: str, message: str, at: datetime) -> None: ...

    def reset_cursor(self, stream: str) -> None:
        """Forget where the stream stands (a full re-backfill) without dropping its rows."""
        ...
