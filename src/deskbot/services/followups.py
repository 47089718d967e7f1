"""Bad-CSAT follow-ups: every bad rating gets an owner and closes its loop, exactly once.

After each sync, ``FollowupService.run`` compares the synced ratings with the ``followups``
state table (the score deskbot last acted on) and:

1. for each rating that turned bad: records every step of its plan in the action ledger
   (intent *before* any write), then moves its follow-up to a new generation;
2. for each rating that turned good again (or was withdrawn): records a "closed" step, then
   closes the follow-up;
3. executes every pending step of the ledger, oldest kinds first (Zendesk, burst summaries,
   alerts, closed notices, reminders), each with a write that is safe to repeat, and marks it
   done after it succeeded;
4. reminds, then escalates, follow-ups nobody claimed in time.

A crash (kill -9) between any two of these leaves pending ledger rows that the next run
completes: a note carries a hidden marker that is looked for before writing, a follow-up
ticket has a deterministic ``external_id`` that is looked up before creating, and a Slack
message carries its idempotency key in its metadata, looked for before re-posting a message
whose first attempt may have gone through.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from deskbot.domain import csat
from deskbot.domain.authz import Actor, Forbidden, bind_view
from deskbot.domain.csat import (
    ACTIVE_STATES,
    FollowupState,
    Nudge,
    PlanContext,
    RatingFacts,
    Step,
    Transition,
)
from deskbot.domain.people import Role
from deskbot.errors import DeskbotError
from deskbot.log import get_logger
from deskbot.ports import Clock, PeopleDirectory, StopEvent
from deskbot.settings import AgentEntry, FollowupRule, Settings

log = get_logger(__name__)

# --------------------------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------------------------


class LedgerRecord(Protocol):
    """One row of the action ledger."""

    @property
    def key(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def status(self) -> str: ...  # pending / done / failed / skipped
    @property
    def attempts(self) -> int: ...
    @property
    def payload(self) -> dict[str, Any]: ...
    @property
    def result(self) -> dict[str, Any] | None: ...
    @property
    def error(self) -> str | None: ...


class Ledger(Protocol):
    """The part of ``deskbot.ports.ActionLedger`` follow-ups use (``SqlActionLedger``).

    ``begin``'s record says whether this call inserted the intent (``new``): a step is
    "fresh" only then. A ledger may also offer ``claim(key, owner, seconds) -> bool`` and
    ``release(key, owner)`` (``SqlActionLedger``, ``InMemoryLedger``): each pending step is
    then claimed atomically before it runs, so two passes never run one step together.
    """

    def begin(
        self, key: str, kind: str, subject: str | None, payload: dict[str, Any]
    ) -> LedgerRecord:
        """Record an intent; idempotent: returns the existing row when the key exists."""
        ...

    def complete(self, key: str, result: dict[str, Any]) -> object: ...

    def fail(self, key: str, error: str) -> object: ...

    def get(self, key: str) -> LedgerRecord | None: ...

    def pending(self, kind: str) -> Sequence[LedgerRecord]: ...


@dataclass(frozen=True)
class TicketSnapshot:
    """A ticket as Zendesk has it right now."""

    id: int
    status: str
    updated_stamp: str | None  # ``updated_at`` as Zendesk wrote it, for safe_update
    tags: frozenset[str] = frozenset()
    assignee_id: int | None = None
    group_id: int | None = None
    requester_id: int | None = None
    subject: str | None = None


class TicketConflict(DeskbotError):
    """safe_update refused the write: the ticket changed since it was read (HTTP 409)."""


class TicketClosed(DeskbotError):
    """Zendesk refused to update a closed ticket (HTTP 422)."""


class TicketGone(DeskbotError):
    """The ticket no longer exists (HTTP 404), or deskbot may not see it (403)."""


class TicketWriter(Protocol):
    """The Zendesk writes a follow-up needs (``deskbot.adapters.zendesk.writer``)."""

    def get_ticket(self, ticket_id: int) -> TicketSnapshot: ...

    def has_comment_containing(self, ticket_id: int, text: str) -> bool: ...

    def update_ticket(
        self,
        ticket_id: int,
        *,
        note: str | None,
        add_tags: Sequence[str],
        assignee_id: int | None,
        group_id: int | None,
        updated_stamp: str | None,
    ) -> None:
        """One safe_update PUT; raises TicketConflict / TicketClosed / TicketGone."""
        ...

    def find_followup_ticket(
        self, source_ticket_id: int, external_id: str, marker: str
    ) -> int | None:
        """A follow-up of ``source_ticket_id`` created earlier with this external id / marker."""
        ...

    def create_followup_ticket(
        self,
        source_ticket_id: int,
        *,
        subject: str,
        note: str,
        tags: Sequence[str],
        assignee_id: int | None,
        group_id: int | None,
        requester_id: int | None,
        external_id: str,
    ) -> int: ...


@dataclass(frozen=True)
class AlertStatus:
    """Where a follow-up stands, as the alert message shows it."""

    state: str
    owner: str | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    handled_by: str | None = None
    handled_at: datetime | None = None
    note: str | None = None
    closed_at: datetime | None = None


@dataclass(frozen=True)
class Posted:
    channel: str  # the channel ID Slack answered with
    ts: str


class FollowupNotifier(Protocol):
    """Slack, as follow-ups use it (``deskbot.adapters.slack.followup_notifier``)."""

    def post_alert(
        self,
        channel: str,
        alert: Mapping[str, Any],
        status: AlertStatus,
        key: str,
        thread_ts: str | None = None,
    ) -> Posted: ...

    def update_alert(
        self, channel: str, ts: str, alert: Mapping[str, Any], status: AlertStatus
    ) -> None: ...

    def post_text(
        self, channel: str, text: str, key: str, thread_ts: str | None = None
    ) -> Posted: ...

    def post_burst_summary(
        self, channel: str, count: int, tickets: Sequence[int], key: str
    ) -> Posted: ...

    def find_message(
        self, channel: str, key: str, oldest: datetime, thread_ts: str | None = None
    ) -> Posted | None:
        """A message deskbot posted with this idempotency key, if Slack has one."""
        ...

    def open_handled_modal(self, trigger_id: str, value: str) -> None: ...


@dataclass(frozen=True)
class FollowupRecord:
    """A row of the ``followups`` state table."""

    rating_id: int
    generation: int
    last_seen_score: str
    state: str
    ticket_id: int | None = None
    rule: str | None = None
    owner: str | None = None
    opened_at: datetime | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    handled_by: str | None = None
    handled_at: datetime | None = None
    note: str | None = None
    closed_at: datetime | None = None
    slack_channel: str | None = None
    slack_ts: str | None = None
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None

    def status(self) -> AlertStatus:
        return AlertStatus(
            state=self.state,
            owner=self.owner,
            claimed_by=self.claimed_by,
            claimed_at=self.claimed_at,
            handled_by=self.handled_by,
            handled_at=self.handled_at,
            note=self.note,
            closed_at=self.closed_at,
        )


@dataclass(frozen=True)
class FollowupWindowRow:
    """What digest metrics need about one follow-up opened in a window."""

    opened_at: datetime
    claimed_at: datetime | None
    handled_at: datetime | None


class FollowupStore(Protocol):
    """The ``followups`` state table and the synced ratings it is compared with."""

    def candidates(self, since: datetime) -> Sequence[tuple[RatingFacts, FollowupRecord | None]]:
        """Ratings that may have changed: bad ones changed since ``since`` that deskbot has
        not acted on, and follow-ups whose rating is no longer bad."""
        ...

    def get(self, rating_id: int) -> FollowupRecord | None: ...

    def open_generation(
        self,
        rating_id: int,
        expected_generation: int | None,
        *,
        generation: int,
        ticket_id: int | None,
        score: str,
        rule: str,
        owner: str | None,
        at: datetime,
    ) -> bool:
        """Compare-and-set: start ``generation`` if the row is still at ``expected``."""
        ...

    def close(self, rating_id: int, generation: int, score: str, at: datetime) -> bool: ...

    def set_alert(
        self, rating_id: int, generation: int, channel: str, ts: str, at: datetime
    ) -> None: ...

    def claim(self, rating_id: int, generation: int, user: str, at: datetime) -> bool: ...

    def handle(
        self,
        rating_id: int,
        generation: int,
        user: str,
        note: str | None,
        at: datetime,
        *,
        unless_claimed_by_another: bool = False,
    ) -> bool:
        """Compare-and-set to handled; with ``unless_claimed_by_another`` only while nobody
        else holds the claim (a plain agent may not close what a colleague claimed)."""
        ...

    def rated_agent(self, rating_id: int) -> int | None:
        """The Zendesk id of the agent the rating was about (the assignee at rating time)."""
        ...

    def mark_nudged(self, rating_id: int, generation: int, nudge: str, at: datetime) -> None: ...

    def active(self) -> Sequence[FollowupRecord]:
        """Follow-ups still open or claimed."""
        ...

    def bad_ratings_count(self, start: datetime, end: datetime) -> int: ...

    def opened_between(self, start: datetime, end: datetime) -> Sequence[FollowupWindowRow]: ...


# --------------------------------------------------------------------------------------------
# Pacing
# --------------------------------------------------------------------------------------------


class Pacer:
    """At most one call per ``interval`` seconds per key, waiting on the injected clock."""

    def __init__(self, clock: Clock, interval: float) -> None:
        self._clock = clock
        self._interval = interval
        self._next: dict[str, float] = {}

    def wait(self, key: str = "") -> None:
        now = self._clock.monotonic()
        ready = self._next.get(key, now)
        if ready > now:
            self._clock.sleep(ready - now)
            now = self._clock.monotonic()
        self._next[key] = max(now, ready) + self._interval


# --------------------------------------------------------------------------------------------
# The service
# --------------------------------------------------------------------------------------------


@dataclass
class RunSummary:
    opened: int = 0
    closed: int = 0
    unmatched: int = 0
    steps_done: int = 0
    steps_failed: int = 0
    steps_left_pending: int = 0
    reminders: int = 0
    escalations: int = 0
    bursts: int = 0
    dry_run: bool = False
    planned: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "opened": self.opened,
            "closed": self.closed,
            "unmatched": self.unmatched,
            "steps_done": self.steps_done,
            "steps_failed": self.steps_failed,
            "steps_left_pending": self.steps_left_pending,
            "reminders": self.reminders,
            "escalations": self.escalations,
            "bursts": self.bursts,
            "dry_run": self.dry_run,
            "planned": self.planned,
        }


@dataclass(frozen=True)
class InteractionOutcome:
    """What a Slack click achieved, in words for the clicking user."""

    ok: bool
    message: str


_ZENDESK_ATTEMPTS = 4


class PermanentStepError(DeskbotError):
    """A step that can never succeed (ticket deleted, channel archived): marked failed."""


class StepStopped(DeskbotError):
    """The pass is stopping (shutdown, or its job mutex was lost): the step stays pending and
    the next run does it, paced as usual."""


# How long a step's claim lasts (database clock) if its process dies without releasing it.
STEP_CLAIM_SECONDS = 600.0


class FollowupService:
    def __init__(
        self,
        settings: Settings,
        store: FollowupStore,
        ledger: Ledger,
        tickets: TicketWriter | None,
        notifier: FollowupNotifier | None,
        clock: Clock,
        stop_event: StopEvent | None = None,
        *,
        people: PeopleDirectory | None = None,
    ) -> None:
        self.settings = settings
        self.stop_event = stop_event
        self._owner = uuid.uuid4().hex  # this pass's name on the steps it claims
        self.people = people  # owners and mentions: the directory completes roster.agents
        self._roster_cache: list[AgentEntry] | None = None
        self.cfg = settings.followups
        self.store = store
        self.ledger = ledger
        self.tickets = tickets
        self.notifier = notifier
        self.clock = clock
        self._zendesk_pacer = Pacer(clock, 60.0 / self.cfg.ticket_updates_per_minute)
        self._slack_pacer = Pacer(clock, 1.0 / settings.slack.messages_per_second_per_channel)
        self._fresh: set[str] = set()

    # -- planning ---------------------------------------------------------------------------

    def _roster(self) -> Sequence[AgentEntry]:
        """``roster.agents`` (YAML wins) completed by the people directory when there is one."""
        if self.people is None:
            return self.settings.roster.agents
        if self._roster_cache is None:  # one read per service (bootstrap builds one per run)
            from deskbot.services.people import effective_roster

            self._roster_cache = effective_roster(self.settings, self.people)
        return self._roster_cache

    def _context(self) -> PlanContext:
        return PlanContext(
            settings=self.cfg,
            roster=self._roster(),
            ticket_url_base=self.settings.zendesk.api_root,
            default_channel=(
                self.settings.slack.channels.alerts if self.settings.slack.enabled else None
            ),
        )

    def _detect(
        self, now: datetime
    ) -> tuple[
        list[tuple[RatingFacts, FollowupRecord | None, Transition]],
        list[tuple[RatingFacts, FollowupRecord, Transition]],
    ]:
        since = now - timedelta(hours=self.cfg.max_age_hours)
        opening: list[tuple[RatingFacts, FollowupRecord | None, Transition]] = []
        closing: list[tuple[RatingFacts, FollowupRecord, Transition]] = []
        for facts, row in self.store.candidates(since):
            change = csat.transition(row.last_seen_score if row else None, facts.score)
            if change.opens:
                opening.append((facts, row, change))
            elif change.closes and row is not None:
                closing.append((facts, row, change))
        return opening, closing

    def plan(
        self, now: datetime
    ) -> tuple[
        list[tuple[RatingFacts, FollowupRecord | None, FollowupRule, list[Step]]],
        list[Step],
        list[tuple[RatingFacts, FollowupRecord, Transition]],
        int,
    ]:
        """(ratings to open with their steps, burst summary steps, ratings to close,
        unmatched count). Pure reads."""
        opening, closing = self._detect(now)
        ctx = self._context()
        plans: list[tuple[RatingFacts, FollowupRecord | None, FollowupRule, list[Step]]] = []
        unmatched = 0
        for facts, row, _change in sorted(opening, key=lambda o: o[0].rating_id):
            rule = csat.match_rule(self.cfg.rules, facts)
            if rule is None:
                unmatched += 1
                continue
            generation = (row.generation if row else 0) + 1
            steps = csat.build_plan(facts, rule, generation, ctx)
            if not self.settings.slack.enabled:
                steps = [s for s in steps if s.kind != csat.KIND_ALERT]
            plans.append((facts, row, rule, steps))
        collapsed, bursts = csat.collapse_bursts([p[3] for p in plans], self.cfg.burst_threshold)
        plans = [
            (facts, row, rule, steps)
            for (facts, row, rule, _old), steps in zip(plans, collapsed, strict=True)
        ]
        return plans, bursts, closing, unmatched

    # -- the run ----------------------------------------------------------------------------

    def run(self, dry_run: bool = False) -> RunSummary:
        """One pass after a sync. ``dry_run`` reads only and reports what would happen."""
        now = self.clock.now()
        summary = RunSummary(dry_run=dry_run)
        plans, bursts, closing, unmatched = self.plan(now)
        summary.unmatched = unmatched
        summary.bursts = len(bursts)
        if dry_run:
            return self._describe(now, plans, bursts, closing, summary)

        self._fresh = set()
        for step in bursts:
            self._begin(step)
        for facts, row, rule, steps in plans:
            for step in steps:
                self._begin(step)
            generation = (row.generation if row else 0) + 1
            owner = csat.resolve_owner(rule, self._roster(), facts).slack_user
            if self.store.open_generation(
                facts.rating_id,
                row.generation if row else None,
                generation=generation,
                ticket_id=facts.ticket_id,
                score=csat.BAD,
                rule=rule.name,
                owner=owner,
                at=now,
            ):
                summary.opened += 1
                log.info(
                    "followups.opened",
                    rating_id=facts.rating_id,
                    ticket_id=facts.ticket_id,
                    generation=generation,
                    rule=rule.name,
                )
        for facts, row, change in closing:
            score = csat.normalise_score(facts.score) or facts.score
            self._begin(
                Step(
                    key=csat.step_key(row.rating_id, row.generation, "closed"),
                    kind=csat.KIND_CLOSED,
                    subject=f"rating:{row.rating_id}",
                    payload={
                        "rating_id": row.rating_id,
                        "generation": row.generation,
                        "score": score,
                        "transition": change.value,
                    },
                )
            )
            if self.store.close(row.rating_id, row.generation, score, now):
                summary.closed += 1
                log.info("followups.closed", rating_id=row.rating_id, transition=change.value)

        self._execute_pending(summary)
        self._nudge(now, summary)
        log.info("followups.run", **{k: v for k, v in summary.as_dict().items() if k != "planned"})
        return summary

    def _begin(self, step: Step) -> None:
        # Fresh only if *this* insert created the intent (ON CONFLICT DO NOTHING said so): no
        # earlier run can have acted on it, so posting needs no search first. A read before
        # the insert (check-then-act) let two passes both believe they were first.
        record = self.ledger.begin(step.key, step.kind, step.subject, step.payload)
        if getattr(record, "new", False):
            self._fresh.add(step.key)

    def _stopping(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    def _pace(self, pacer: Pacer, key: str = "") -> None:
        """Wait for the pacer, then make sure we may still write: a stop wakes the wait
        early, and the write must then *not* go out (remaining writes wait for the next run
        instead of firing back to back)."""
        pacer.wait(key)
        if self._stopping():
            raise StepStopped("stopping: the step is left for the next run")

    def _claim(self, key: str) -> bool:
        claim = getattr(self.ledger, "claim", None)
        return True if claim is None else bool(claim(key, self._owner, STEP_CLAIM_SECONDS))

    def _release(self, key: str) -> None:
        release = getattr(self.ledger, "release", None)
        if release is not None:
            release(key, self._owner)

    def _describe(
        self,
        now: datetime,
        plans: Sequence[tuple[RatingFacts, FollowupRecord | None, FollowupRule, list[Step]]],
        bursts: Sequence[Step],
        closing: Sequence[tuple[RatingFacts, FollowupRecord, Transition]],
        summary: RunSummary,
    ) -> RunSummary:
        for step in bursts:
            summary.planned.append({"action": "burst_summary", "key": step.key, **step.payload})
        for facts, _row, rule, steps in plans:
            summary.opened += 1
            summary.planned.append(
                {
                    "action": "open",
                    "rating_id": facts.rating_id,
                    "ticket_id": facts.ticket_id,
                    "rule": rule.name,
                    "steps": [
                        {"key": s.key, "kind": s.kind, **_describe_payload(s)} for s in steps
                    ],
                }
            )
        for facts, row, change in closing:
            summary.closed += 1
            summary.planned.append(
                {
                    "action": "close",
                    "rating_id": row.rating_id,
                    "ticket_id": facts.ticket_id,
                    "transition": change.value,
                }
            )
        for kind in csat.KINDS:
            for rec in self.ledger.pending(kind):
                summary.steps_left_pending += 1
                summary.planned.append({"action": "resume", "key": rec.key, "kind": rec.kind})
        for row in self.store.active():
            for nudge in csat.nudges_due(
                row.state, row.opened_at, row.reminded_at, row.escalated_at, now, self.cfg
            ):
                summary.planned.append(
                    {"action": nudge.value, "rating_id": row.rating_id, "owner": row.owner}
                )
        return summary

    # -- execution --------------------------------------------------------------------------

    def _execute_pending(self, summary: RunSummary) -> None:
        handlers: dict[str, Callable[[LedgerRecord], dict[str, Any]]] = {
            csat.KIND_TICKET: self._exec_ticket,
            csat.KIND_BURST: self._exec_burst,
            csat.KIND_ALERT: self._exec_alert,
            csat.KIND_CLOSED: self._exec_closed,
            csat.KIND_REMINDER: self._exec_nudge,
            csat.KIND_ESCALATION: self._exec_nudge,
        }
        for kind in csat.KINDS:
            for rec in list(self.ledger.pending(kind)):
                if self._stopping():  # between steps: the rest waits for the next run
                    summary.steps_left_pending += 1
                    continue
                self._run_step(rec, handlers[kind], summary)

    def _run_step(
        self,
        rec: LedgerRecord,
        handler: Callable[[LedgerRecord], dict[str, Any]],
        summary: RunSummary,
    ) -> None:
        """Claim the step (atomically, in the ledger), run it, release it. A step another
        pass holds is skipped: that pass does it."""
        if not self._claim(rec.key):
            log.info("followups.step_claimed_elsewhere", key=rec.key)
            return
        try:
            current = self.ledger.get(rec.key)  # an earlier step may have completed it
            if current is None or current.status != "pending":
                return
            self._run_claimed_step(current, handler, summary)
        finally:
            self._release(rec.key)

    def _run_claimed_step(
        self,
        rec: LedgerRecord,
        handler: Callable[[LedgerRecord], dict[str, Any]],
        summary: RunSummary,
    ) -> None:
        try:
            result = handler(rec)
        except PermanentStepError as exc:
            self.ledger.fail(rec.key, str(exc))
            summary.steps_failed += 1
            log.warning("followups.step_failed", key=rec.key, error=str(exc))
            return
        except DeskbotError as exc:
            # Transient (after the adapter's own retries): stays pending for the next run.
            summary.steps_left_pending += 1
            log.warning("followups.step_deferred", key=rec.key, error=str(exc))
            return
        self.ledger.complete(rec.key, result)
        summary.steps_done += 1
        log.info("followups.step_done", key=rec.key, kind=rec.kind)

    def _still_current(self, rating_id: int, generation: int) -> FollowupRecord | None:
        """The follow-up row, if this generation was really opened (else the intent was
        recorded by a run that crashed before opening it, and the rating has since changed)."""
        row = self.store.get(rating_id)
        if row is None or row.generation < generation:
            return None
        return row

    def _exec_ticket(self, rec: LedgerRecord) -> dict[str, Any]:
        p = rec.payload
        row = self._still_current(p["rating_id"], p["generation"])
        if row is None:
            return {"skipped": "rating no longer bad before the follow-up was opened"}
        if row.generation != p["generation"]:
            # A newer generation (bad → good → bad) has its own ticket step: not this note.
            return {"skipped": f"superseded by generation {row.generation}"}
        if self.tickets is None:
            raise DeskbotError("no Zendesk writer configured")
        ticket_id = int(p["ticket_id"])
        for _attempt in range(_ZENDESK_ATTEMPTS):
            try:
                ticket = self.tickets.get_ticket(ticket_id)
            except TicketGone as exc:
                raise PermanentStepError(str(exc)) from exc
            # Our note already on the ticket (a run that died before recording it): done,
            # even if the ticket was closed since.
            if p.get("note") and self.tickets.has_comment_containing(ticket_id, p["marker"]):
                return {"ticket_id": ticket_id, "already_applied": True}
            if ticket.status == "closed":
                return self._followup_ticket(p, ticket)
            if not self._needs_update(p, ticket):
                return {"ticket_id": ticket_id, "already_applied": True}
            self._pace(self._zendesk_pacer)
            try:
                self.tickets.update_ticket(
                    ticket_id,
                    note=p.get("note"),
                    add_tags=p.get("tags") or [],
                    assignee_id=p.get("assignee_id"),
                    group_id=p.get("group_id"),
                    updated_stamp=ticket.updated_stamp,
                )
            except TicketConflict:
                log.info("followups.ticket_conflict", ticket_id=ticket_id)
                continue  # re-read, and look for our own note again
            except TicketClosed:
                log.info("followups.ticket_closed_meanwhile", ticket_id=ticket_id)
                continue
            except TicketGone as exc:
                raise PermanentStepError(str(exc)) from exc
            return {"ticket_id": ticket_id, "updated": True}
        raise DeskbotError(
            f"ticket {ticket_id} kept changing under deskbot ({_ZENDESK_ATTEMPTS} conflicts); "
            "will try again next run"
        )

    @staticmethod
    def _needs_update(p: Mapping[str, Any], ticket: TicketSnapshot) -> bool:
        if p.get("note"):
            return True
        if set(p.get("tags") or []) - ticket.tags:
            return True
        if p.get("assignee_id") and p["assignee_id"] != ticket.assignee_id:
            return True
        return bool(p.get("group_id") and p["group_id"] != ticket.group_id)

    def _followup_ticket(self, p: Mapping[str, Any], ticket: TicketSnapshot) -> dict[str, Any]:
        assert self.tickets is not None
        if not p.get("followup_when_closed"):
            return {"ticket_id": ticket.id, "skipped": "ticket closed"}
        existing = self.tickets.find_followup_ticket(ticket.id, p["external_id"], p["marker"])
        if existing is not None:
            return {"ticket_id": ticket.id, "followup_ticket_id": existing, "already_applied": True}
        self._pace(self._zendesk_pacer)
        subject = p.get("subject") or ticket.subject or f"ticket #{ticket.id}"
        note = p.get("note") or (
            f"Follow-up on a bad CSAT rating of closed ticket #{ticket.id}.\n\n{p['marker']}"
        )
        new_id = self.tickets.create_followup_ticket(
            ticket.id,
            subject=f"Follow-up: {subject}",
            note=note,
            tags=p.get("tags") or [],
            assignee_id=p.get("assignee_id"),
            group_id=p.get("group_id"),
            requester_id=p.get("requester_id") or ticket.requester_id,
            external_id=p["external_id"],
        )
        log.info("followups.followup_ticket", source_ticket_id=ticket.id, ticket_id=new_id)
        return {"ticket_id": ticket.id, "followup_ticket_id": new_id}

    def _find_or_post(
        self,
        rec: LedgerRecord,
        channel: str,
        post: Callable[[], Posted],
        thread_ts: str | None = None,
    ) -> Posted:
        """Post once: a step begun by an earlier run may have posted before it crashed."""
        assert self.notifier is not None
        if rec.key not in self._fresh:
            found = self.notifier.find_message(
                channel, rec.key, self.clock.now() - timedelta(days=7), thread_ts=thread_ts
            )
            if found is not None:
                log.info("followups.slack_found_existing", key=rec.key)
                return found
        self._pace(self._slack_pacer, channel)
        return post()

    def _exec_burst(self, rec: LedgerRecord) -> dict[str, Any]:
        if self.notifier is None:
            raise DeskbotError("no Slack client configured")
        p = rec.payload
        notifier = self.notifier
        posted = self._find_or_post(
            rec,
            p["channel"],
            lambda: notifier.post_burst_summary(p["channel"], p["count"], p["tickets"], rec.key),
        )
        return {"channel": posted.channel, "ts": posted.ts}

    def _exec_alert(self, rec: LedgerRecord) -> dict[str, Any]:
        p = rec.payload
        row = self._still_current(p["rating_id"], p["generation"])
        if row is None:
            return {"skipped": "rating no longer bad before the follow-up was opened"}
        if row.generation != p["generation"]:
            return {"skipped": f"superseded by generation {row.generation}"}
        if row.slack_ts and row.slack_channel:
            return {"channel": row.slack_channel, "ts": row.slack_ts}
        if self.notifier is None:
            raise DeskbotError("no Slack client configured")
        channel, thread_ts = p["channel"], None
        if p.get("burst_key"):
            burst = self.ledger.get(p["burst_key"])
            if burst is not None and burst.status == "pending":
                raise DeskbotError("the burst summary is not posted yet; the alert waits")
            if burst is not None and burst.status == "done" and burst.result:
                channel, thread_ts = burst.result["channel"], burst.result["ts"]
            # A summary that failed for good: the alert goes to the channel on its own.
        notifier = self.notifier
        status = row.status()
        posted = self._find_or_post(
            rec,
            channel,
            lambda: notifier.post_alert(channel, p["alert"], status, rec.key, thread_ts),
            thread_ts,
        )
        self.store.set_alert(
            p["rating_id"], p["generation"], posted.channel, posted.ts, self.clock.now()
        )
        return {"channel": posted.channel, "ts": posted.ts, "thread_ts": thread_ts}

    def _exec_closed(self, rec: LedgerRecord) -> dict[str, Any]:
        p = rec.payload
        row = self.store.get(p["rating_id"])
        if row is None or row.generation != p["generation"] or not row.slack_ts:
            return {"notified": False}
        if self.notifier is None:
            raise DeskbotError("no Slack client configured")
        assert row.slack_channel is not None
        word = "changed the rating to good" if p["score"] == csat.GOOD else "withdrew the rating"
        text = f"The customer {word}." + (
            " This follow-up is closed." if row.state == FollowupState.CLOSED else ""
        )
        notifier = self.notifier
        channel, ts = row.slack_channel, row.slack_ts
        posted = self._find_or_post(
            rec, channel, lambda: notifier.post_text(channel, text, rec.key, ts), ts
        )
        self._refresh_message(row)
        return {"channel": posted.channel, "ts": posted.ts}

    # -- reminders and escalation -----------------------------------------------------------

    def _nudge(self, now: datetime, summary: RunSummary) -> None:
        if not self.settings.slack.enabled:
            return
        for row in self.store.active():
            for nudge in csat.nudges_due(
                row.state, row.opened_at, row.reminded_at, row.escalated_at, now, self.cfg
            ):
                if nudge is Nudge.REMIND and not row.slack_ts:
                    continue  # nothing to reply to; escalation still applies
                kind = csat.KIND_REMINDER if nudge is Nudge.REMIND else csat.KIND_ESCALATION
                step = Step(
                    key=csat.step_key(row.rating_id, row.generation, nudge.value),
                    kind=kind,
                    subject=f"rating:{row.rating_id}",
                    payload={
                        "rating_id": row.rating_id,
                        "generation": row.generation,
                        "nudge": nudge.value,
                    },
                )
                self._begin(step)
                rec = self.ledger.get(step.key)
                if self._stopping():
                    summary.steps_left_pending += 1
                    continue
                if rec is not None and rec.status == "pending":
                    before = summary.steps_done
                    self._run_step(rec, self._exec_nudge, summary)
                    if summary.steps_done > before:
                        if nudge is Nudge.REMIND:
                            summary.reminders += 1
                        else:
                            summary.escalations += 1

    def _exec_nudge(self, rec: LedgerRecord) -> dict[str, Any]:
        p = rec.payload
        row = self.store.get(p["rating_id"])
        if row is None or row.generation != p["generation"] or row.state != FollowupState.OPEN:
            return {"skipped": "claimed or closed meanwhile"}
        if self.notifier is None:
            raise DeskbotError("no Slack client configured")
        alert = self._alert_payload(row)
        ticket = f"#{row.ticket_id}" if row.ticket_id else f"rating {row.rating_id}"
        link = alert.get("ticket_url") if alert else None
        ticket_ref = f"<{link}|{ticket}>" if link else ticket
        owner = f"<@{row.owner}>" if row.owner else "Team"
        notifier = self.notifier
        if p["nudge"] == Nudge.REMIND:
            hours = self.cfg.remind_after_hours
            text = (
                f"{owner}, this bad rating on {ticket_ref} is still unclaimed after "
                f"{hours:g} h. Press *Claim* to own it."
            )
            assert row.slack_channel and row.slack_ts
            channel, ts = row.slack_channel, row.slack_ts
            posted = self._find_or_post(
                rec, channel, lambda: notifier.post_text(channel, text, rec.key, ts), ts
            )
        else:
            hours = self.cfg.escalate_after_hours
            escalation = self.cfg.escalation_channel
            assert escalation is not None
            where = f" (alert in <#{row.slack_channel}>)" if row.slack_channel else ""
            text = (
                f":rotating_light: Bad CSAT on {ticket_ref} unclaimed for {hours:g} h"
                f"{where}. Owner: {owner}."
            )
            posted = self._find_or_post(
                rec, escalation, lambda: notifier.post_text(escalation, text, rec.key)
            )
        self.store.mark_nudged(row.rating_id, row.generation, p["nudge"], self.clock.now())
        return {"channel": posted.channel, "ts": posted.ts}

    # -- Slack interactions -----------------------------------------------------------------

    def _alert_payload(self, row: FollowupRecord) -> dict[str, Any] | None:
        rec = self.ledger.get(csat.step_key(row.rating_id, row.generation, "alert"))
        if rec is None:
            return None
        alert = rec.payload.get("alert")
        return dict(alert) if isinstance(alert, Mapping) else None

    def _refresh_message(self, row: FollowupRecord) -> None:
        """Re-render the alert from the follow-up's state (chat.update: safe to repeat)."""
        if self.notifier is None or not row.slack_channel or not row.slack_ts:
            return
        alert = self._alert_payload(row)
        if alert is None:
            return
        fresh = self.store.get(row.rating_id) or row
        self.notifier.update_alert(row.slack_channel, row.slack_ts, alert, fresh.status())

    # Who may act on a follow-up (PRODUCT.md "Who may do what"), checked here, in the service,
    # for the Claim button, the Handled button and the Handled modal alike:
    #   * never the agent who was rated (the assignee at rating time), whatever their role;
    #   * leads and admins: any follow-up, including one a colleague claimed;
    #   * agents: a follow-up they own (the alert's owner, or they claimed it) or one nobody
    #     owns yet; not one another person owns or claimed;
    #   * everyone else (employees, guests, unknown users): nothing.
    WHO_MAY = "the follow-up's owner, a lead or an admin (never the agent who was rated)"

    def authorize(
        self, row: FollowupRecord, actor: Actor, action: str, *, as_holder: bool = True
    ) -> None:
        """Raise ``Forbidden`` unless ``actor`` may ``action`` this follow-up. With
        ``as_holder=False`` only the role and the rated-agent rule are checked (a click on a
        follow-up that is no longer open is then told why nothing happened)."""
        if self._is_rated_agent(row.rating_id, actor):
            raise Forbidden(action, self.WHO_MAY)
        if actor.at_least(Role.LEAD):
            return
        if not actor.at_least(Role.AGENT):
            raise Forbidden(action, self.WHO_MAY)
        if not as_holder:
            return
        holder = row.claimed_by or row.owner
        if holder is not None and holder != actor.slack_user_id:
            raise Forbidden(action, self.WHO_MAY)

    def _is_rated_agent(self, rating_id: int, actor: Actor) -> bool:
        rated = self.store.rated_agent(rating_id)
        if rated is None:
            return False
        if actor.zendesk_user_id == rated:
            return True
        entry = csat.agent_entry(self.settings.roster.agents, rated)
        return entry is not None and entry.slack_user == actor.slack_user_id

    def _row_for(self, rating_id: int, generation: int) -> FollowupRecord | None:
        row = self.store.get(rating_id)
        return row if row is not None and row.generation == generation else None

    def claim(self, value: str, actor: Actor) -> InteractionOutcome:
        """The Claim button. Raises ``Forbidden`` (nothing changed) when ``actor`` may not."""
        rating_id, generation = csat.parse_claim_value(value)
        user = actor.slack_user_id
        row = self._row_for(rating_id, generation)
        if row is None:
            return InteractionOutcome(False, self._why_not(rating_id, generation, user))
        self.authorize(
            row, actor, "claim this follow-up", as_holder=row.state == FollowupState.OPEN
        )
        now = self.clock.now()
        if row.state == FollowupState.OPEN and self.store.claim(rating_id, generation, user, now):
            fresh = self.store.get(rating_id)
            assert fresh is not None
            self._refresh_message(fresh)
            log.info("followups.claimed", rating_id=rating_id, generation=generation)
            return InteractionOutcome(True, "You own this follow-up now.")
        return InteractionOutcome(False, self._why_not(rating_id, generation, user))

    def handled(self, value: str, actor: Actor, note: str | None) -> InteractionOutcome:
        """The Handled modal's submission. Raises ``Forbidden`` (nothing changed)."""
        rating_id, generation = csat.parse_claim_value(value)
        user = actor.slack_user_id
        row = self._row_for(rating_id, generation)
        if row is None:
            return InteractionOutcome(False, self._why_not(rating_id, generation, user))
        active = row.state in ACTIVE_STATES
        self.authorize(row, actor, "mark this follow-up handled", as_holder=active)
        if not active:
            return InteractionOutcome(False, self._why_not(rating_id, generation, user))
        now = self.clock.now()
        note = (note or "").strip()[:2000] or None
        if self.store.handle(
            rating_id,
            generation,
            user,
            note,
            now,
            unless_claimed_by_another=not actor.at_least(Role.LEAD),
        ):
            fresh = self.store.get(rating_id)
            assert fresh is not None
            self._refresh_message(fresh)
            log.info("followups.handled", rating_id=rating_id, generation=generation)
            return InteractionOutcome(True, "Marked handled. Thank you for closing the loop.")
        return InteractionOutcome(False, self._why_not(rating_id, generation, user))

    def open_handled_modal(self, trigger_id: str, value: str, actor: Actor) -> InteractionOutcome:
        """The Handled button: open the note modal, bound to ``actor`` (a submission by anyone
        else is refused). Raises ``Forbidden`` before opening anything when they may not."""
        rating_id, generation = csat.parse_claim_value(value)  # reject a forged value first
        row = self._row_for(rating_id, generation)
        if row is None:
            return InteractionOutcome(
                False, self._why_not(rating_id, generation, actor.slack_user_id)
            )
        active = row.state in ACTIVE_STATES
        self.authorize(row, actor, "mark this follow-up handled", as_holder=active)
        if not active:
            return InteractionOutcome(
                False, self._why_not(rating_id, generation, actor.slack_user_id)
            )
        if self.notifier is None:
            raise DeskbotError("no Slack client configured")
        self.notifier.open_handled_modal(trigger_id, bind_view(value, actor.slack_user_id))
        return InteractionOutcome(True, "")

    def _why_not(self, rating_id: int, generation: int, user: str) -> str:
        row = self.store.get(rating_id)
        if row is None:
            return "This follow-up does not exist (any more)."
        if row.generation != generation:
            return "This alert is out of date: the rating changed since. See the newer alert."
        if row.state == FollowupState.CLAIMED:
            who = "you" if row.claimed_by == user else f"<@{row.claimed_by}>"
            return f"Already claimed by {who}."
        if row.state == FollowupState.HANDLED:
            return f"Already handled by <@{row.handled_by}>."
        if row.state == FollowupState.CLOSED:
            return "Closed: the customer changed the rating."
        return "Nothing to do."

    # -- listing and metrics ----------------------------------------------------------------

    def open_followups(self) -> list[dict[str, Any]]:
        return open_followups(self.store, self.clock)

    def metrics(self, start: datetime, end: datetime) -> FollowupMetrics:
        return followup_metrics(self.store, start, end)


def open_followups(store: FollowupStore, clock: Clock) -> list[dict[str, Any]]:
    """Follow-ups still open or claimed, oldest first, with their age in hours."""
    now = clock.now()
    out = []
    for row in store.active():
        age = (now - row.opened_at).total_seconds() / 3600 if row.opened_at else None
        out.append(
            {
                "rating_id": row.rating_id,
                "ticket_id": row.ticket_id,
                "generation": row.generation,
                "state": row.state,
                "owner": row.owner,
                "claimed_by": row.claimed_by,
                "rule": row.rule,
                "age_hours": round(age, 1) if age is not None else None,
                "reminded": row.reminded_at is not None,
                "escalated": row.escalated_at is not None,
            }
        )
    return out


def _describe_payload(step: Step) -> dict[str, Any]:
    p = step.payload
    if step.kind == csat.KIND_TICKET:
        return {
            "ticket_id": p["ticket_id"],
            "note": bool(p.get("note")),
            "tags": p.get("tags"),
            "assignee_id": p.get("assignee_id"),
            "group_id": p.get("group_id"),
        }
    if step.kind == csat.KIND_ALERT:
        return {
            "channel": p["channel"],
            "owner": p["alert"].get("owner"),
            "burst": bool(p.get("burst_key")),
        }
    return {}


# --------------------------------------------------------------------------------------------
# Digest metrics
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowupMetrics:
    """Follow-up numbers for a half-open window ``[start, end)``."""

    bad_ratings: int  # bad ratings created in the window
    followups_opened: int  # follow-ups opened in the window
    followups_claimed: int  # of those, claimed (or handled) by someone
    followups_handled: int
    median_minutes_to_claim: float | None
    median_minutes_to_handle: float | None


def followup_metrics(store: FollowupStore, start: datetime, end: datetime) -> FollowupMetrics:
    rows = store.opened_between(start, end)
    to_claim = [(r.claimed_at - r.opened_at).total_seconds() / 60 for r in rows if r.claimed_at]
    to_handle = [(r.handled_at - r.opened_at).total_seconds() / 60 for r in rows if r.handled_at]
    return FollowupMetrics(
        bad_ratings=store.bad_ratings_count(start, end),
        followups_opened=len(rows),
        followups_claimed=len(to_claim),
        followups_handled=len(to_handle),
        median_minutes_to_claim=statistics.median(to_claim) if to_claim else None,
        median_minutes_to_handle=statistics.median(to_handle) if to_handle else None,
    )
