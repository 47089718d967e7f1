"""Shared builders for the QA tests: synced tickets in a store, a directory, a recording Slack."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import SatisfactionRating, Ticket, TicketMetric
from deskbot.domain.people import Person, Role
from deskbot.services.qa import Comment
from deskbot.services.qa_types import CycleRecord, DisputeRecord, ReviewRecord, TaskView
from deskbot.testing import StaticPeopleDirectory

# Week 2026-W45 is Mon 2 Nov .. Mon 9 Nov 2026 (UTC)
WEEK_START = datetime(2026, 11, 2, tzinfo=UTC)
AFTER_WEEK = datetime(2026, 11, 9, 8, 0, tzinfo=UTC)


def add_tickets(
    db: Database,
    agent_id: int,
    count: int,
    *,
    first_id: int,
    start: datetime = WEEK_START,
    seed: int = 1,
    status: str = "solved",
    deleted: bool = False,
) -> list[int]:
    """``count`` solved tickets of ``agent_id`` across the week from ``start``; some risky."""
    rng = random.Random(seed)
    tickets, metrics, ratings = [], [], []
    ids = []
    for i in range(count):
        tid = first_id + i
        ids.append(tid)
        solved = start + timedelta(minutes=rng.randrange(7 * 24 * 60))
        tickets.append(
            {
                "id": tid,
                "created_at": solved - timedelta(hours=5),
                "updated_at": solved,
                "generated_timestamp": int(solved.timestamp()),
                "status": "deleted" if deleted else status,
                "is_deleted": deleted,
                "subject": f"Ticket {tid} about billing",
                "assignee_id": agent_id,
                "tags": "",
                "raw": "{}",
                "synced_at": solved,
            }
        )
        metrics.append(
            {
                "ticket_id": tid,
                "solved_at": solved,
                "full_resolution_calendar": rng.choice([60, 300, 6000]),
                "replies": rng.choice([1, 2, 3, 8]),
                "reopens": 1 if rng.random() < 0.15 else 0,
                "raw": "{}",
            }
        )
        if rng.random() < 0.15:
            ratings.append(
                {
                    "id": 900_000 + tid,
                    "ticket_id": tid,
                    "score": "bad",
                    "assignee_id": agent_id,
                    "created_at": solved,
                    "updated_at": solved,
                    "raw": "{}",
                    "synced_at": solved,
                }
            )
    with db.session() as s:
        db.upsert(s, Ticket, tickets)
        db.upsert(s, TicketMetric, metrics, key=("ticket_id",))
        if ratings:
            db.upsert(s, SatisfactionRating, ratings)
    return ids


def directory(agents: int = 4, *, inactive: Sequence[str] = ()) -> StaticPeopleDirectory:
    """Agents A1..An (Zendesk 101..), leads L1/L2 (reviewers; L1 leads odd agents, L2 even),
    admin ADM, QA owner QO (an agent-role person listed in qa.owners)."""
    people = [
        Person(
            id=i,
            name=f"Agent {i}",
            slack_user_id=f"UA{i}",
            zendesk_user_id=100 + i,
            role=Role.AGENT,
            lead_slack_id="UL1" if i % 2 else "UL2",
        )
        for i in range(1, agents + 1)
    ]
    people += [
        Person(id=50, name="Lead One", slack_user_id="UL1", zendesk_user_id=201, role=Role.LEAD),
        Person(id=51, name="Lead Two", slack_user_id="UL2", zendesk_user_id=202, role=Role.LEAD),
        Person(id=52, name="Admin", slack_user_id="UADM", role=Role.ADMIN),
        Person(id=53, name="QA Owner", slack_user_id="UQO", role=Role.AGENT),
        Person(id=54, name="Lead Three", slack_user_id="UL3", role=Role.LEAD),
    ]
    people = [
        Person(**{**p.__dict__, "active": False}) if p.slack_user_id in inactive else p
        for p in people
    ]
    return StaticPeopleDirectory(people)


@dataclass
class RecordingSlack:
    """``QaSlack`` that records what it would say; ``fail_on`` makes one kind of call raise."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, target, marker)
    modals: list[tuple[str, str, int]] = field(default_factory=list)  # (kind, trigger, task)
    comments: list[Comment] = field(default_factory=list)
    fail_on: Callable[[str, str], bool] | None = None
    found: dict[str, str] = field(default_factory=dict)  # marker -> ts (already in Slack)

    def _send(self, kind: str, target: str, marker: str) -> str:
        if self.fail_on is not None and self.fail_on(kind, target):
            raise RuntimeError(f"Slack down for {kind}")
        self.sent.append((kind, target, marker))
        ts = f"{len(self.sent)}.000"
        self.found[marker] = ts
        return ts

    def find(self, target: str, marker: str, since: datetime) -> str | None:
        return self.found.get(marker)

    def task_list(
        self, reviewer: str, cycle: CycleRecord, tasks: Sequence[TaskView], marker: str
    ) -> str:
        return self._send("tasks", reviewer, marker)

    def review(
        self,
        agent: str,
        task: TaskView,
        review: ReviewRecord,
        reviewer_shown: str | None,
        closes: datetime,
        marker: str,
    ) -> str:
        return self._send("review", agent, marker)

    def dispute(self, resolver: str, task: TaskView, dispute: DisputeRecord, marker: str) -> str:
        return self._send("dispute", resolver, marker)

    def dispute_outcome(
        self, agent: str, task: TaskView, dispute: DisputeRecord, marker: str
    ) -> str:
        return self._send("outcome", agent, marker)

    def reminder(
        self, reviewer: str, cycle: CycleRecord, tasks: Sequence[TaskView], marker: str
    ) -> str:
        return self._send("reminder", reviewer, marker)

    def overdue(
        self, owner: str, cycle: CycleRecord, tasks: Sequence[TaskView], marker: str
    ) -> str:
        return self._send("overdue", owner, marker)

    def digest(self, channel: str, report: Any, marker: str) -> str:
        return self._send("digest", channel, marker)

    def open_score_modal(self, trigger_id: str, task: TaskView, closes: datetime) -> None:
        self.modals.append(("score", trigger_id, task.id))

    def open_dispute_modal(self, trigger_id: str, task: TaskView) -> None:
        self.modals.append(("dispute", trigger_id, task.id))

    def open_resolve_modal(self, trigger_id: str, task: TaskView) -> None:
        self.modals.append(("resolve", trigger_id, task.id))

    def open_conversation(
        self, trigger_id: str, task: TaskView, load: Callable[[], list[Comment]]
    ) -> None:
        self.comments = load()
        self.modals.append(("conversation", trigger_id, task.id))
