"""QA calibration sessions: start, collect blind scorecards, close, report.

Who may do what (checked here, whatever the adapter):
- start a session: leads and admins;
- submit a scorecard: only a calibrator of that session, only while it is open, once per
  ticket (final: a calibrator who has seen the others' scores cannot change their own);
- see scores: a calibrator sees the others' scores and notes only once they have scored every
  ticket themselves; everyone else (the facilitator included) sees progress only — who has
  finished — until the session closes; after the close, leads, admins and the calibrators see
  the results;
- write lessons learned: the facilitator or an admin, once the session has closed.

Calibration scorecards live in their own tables and never count in agents' QA scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from deskbot.domain.authz import Actor, Forbidden, require
from deskbot.domain.calibration import (
    CalibrationResults,
    CalibrationScore,
    CalibratorBias,
    bias_trend,
    drift,
    pick_by_channel,
    results,
)
from deskbot.domain.people import Role
from deskbot.domain.scorecard import ScoreError, validate
from deskbot.log import get_logger
from deskbot.ports import Clock, PeopleDirectory

log = get_logger(__name__)

MIN_CALIBRATORS = 2
MAX_TICKETS = 20
NOTES_LIMIT = 2000


class CalibrationError(Exception):
    """A request that cannot be done; the message says why and what to do instead."""


# --------------------------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewSession:
    title: str
    facilitator: str
    how_chosen: str
    tickets: Sequence[tuple[int, str | None]]
    calibrators: Sequence[str]
    created_at: datetime
    deadline: datetime
    acceptable_variance: int = 1
    schedule_key: str | None = None


@dataclass(frozen=True)
class SessionRecord:
    id: int
    title: str
    facilitator: str
    status: str  # open/closed
    how_chosen: str
    schedule_key: str | None
    acceptable_variance: int
    created_at: datetime
    deadline: datetime
    closed_at: datetime | None
    lessons: str | None
    tickets: tuple[tuple[int, str | None], ...]
    calibrators: tuple[str, ...]

    @property
    def ticket_ids(self) -> list[int]:
        return [t for t, _ in self.tickets]


@dataclass(frozen=True)
class StoredScore:
    card: CalibrationScore
    notes: str | None
    submitted_at: datetime


class CalibrationStore(Protocol):
    def create(self, new: NewSession) -> tuple[int, bool]: ...

    def get(self, session_id: int) -> SessionRecord | None: ...

    def sessions(self, *, status: str | None = None, limit: int = 50) -> list[SessionRecord]: ...

    def due(self, now: datetime) -> list[int]: ...

    def close(self, session_id: int, at: datetime) -> bool: ...

    def set_lessons(self, session_id: int, text: str, at: datetime) -> bool: ...

    def add_score(
        self,
        session_id: int,
        ticket_id: int,
        calibrator: str,
        scores: dict[str, int | None],
        notes: str | None,
        at: datetime,
    ) -> str: ...

    def scores(self, session_id: int) -> list[StoredScore]: ...


class CalibrationTickets(Protocol):
    def solved_between(self, start: datetime, end: datetime) -> dict[int, str | None]: ...

    def tagged(self, tag: str, start: datetime, end: datetime) -> dict[int, str | None]: ...

    def existing(self, ids: Sequence[int]) -> dict[int, str | None]: ...


# --------------------------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """Who has finished (the only thing anyone sees of an open session before their own)."""

    finished: tuple[str, ...]
    waiting: tuple[str, ...]
    scored_by_calibrator: dict[str, int]  # calibrator -> tickets scored
    tickets: int


@dataclass(frozen=True)
class SessionView:
    session: SessionRecord
    progress: Progress
    # Scorecards the viewer may see (empty while blind): their own always, others' once they
    # have scored every ticket or the session has closed.
    visible: list[StoredScore]
    blind: bool
    results: CalibrationResults | None  # after the close


@dataclass(frozen=True)
class SubmitOutcome:
    stored: bool  # False: a repeat of one already stored (a double click, a Slack retry)
    finished: bool  # the calibrator has now scored every ticket
    everyone_finished: bool  # every calibrator has: the session may close now


@dataclass(frozen=True)
class CalibrationReport:
    session: SessionRecord
    results: CalibrationResults
    notes: dict[int, dict[str, str]]  # ticket -> calibrator -> notes
    trend: dict[str, list[tuple[str, float]]]  # calibrator -> (session title, mean deviation)
    drift: dict[str, float | None]


@dataclass(frozen=True)
class CalibrationOptions:
    """The ``qa.calibration`` settings the service needs."""

    tickets: int = 3
    calibrators: tuple[str, ...] = ()
    calibrators_department: str | None = None
    deadline_days: float = 7
    acceptable_variance: int = 1
    lookback_days: int = 30
    seed: int = 0
    bootstrap_draws: int = 1000


# --------------------------------------------------------------------------------------------
# The service
# --------------------------------------------------------------------------------------------


class CalibrationService:
    def __init__(
        self,
        store: CalibrationStore,
        tickets: CalibrationTickets,
        directory: PeopleDirectory,
        clock: Clock,
        options: CalibrationOptions,
    ) -> None:
        self.store = store
        self.tickets = tickets
        self.directory = directory
        self.clock = clock
        self.options = options

    # -- who calibrates ---------------------------------------------------------------------

    def default_calibrators(self) -> list[str]:
        """``qa.calibration.calibrators`` (or ``qa.calibrators``), else the members of
        ``qa.calibration.department`` who are active in the directory."""
        if self.options.calibrators:
            return list(dict.fromkeys(self.options.calibrators))
        name = self.options.calibrators_department
        if name:
            dept = self.directory.department(name)
            if dept is not None:
                active = {p.slack_user_id for p in self.directory.people()}
                return [m for m in dept.members if m in active]
        return []

    # -- start ------------------------------------------------------------------------------

    def start(
        self,
        actor: Actor | None,
        *,
        n: int | None = None,
        ticket_ids: Sequence[int] = (),
        tag: str | None = None,
        calibrators: Sequence[str] | None = None,
        deadline: datetime | None = None,
        schedule_key: str | None = None,
        title: str | None = None,
        facilitator: str | None = None,
    ) -> tuple[SessionRecord, bool]:
        """Create a session (``actor`` None: the scheduler). Returns it and whether it is new
        (a scheduled one exists once per ``schedule_key``)."""
        if actor is not None:
            require(actor, Role.LEAD, "start a calibration session")
        now = self.clock.now()
        people = list(dict.fromkeys(calibrators or self.default_calibrators()))
        if len(people) < MIN_CALIBRATORS:
            raise CalibrationError(
                f"A calibration session needs at least {MIN_CALIBRATORS} calibrators; "
                f"{len(people)} configured. Set `qa.calibration.calibrators` (Slack user ids) "
                "or `qa.calibration.department` in the YAML file."
            )
        chosen, how = self._choose(n, ticket_ids, tag, now, schedule_key)
        new = NewSession(
            title=title or f"Calibration {now.date().isoformat()}",
            facilitator=facilitator or (actor.slack_user_id if actor else people[0]),
            how_chosen=how,
            tickets=chosen,
            calibrators=people,
            created_at=now,
            deadline=deadline or now + timedelta(days=self.options.deadline_days),
            acceptable_variance=self.options.acceptable_variance,
            schedule_key=schedule_key,
        )
        session_id, created = self.store.create(new)
        session = self.store.get(session_id)
        assert session is not None
        if created:
            log.info(
                "calibration.started",
                session=session_id,
                tickets=len(chosen),
                calibrators=len(people),
                how=how,
            )
        return session, created

    def _choose(
        self,
        n: int | None,
        ticket_ids: Sequence[int],
        tag: str | None,
        now: datetime,
        seed: str | None,
    ) -> tuple[list[tuple[int, str | None]], str]:
        k = n if n is not None else self.options.tickets
        if not 1 <= k <= MAX_TICKETS:
            raise CalibrationError(f"Choose between 1 and {MAX_TICKETS} tickets, not {k}.")
        if ticket_ids:
            wanted = list(dict.fromkeys(ticket_ids))
            found = self.tickets.existing(wanted)
            unknown = [t for t in wanted if t not in found]
            if unknown:
                raise CalibrationError(
                    "I don't have these tickets (not synced yet, or deleted): "
                    + ", ".join(f"#{t}" for t in unknown)
                )
            if len(wanted) > MAX_TICKETS:
                raise CalibrationError(f"At most {MAX_TICKETS} tickets a session.")
            return [(t, found[t]) for t in wanted], "tickets " + ", ".join(f"#{t}" for t in wanted)
        start = now - timedelta(days=self.options.lookback_days)
        pool = (
            self.tickets.tagged(tag, start, now) if tag else self.tickets.solved_between(start, now)
        )
        if not pool:
            where = f"tagged `{tag}` " if tag else ""
            raise CalibrationError(
                f"No tickets {where}were solved in the last {self.options.lookback_days} days "
                "to calibrate on. Name tickets by id instead."
            )
        picked = pick_by_channel(pool, k, f"{self.options.seed}:{seed or now.isoformat()}")
        how = f"{len(picked)} random solved tickets by channel" + (f", tag:{tag}" if tag else "")
        return [(t, ch) for t, ch in picked], how

    # -- submit -----------------------------------------------------------------------------

    def submit(
        self,
        actor: Actor,
        session_id: int,
        ticket_id: int,
        scores: Mapping[str, int | None],
        notes: str | None = None,
    ) -> SubmitOutcome:
        session = self._session(session_id)
        if actor.slack_user_id not in session.calibrators:
            raise Forbidden(
                f"score tickets in calibration session #{session_id}", "its calibrators"
            )
        if session.status != "open" or self.clock.now() >= session.deadline:
            raise CalibrationError(
                f"Calibration session #{session_id} has closed: scores are no longer accepted."
            )
        if ticket_id not in session.ticket_ids:
            raise CalibrationError(f"Ticket #{ticket_id} is not part of session #{session_id}.")
        try:
            card = validate(scores)
        except ScoreError as exc:
            raise CalibrationError(str(exc)) from None
        if notes is not None and len(notes) > NOTES_LIMIT:
            raise CalibrationError(f"Notes are limited to {NOTES_LIMIT} characters.")
        outcome = self.store.add_score(
            session_id, ticket_id, actor.slack_user_id, card, notes or None, self.clock.now()
        )
        if outcome == "closed":
            raise CalibrationError(
                f"Calibration session #{session_id} has closed: scores are no longer accepted."
            )
        progress = self._progress(session, self.store.scores(session_id))
        log.info(
            "calibration.scored",
            session=session_id,
            ticket_id=ticket_id,
            repeat=outcome == "duplicate",
        )
        return SubmitOutcome(
            stored=outcome == "stored",
            finished=actor.slack_user_id in progress.finished,
            everyone_finished=not progress.waiting,
        )

    # -- view -------------------------------------------------------------------------------

    def view(self, actor: Actor, session_id: int) -> SessionView:
        session = self._session(session_id)
        is_calibrator = actor.slack_user_id in session.calibrators
        if not is_calibrator and not actor.at_least(Role.LEAD):
            raise Forbidden(
                f"see calibration session #{session_id}", "its calibrators, leads and admins"
            )
        stored = self.store.scores(session_id)
        progress = self._progress(session, stored)
        if session.status == "closed":
            return SessionView(session, progress, stored, False, self._results(session, stored))
        if is_calibrator and actor.slack_user_id in progress.finished:
            return SessionView(session, progress, stored, False, None)
        own = [s for s in stored if s.card.calibrator == actor.slack_user_id]
        return SessionView(session, progress, own, True, None)

    def _progress(self, session: SessionRecord, stored: Sequence[StoredScore]) -> Progress:
        counts = {c: 0 for c in session.calibrators}
        for s in stored:
            if s.card.calibrator in counts:
                counts[s.card.calibrator] += 1
        total = len(session.tickets)
        finished = tuple(c for c, n in counts.items() if n >= total)
        waiting = tuple(c for c, n in counts.items() if n < total)
        return Progress(finished, waiting, counts, total)

    # -- close and report -------------------------------------------------------------------

    def close_ready(self) -> list[SessionRecord]:
        """Close every open session whose calibrators have all finished or whose deadline has
        passed; returns the sessions this call closed (each closed by exactly one caller)."""
        now = self.clock.now()
        candidates = set(self.store.due(now))
        for open_session in self.store.sessions(status="open"):
            if not self._progress(open_session, self.store.scores(open_session.id)).waiting:
                candidates.add(open_session.id)
        closed = []
        for session_id in sorted(candidates):
            if self.store.close(session_id, now):
                session = self.store.get(session_id)
                assert session is not None
                closed.append(session)
                log.info("calibration.closed", session=session_id)
        return closed

    def _results(self, session: SessionRecord, stored: Sequence[StoredScore]) -> CalibrationResults:
        return results(
            [s.card for s in stored],
            session.calibrators,
            session.ticket_ids,
            acceptable_variance=session.acceptable_variance,
            draws=self.options.bootstrap_draws,
            seed=session.id,
        )

    def report(self, actor: Actor | None, session_id: int | None = None) -> CalibrationReport:
        """A closed session's results (default: the latest closed one) with each calibrator's
        bias trend over the closed sessions up to it (``actor`` None: the scheduler or CLI)."""
        if session_id is None:
            closed = self.store.sessions(status="closed", limit=1)
            if not closed:
                raise CalibrationError("No calibration session has closed yet.")
            session = closed[0]
        else:
            session = self._session(session_id)
        if actor is not None and actor.slack_user_id not in session.calibrators:
            require(actor, Role.LEAD, "see calibration results")
        if session.status != "closed":
            raise CalibrationError(
                f"Calibration session #{session.id} is still open: results are shown when "
                f"everyone has scored or at the deadline ({session.deadline:%Y-%m-%d %H:%M} UTC)."
            )
        stored = self.store.scores(session.id)
        res = self._results(session, stored)
        notes: dict[int, dict[str, str]] = {}
        for s in stored:
            if s.notes:
                notes.setdefault(s.card.ticket_id, {})[s.card.calibrator] = s.notes
        history = [
            s
            for s in reversed(self.store.sessions(status="closed", limit=24))
            if s.id <= session.id
        ]
        series: list[tuple[str, Sequence[CalibratorBias]]] = []
        for past in history:
            past_res = (
                res if past.id == session.id else self._results(past, self.store.scores(past.id))
            )
            series.append((f"#{past.id}", past_res.biases))
        trend = bias_trend(series)
        return CalibrationReport(
            session, res, notes, trend, {c: drift(points) for c, points in trend.items()}
        )

    # -- lessons learned --------------------------------------------------------------------

    def record_lessons(self, actor: Actor, session_id: int, text: str) -> SessionRecord:
        session = self._session(session_id)
        if actor.slack_user_id != session.facilitator and not actor.at_least(Role.ADMIN):
            raise Forbidden(
                f"write the lessons of calibration session #{session_id}",
                "its facilitator and admins",
            )
        text = text.strip()
        if not text:
            raise CalibrationError("Write at least one lesson.")
        if len(text) > 3000:
            raise CalibrationError("Lessons are limited to 3000 characters.")
        if session.status != "closed":
            raise CalibrationError("Lessons are written once the session has closed.")
        if not self.store.set_lessons(session_id, text, self.clock.now()):
            raise CalibrationError(f"The lessons of session #{session_id} were already written.")
        updated = self.store.get(session_id)
        assert updated is not None
        return updated

    def _session(self, session_id: int) -> SessionRecord:
        session = self.store.get(session_id)
        if session is None:
            raise CalibrationError(f"There is no calibration session #{session_id}.")
        return session
