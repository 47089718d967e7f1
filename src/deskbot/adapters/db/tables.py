"""SQLModel tables: the local copy of the help desk, sync state, the action ledger, the job
run history and job leases (``job_runs``, ``job_leases``), and bad-CSAT follow-ups
(``followups``).

Conventions:
- Zendesk ids are the primary keys (BigInteger: modern ids have 13+ digits).
- Every ``datetime`` column is sqlmodel's ``UTCDateTime`` (``DateTime(timezone=True)``:
  ``timestamptz`` on PostgreSQL, an offset-less text on SQLite): aware UTC in and out. A write
  with a naive datetime is refused (``ValueError``); an aware one in another zone is converted
  to UTC; reads always return aware UTC.
- Every synced record keeps its raw JSON (``raw``) beside the typed columns, so a new feature
  never needs a full re-sync.
- Indexes follow the KPI queries: windows on created_at / solved_at / rating created_at, filters
  on group and assignee, and backlog by status.

The local copy's tables (tickets … ratings, sync state, KPI rollups) are defined in
``tables_copy.py`` and re-exported here.

A schema change is a new alembic revision in ``migrations/versions``; ``tests/test_store.py``
checks that the migrated schema equals these tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from deskbot.adapters.db.tables_copy import *  # noqa: F403  (the copy's tables, re-exported)
from deskbot.adapters.db.tables_copy import _bigint_pk

# Locally generated ids: SQLite only autoincrements an INTEGER PRIMARY KEY.
_SERIAL = BigInteger().with_variant(Integer(), "sqlite")


class Action(SQLModel, table=True):
    """The action ledger: every side effect (Zendesk write, Slack post) deskbot intends.

    A row is written *before* acting (``status='pending'``) under a unique idempotency ``key``
    (e.g. ``followup:{rating}:{generation}:{step}`` such as ``followup:123:1:ticket``,
    ``digest:{channel}:{first day}`` such as ``digest:C123:2026-11-23``,
    ``shoutout:rating:456`` or ``shoutout:hero:2026-11-16``) and marked ``done`` after.
    A crash in between leaves a pending row that the next run completes, using a write that is
    safe to repeat.
    """

    __tablename__ = "actions"
    __table_args__ = (
        UniqueConstraint("key", name="uq_actions_key"),
        Index("ix_actions_kind_status", "kind", "status"),
        Index("ix_actions_subject", "subject"),
    )

    id: int | None = Field(default=None, sa_column=Column(_SERIAL, primary_key=True))
    key: str = Field(max_length=255)
    kind: str = Field(max_length=64)  # followup_ticket, followup_alert, digest, shoutout, ...
    subject: str | None = Field(default=None, max_length=255)  # e.g. "rating:123"
    status: str = Field(default="pending", max_length=16)  # pending/done/failed/skipped
    attempts: int = 0
    payload: str = Field(default="{}", sa_type=Text)  # JSON: what to do
    result: str | None = Field(default=None, sa_type=Text)  # JSON: what happened (ids, ts)
    error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime
    updated_at: datetime
    done_at: datetime | None = None


class JobRun(SQLModel, table=True):
    """One run of a scheduled job (the daemon's run history)."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_started", "job", "started_at"),)

    id: int | None = Field(default=None, sa_column=Column(_SERIAL, primary_key=True))
    job: str = Field(max_length=64)
    trigger_key: str | None = Field(default=None, max_length=128)  # scheduled fire time
    instance: str | None = Field(default=None, max_length=128)
    started_at: datetime
    finished_at: datetime | None = None
    # running/ok/failed/abandoned (cut off by a shutdown, or its lease expired and another
    # replica took the trigger over)
    outcome: str = Field(default="running", max_length=16)
    error: str | None = Field(default=None, sa_type=Text)
    detail: str | None = Field(default=None, sa_type=Text)  # JSON summary


class Followup(SQLModel, table=True):
    """One bad-CSAT follow-up per rating that has ever been bad, and where it stands.

    ``last_seen_score`` is the score deskbot last acted on: comparing it with the synced
    rating tells a *change* (the sync rewrites ratings in place). ``generation`` counts how
    often the rating turned bad; it is part of every idempotency key, so a rating that turns
    bad again after good gets a fresh follow-up while a repeat of the same one is a no-op.
    """

    __tablename__ = "followups"
    __table_args__ = (
        Index("ix_followups_state", "state", "opened_at"),
        Index("ix_followups_opened", "opened_at"),
    )

    rating_id: int = _bigint_pk()
    ticket_id: int | None = Field(default=None, sa_type=BigInteger)
    generation: int = 0
    last_seen_score: str = Field(max_length=32)
    state: str = Field(max_length=16)  # open/claimed/handled/closed
    rule: str | None = Field(default=None, max_length=255)
    owner: str | None = Field(default=None, max_length=32)  # Slack user
    opened_at: datetime | None = None
    claimed_by: str | None = Field(default=None, max_length=32)
    claimed_at: datetime | None = None
    handled_by: str | None = Field(default=None, max_length=32)
    handled_at: datetime | None = None
    note: str | None = Field(default=None, sa_type=Text)
    closed_at: datetime | None = None
    slack_channel: str | None = Field(default=None, max_length=64)
    slack_ts: str | None = Field(default=None, max_length=32)
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None
    updated_at: datetime


class JobLease(SQLModel, table=True):
    """Who runs a scheduled trigger: one row per (job, trigger_key), whichever replica inserts it.

    The primary key makes a trigger claimable exactly once across replicas. The holder renews
    ``expires_at`` while it works; if it dies, another replica may take the trigger over once
    the lease has expired. ``done`` marks a trigger whose run finished (ok or failed): it is
    never run again.
    """

    __tablename__ = "job_leases"
    __table_args__ = (Index("ix_job_leases_updated", "updated_at"),)

    job: str = Field(primary_key=True, max_length=64)
    trigger_key: str = Field(primary_key=True, max_length=128)
    instance: str = Field(max_length=128)
    run_id: int | None = Field(default=None, sa_type=BigInteger)
    fire_time: datetime  # the scheduled time the trigger_key stands for (for a take-over)
    expires_at: datetime
    done: bool = False
    updated_at: datetime


class CalibrationSession(SQLModel, table=True):
    """A QA calibration session: the same tickets to every calibrator, blind until submitted.

    ``schedule_key`` (e.g. ``monthly:2026-12``) makes a scheduled session exist once across
    replicas; sessions a lead starts have none. ``status`` moves ``open`` -> ``closed`` by a
    compare-and-set, when every calibrator has submitted or the deadline has passed.
    """

    __tablename__ = "calibration_sessions"
    __table_args__ = (
        UniqueConstraint("schedule_key", name="uq_calibration_sessions_schedule_key"),
        Index("ix_calibration_sessions_status", "status", "deadline"),
    )

    id: int | None = Field(default=None, sa_column=Column(_SERIAL, primary_key=True))
    title: str = Field(max_length=255)
    facilitator: str = Field(max_length=32)  # Slack user who started it (or the QA owner)
    status: str = Field(default="open", max_length=16)  # open/closed
    how_chosen: str = Field(max_length=255)  # "random by channel", "tickets 1, 2", "tag:refund"
    schedule_key: str | None = Field(default=None, max_length=64)
    acceptable_variance: int = 1
    created_at: datetime
    deadline: datetime
    closed_at: datetime | None = None
    lessons: str | None = Field(default=None, sa_type=Text)
    lessons_at: datetime | None = None


class CalibrationTicket(SQLModel, table=True):
    __tablename__ = "calibration_tickets"

    session_id: int = Field(sa_type=BigInteger, primary_key=True)
    ticket_id: int = Field(sa_type=BigInteger, primary_key=True)
    channel: str | None = Field(default=None, max_length=64)


class CalibrationParticipant(SQLModel, table=True):
    __tablename__ = "calibration_participants"

    session_id: int = Field(sa_type=BigInteger, primary_key=True)
    calibrator: str = Field(primary_key=True, max_length=32)  # Slack user


class CalibrationScoreRow(SQLModel, table=True):
    """One calibrator's scorecard for one ticket: final once stored (the primary key makes a
    double click or a Slack retry store one; a calibrator who has seen the others' scores can
    no longer change their own). Competency scores 0-4, NULL = not applicable."""

    __tablename__ = "calibration_scores"

    session_id: int = Field(sa_type=BigInteger, primary_key=True)
    ticket_id: int = Field(sa_type=BigInteger, primary_key=True)
    calibrator: str = Field(primary_key=True, max_length=32)
    comprehension: int | None = None
    accuracy: int | None = None
    judgment: int | None = None
    communication: int | None = None
    process_integrity: int | None = None
    notes: str | None = Field(default=None, sa_type=Text)
    submitted_at: datetime


class PersonRow(SQLModel, table=True):
    """One person of the people directory (``deskbot.domain.people.Person``): a Zendesk agent,
    a Slack user, or both when matched. Never deleted: someone who leaves stays with
    ``active=False`` and the reason, so history keeps their name. ``email`` is stored for
    matching (lower case, trimmed) and never logged. ``note`` says why an agent is unmatched."""

    __tablename__ = "people"
    __table_args__ = (
        UniqueConstraint("slack_user_id", name="uq_people_slack"),
        UniqueConstraint("zendesk_user_id", name="uq_people_zendesk"),
    )

    id: int | None = Field(default=None, sa_column=Column(_SERIAL, primary_key=True))
    name: str = Field(sa_type=Text)
    slack_user_id: str | None = Field(default=None, max_length=32)
    zendesk_user_id: int | None = Field(default=None, sa_type=BigInteger)
    email: str | None = Field(default=None, sa_type=Text)  # never logged
    tz: str | None = Field(default=None, max_length=64)
    lead_slack_id: str | None = Field(default=None, max_length=32)
    active: bool = True
    is_bot: bool = False
    is_guest: bool = False
    matched_by: str = Field(default="none", max_length=16)  # email/override/lookup/none
    inactive_reason: str | None = Field(default=None, sa_type=Text)
    note: str | None = Field(default=None, sa_type=Text)  # e.g. why an agent is unmatched
    first_seen_at: datetime
    updated_at: datetime


class DepartmentRow(SQLModel, table=True):
    """A department as last refreshed: from YAML ``members`` and/or a Slack user group."""

    __tablename__ = "departments"

    name: str = Field(primary_key=True, max_length=255)
    owner_slack_id: str | None = Field(default=None, max_length=32)
    source: str = Field(default="yaml", max_length=16)  # yaml/usergroup
    usergroup_id: str | None = Field(default=None, max_length=32)
    active: bool = True  # false: no longer in the YAML file (kept for history)
    updated_at: datetime


class DepartmentMember(SQLModel, table=True):
    """Who sits in which department (a person may sit in several)."""

    __tablename__ = "department_members"
    __table_args__ = (Index("ix_department_members_user", "slack_user_id"),)

    department: str = Field(primary_key=True, max_length=255)
    slack_user_id: str = Field(primary_key=True, max_length=32)


class JobMutex(SQLModel, table=True):
    """One row per job: who runs it right now, in any process (issue 13).

    Taken by scheduled runs, chained runs and CLI commands alike, so a job never runs twice
    at once across replicas. ``expires_at`` is epoch seconds on the *database's* clock (every
    replica compares it with the same clock); ``token`` identifies one hold, so a holder that
    lost it (expired, taken over) cannot renew or release someone else's. ``host``/``pid`` and
    ``backend_pid`` (PostgreSQL) let a replica see at once that the holder died.
    """

    __tablename__ = "job_mutex"

    job: str = Field(primary_key=True, max_length=64)
    token: str | None = Field(default=None, max_length=64)
    holder: str | None = Field(default=None, max_length=128)
    host: str | None = Field(default=None, max_length=255)
    pid: int | None = None
    backend_pid: int | None = None
    acquired_at: float | None = None  # database clock, epoch seconds
    expires_at: float = 0.0  # database clock, epoch seconds


class SlackReplayKey(SQLModel, table=True):
    """Slack request signatures and retried deliveries already seen, shared by every replica
    (issue 13): ``key`` is inserted once; ``expires_at`` (epoch seconds) lets old keys go."""

    __tablename__ = "slack_replay_keys"
    __table_args__ = (Index("ix_slack_replay_keys_expires", "expires_at"),)

    key: str = Field(primary_key=True, max_length=128)
    expires_at: float


class ActionClaim(SQLModel, table=True):
    """Who is carrying out a pending action right now (issue 13): a step is claimed before it
    runs, so two passes (two replicas, a CLI run beside the daemon) never run it together.
    ``until`` (epoch seconds, the database's clock) frees the claim of a process that died."""

    __tablename__ = "action_claims"

    key: str = Field(primary_key=True, max_length=255)
    owner: str = Field(max_length=64)
    until: float


class QaCycle(SQLModel, table=True):
    """One QA cycle that has been drawn (``key`` like ``2026-W49`` or ``2026-11``)."""

    __tablename__ = "qa_cycles"

    key: str = Field(primary_key=True, max_length=16)
    kind: str = Field(max_length=16)  # weekly / monthly
    start_at: datetime
    end_at: datetime
    due_at: datetime
    closes_at: datetime  # scoring and amending stop here
    seed: int = Field(sa_type=BigInteger)
    drawn_at: datetime


class QaSample(SQLModel, table=True):
    """One sampled ticket. ``ticket_id`` is unique: a ticket is sampled at most once, ever.
    ``stratum_size`` (N_h), ``stratum_sample`` (n_h) and ``population`` (N) are what the
    estimator weighs by."""

    __tablename__ = "qa_samples"
    __table_args__ = (
        UniqueConstraint("ticket_id", name="uq_qa_samples_ticket"),
        Index("ix_qa_samples_cycle_agent", "cycle_key", "agent_id"),
    )

    id: int | None = Field(default=None, sa_column=Column(_SERIAL, primary_key=True))
    cycle_key: str = Field(max_length=16)
    agent_id: int = Field(sa_type=BigInteger)  # Zendesk user id of the assignee
    ticket_id: int = Field(sa_type=BigInteger)
    stratum: str = Field(max_length=32)
    stratum_size: int
    stratum_sample: int
    population: int
    created_at: datetime


class QaTask(SQLModel, table=True):
    """A review task: one per sample, assigned to one reviewer (``reassigned_from`` keeps the
    previous reviewer when a deactivated reviewer's task moved)."""

    __tablename__ = "qa_tasks"
    __table_args__ = (
        Index("ix_qa_tasks_cycle_reviewer", "cycle_key", "reviewer"),
        Index("ix_qa_tasks_state", "state", "due_at"),
    )

    sample_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    cycle_key: str = Field(max_length=16)
    reviewer: str = Field(max_length=32)  # Slack user id
    agent_slack: str | None = Field(default=None, max_length=32)
    state: str = Field(default="open", max_length=16)  # open / done
    assigned_at: datetime
    due_at: datetime
    done_at: datetime | None = None
    reassigned_from: str | None = Field(default=None, max_length=32)


class QaReview(SQLModel, table=True):
    """The current review of a task (the latest version); ``qa_review_versions`` keeps every
    version. Competency columns are 0-4 or NULL (N/A); ``score`` is 0-100 or NULL."""

    __tablename__ = "qa_reviews"
    __table_args__ = (Index("ix_qa_reviews_cycle", "cycle_key"),)

    task_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    cycle_key: str = Field(max_length=16)
    reviewer: str = Field(max_length=32)
    version: int = 1
    comprehension: int | None = None
    accuracy: int | None = None
    judgment: int | None = None
    communication: int | None = None
    process_integrity: int | None = None
    score: float | None = None
    hero: bool = False
    notes: str | None = Field(default=None, sa_type=Text)
    created_at: datetime
    updated_at: datetime


class QaReviewVersion(SQLModel, table=True):
    """Every stored version of a review. ``submission`` (the Slack view id, or another key of
    the submitting click) is unique per task: a double click or a retry stores one version."""

    __tablename__ = "qa_review_versions"
    __table_args__ = (
        UniqueConstraint("task_id", "version", name="uq_qa_review_versions_version"),
        UniqueConstraint("task_id", "submission", name="uq_qa_review_versions_submission"),
    )

    id: int | None = Field(default=None, sa_column=Column(_SERIAL, primary_key=True))
    task_id: int = Field(sa_type=BigInteger)
    version: int
    submission: str = Field(max_length=128)
    author: str = Field(max_length=32)  # reviewer, or the dispute resolver
    comprehension: int | None = None
    accuracy: int | None = None
    judgment: int | None = None
    communication: int | None = None
    process_integrity: int | None = None
    score: float | None = None
    hero: bool = False
    notes: str | None = Field(default=None, sa_type=Text)
    created_at: datetime


class QaDispute(SQLModel, table=True):
    """An agent's challenge of a review; one per task. ``outcome`` upheld / changed."""

    __tablename__ = "qa_disputes"
    __table_args__ = (Index("ix_qa_disputes_state", "state"),)

    task_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    cycle_key: str = Field(max_length=16)
    agent_slack: str = Field(max_length=32)
    reason: str = Field(sa_type=Text)
    state: str = Field(default="open", max_length=16)  # open / upheld / changed
    created_at: datetime
    resolved_by: str | None = Field(default=None, max_length=32)
    resolved_at: datetime | None = None
    resolution_note: str | None = Field(default=None, sa_type=Text)


# --------------------------------------------------------------------------------------------


class NpsRound(SQLModel, table=True):
    """One survey round: planned once (its id is the trigger's local time), then closed and
    released once."""

    __tablename__ = "nps_rounds"

    id: str = Field(primary_key=True, max_length=64)
    quarter: str = Field(max_length=8)  # "2026-Q4"
    planned_at: datetime
    close_at: datetime  # no answer is accepted after this (the last ask's expiry)
    status: str = Field(max_length=16)  # open / released


class NpsAsk(SQLModel, table=True):
    """Who was asked about which department, when, and whether they answered: never what."""

    __tablename__ = "nps_asks"
    __table_args__ = (
        Index("ix_nps_asks_person", "slack_user_id", "send_at"),
        Index("ix_nps_asks_status", "status", "send_at"),
        Index("ix_nps_asks_round", "round_id", "department"),
    )

    id: str = Field(primary_key=True, max_length=32)  # uuid4 hex
    round_id: str = Field(max_length=64)
    quarter: str = Field(max_length=8)
    slack_user_id: str = Field(max_length=32)
    department: str = Field(max_length=255)
    send_at: datetime  # planned: the first allowed moment in the respondent's time zone
    expires_at: datetime
    # planned / sending / sent / answered / expired / cancelled
    status: str = Field(max_length=16)
    answered: bool = False
    claimed_at: datetime | None = None  # a sender's claim (planned -> sending)
    sent_at: datetime | None = None
    dm_channel: str | None = Field(default=None, max_length=32)
    message_ts: str | None = Field(default=None, max_length=32)
    reminder: str | None = Field(default=None, max_length=16)  # None / claimed / sent
    expiry: str | None = Field(default=None, max_length=16)  # None / claimed / shown


class NpsSealed(SQLModel, table=True):
    """An answer waiting for its round's release, sealed with deskbot's key. Deleted at the
    release (its plaintext then goes to ``nps_answers``), or when a held pool is destroyed."""

    __tablename__ = "nps_sealed"
    __table_args__ = (Index("ix_nps_sealed_round", "round_id", "held_quarter"),)

    id: str = Field(primary_key=True, max_length=32)  # uuid4 hex
    round_id: str = Field(max_length=64)
    held_quarter: str | None = Field(default=None, max_length=8)  # below threshold at close
    box: bytes


class NpsAnswer(SQLModel, table=True):
    """A released answer: department, cell (round or quarter pool), score, comment. No person,
    no ask, no time: rows are written in one transaction per release, in shuffled order."""

    __tablename__ = "nps_answers"
    __table_args__ = (Index("ix_nps_answers_cell", "department", "quarter", "cell"),)

    id: str = Field(primary_key=True, max_length=32)  # uuid4 hex
    department: str = Field(max_length=255)
    quarter: str = Field(max_length=8)
    round_id: str | None = Field(default=None, max_length=64)  # None: a quarter's pool
    cell: str = Field(max_length=80)  # "round:<id>" or "pool:<quarter>"
    score: int
    comment: str | None = Field(default=None, sa_type=Text)
    may_share: bool = False
    discussed: bool = False


class NpsCell(SQLModel, table=True):
    """The release decision of one (department, cell): released with its counts, or not."""

    __tablename__ = "nps_cells"

    department: str = Field(primary_key=True, max_length=255)
    cell: str = Field(primary_key=True, max_length=80)
    quarter: str = Field(max_length=8)
    round_id: str | None = Field(default=None, max_length=64)
    released: bool
    asked: int = 0
    answered: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    decided_at: datetime


class NpsReplyRoute(SQLModel, table=True):
    """Where an owner's reply to a comment goes: ``id`` is HMAC(key, answer id) and ``box`` the
    sealed Slack id of the comment's author. Without deskbot's key neither side of the join can
    be computed from the database alone."""

    __tablename__ = "nps_reply_routes"

    id: str = Field(primary_key=True, max_length=64)
    box: bytes


class NpsOptOut(SQLModel, table=True):
    __tablename__ = "nps_optouts"

    slack_user_id: str = Field(primary_key=True, max_length=32)
    opted_out_at: datetime
