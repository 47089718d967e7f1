"""Agent QA, the use cases: draw a cycle's sample and assign reviewers, DM each reviewer once,
score in Slack, tell the agent, disputes, reminders, the overdue list, the cycle-end digest,
and the report (``services/qa_report.py``).

Every action by a person takes their Slack id, resolves it with ``PeopleDirectory.actor`` and
checks it here (``Forbidden`` / ``QaError``; the adapter shows ``str(exc)`` and changes
nothing):

- only a task's assigned reviewer scores or amends it, and only until the cycle closes;
- only the reviewed agent disputes their review; a QA owner (``qa.owners``), an admin or the
  agent's lead resolves it — never the agent;
- a review, its ticket's conversation and per-agent results are shown to the agent, their
  lead, QA owners and admins only (and the conversation to the assigned reviewer).

Exactly once: the sample and tasks by the store's transaction; every DM and post by an action
ledger key recorded before the post, with the key in the message's metadata so that a re-run
after a crash finds the post instead of posting again.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from deskbot.domain.authz import Actor, Forbidden
from deskbot.domain.people import Person, Role
from deskbot.domain.qa import (
    AssignmentError,
    Cycle,
    SampledTicket,
    StrataRules,
    TaskToAssign,
    assign_reviewers,
    closes_at,
    due_at,
    last_complete_cycle,
    parse_cycle,
    sample_agent,
)
from deskbot.domain.scorecard import ScoreError, review_score, validate
from deskbot.log import get_logger
from deskbot.ports import ActionLedger, Clock, PeopleDirectory
from deskbot.services.qa_types import (
    CycleRecord,
    DisputeRecord,
    NewTask,
    QaError,
    QaStore,
    ReviewRecord,
    SampleRecord,
    TaskView,
)
from deskbot.settings import Settings

log = get_logger(__name__)

_CYCLE_WORD = re.compile(r"^\d{4}-(W\d{2}|\d{2})$")
KIND = "qa_dm"
FIND_SLACK = timedelta(minutes=5)
IN_FLIGHT = timedelta(minutes=2)  # a pending intent younger than this is another worker's


@dataclass(frozen=True)
class Comment:
    author: str
    created_at: datetime | None
    body: str


class CommentSource(Protocol):
    def public_comments(self, ticket_id: int) -> list[Comment]:
        """The ticket's public comments, oldest first."""
        ...


class QaSlack(Protocol):
    """What the QA service says in Slack (``adapters/slack/qa_notifier.py``). Every DM and
    post carries ``marker`` in its metadata; ``find`` looks for it."""

    def find(self, target: str, marker: str, since: datetime) -> str | None:
        """The ts of a message carrying ``marker`` in the DM with a user / a channel."""
        ...

    def task_list(
        self, reviewer: str, cycle: CycleRecord, tasks: Sequence[TaskView], marker: str
    ) -> str: ...

    def review(
        self,
        agent: str,
        task: TaskView,
        review: ReviewRecord,
        reviewer_shown: str | None,
        closes: datetime,
        marker: str,
    ) -> str: ...

    def dispute(
        self, resolver: str, task: TaskView, dispute: DisputeRecord, marker: str
    ) -> str: ...

    def dispute_outcome(
        self, agent: str, task: TaskView, dispute: DisputeRecord, marker: str
    ) -> str: ...

    def reminder(
        self, reviewer: str, cycle: CycleRecord, tasks: Sequence[TaskView], marker: str
    ) -> str: ...

    def overdue(
        self, owner: str, cycle: CycleRecord, tasks: Sequence[TaskView], marker: str
    ) -> str: ...

    def digest(self, channel: str, report: Any, marker: str) -> str: ...

    def open_score_modal(self, trigger_id: str, task: TaskView, closes: datetime) -> None: ...

    def open_dispute_modal(self, trigger_id: str, task: TaskView) -> None: ...

    def open_resolve_modal(self, trigger_id: str, task: TaskView) -> None: ...

    def open_conversation(
        self, trigger_id: str, task: TaskView, load: Callable[[], list[Comment]]
    ) -> None:
        """Open a modal at once (the trigger expires in 3 s), then fill it from ``load``."""
        ...


class HeroHook(Protocol):
    """``ShoutoutService.shout_out_qa_hero`` (its caps apply)."""

    def shout_out_qa_hero(
        self,
        *,
        review_id: int | str,
        agent_id: int,
        agent_name: str | None,
        ticket_id: int | None,
        note: str | None,
        now: datetime,
    ) -> Any: ...


@dataclass
class DrawResult:
    cycle: CycleRecord
    created: bool
    samples: list[SampleRecord | SampledTicket]
    assignments: dict[int, str]  # ticket id → reviewer
    agents: int
    skipped_agents: list[int] = field(default_factory=list)  # no population this cycle

    def as_dict(self) -> dict[str, Any]:
        by_stratum: dict[str, int] = {}
        for s in self.samples:
            by_stratum[s.stratum] = by_stratum.get(s.stratum, 0) + 1
        loads: dict[str, int] = {}
        for r in self.assignments.values():
            loads[r] = loads.get(r, 0) + 1
        return {
            "cycle": self.cycle.key,
            "window": [self.cycle.start_at.isoformat(), self.cycle.end_at.isoformat()],
            "due": self.cycle.due_at.isoformat(),
            "created": self.created,
            "agents": self.agents,
            "samples": len(self.samples),
            "by_stratum": by_stratum,
            "reviewer_loads": loads,
        }


@dataclass(frozen=True)
class SubmitOutcome:
    task_id: int
    version: int
    new: bool


class QaService:
    def __init__(
        self,
        settings: Settings,
        store: QaStore,
        directory: PeopleDirectory,
        ledger: ActionLedger,
        clock: Clock,
        *,
        slack: QaSlack | None = None,
        comments: CommentSource | None = None,
        hero: HeroHook | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.directory = directory
        self.ledger = ledger
        self.clock = clock
        self.slack = slack
        self.comments = comments
        self.hero = hero
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- who ----------------------------------------------------------------------------------

    @property
    def cfg(self) -> Any:
        return self.settings.qa

    def actor(self, slack_user_id: str) -> Actor:
        return self.directory.actor(slack_user_id)

    def is_owner(self, actor: Actor) -> bool:
        """QA owners and admins (with no owners configured, admins alone)."""
        return actor.role >= Role.ADMIN or actor.slack_user_id in self.cfg.owners

    def owners(self) -> list[str]:
        if self.cfg.owners:
            return list(dict.fromkeys(self.cfg.owners))
        return sorted(
            p.slack_user_id
            for p in self.directory.people()
            if p.role >= Role.ADMIN and p.slack_user_id
        )

    def agent_person(self, agent_id: int) -> Person | None:
        return self.directory.by_zendesk_id(agent_id)

    def agent_name(self, agent_id: int) -> str:
        person = self.agent_person(agent_id)
        return person.name if person is not None else f"agent {agent_id}"

    def lead_of(self, agent_id: int) -> str | None:
        person = self.agent_person(agent_id)
        return person.lead_slack_id if person is not None else None

    def may_see_agent(self, actor: Actor, agent_id: int) -> bool:
        """The agent, their lead, QA owners and admins."""
        if self.is_owner(actor):
            return True
        if actor.zendesk_user_id == agent_id:
            return True
        return actor.role >= Role.LEAD and self.lead_of(agent_id) == actor.slack_user_id

    def agents(self) -> dict[int, Person]:
        """Active agents with a Zendesk id: whose tickets are sampled."""
        return {
            p.zendesk_user_id: p
            for p in self.directory.people()
            if p.zendesk_user_id is not None and p.active and p.role >= Role.AGENT
        }

    def reviewers(self) -> list[str]:
        """``qa.reviewers`` + the members of ``qa.reviewers_department`` (active people only);
        with neither configured, the directory's leads."""
        ids: list[str] = list(self.cfg.reviewers)
        if self.cfg.reviewers_department:
            dept = self.directory.department(self.cfg.reviewers_department)
            if dept is not None:
                ids += list(dept.members)
        configured = bool(ids)
        if not configured:
            ids = [
                p.slack_user_id
                for p in self.directory.people()
                if p.role == Role.LEAD and p.slack_user_id
            ]
        active = []
        for slack_id in dict.fromkeys(ids):
            person = self.directory.by_slack_id(slack_id)
            if person is None and configured:
                active.append(slack_id)  # a YAML reviewer the directory does not know yet
            elif person is not None and person.active and not person.is_bot:
                active.append(slack_id)
        return sorted(active)

    # -- cycles -------------------------------------------------------------------------------

    def cycle(self, key: str | None = None, now: datetime | None = None) -> Cycle:
        if key:
            return parse_cycle(key, self.settings.timezone)
        return last_complete_cycle(self.cfg.cycle, now or self.clock.now(), self.settings.timezone)

    def _record(self, cycle: Cycle, now: datetime) -> CycleRecord:
        return CycleRecord(
            key=cycle.key,
            kind=cycle.kind,
            start_at=cycle.start,
            end_at=cycle.end,
            due_at=due_at(cycle, self.cfg.due_days),
            closes_at=closes_at(cycle, self.cfg.close_days),
            seed=self.cfg.seed,
            drawn_at=now,
        )

    def _previous_pairs(self, cycle: Cycle) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for t in self.store.tasks(cycle_keys=[cycle.previous().key]):
            out.setdefault(t.agent_slack or f"zd:{t.sample.agent_id}", []).append(t.reviewer)
        return out

    def draw(self, cycle_key: str | None = None, *, dry_run: bool = False) -> DrawResult:
        """The cycle's sample and reviewer assignment. Drawn once: a cycle drawn before returns
        what is stored and writes nothing (on any replica)."""
        now = self.clock.now()
        cycle = self.cycle(cycle_key, now)
        if cycle.end > now:
            raise QaError(f"cycle {cycle.key} has not ended yet (it ends {cycle.end:%Y-%m-%d})")
        stored = self.store.get_cycle(cycle.key)
        if stored is not None:
            return self._stored(stored, created=False)
        synced = self.store.synced_through()
        if synced is not None and synced < cycle.end:
            raise QaError(
                f"the Zendesk sync has only reached {synced:%Y-%m-%d %H:%M} UTC and cycle "
                f"{cycle.key} ends {cycle.end:%Y-%m-%d %H:%M} UTC; the sample waits for it so "
                "that it sees every solved ticket"
            )
        agents = self.agents()
        population = self.store.population(cycle.start, cycle.end, agents.keys(), cycle.key)
        rules = StrataRules(self.cfg.long_resolution_hours, self.cfg.many_replies)
        quotas = self.cfg.strata.model_dump()
        samples: list[SampledTicket] = []
        skipped: list[int] = []
        for agent_id in sorted(population):
            drawn = sample_agent(
                population[agent_id],
                agent_id=agent_id,
                cycle=cycle.key,
                seed=self.cfg.seed,
                samples_per_agent=self.cfg.samples_per_agent,
                quotas=quotas,
                rules=rules,
            )
            if not drawn:
                skipped.append(agent_id)
            samples += drawn
        reviewers = self.reviewers()
        slack_of = {a: p.slack_user_id for a, p in agents.items()}
        to_assign = [
            TaskToAssign(s.ticket_id, slack_of.get(s.agent_id) or f"zd:{s.agent_id}")
            for s in samples
        ]
        if samples and not reviewers:
            raise QaError(
                "no QA reviewers: set qa.reviewers or qa.reviewers_department (or name leads)"
            )
        try:
            assignments = (
                assign_reviewers(
                    to_assign,
                    reviewers,
                    cycle_index=cycle.index,
                    previous=self._previous_pairs(cycle),
                )
                if samples
                else {}
            )
        except AssignmentError as exc:
            raise QaError(str(exc)) from exc
        record = self._record(cycle, now)
        result = DrawResult(record, True, list(samples), assignments, len(agents), skipped)
        if dry_run:
            return result
        tasks = [
            NewTask(s.ticket_id, assignments[s.ticket_id], slack_of.get(s.agent_id))
            for s in samples
        ]
        if not self.store.save_draw(record, samples, tasks):
            stored = self.store.get_cycle(cycle.key)
            assert stored is not None
            return self._stored(stored, created=False)  # another replica drew it first
        log.info("qa.drawn", cycle=cycle.key, samples=len(samples), agents=len(agents))
        return result

    def _stored(self, cycle: CycleRecord, *, created: bool) -> DrawResult:
        tasks = self.store.tasks(cycle_keys=[cycle.key])
        samples: list[SampleRecord | SampledTicket] = list(self.store.samples(cycle.key))
        return DrawResult(
            cycle,
            created,
            samples,
            {t.sample.ticket_id: t.reviewer for t in tasks},
            len({s.agent_id for s in samples}),
        )

    # -- exactly-once messages ----------------------------------------------------------------

    def _key_lock(self, key: str) -> threading.Lock:
        with self._locks_guard:
            lock = self._locks.get(key)
            if lock is None:
                if len(self._locks) > 10_000:
                    self._locks.clear()
                lock = self._locks[key] = threading.Lock()
            return lock

    def _once(self, key: str, target: str, send: Callable[[str], str]) -> bool:
        """Send once per ledger ``key``: intent first, the post, then done. After a crash
        between the post and "done", the post is found by its marker instead of repeated.

        Two workers of this process wait for each other (a lock per key); an intent another
        process recorded less than ``IN_FLIGHT`` ago is left to it (a double click handled by
        two replicas), and ``recover`` finishes it later if that process died."""
        if self.slack is None:
            return False
        with self._key_lock(key):
            return self._once_locked(key, target, send)

    def _once_locked(self, key: str, target: str, send: Callable[[str], str]) -> bool:
        prior = self.ledger.get(key)
        if prior is not None and prior.status == "done":
            return False
        fresh = prior is not None and self.clock.now() - prior.updated_at < IN_FLIGHT
        if prior is not None and prior.status == "pending" and fresh:
            return False  # another worker's intent, fresh: theirs to finish
        record = self.ledger.begin(key, KIND, subject=target, payload={"target": target})
        if record.status == "done" or (prior is None and not record.new):
            return False  # done, or another worker recorded the intent just before us
        try:
            if not record.new:
                ts = self._slack().find(target, key, record.created_at - FIND_SLACK)
                if ts is not None:
                    self.ledger.complete(key, {"ts": ts, "found": True})
                    return False
            ts = send(key)
            self.ledger.complete(key, {"ts": ts})
        except Exception as exc:
            self.ledger.fail(key, f"{type(exc).__name__}: {exc}"[:500])
            log.warning("qa.message_failed", key=key, error=str(exc)[:200])
            raise
        return True

    def dispatch(self, cycle_key: str) -> int:
        """One DM per reviewer with their task list (and one per task reassigned to them)."""
        cycle = self.store.get_cycle(cycle_key)
        if cycle is None:
            raise QaError(f"cycle {cycle_key} has not been drawn")
        if self.slack is None:
            return 0
        by_reviewer: dict[str, list[TaskView]] = {}
        for t in self.store.tasks(cycle_keys=[cycle_key]):
            by_reviewer.setdefault(t.reviewer, []).append(t)
        sent = 0
        for reviewer, tasks in sorted(by_reviewer.items()):
            original = [t for t in tasks if t.reassigned_from is None]
            if original:
                sent += self._once(
                    f"qa:tasks:{cycle_key}:{reviewer}",
                    reviewer,
                    partial(self._slack().task_list, reviewer, cycle, original),
                )
            moved = [t for t in tasks if t.reassigned_from is not None and t.state == "open"]
            for t in moved:
                sent += self._once(
                    f"qa:tasks:{cycle_key}:{reviewer}:task:{t.id}",
                    reviewer,
                    partial(self._slack().task_list, reviewer, cycle, [t]),
                )
        return sent

    def _slack(self) -> QaSlack:
        if self.slack is None:
            raise QaError("Slack is not configured (slack.enabled is false)")
        return self.slack

    def reassign_inactive(self, cycle_key: str) -> int:
        """Open tasks of reviewers who are no longer active reviewers move to active ones,
        balanced against what they hold."""
        cycle = self.store.get_cycle(cycle_key)
        if cycle is None or self.clock.now() >= cycle.closes_at:
            return 0
        reviewers = self.reviewers()
        tasks = self.store.tasks(cycle_keys=[cycle_key])
        stranded = [t for t in tasks if t.state == "open" and t.reviewer not in reviewers]
        if not stranded or not reviewers:
            return 0
        loads = {r: 0 for r in reviewers}
        for t in tasks:
            if t.reviewer in loads and t.state == "open":
                loads[t.reviewer] += 1
        index = parse_cycle(cycle_key, self.settings.timezone).index
        try:
            got = assign_reviewers(
                [TaskToAssign(t.id, t.agent_slack or f"zd:{t.sample.agent_id}") for t in stranded],
                reviewers,
                cycle_index=index,
                loads=loads,
            )
        except AssignmentError as exc:
            log.warning("qa.reassign_impossible", cycle=cycle_key, error=str(exc))
            return 0
        moved = 0
        for t in stranded:
            if self.store.reassign(t.id, t.reviewer, got[t.id]):
                moved += 1
        log.info("qa.reassigned", cycle=cycle_key, tasks=moved)
        return moved

    # -- scoring ------------------------------------------------------------------------------

    def _task(self, task_id: int) -> TaskView:
        task = self.store.task(task_id)
        if task is None:
            raise QaError(f"There is no QA task {task_id}.")
        return task

    def _cycle_of(self, task: TaskView) -> CycleRecord:
        cycle = self.store.get_cycle(task.cycle_key)
        assert cycle is not None
        return cycle

    def _check_reviewer(self, user: str, task: TaskView) -> CycleRecord:
        actor = self.actor(user)
        inactive = actor.person is not None and not actor.person.active
        if actor.slack_user_id != task.reviewer or inactive:
            raise Forbidden("score this ticket", "its assigned (active) reviewer")
        cycle = self._cycle_of(task)
        if self.clock.now() >= cycle.closes_at:
            raise QaError(
                f"QA cycle {cycle.key} closed on {cycle.closes_at:%Y-%m-%d}; reviews can no "
                "longer be changed."
            )
        return cycle

    def open_score(self, user: str, task_id: int, trigger_id: str) -> None:
        task = self._task(task_id)
        cycle = self._check_reviewer(user, task)
        self._slack().open_score_modal(trigger_id, task, cycle.closes_at)

    def check_score(self, user: str, task_id: int) -> None:
        """Raise unless ``user`` may store a review of this task now."""
        self._check_reviewer(user, self._task(task_id))

    def submit_score(
        self,
        user: str,
        task_id: int,
        *,
        submission: str,
        scores: Mapping[str, int | None],
        hero: bool,
        notes: str | None,
    ) -> SubmitOutcome:
        """Store the review (a new version when amending). The same ``submission`` (a double
        click, a Slack retry) stores nothing new."""
        task = self._task(task_id)
        self._check_reviewer(user, task)
        try:
            checked = validate(scores)
        except ScoreError as exc:
            raise QaError(str(exc)) from exc
        weights = self.cfg.weights.model_dump()
        version, new = self.store.save_review(
            task_id,
            submission=submission,
            author=user,
            scores=checked,
            score=review_score(checked, weights),
            hero=hero,
            notes=notes,
            at=self.clock.now(),
        )
        log.info("qa.reviewed", task=task_id, version=version, new=new)
        return SubmitOutcome(task_id, version, new)

    def after_review(self, task_id: int) -> None:
        """Tell the agent (one DM per review version) and turn a hero bonus into a shout-out."""
        task = self._task(task_id)
        review = task.review
        if review is None:
            return
        cycle = self._cycle_of(task)
        if task.agent_slack:
            shown = None
            if self.cfg.name_reviewer:
                person = self.directory.by_slack_id(review.author)
                shown = person.name if person is not None else review.author
            self._once(
                f"qa:review:{task.id}:{review.version}",
                task.agent_slack,
                lambda m: self._slack().review(
                    task.agent_slack or "", task, review, shown, cycle.closes_at, m
                ),
            )
        if review.hero and self.hero is not None:
            self.hero.shout_out_qa_hero(
                review_id=task.id,
                agent_id=task.sample.agent_id,
                agent_name=self.agent_name(task.sample.agent_id),
                ticket_id=None,
                note=None,
                now=self.clock.now(),
            )

    # -- conversation -------------------------------------------------------------------------

    def may_read_task(self, actor: Actor, task: TaskView) -> bool:
        return actor.slack_user_id == task.reviewer or self.may_see_agent(
            actor, task.sample.agent_id
        )

    def open_conversation(self, user: str, task_id: int, trigger_id: str) -> None:
        task = self._task(task_id)
        if not self.may_read_task(self.actor(user), task):
            raise Forbidden(
                "read this ticket here", "its reviewer, the agent, their lead or QA owners"
            )
        if self.comments is None:
            raise QaError("Zendesk is not configured, so the conversation cannot be fetched.")
        source = self.comments
        self._slack().open_conversation(
            trigger_id, task, lambda: source.public_comments(task.sample.ticket_id)
        )

    # -- disputes -----------------------------------------------------------------------------

    def _check_agent(self, user: str, task: TaskView) -> CycleRecord:
        actor = self.actor(user)
        own = (
            actor.zendesk_user_id is not None and actor.zendesk_user_id == task.sample.agent_id
        ) or (task.agent_slack is not None and task.agent_slack == actor.slack_user_id)
        if not own:
            raise Forbidden("dispute this review", "the reviewed agent")
        if task.review is None:
            raise QaError("This ticket has not been reviewed yet.")
        if task.dispute is not None:
            raise QaError(f"You disputed this review already ({task.dispute.state}).")
        cycle = self._cycle_of(task)
        if self.clock.now() >= cycle.closes_at:
            raise QaError(f"QA cycle {cycle.key} is closed; disputes are no longer accepted.")
        return cycle

    def open_dispute(self, user: str, task_id: int, trigger_id: str) -> None:
        task = self._task(task_id)
        self._check_agent(user, task)
        self._slack().open_dispute_modal(trigger_id, task)

    def check_dispute(self, user: str, task_id: int) -> None:
        self._check_agent(user, self._task(task_id))

    def submit_dispute(self, user: str, task_id: int, reason: str) -> bool:
        task = self._task(task_id)
        reason = reason.strip()
        if not reason:
            raise QaError("Say what you disagree with.")
        self._check_agent(user, task)
        created = self.store.open_dispute(task_id, task.cycle_key, user, reason, self.clock.now())
        log.info("qa.disputed", task=task_id, new=created)
        return created

    def resolvers(self, task: TaskView) -> list[str]:
        out = list(self.owners())
        lead = self.lead_of(task.sample.agent_id)
        if lead:
            out.append(lead)
        return [r for r in dict.fromkeys(out) if r != task.agent_slack]

    def after_dispute(self, task_id: int) -> None:
        task = self._task(task_id)
        dispute = task.dispute
        if dispute is None:
            return
        for resolver in self.resolvers(task):
            self._once(
                f"qa:dispute:{task.id}:{resolver}",
                resolver,
                partial(self._slack().dispute, resolver, task, dispute),
            )

    def _check_resolver(self, user: str, task: TaskView) -> None:
        actor = self.actor(user)
        if task.agent_slack == actor.slack_user_id or actor.zendesk_user_id == task.sample.agent_id:
            raise Forbidden("resolve a dispute of your own review", "a QA owner or your lead")
        if not (self.is_owner(actor) or self.lead_of(task.sample.agent_id) == actor.slack_user_id):
            raise Forbidden("resolve this dispute", "a QA owner, an admin or the agent's lead")
        if task.dispute is None:
            raise QaError("There is no dispute on this review.")
        if task.dispute.state != "open":
            raise QaError(
                f"This dispute was resolved already ({task.dispute.state} by "
                f"<@{task.dispute.resolved_by}>)."
            )

    def open_resolve(self, user: str, task_id: int, trigger_id: str) -> None:
        task = self._task(task_id)
        self._check_resolver(user, task)
        self._slack().open_resolve_modal(trigger_id, task)

    def check_resolve(self, user: str, task_id: int) -> None:
        self._check_resolver(user, self._task(task_id))

    def resolve_dispute(
        self,
        user: str,
        task_id: int,
        *,
        outcome: str,
        note: str,
        submission: str,
        scores: Mapping[str, int | None] | None = None,
    ) -> bool:
        """``upheld`` keeps the review; ``changed`` stores ``scores`` as a new version by the
        resolver. Compare-and-set: of two resolvers racing, one wins."""
        task = self._task(task_id)
        self._check_resolver(user, task)
        if outcome not in ("upheld", "changed"):
            raise QaError("Choose upheld or changed.")
        if not note.strip():
            raise QaError("Add a note for the agent.")
        now = self.clock.now()
        if outcome == "changed":
            if scores is None:
                raise QaError("A changed review needs its new scores.")
            try:
                checked = validate(scores)
            except ScoreError as exc:
                raise QaError(str(exc)) from exc
            assert task.review is not None
            self.store.save_review(
                task_id,
                submission=f"dispute:{submission}",
                author=user,
                scores=checked,
                score=review_score(checked, self.cfg.weights.model_dump()),
                hero=task.review.hero,
                notes=task.review.notes,
                at=now,
            )
        won = self.store.resolve_dispute(task_id, outcome, user, note.strip(), now)
        log.info("qa.dispute_resolved", task=task_id, outcome=outcome, won=won)
        return won

    def after_resolution(self, task_id: int) -> None:
        task = self._task(task_id)
        dispute = task.dispute
        if dispute is None or dispute.state == "open" or not task.agent_slack:
            return
        self._once(
            f"qa:dispute_outcome:{task.id}",
            task.agent_slack,
            lambda m: self._slack().dispute_outcome(task.agent_slack or "", task, dispute, m),
        )

    # -- reminders, overdue, digest -------------------------------------------------------------

    def remind(self) -> dict[str, int]:
        """Reminders ``qa.reminder_hours`` before the due date (once per reviewer and cycle),
        the overdue list to QA owners after it (once per owner and cycle)."""
        now = self.clock.now()
        reminded = overdue = 0
        if self.slack is None:
            return {"reminded": 0, "overdue_lists": 0}
        for cycle in self.store.cycles():
            if now >= cycle.closes_at:
                continue
            open_tasks = self.store.tasks(cycle_keys=[cycle.key], state="open")
            if not open_tasks:
                continue
            if cycle.due_at - timedelta(hours=self.cfg.reminder_hours) <= now < cycle.due_at:
                by_reviewer: dict[str, list[TaskView]] = {}
                for t in open_tasks:
                    by_reviewer.setdefault(t.reviewer, []).append(t)
                for reviewer, tasks in sorted(by_reviewer.items()):
                    reminded += self._once(
                        f"qa:remind:{cycle.key}:{reviewer}",
                        reviewer,
                        partial(self._slack().reminder, reviewer, cycle, tasks),
                    )
            elif now >= cycle.due_at:
                for owner in self.owners():
                    overdue += self._once(
                        f"qa:overdue:{cycle.key}:{owner}",
                        owner,
                        partial(self._slack().overdue, owner, cycle, open_tasks),
                    )
        return {"reminded": reminded, "overdue_lists": overdue}

    def digest(self, build_report: Callable[[list[str]], Any]) -> int:
        """The team-level digest of each cycle that closed, once, to ``qa.digest_channel``."""
        channel = self.cfg.digest_channel
        if not channel or self.slack is None:
            return 0
        now = self.clock.now()
        posted = 0
        for cycle in self.store.cycles():
            if now < cycle.closes_at or now - cycle.closes_at > timedelta(days=31):
                continue
            report = build_report([cycle.key])
            posted += self._once(
                f"qa:digest:{cycle.key}",
                channel,
                partial(self._slack().digest, channel, report),
            )
        return posted

    def recover(self) -> int:
        """Finish DMs whose intent was recorded by a worker that died (older than
        ``IN_FLIGHT``, still pending): each is re-derived from its key and sent once."""
        if self.slack is None:
            return 0
        now = self.clock.now()
        done = 0
        for record in self.ledger.pending(KIND):
            if now - record.updated_at < IN_FLIGHT:
                continue
            parts = record.key.split(":")
            try:
                kind, task_id = parts[1], int(parts[2]) if parts[2].isdigit() else None
                if kind == "review" and task_id is not None:
                    self.after_review(task_id)
                elif kind == "dispute" and task_id is not None:
                    self.after_dispute(task_id)
                elif kind == "dispute_outcome" and task_id is not None:
                    self.after_resolution(task_id)
                else:
                    continue  # tasks, reminders, overdue, digest: the cycle run redoes them
            except (QaError, IndexError) as exc:
                log.warning("qa.recover_skipped", key=record.key, error=str(exc)[:200])
                continue
            done += 1
        return done

    def run_cycle(self, build_report: Callable[[list[str]], Any] | None = None) -> dict[str, Any]:
        """The scheduled job: reassign stranded tasks, draw the last complete cycle (once),
        DM reviewers (once), remind, list the overdue, post the digests of closed cycles."""
        if not self.cfg.enabled:
            return {"skipped": "qa.enabled is false"}
        now = self.clock.now()
        moved = 0
        for c in self.store.cycles():
            if now < c.closes_at:
                moved += self.reassign_inactive(c.key)
        summary: dict[str, Any] = {"reassigned": moved}
        try:
            summary["draw"] = self.draw().as_dict()
        except QaError as exc:  # not yet (the sync is behind): the next run draws it
            summary["draw"] = {"skipped": str(exc)}
            log.warning("qa.draw_waits", reason=str(exc)[:200])
        sent = 0
        for c in self.store.cycles():
            if now < c.closes_at:
                sent += self.dispatch(c.key)
        summary["task_dms"] = sent
        summary["recovered"] = self.recover()
        summary.update(self.remind())
        if build_report is not None:
            summary["digests"] = self.digest(build_report)
        return summary

    # -- reports ------------------------------------------------------------------------------

    def resolve_agent(self, text: str) -> int:
        """An agent by Zendesk id, Slack id / mention, or name (case-insensitive)."""
        word = text.strip().removeprefix("<@").removesuffix(">").split("|")[0].lstrip("@")
        if word.isdigit():
            return int(word)
        person = self.directory.by_slack_id(word)
        if person is None:
            matches = [
                p for p in self.directory.people(include_inactive=True)
                if p.name.lower() == word.lower()
            ]  # fmt: skip
            person = matches[0] if len(matches) == 1 else None
        if person is None or person.zendesk_user_id is None:
            raise QaError(f"no agent {text!r}; use a Zendesk id, a Slack mention or a name")
        return person.zendesk_user_id

    def report_cycles(
        self, cycle_key: str | None = None, period: str | None = None
    ) -> list[CycleRecord]:
        """The drawn cycles a report covers: one cycle, the cycles starting in a period, or the
        newest drawn cycle."""
        drawn = self.store.cycles()
        if cycle_key:
            key = parse_cycle(cycle_key, self.settings.timezone).key
            chosen = [c for c in drawn if c.key == key]
            if not chosen:
                raise QaError(f"cycle {key} has not been drawn")
            return chosen
        if period:
            from deskbot.domain.metrics import parse_period

            window = parse_period(period, self.clock.now(), self.settings.tz)
            return [c for c in drawn if window.start <= c.start_at < window.end]
        return drawn[-1:]

    def report(
        self,
        *,
        cycle_key: str | None = None,
        period: str | None = None,
        agent: str | None = None,
        user: str | None = None,
    ) -> Any:
        """The QA report. ``user`` None is the local operator (everything); otherwise the
        per-agent rows are limited to what that person may see."""

        cycles = self.report_cycles(cycle_key, period)
        agent_id = self.resolve_agent(agent) if agent else None
        scope: set[int] | None = None
        if user is not None:
            actor = self.actor(user)
            if actor.role < Role.AGENT and not self.is_owner(actor):
                raise Forbidden("see QA reports", Role.AGENT.label)
            if not self.is_owner(actor):
                scope = {
                    p.zendesk_user_id
                    for p in self.directory.people(include_inactive=True)
                    if p.zendesk_user_id is not None
                    and self.may_see_agent(actor, p.zendesk_user_id)
                }
                if agent_id is not None and agent_id not in scope:
                    raise Forbidden(
                        "see this agent's QA results", "the agent, their lead and QA owners"
                    )
        return self.build([c.key for c in cycles], scope=scope, agent=agent_id, cycles=cycles)

    def build(
        self,
        keys: list[str],
        *,
        scope: set[int] | None = None,
        agent: int | None = None,
        cycles: list[CycleRecord] | None = None,
    ) -> Any:
        from deskbot.services.qa_report import build_report

        if cycles is None:
            by_key = {c.key: c for c in self.store.cycles()}
            cycles = [by_key[k] for k in keys if k in by_key]
        tasks = self.store.tasks(cycle_keys=[c.key for c in cycles]) if cycles else []
        people = self.directory.people(include_inactive=True)
        names = {p.zendesk_user_id: p.name for p in people if p.zendesk_user_id is not None}
        slack_ids = {
            p.zendesk_user_id: p.slack_user_id for p in people if p.zendesk_user_id is not None
        }
        reviewer_names = {p.slack_user_id: p.name for p in people if p.slack_user_id}
        return build_report(
            cycles,
            tasks,
            names=names,
            slack_ids=slack_ids,
            reviewer_names=reviewer_names,
            scope_agents=scope,
            agent=agent,
        )

    # -- /deskbot qa ----------------------------------------------------------------------------

    def qa_command(self, user_id: str, args: Sequence[str]) -> str:
        """``qa report [cycle|period] [@agent]`` or ``qa tasks`` (the caller's open tasks)."""
        from deskbot.domain.commands import CommandError
        from deskbot.domain.metrics import PeriodError
        from deskbot.domain.qa import CycleError
        from deskbot.services.qa_report import render_text

        words = list(args)
        sub = words.pop(0).lower() if words else "report"
        try:
            if sub == "tasks":
                tasks = self.store.tasks(reviewer=user_id, state="open")
                if not tasks:
                    return "You have no open QA reviews."
                lines = [f"Your open QA reviews ({len(tasks)}):"]
                for t in tasks[:50]:
                    lines.append(
                        f"• {t.cycle_key} ticket #{t.sample.ticket_id} "
                        f"({t.sample.stratum}), due {t.due_at:%a %d %b}"
                    )
                return "\n".join(lines)
            if sub != "report":
                raise CommandError("Use `qa report [cycle|period] [@agent]` or `qa tasks`.")
            cycle = period = agent = None
            for word in words:
                if word.startswith("<@") or word.startswith("@") or word.isdigit():
                    agent = word
                elif _CYCLE_WORD.match(word) and ("W" in word) == (self.cfg.cycle == "weekly"):
                    cycle = word
                else:
                    period = word
            report = self.report(cycle_key=cycle, period=period, agent=agent, user=user_id)
            return render_text(report)
        except (Forbidden, QaError, CycleError, PeriodError) as exc:
            raise CommandError(str(exc)) from exc
