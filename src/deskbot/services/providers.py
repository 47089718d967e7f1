"""What the Slack app asks of the rest of deskbot: small Protocols and the values they return.

The Slack adapter depends on these, never on the KPI engine, the sync engine or the store
directly; ``bootstrap`` wires the real services in, tests use the fakes in ``deskbot.testing``.
Every provider in ``SlackServices`` is optional: a deployment without it answers "not available
here" instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

from deskbot.domain.commands import AgentRef, GroupRef, Target
from deskbot.domain.metrics import Window

if TYPE_CHECKING:
    from deskbot.domain.authz import Actor
    from deskbot.ports import PeopleDirectory
    from deskbot.services.calibration import CalibrationService
    from deskbot.services.calibration_dispatch import CalibrationDispatcher
    from deskbot.services.forecast import ForecastReport
    from deskbot.services.nps import NpsService
    from deskbot.settings import Settings


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricValue:
    """One headline number with the previous period's value for the delta."""

    label: str  # "CSAT", "Tickets solved", "First reply (median)"
    value: float | None  # None: no data in the window
    previous: float | None = None
    unit: Literal["count", "percent", "minutes", "score"] = "count"
    higher_is_better: bool = True


@dataclass(frozen=True)
class StatsQuery:
    period: Window
    target: Target  # the period is a Window: local days in its own timezone


@dataclass(frozen=True)
class StatsSummary:
    """The numbers for one target and period, in display order."""

    title: str
    period: Window
    metrics: tuple[MetricValue, ...]
    notes: tuple[str, ...] = ()  # workload flags and other remarks worth a line each


@dataclass(frozen=True)
class FollowupState:
    status: Literal["open", "claimed", "handled", "closed"]
    owner_slack_user: str | None = None


@dataclass(frozen=True)
class BadRating:
    ticket_id: int
    rated_at: datetime
    agent_name: str | None
    comment: str | None
    reason: str | None
    ticket_url: str | None = None
    followup: FollowupState | None = None


@dataclass(frozen=True)
class Shoutout:
    created_at: datetime
    kind: Literal["csat", "qa_hero", "hero_of_the_week", "nps"]
    text: str
    slack_user: str | None = None
    agent_name: str | None = None


@dataclass(frozen=True)
class StreamStatus:
    """Where one sync stream stands (tickets, ratings, …)."""

    name: str
    position: datetime | None  # how far the local copy reaches
    last_success: datetime | None
    last_error: str | None = None
    running: bool = False


@dataclass(frozen=True)
class TriggerResult:
    accepted: bool
    message: str  # e.g. "sync started" / "a sync is already running (started 09:01)"


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    message: str  # what changed, or why the new file was rejected (the old config stays)
    settings: Settings | None = None  # the new configuration when ok


# --------------------------------------------------------------------------------------------
# Protocols
# --------------------------------------------------------------------------------------------


class StatsProvider(Protocol):
    def stats(self, query: StatsQuery) -> StatsSummary:
        """Headline numbers (with previous-period values) for a team, group or agent."""
        ...


class CsatProvider(Protocol):
    def bad_ratings(self, period: Window, limit: int) -> Sequence[BadRating]:
        """The most recent bad ratings in the window, newest first."""
        ...


class ShoutoutsProvider(Protocol):
    def recent_shoutouts(self, limit: int) -> Sequence[Shoutout]:
        """The most recent shout-outs, newest first."""
        ...


class SyncStatusProvider(Protocol):
    def sync_status(self) -> Sequence[StreamStatus]: ...


class SyncTrigger(Protocol):
    def trigger_sync(self, requested_by: str) -> TriggerResult:
        """Ask for a sync run now; must not wait for the run to finish."""
        ...


class ConfigReloader(Protocol):
    def reload_config(self) -> ReloadResult:
        """Re-read the YAML file; an invalid file keeps the running configuration."""
        ...


class Directory(Protocol):
    """Known agents and groups (names from Zendesk, Slack users from the roster)."""

    def agents(self) -> Sequence[AgentRef]: ...

    def groups(self) -> Sequence[GroupRef]: ...


class QaCommandProvider(Protocol):
    """``/deskbot qa …`` (``deskbot.services.qa.QaService``): the answer as plain text;
    raises ``deskbot.domain.commands.CommandError`` with a message for the person."""

    def qa_command(self, user_id: str, args: Sequence[str]) -> str: ...


class ForecastProvider(Protocol):
    """The staffing forecast (``services/forecast.py``); checks that ``actor`` may see it."""

    def forecast(self, actor: Actor, weeks: int | None, channel: str | None) -> ForecastReport: ...


@dataclass
class SlackServices:
    """Everything the Slack app may call. ``None``: the feature is not wired in this process."""

    directory: Directory | None = None
    # who is who, for roles (``deskbot.domain.authz``); None: the YAML roster in force
    people: PeopleDirectory | None = None
    stats: StatsProvider | None = None
    csat: CsatProvider | None = None
    shoutouts: ShoutoutsProvider | None = None
    sync_status: SyncStatusProvider | None = None
    sync_trigger: SyncTrigger | None = None
    config_reloader: ConfigReloader | None = None
    calibration: CalibrationService | None = None
    # posts a session's invitations at once (None: the scheduled pass sends them)
    calibration_poster: Callable[[], CalibrationDispatcher | None] | None = None
    qa: QaCommandProvider | None = None
    nps: NpsService | None = None  # internal NPS (/deskbot nps)
    forecast: ForecastProvider | None = None
