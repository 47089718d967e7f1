"""What the internal NPS service needs and returns: its storage and Slack Protocols, and the
plain values that cross them (``services/nps.py`` re-exports every name)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from deskbot.domain.nps import AskHistory, EnpsResult, ReleasedCell
from deskbot.ports import PostedMessage

# --------------------------------------------------------------------------------------------
# What the service needs from storage and Slack
# --------------------------------------------------------------------------------------------


class AskLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def round_id(self) -> str: ...
    @property
    def slack_user_id(self) -> str: ...
    @property
    def department(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def send_at(self) -> datetime: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def claimed_at(self) -> datetime | None: ...
    @property
    def sent_at(self) -> datetime | None: ...
    @property
    def dm_channel(self) -> str | None: ...
    @property
    def message_ts(self) -> str | None: ...
    @property
    def reminder(self) -> str | None: ...
    @property
    def answered(self) -> bool: ...


class CellLike(Protocol):
    @property
    def department(self) -> str: ...
    @property
    def cell(self) -> str: ...
    @property
    def quarter(self) -> str: ...
    @property
    def round_id(self) -> str | None: ...
    @property
    def released(self) -> bool: ...
    @property
    def asked(self) -> int: ...
    @property
    def answered(self) -> int: ...

    def released_cell(self) -> ReleasedCell: ...


class AnswerLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def department(self) -> str: ...
    @property
    def cell(self) -> str: ...
    @property
    def score(self) -> int: ...
    @property
    def comment(self) -> str | None: ...
    @property
    def may_share(self) -> bool: ...
    @property
    def discussed(self) -> bool: ...


class NpsStore(Protocol):
    def ask_history(self, quarter: str) -> dict[str, AskHistory]: ...
    def department_load(self, quarter: str) -> dict[str, int]: ...
    def create_round(
        self,
        round_id: str,
        quarter: str,
        planned_at: datetime,
        close_at: datetime,
        asks: Sequence[Any],
    ) -> bool: ...
    def opted_out(self) -> set[str]: ...
    def set_opt_out(self, slack_user_id: str, out: bool, now: datetime) -> tuple[bool, int]: ...
    def ask(self, ask_id: str) -> Any: ...
    def asks(self, round_id: str | None = None) -> Sequence[Any]: ...
    def due_sends(self, now: datetime, stale_before: datetime, limit: int) -> Sequence[Any]: ...
    def claim_send(self, ask: Any, now: datetime) -> bool: ...
    def mark_sent(self, ask_id: str, now: datetime, channel: str, ts: str) -> bool: ...
    def unclaim_send(self, ask_id: str) -> None: ...
    def expire_unsent(self, now: datetime) -> int: ...
    def due_reminders(self, now: datetime, sent_before: datetime) -> Sequence[Any]: ...
    def set_reminder(self, ask_id: str, before: str | None, after: str) -> bool: ...
    def due_expiries(self, now: datetime) -> Sequence[Any]: ...
    def expire(self, ask_id: str) -> bool: ...
    def expiry_shown(self, ask_id: str) -> None: ...
    def record_answer(
        self, ask_id: str, slack_user_id: str, score: int, now: datetime
    ) -> tuple[str, str | None]: ...
    def add_comment(
        self, box_id: str, ask_id: str, slack_user_id: str, comment: str, may_share: bool
    ) -> str: ...
    def closable_rounds(self, now: datetime) -> list[str]: ...
    def release_round(self, round_id: str, threshold: int, now: datetime) -> Sequence[Any]: ...
    def release_pools(self, quarter: str, threshold: int, now: datetime) -> Sequence[Any]: ...
    def held_quarters(self) -> list[str]: ...
    def rounds(self) -> Sequence[Any]: ...
    def cells(
        self,
        *,
        department: str | None = None,
        quarters: Any = None,
        released: bool | None = True,
        since: datetime | None = None,
    ) -> Sequence[Any]: ...
    def answers_in(self, department: str, cell: str) -> Sequence[Any]: ...
    def answer(self, answer_id: str) -> Any: ...
    def mark_discussed(self, answer_id: str) -> bool: ...
    def reply_recipient(self, answer_id: str) -> str | None: ...


@dataclass(frozen=True)
class NewAsk:
    """An ask of a round being planned (the store gives it a random id)."""

    slack_user_id: str
    department: str
    send_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class AskView:
    """What an ask's DM shows."""

    ask_id: str
    department: str
    question: str
    expires_at: datetime
    tz: ZoneInfo


@dataclass(frozen=True)
class CommentView:
    answer_id: str
    department: str
    period: str
    score: int
    comment: str
    flagged: bool  # a detractor's comment
    discussed: bool = False


@dataclass(frozen=True)
class ReplyView:
    answer_id: str
    department: str
    text: str
    to_author: bool  # True: owner -> author; False: author -> owner


@dataclass(frozen=True)
class DepartmentResult:
    department: str
    period: str  # "round 2026-11-03T10:00", "2026-Q4", ...
    result: EnpsResult | None  # None: nothing released for this selection
    asked: int
    answered: int
    trend: list[tuple[str, float]] = field(default_factory=list)  # (label, eNPS) per cell
    quarters: list[tuple[str, float, int]] = field(default_factory=list)  # (quarter, eNPS, n)
    withheld_cells: int = 0  # cells below the threshold (nothing shown about them)

    @property
    def response_rate(self) -> float | None:
        return self.answered / self.asked if self.asked else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "department": self.department,
            "period": self.period,
            "result": self.result.as_dict() if self.result else None,
            "asked": self.asked,
            "answered": self.answered,
            "response_rate": None if self.response_rate is None else round(self.response_rate, 3),
            "trend": [{"cell": c, "enps": round(e, 1)} for c, e in self.trend],
            "quarters": [{"quarter": q, "enps": round(e, 1), "n": n} for q, e, n in self.quarters],
            "withheld_cells": self.withheld_cells,
        }


@dataclass(frozen=True)
class NpsReport:
    period: str
    threshold: int
    departments: list[DepartmentResult]

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "anonymity_threshold": self.threshold,
            "departments": [d.as_dict() for d in self.departments],
        }


class NpsMessenger(Protocol):
    """Slack, as the NPS service uses it (``adapters/slack/nps_notifier.py``)."""

    def send_ask(self, user_id: str, ask: AskView, marker: str) -> PostedMessage: ...
    def send_reminder(self, user_id: str, ask: AskView, marker: str) -> PostedMessage: ...
    def find_marked(self, target: str, prefix: str, since: datetime) -> dict[str, PostedMessage]:
        """Our messages since ``since`` in a channel or a user's DM, by marker."""
        ...

    def show_expired(self, channel: str, ts: str, ask: AskView) -> None: ...
    def show_answered(self, channel: str, ts: str, ask: AskView, score: int) -> None: ...
    def send_results(
        self, target: str, result: DepartmentResult, threshold: int, marker: str
    ) -> PostedMessage: ...
    def send_withheld(
        self, target: str, department: str, period: str, threshold: int, marker: str
    ) -> PostedMessage: ...
    def send_comment(self, target: str, comment: CommentView, marker: str) -> PostedMessage: ...
    def send_reply(self, user_id: str, reply: ReplyView) -> PostedMessage: ...
    def upload_chart(self, target: str, png: bytes, title: str) -> None: ...


class StoryHook(Protocol):
    """``ShoutoutService.shout_out_nps_story``: a promoter story, posted at most once."""

    def __call__(self, *, story_id: str, department: str, comment: str, now: datetime) -> Any: ...


ChartRenderer = Callable[[DepartmentResult], bytes | None]

# --------------------------------------------------------------------------------------------
# Outcomes
# --------------------------------------------------------------------------------------------


@dataclass
class TickSummary:
    sent: int = 0
    resumed: int = 0  # found already posted by an earlier, interrupted run
    deferred_quiet: int = 0
    reminded: int = 0
    expired: int = 0
    released_cells: int = 0
    withheld_cells: int = 0
    posts: int = 0
    stopped: bool = False
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    box_id: str | None = None
    ask: Any = None
