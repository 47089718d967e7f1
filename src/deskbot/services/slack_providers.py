"""The real services behind the Slack app's providers (``deskbot.services.providers``).

- ``KpiStats``: ``/deskbot me`` and ``/deskbot stats`` from the KPI engine (``build_report``),
  the same numbers as ``deskbot report`` and the digests.
- ``FollowupCsat``: ``/deskbot csat``: recent bad ratings with their follow-up's state and owner.
- ``LedgerShoutouts``: ``/deskbot hero``: shout-outs posted recently, from the action ledger.
- ``StoreSyncStatus``: ``/deskbot sync``: each stream's ``sync_state`` row (as ``deskbot sync
  status`` shows it), with whether a sync is running now.
- ``JobSyncTrigger``: ``/deskbot sync now``: asks the daemon to run its ``sync`` job now.

``bootstrap.slack_services`` wires them; none of them touches Slack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from deskbot.domain.metrics import FLAG_LABELS, AgentStats, Scope, Window, WindowStats
from deskbot.ports import ActionLedger, Clock, KpiSource, PeopleDirectory, SyncStore
from deskbot.services import shoutouts as shoutout_service
from deskbot.services.people import slack_ids_by_zendesk
from deskbot.services.providers import (
    BadRating,
    MetricValue,
    Shoutout,
    StatsQuery,
    StatsSummary,
    StreamStatus,
    TriggerResult,
)
from deskbot.services.reporting import build_report
from deskbot.services.sync import stream_states
from deskbot.settings import Settings

SettingsSource = Callable[[], Settings]


def _percent(value: float | None) -> float | None:
    return None if value is None else value * 100


class KpiStats:
    """``StatsProvider`` over the KPI engine."""

    def __init__(self, kpi: KpiSource, settings: SettingsSource, clock: Clock) -> None:
        self._kpi = kpi
        self._settings = settings
        self._clock = clock

    def stats(self, query: StatsQuery) -> StatsSummary:
        settings = self._settings()
        window = query.period
        target = query.target
        scope = Scope(
            group_id=target.group.id if target.group else None,
            group_name=target.group.name if target.group else None,
            agent_id=target.agent.zendesk_user_id if target.agent else None,
            agent_name=target.agent.name if target.agent else None,
        )
        report = build_report(
            self._kpi,
            window,
            self._clock.now(),
            scope=scope,
            workload=settings.workload,
            team_tags=settings.team_tags,
        )
        return stats_summary(
            query, report.current, report.previous, ((r.stats, r.flags) for r in report.agents)
        )


def stats_summary(
    query: StatsQuery,
    now: WindowStats,
    before: WindowStats,
    agents: Iterable[tuple[AgentStats, Sequence[str]]],
) -> StatsSummary:
    """What ``me``/``stats`` show: headline numbers of both windows, then each agent's flags
    (agents in the report's order; agents without flags are skipped)."""
    metrics = (
        MetricValue("CSAT", _percent(now.csat), _percent(before.csat), "percent"),
        MetricValue(
            "Ratings received",
            float(now.good + now.bad) if now.good + now.bad else None,
            float(before.good + before.bad) if before.good + before.bad else None,
        ),
        MetricValue("Tickets created", float(now.created), float(before.created)),
        MetricValue("Tickets solved", float(now.solved), float(before.solved)),
        MetricValue(
            "First reply (median)",
            now.frt_median,
            before.frt_median,
            "minutes",
            higher_is_better=False,
        ),
        MetricValue(
            "Resolution (median)",
            now.resolution_median,
            before.resolution_median,
            "minutes",
            higher_is_better=False,
        ),
        MetricValue(
            "One-touch",
            _percent(now.one_touch_rate),
            _percent(before.one_touch_rate),
            "percent",
        ),
    )
    notes = [f"{now.good} good and {now.bad} bad ratings"] if now.good + now.bad else []
    for stats, flags in agents:
        if flags:
            who = stats.name or f"agent {stats.agent_id}"
            notes.append(f"{who}: {', '.join(FLAG_LABELS.get(f, f) for f in flags)}")
    return StatsSummary(
        title=f"Numbers for {query.target.label}",
        period=query.period,
        metrics=metrics,
        notes=tuple(notes),
    )


class BadRatingSource(Protocol):
    def bad_ratings(self, start: datetime, end: datetime, limit: int) -> Sequence[BadRating]:
        """Bad ratings created in ``[start, end)``, newest first, with their follow-up."""
        ...


class FollowupCsat:
    """``CsatProvider``: the synced bad ratings, each with its follow-up's state and owner."""

    def __init__(self, source: BadRatingSource) -> None:
        self._source = source

    def bad_ratings(self, period: Window, limit: int) -> Sequence[BadRating]:
        return self._source.bad_ratings(period.start, period.end, limit)


_KINDS: dict[str, Literal["csat", "qa_hero", "hero_of_the_week", "nps"]] = {
    "rating": "csat",
    "hero_of_the_week": "hero_of_the_week",
    "qa_hero": "qa_hero",
    "nps_story": "nps",
}
LOOKBACK = timedelta(days=30)


class LedgerShoutouts:
    """``ShoutoutsProvider``: shout-outs posted in the last 30 days, newest first."""

    def __init__(
        self,
        ledger: ActionLedger,
        kpi: KpiSource,
        settings: SettingsSource,
        clock: Clock,
        people: PeopleDirectory | None = None,
    ) -> None:
        self._people = people  # agents' Slack users; roster.agents wins
        self._ledger = ledger
        self._kpi = kpi
        self._settings = settings
        self._clock = clock

    def recent_shoutouts(self, limit: int) -> Sequence[Shoutout]:
        records = [
            r
            for r in self._ledger.recent(shoutout_service.KIND, self._clock.now() - LOOKBACK)
            if r.status == "done"
        ]
        records.sort(key=lambda r: r.done_at or r.created_at, reverse=True)
        records = records[:limit]
        slack = slack_ids_by_zendesk(self._settings(), self._people)
        agent_ids = {int(r.payload["agent_id"]) for r in records if r.payload.get("agent_id")}
        names = self._kpi.user_names(agent_ids) if agent_ids else {}
        out = []
        for record in records:
            payload = record.payload
            agent_id = payload.get("agent_id")
            agent = int(agent_id) if agent_id is not None else None
            text = payload.get("title") or (
                f"Ticket #{payload['ticket_id']}" if payload.get("ticket_id") else record.key
            )
            out.append(
                Shoutout(
                    created_at=record.done_at or record.created_at,
                    kind=_KINDS.get(str(payload.get("kind")), "csat"),
                    text=str(text),
                    slack_user=slack.get(agent) if agent is not None else None,
                    agent_name=names.get(agent) if agent is not None else None,
                )
            )
        return out


class StoreSyncStatus:
    """``SyncStatusProvider`` over the sync store; ``running`` says whether a sync is in flight
    (the daemon's ``is_running("sync")``)."""

    def __init__(self, store: SyncStore, running: Callable[[], bool] | None = None) -> None:
        self._store = store
        self._running = running

    def sync_status(self) -> Sequence[StreamStatus]:
        running = self._running() if self._running is not None else False
        out = []
        for state in stream_states(self._store):
            position = (
                datetime.fromtimestamp(state.position, UTC) if state.position is not None else None
            )
            error = state.last_error
            # An error older than the last success is history, not where the stream stands.
            if (
                error
                and state.last_error_at
                and state.last_success_at
                and state.last_error_at < state.last_success_at
            ):
                error = None
            out.append(StreamStatus(state.stream, position, state.last_success_at, error, running))
        return out


class JobRunnerNow(Protocol):
    def run_job_now(self, job_id: str, requested_by: str | None = None) -> TriggerResult: ...


class JobSyncTrigger:
    """``SyncTrigger``: the daemon runs its ``sync`` job now (through its job runner)."""

    def __init__(self, daemon: JobRunnerNow, job_id: str = "sync") -> None:
        self._daemon = daemon
        self._job_id = job_id

    def trigger_sync(self, requested_by: str) -> TriggerResult:
        return self._daemon.run_job_now(self._job_id, requested_by)
