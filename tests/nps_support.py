"""Shared pieces of the internal NPS tests: settings, a directory, a recording messenger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deskbot.adapters.db.store import Database
from deskbot.domain.people import DepartmentInfo, Person, Role
from deskbot.ports import PostedMessage
from deskbot.services.nps import (
    AskView,
    CommentView,
    DepartmentResult,
    NpsService,
    ReplyView,
)
from deskbot.settings import Settings
from deskbot.testing import FakeClock, StaticPeopleDirectory

SECRET = "nps-test-signing-secret-0123456789"
OWNER_S, OWNER_E, LEAD, ADMIN = "UOWNS", "UOWNE", "ULEAD", "UADMIN"


def nps_settings(**nps: Any) -> Settings:
    cfg: dict[str, Any] = {
        "anonymity_threshold": 3,
        "per_round_cap": 100,
        "cooldown_days": 30,
        "max_asks_per_person_per_quarter": 2,
        "reminder_after_hours": 48,
        "expire_after_hours": 120,
        "quiet_hours_start": "18:00",
        "quiet_hours_end": "09:00",
        "dms_per_minute": 60,
    }
    cfg.update(nps)
    return Settings.model_validate(
        {
            "timezone": "Europe/Berlin",
            "zendesk": {"subdomain": "acme"},
            "slack": {"bot_token": "xoxb-test", "signing_secret": SECRET},
            "nps": cfg,
        }
    )


def directory(n_support: int = 3, n_eng: int = 3, n_other: int = 6) -> StaticPeopleDirectory:
    """Support (owner UOWNS) and Engineering (owner UOWNE); everyone in Berlin."""
    people: list[Person] = []

    def add(sid: str, depts: tuple[str, ...], role: Role = Role.EMPLOYEE) -> None:
        people.append(
            Person(
                id=len(people) + 1,
                name=sid,
                slack_user_id=sid,
                tz="Europe/Berlin",
                role=role,
                departments=depts,
            )
        )

    add(OWNER_S, ("Support",), Role.AGENT)  # owners, not leads: they see their own only
    add(OWNER_E, ("Engineering",), Role.AGENT)
    add(ADMIN, (), Role.ADMIN)
    for i in range(n_support):
        add(f"US{i:03d}", ("Support",), Role.AGENT)
    for i in range(n_eng):
        add(f"UE{i:03d}", ("Engineering",))
    for i in range(n_other):
        add(f"UO{i:03d}", ())
    departments = [
        DepartmentInfo(
            "Support",
            OWNER_S,
            tuple(p.slack_user_id or "" for p in people if "Support" in p.departments),
        ),
        DepartmentInfo(
            "Engineering",
            OWNER_E,
            tuple(p.slack_user_id or "" for p in people if "Engineering" in p.departments),
        ),
    ]
    return StaticPeopleDirectory(people, departments)


@dataclass
class Sent:
    kind: str
    target: str
    marker: str | None
    payload: Any
    ts: str


@dataclass
class FakeMessenger:
    """Records what the service sends; ``crash`` may raise after a post (a kill after the
    write reached Slack, before deskbot recorded it)."""

    sent: list[Sent] = field(default_factory=list)
    updates: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, channel, ts)
    crash: Callable[[Sent], None] | None = None
    _n: int = 0

    def _post(self, kind: str, target: str, marker: str | None, payload: Any) -> PostedMessage:
        self._n += 1
        record = Sent(kind, target, marker, payload, f"{self._n}.000")
        self.sent.append(record)
        if self.crash is not None:
            self.crash(record)
        return PostedMessage(f"D{target}", record.ts)

    def of(self, kind: str, target: str | None = None) -> list[Sent]:
        return [s for s in self.sent if s.kind == kind and (target is None or s.target == target)]

    def send_ask(self, user_id: str, ask: AskView, marker: str) -> PostedMessage:
        return self._post("ask", user_id, marker, ask)

    def send_reminder(self, user_id: str, ask: AskView, marker: str) -> PostedMessage:
        return self._post("reminder", user_id, marker, ask)

    def find_marked(self, target: str, prefix: str, since: datetime) -> dict[str, PostedMessage]:
        return {
            s.marker: PostedMessage(f"D{s.target}", s.ts)
            for s in self.sent
            if s.target == target and s.marker and s.marker.startswith(prefix)
        }

    def show_expired(self, channel: str, ts: str, ask: AskView) -> None:
        self.updates.append(("expired", channel, ts))

    def show_answered(self, channel: str, ts: str, ask: AskView, score: int) -> None:
        self.updates.append(("answered", channel, ts))

    def send_results(
        self, target: str, result: DepartmentResult, threshold: int, marker: str
    ) -> PostedMessage:
        return self._post("results", target, marker, result)

    def send_withheld(
        self, target: str, department: str, period: str, threshold: int, marker: str
    ) -> PostedMessage:
        return self._post("withheld", target, marker, department)

    def send_comment(self, target: str, comment: CommentView, marker: str) -> PostedMessage:
        return self._post("comment", target, marker, comment)

    def send_reply(self, user_id: str, reply: ReplyView) -> PostedMessage:
        return self._post("reply", user_id, None, reply)

    def upload_chart(self, target: str, png: bytes, title: str) -> None:
        self._post("chart", target, None, len(png))


@dataclass
class Stories:
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, *, story_id: str, department: str, comment: str, now: datetime) -> Any:
        self.calls.append({"story_id": story_id, "department": department, "comment": comment})
        return None


def service(
    db: Database,
    clock: FakeClock,
    settings: Settings | None = None,
    messenger: FakeMessenger | None = None,
    people: StaticPeopleDirectory | None = None,
    stories: Stories | None = None,
) -> NpsService:
    from deskbot import bootstrap
    from deskbot.adapters.db.nps_store import Sealer, SqlNpsStore
    from deskbot.adapters.slack.nps_charts import render_nps_chart

    settings = settings or nps_settings()
    return NpsService(
        settings,
        SqlNpsStore(db, Sealer(SECRET)),
        people or directory(),
        bootstrap.action_ledger(db, clock),
        clock,
        messenger if messenger is not None else FakeMessenger(),
        stories=stories,
        chart=render_nps_chart,
    )
