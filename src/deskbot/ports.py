"""Interfaces between the services and the outside world (typing.Protocols).

Services depend on these, never on zenpy, slack_sdk or SQLModel. A test fake is a small class
or function that satisfies the protocol (see ``deskbot.testing``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from deskbot.domain.authz import Actor
from deskbot.domain.digest import Digest
from deskbot.domain.metrics import (
    AgentStats,
    CustomersInNeed,
    Scope,
    SeriesPoint,
    Window,
    WindowStats,
)
from deskbot.domain.people import DepartmentInfo, Person
from deskbot.domain.shoutouts import Praise, Shoutout

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


class AdminNotifier(Protocol):
    """Posts a short plain-text notice for admins (job failures, rejected config reloads)."""

    def post(self, channel: str, text: str) -> None: ...


@dataclass(frozen=True)
class JobRunRecord:
    """One row of the daemon's run history, as the job runner and ``deskbot jobs`` see it."""

    id: int
    job: str
    trigger_key: str | None
    instance: str | None
    started_at: datetime
    finished_at: datetime | None
    outcome: str  # running / ok / failed / abandoned
    error: str | None
    detail: str | None  # JSON summary returned by the job


class JobLedger(Protocol):
    """Run history and per-trigger leases, shared by every replica of the daemon.

    ``claim`` is the only way a run starts: it succeeds for exactly one caller per
    ``(job, trigger_key)`` — unless the holder stops renewing its lease, in which case another
    caller may take the trigger over once ``expires_at`` has passed.
    """

    def claim(
        self,
        job: str,
        trigger_key: str,
        *,
        fire_time: datetime,
        instance: str,
        now: datetime,
        expires_at: datetime,
        takeover: bool = False,
    ) -> JobClaim | None:
        """Start a run of ``job`` for ``trigger_key``, or ``None`` if another holds or did it.

        ``takeover``: the caller holds the job's mutex (``job_mutex``), so an unfinished claim
        by anyone else is dead and is taken over at once, whatever its lease says."""
        ...

    def renew(self, job: str, trigger_key: str, instance: str, expires_at: datetime) -> bool:
        """Extend a held lease; ``False`` means the lease was lost (taken over)."""
        ...

    def finish(
        self,
        claim: JobClaim,
        outcome: str,
        finished_at: datetime,
        error: str | None = None,
        detail: str | None = None,
    ) -> bool:
        """Record the end of a run and release the trigger (``done`` unless abandoned).

        Returns ``False`` (and writes nothing) when the lease was lost to another instance.
        """
        ...

    def recent_runs(self, job: str | None = None, limit: int = 20) -> list[JobRunRecord]:
        """Newest first."""
        ...

    def last_success(self, job: str) -> datetime | None: ...

    def failure_streak(self, job: str, limit: int) -> tuple[int, int]:
        """(consecutive failures ending with the latest finished run, the same before it),
        each counted up to ``limit``; abandoned and running runs are ignored."""
        ...

    def expired_leases(
        self, now: datetime, fired_since: datetime
    ) -> list[tuple[str, str, datetime]]:
        """Triggers fired since ``fired_since`` whose holder stopped renewing before finishing:
        (job, trigger_key, fire_time), oldest first. Any replica may claim them again."""
        ...

    def unfinished_leases(self, fired_since: datetime) -> list[tuple[str, str, datetime]]:
        """Triggers fired since ``fired_since`` that no run finished (job, key, fire_time)."""
        ...

    def prune(self, finished_before: datetime) -> tuple[int, int]:
        """Delete finished runs and released leases older than this: (runs, leases) removed."""
        ...


@dataclass(frozen=True)
class JobClaim:
    """A claimed trigger: the run row that records it, and what it took over (if anything)."""

    job: str
    trigger_key: str
    instance: str
    run_id: int
    fire_time: datetime
    took_over_from: str | None = None  # the instance whose lease had expired


# --------------------------------------------------------------------------------------------
# Action ledger: record the intent before acting, mark it done after.
# --------------------------------------------------------------------------------------------

ActionStatus = Literal["pending", "done", "failed", "skipped"]


@dataclass(frozen=True)
class ActionRecord:
    """One row of the action ledger.

    ``new`` is True only on the record returned by the ``begin`` call that inserted it: the
    caller that gets ``new=False`` knows an earlier run got at least as far as the intent.
    """

    key: str
    kind: str
    subject: str | None
    status: ActionStatus
    attempts: int
    payload: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    done_at: datetime | None
    new: bool = False


class ActionLedger(Protocol):
    """Idempotency keys for side effects (Slack posts, Zendesk writes)."""

    def begin(
        self, key: str, kind: str, subject: str | None = None, payload: dict[str, Any] | None = None
    ) -> ActionRecord:
        """Insert a pending intent unless ``key`` exists; return the row (``new`` if inserted).

        Safe under concurrency: two callers racing on one key get one row, one ``new``."""
        ...

    def checkpoint(self, key: str, result: dict[str, Any]) -> ActionRecord:
        """Record partial progress of a pending action (merged into ``result``)."""
        ...

    def complete(self, key: str, result: dict[str, Any] | None = None) -> ActionRecord:
        """Mark the action done (``result`` is merged into what was checkpointed)."""
        ...

    def fail(self, key: str, error: str) -> ActionRecord:
        """Mark the action failed with a reason (a later ``begin`` + retry may still do it)."""
        ...

    def get(self, key: str) -> ActionRecord | None: ...

    def pending(self, kind: str) -> list[ActionRecord]:
        """Actions of ``kind`` still pending (oldest first): crashed or in-flight runs."""
        ...

    def recent(self, kind: str, since: datetime) -> list[ActionRecord]:
        """Actions of ``kind`` begun at or after ``since`` (any status, oldest first)."""
        ...


# --------------------------------------------------------------------------------------------
# KPI source: the store's aggregate queries (implemented in adapters/db/kpi.py).
# --------------------------------------------------------------------------------------------


class KpiSource(Protocol):
    def resolve_scope(self, group: str | None = None, agent: str | None = None) -> Scope:
        """Group by id or name, agent by id, name or e-mail; a clear error when unknown."""
        ...

    def window_stats(self, window: Window, scope: Scope, now: datetime) -> WindowStats: ...

    def agent_stats(self, window: Window, scope: Scope) -> list[AgentStats]: ...

    def customers_in_need(self, window: Window, scope: Scope, limit: int) -> CustomersInNeed: ...

    def team_tag_counts(
        self, window: Window, scope: Scope, tags: Sequence[str]
    ) -> dict[tuple[int | None, str], int]: ...

    def user_names(self, ids: Iterable[int]) -> dict[int, str | None]: ...

    def series(self, buckets: Sequence[Window], scope: Scope) -> list[SeriesPoint]: ...

    def uses_rollups(self, *windows: Window) -> bool:
        """Whether these windows are answered from the per-day rollups (else from tickets)."""
        ...

    def frt_sample(self, window: Window, scope: Scope) -> list[int]:
        """Calendar first reply minutes of the tickets solved in the window, sorted."""
        ...

    def praise(self, since: datetime, until: datetime, limit: int = 200) -> list[Praise]:
        """Good ratings with a comment created in ``[since, until)``, oldest first."""
        ...


# --------------------------------------------------------------------------------------------
# Slack (or any chat) as seen by the services.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutgoingMessage:
    """One chat message: ``text`` is the notification / plain-text fallback."""

    text: str
    blocks: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class PostedMessage:
    channel: str  # the channel id the message landed in
    ts: str


class Notifier(Protocol):
    def post_message(
        self,
        channel: str,
        message: OutgoingMessage,
        *,
        marker: str | None = None,
        thread_ts: str | None = None,
    ) -> PostedMessage:
        """Post; ``marker`` is attached as message metadata so a re-run can find the post."""
        ...

    def upload_file(
        self,
        channel: str,
        content: bytes,
        filename: str,
        title: str,
        *,
        thread_ts: str | None = None,
        comment: str | None = None,
    ) -> str:
        """Upload a file into a channel (or thread); returns the file id."""
        ...

    def find_marked(self, channel: str, prefix: str, since: datetime) -> dict[str, PostedMessage]:
        """Messages posted by us since ``since`` whose marker starts with ``prefix``."""
        ...


class ShoutoutRenderer(Protocol):
    def render_shoutout(self, shoutout: Shoutout) -> OutgoingMessage: ...


class DigestRenderer(Protocol):
    def render(self, digest: Digest) -> list[OutgoingMessage]:
        """Messages within the chat's limits (split as needed; never fails on size)."""
        ...

    def chart(self, digest: Digest) -> bytes | None:
        """A PNG for the digest's chart data, or None when there is none."""


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

    def server_now(self) -> datetime:
        """Zendesk's current time (its ``Date`` header), never the host's: every window over
        Zendesk timestamps ends there. Sources without one may omit it (the sync then uses
        its clock)."""
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


class KpiRollups(Protocol):
    """The per-day KPI rollups the sync keeps (``adapters/db/rollups.py``)."""

    def ensure(self, tz: str) -> bool:
        """Build them if they are not built for ``tz`` (after the migration, a change of the
        configured timezone or of the rollup version); True when it rebuilt."""
        ...

    def rebuild(self, tz: str, *, reason: str = "asked") -> None: ...


class PeopleDirectory(Protocol):
    """Who is who across Zendesk and Slack (``deskbot.domain.people``).

    Reads are served from the local copy the ``people`` job keeps current; none of these calls
    reach Slack or Zendesk. Inactive people are returned only when asked for.
    """

    def by_slack_id(self, slack_user_id: str) -> Person | None: ...

    def by_zendesk_id(self, zendesk_user_id: int) -> Person | None: ...

    def people(self, *, include_inactive: bool = False) -> list[Person]: ...

    def departments(self) -> list[DepartmentInfo]: ...

    def department(self, name: str) -> DepartmentInfo | None:
        """A department by name (case-insensitive), or ``None``."""
        ...

    def actor(self, slack_user_id: str) -> Actor:
        """The role-resolved actor for a Slack user; unknown users are ``Role.EMPLOYEE``."""
        ...
