"""Hero shout-outs: good ratings with a comment, the weekly hero, and hooks for QA hero bonuses
and internal-NPS promoter stories.

Every shout-out has a ledger key (``shoutout:ticket:{id}``, ``shoutout:hero:{week}``,
``shoutout:qa:{review}``, ``shoutout:nps:{story}``): a ticket is celebrated at most once, and a
re-run after a crash looks for the message's marker in the channel before posting again (the
same protocol as digests). Caps: ``shoutouts.daily_cap`` a local day and
``shoutouts.min_gap_days`` between two shout-outs for one agent, counted from the ledger; the
weekly hero is exempt from both (it is its own once-a-week ritual).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from deskbot.domain.metrics import last_complete_week
from deskbot.domain.report import format_value
from deskbot.domain.shoutouts import (
    PastShoutout,
    Shoutout,
    hero_of_the_week,
    quote,
    rating_shoutout,
    select,
)
from deskbot.log import get_logger
from deskbot.ports import ActionLedger, KpiSource, Notifier, PeopleDirectory, ShoutoutRenderer
from deskbot.services.people import slack_ids_by_zendesk
from deskbot.settings import Settings

log = get_logger(__name__)

KIND = "shoutout"
LOOKBACK = timedelta(hours=48)  # ratings older than this are news no more


@dataclass
class ShoutoutRun:
    posted: list[str] = field(default_factory=list)  # ledger keys posted by this run
    skipped: list[str] = field(default_factory=list)  # over the cap / too soon for the agent
    already: list[str] = field(default_factory=list)  # done by an earlier run


class ShoutoutService:
    def __init__(
        self,
        settings: Settings,
        kpi: KpiSource,
        ledger: ActionLedger,
        notifier: Notifier,
        renderer: ShoutoutRenderer,
        *,
        people: PeopleDirectory | None = None,
    ) -> None:
        self._settings = settings
        self._kpi = kpi
        self._ledger = ledger
        self._notifier = notifier
        self._renderer = renderer
        self._people = people
        self._fixed_ids: dict[int, str] | None = (
            None if people is not None else (slack_ids_by_zendesk(settings, None))
        )

    def _slack_ids(self) -> dict[int, str]:
        """Agents' Slack users: the people directory's matches, ``roster.agents`` winning."""
        if self._fixed_ids is not None:
            return self._fixed_ids
        return slack_ids_by_zendesk(self._settings, self._people)

    @property
    def channel(self) -> str | None:
        cfg = self._settings.shoutouts
        return cfg.channel or self._settings.slack.channels.shoutouts

    def _enabled(self) -> bool:
        if not self._settings.shoutouts.enabled or self.channel is None:
            log.info("shoutouts.disabled", channel=self.channel)
            return False
        return True

    def _past(self, now: datetime, retrying: set[str]) -> list[PastShoutout]:
        """Shout-outs that count against the caps: begun recently, not failed, not exempt, and
        not one of those being retried now (a crashed run must not block its own retry)."""
        horizon = now - timedelta(days=max(self._settings.shoutouts.min_gap_days, 1) + 1)
        past = []
        for record in self._ledger.recent(KIND, horizon):
            if record.key in retrying or record.payload.get("exempt"):
                continue
            if record.status in ("pending", "done"):
                agent = record.payload.get("agent_id")
                past.append(
                    PastShoutout(int(agent) if agent is not None else None, record.created_at)
                )
        return past

    # -- sources ----------------------------------------------------------------------------

    def run_ratings(self, now: datetime) -> ShoutoutRun:
        """Celebrate new good ratings with a comment (within the caps)."""
        run = ShoutoutRun()
        if not self._enabled():
            return run
        display = self._settings.shoutouts.customer_display
        candidates = []
        slack_ids = self._slack_ids()
        for praise in self._kpi.praise(now - LOOKBACK, now):
            candidates.append(rating_shoutout(praise, display, slack_ids))
        return self._deliver(candidates, now, run)

    def run_hero_of_the_week(self, now: datetime) -> ShoutoutRun:
        """The best CSAT of the last complete week (minimum rated tickets; ties by volume)."""
        run = ShoutoutRun()
        if not self._enabled():
            return run
        week = last_complete_week(now, self._settings.tz)
        agents = self._kpi.agent_stats(week, self._kpi.resolve_scope())
        hero = hero_of_the_week(agents, self._settings.shoutouts.hero_min_rated_tickets)
        if hero is None:
            log.info("shoutouts.no_hero", week=week.label)
            return run
        name = hero.name or f"agent {hero.agent_id}"
        shoutout = Shoutout(
            kind="hero_of_the_week",
            key=f"shoutout:hero:{week.start_day.isoformat()}",
            title=f"Hero of the week: {name}!",
            agent_id=hero.agent_id,
            agent_name=hero.name,
            agent_slack_id=self._slack_ids().get(hero.agent_id),
            detail=(
                f"CSAT {format_value('ratio', hero.csat)} over {hero.good + hero.bad} rated "
                f"tickets and {hero.solved} solved in {week.label}."
            ),
            exempt_from_caps=True,
        )
        return self._deliver([shoutout], now, run)

    # -- hooks for QA and internal NPS --------------------------------------------------------

    def shout_out_qa_hero(
        self,
        *,
        review_id: int | str,
        agent_id: int,
        agent_name: str | None,
        ticket_id: int | None,
        note: str | None,
        now: datetime,
    ) -> ShoutoutRun:
        """A QA review's hero bonus becomes a shout-out (within the caps)."""
        run = ShoutoutRun()
        if not self._enabled():
            return run
        shoutout = Shoutout(
            kind="qa_hero",
            key=f"shoutout:qa:{review_id}",
            title=f"QA hero bonus for {agent_name or f'agent {agent_id}'}!",
            agent_id=agent_id,
            agent_name=agent_name,
            agent_slack_id=self._slack_ids().get(agent_id),
            quote=quote(note) if note else None,
            attribution="the QA reviewer" if note else None,
            ticket_id=ticket_id,
        )
        return self._deliver([shoutout], now, run)

    def shout_out_nps_story(
        self, *, story_id: int | str, department: str, comment: str, now: datetime
    ) -> ShoutoutRun:
        """A promoter's (anonymous) comment about a department, celebrated (within the cap)."""
        run = ShoutoutRun()
        if not self._enabled():
            return run
        shoutout = Shoutout(
            kind="nps_story",
            key=f"shoutout:nps:{story_id}",
            title=f"A colleague on working with {department}",
            quote=quote(comment),
            attribution="a colleague (anonymous)",
        )
        return self._deliver([shoutout], now, run)

    # -- delivery -----------------------------------------------------------------------------

    def _deliver(self, candidates: list[Shoutout], now: datetime, run: ShoutoutRun) -> ShoutoutRun:
        cfg = self._settings.shoutouts
        fresh = []
        for shoutout in candidates:
            existing = self._ledger.get(shoutout.key)
            if existing is not None and existing.status == "done":
                run.already.append(shoutout.key)  # never twice for a ticket / review / story
            else:
                fresh.append(shoutout)
        candidates = fresh
        chosen = select(
            candidates,
            self._past(now, {s.key for s in candidates}),
            now=now,
            tz=self._settings.tz,
            daily_cap=cfg.daily_cap,
            min_gap_days=cfg.min_gap_days,
        )
        chosen_keys = {s.key for s in chosen}
        run.skipped += [s.key for s in candidates if s.key not in chosen_keys]
        for shoutout in chosen:
            self._post_once(shoutout, run)
        if run.skipped:
            log.info("shoutouts.capped", skipped=len(run.skipped))
        return run

    def _post_once(self, shoutout: Shoutout, run: ShoutoutRun) -> None:
        channel = self.channel
        assert channel is not None
        record = self._ledger.begin(
            shoutout.key,
            KIND,
            subject=f"agent:{shoutout.agent_id}" if shoutout.agent_id is not None else None,
            payload={
                "kind": shoutout.kind,
                "agent_id": shoutout.agent_id,
                "ticket_id": shoutout.ticket_id,
                "exempt": shoutout.exempt_from_caps,
                "title": shoutout.title,  # what /deskbot hero lists
            },
        )
        if record.status == "done":
            run.already.append(shoutout.key)
            return
        try:
            if not record.new:
                found = self._notifier.find_marked(
                    channel, shoutout.key, record.created_at - timedelta(minutes=5)
                )
                if shoutout.key in found:
                    self._ledger.complete(shoutout.key, {"ts": found[shoutout.key].ts})
                    run.already.append(shoutout.key)
                    return
            posted = self._notifier.post_message(
                channel, self._renderer.render_shoutout(shoutout), marker=shoutout.key
            )
            self._ledger.complete(shoutout.key, {"ts": posted.ts, "channel_id": posted.channel})
        except Exception as exc:
            self._ledger.fail(shoutout.key, f"{type(exc).__name__}: {exc}")
            log.warning("shoutouts.failed", key=shoutout.key, error=str(exc))
            raise
        run.posted.append(shoutout.key)
        log.info("shoutouts.posted", key=shoutout.key, kind=shoutout.kind)
