"""Values and the store Protocol the QA service works with (kept apart from ``services/qa.py``
so adapters can import them without the service)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from deskbot.domain.qa import Candidate, SampledTicket


class QaError(ValueError):
    """A QA action that cannot be done; ``str()`` is the message for the person."""


@dataclass(frozen=True)
class CycleRecord:
    key: str
    kind: str
    start_at: datetime
    end_at: datetime
    due_at: datetime
    closes_at: datetime
    seed: int
    drawn_at: datetime


@dataclass(frozen=True)
class SampleRecord:
    id: int
    cycle_key: str
    agent_id: int
    ticket_id: int
    stratum: str
    stratum_size: int
    stratum_sample: int
    population: int


@dataclass(frozen=True)
class ReviewRecord:
    task_id: int
    author: str
    version: int
    scores: dict[str, int | None]
    score: float | None
    hero: bool
    notes: str | None
    created_at: datetime


@dataclass(frozen=True)
class DisputeRecord:
    task_id: int
    agent_slack: str
    reason: str
    state: str  # open / upheld / changed
    created_at: datetime
    resolved_by: str | None
    resolved_at: datetime | None
    resolution_note: str | None


@dataclass(frozen=True)
class TaskView:
    """A review task with its sample, the ticket's facts, its review and dispute."""

    sample: SampleRecord
    reviewer: str
    agent_slack: str | None
    state: str  # open / done
    assigned_at: datetime
    due_at: datetime
    done_at: datetime | None
    reassigned_from: str | None
    subject: str | None
    csat: str | None  # the ticket's latest rating score (good / bad / ...)
    replies: int | None
    reopens: int | None
    review: ReviewRecord | None
    dispute: DisputeRecord | None

    @property
    def id(self) -> int:
        return self.sample.id

    @property
    def cycle_key(self) -> str:
        return self.sample.cycle_key


@dataclass(frozen=True)
class NewTask:
    ticket_id: int
    reviewer: str
    agent_slack: str | None


class QaStore(Protocol):
    def population(
        self, start: datetime, end: datetime, agent_ids: Collection[int], cycle_key: str
    ) -> dict[int, list[Candidate]]:
        """Each agent's tickets solved in ``[start, end)``, not deleted, never sampled by
        another cycle, with what decides their strata."""
        ...

    def synced_through(self) -> datetime | None:
        """Until when the synced tickets and ratings are complete (``None``: never synced)."""
        ...

    def get_cycle(self, key: str) -> CycleRecord | None: ...

    def cycles(self) -> list[CycleRecord]:
        """Oldest first."""
        ...

    def save_draw(
        self, cycle: CycleRecord, samples: Sequence[SampledTicket], tasks: Sequence[NewTask]
    ) -> bool:
        """The cycle, its samples and tasks in one transaction; ``False`` (nothing written)
        when the cycle was drawn already."""
        ...

    def samples(self, cycle_key: str) -> list[SampleRecord]: ...

    def tasks(
        self,
        *,
        cycle_keys: Collection[str] | None = None,
        reviewer: str | None = None,
        state: str | None = None,
        agent_id: int | None = None,
    ) -> list[TaskView]: ...

    def task(self, task_id: int) -> TaskView | None: ...

    def reassign(self, task_id: int, old: str, new: str) -> bool: ...

    def save_review(
        self,
        task_id: int,
        *,
        submission: str,
        author: str,
        scores: Mapping[str, int | None],
        score: float | None,
        hero: bool,
        notes: str | None,
        at: datetime,
    ) -> tuple[int, bool]:
        """Store a version of the task's review: (version, new). The same ``submission``
        again returns the version it stored and writes nothing."""
        ...

    def review_history(self, task_id: int) -> list[ReviewRecord]: ...

    def open_dispute(
        self, task_id: int, cycle_key: str, agent_slack: str, reason: str, at: datetime
    ) -> bool: ...

    def resolve_dispute(
        self, task_id: int, state: str, by: str, note: str, at: datetime
    ) -> bool: ...

    def disputes(self, state: str | None = None) -> list[DisputeRecord]: ...
