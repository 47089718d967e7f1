"""KPI digests: compute, render and post each configured digest once per period.

Exactly-once posting across crashes, with the action ledger (key
``digest:{channel}:{first day of the period}``):

1. ``begin`` records the intent before anything is posted. A ``done`` row means the digest
   was posted: nothing happens.
2. Each message carries a marker (``{key}#{part}``) in its Slack metadata, and its ``ts`` is
   checkpointed in the ledger right after posting. When a run finds its key already pending
   or failed (an earlier run crashed or failed part-way), it first reads the channel history
   for its markers, so a message posted just before a crash — before its checkpoint — is
   recognised and not posted again.
3. The chart upload cannot carry a marker, so it is at-most-once: ``chart: started`` is
   checkpointed before the upload and the file id after. A run that finds ``started`` without
   a file id skips the chart (a missing picture is better than a duplicate one; the numbers
   are in the message).
4. ``complete`` marks the row done; a failure marks it failed with the reason, and the next
   scheduled run resumes from step 2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, NoReturn

from deskbot.domain.digest import ChartData, Digest, build_digest
from deskbot.domain.metrics import Window, buckets, parse_period
from deskbot.errors import DeskbotError
from deskbot.log import get_logger
from deskbot.ports import (
    ActionLedger,
    DigestRenderer,
    KpiSource,
    Notifier,
    OutgoingMessage,
    PostedMessage,
)
from deskbot.services.reporting import build_report
from deskbot.settings import DigestSettings, Settings

log = get_logger(__name__)

KIND = "digest"
CHART_DAYS = 28  # daily digests chart the last four weeks day by day
CHART_WEEKS = 12  # longer digests chart the last twelve weeks week by week


@dataclass(frozen=True)
class ComposedDigest:
    key: str
    channel: str
    window: Window
    digest: Digest
    messages: list[OutgoingMessage]
    chart: bytes | None


@dataclass
class DigestOutcome:
    key: str
    status: Literal["posted", "already_posted", "resumed"]
    posted: list[str] = field(default_factory=list)  # ts of messages posted by this run
    chart_file: str | None = None


def digest_key(channel: str, window: Window) -> str:
    return f"digest:{channel}:{window.start_day.isoformat()}"


def find_digest(settings: Settings, name_or_channel: str) -> DigestSettings:
    """The configured digest with this name or channel; a clear error otherwise."""
    for digest in settings.digests:
        if name_or_channel in (digest.name, digest.channel):
            return digest
    known = ", ".join(f"{d.name} ({d.channel})" for d in settings.digests) or "none configured"
    raise DeskbotError(
        f"no digest named or posting to {name_or_channel!r} in the configuration "
        f"(digests: {known}); add one under 'digests:' in the config file"
    )


class DryRunNotifier:
    """A ``Notifier`` for previews: any attempt to post is a bug, and says so."""

    def _refuse(self) -> NoReturn:
        raise DeskbotError("dry run: nothing may be posted")

    def post_message(
        self,
        channel: str,
        message: OutgoingMessage,
        *,
        marker: str | None = None,
        thread_ts: str | None = None,
    ) -> PostedMessage:
        self._refuse()

    def upload_file(
        self,
        channel: str,
        content: bytes,
        filename: str,
        title: str,
        *,
        thread_ts: str | None = None,
        comment: str | None = None,
    ) -> str:
        self._refuse()

    def find_marked(self, channel: str, prefix: str, since: datetime) -> dict[str, PostedMessage]:
        self._refuse()


class DigestService:
    def __init__(
        self,
        settings: Settings,
        kpi: KpiSource,
        ledger: ActionLedger,
        notifier: Notifier,
        renderer: DigestRenderer,
        csat_unavailable: Callable[[], str | None] | None = None,
    ) -> None:
        self._csat_unavailable = csat_unavailable  # why CSAT cannot be read (csat_sync.py)
        self._settings = settings
        self._kpi = kpi
        self._ledger = ledger
        self._notifier = notifier
        self._renderer = renderer

    def window_for(self, config: DigestSettings, now: datetime, period: str | None) -> Window:
        return parse_period(period or config.period, now, self._settings.tz)

    def compose(
        self, config: DigestSettings, now: datetime, period: str | None = None
    ) -> ComposedDigest:
        """Compute and render, without posting anything."""
        window = self.window_for(config, now, period)
        scope = self._kpi.resolve_scope(group=config.group)
        report = build_report(
            self._kpi,
            window,
            now,
            scope=scope,
            workload=self._settings.workload,
            team_tags=self._settings.team_tags,
        )
        chart: ChartData | None = None
        if "charts" in config.sections:
            unit: Literal["day", "week"] = "day" if window.days == 1 else "week"
            count = CHART_DAYS if unit == "day" else CHART_WEEKS
            series = self._kpi.series(buckets(window.end_day, count, unit, window.tz), scope)
            chart = ChartData(unit, tuple(series), tuple(self._kpi.frt_sample(window, scope)))
        digest = build_digest(
            report,
            name=config.name,
            sections=config.sections,
            chart=chart,
            csat_unavailable=self._csat_unavailable() if self._csat_unavailable else None,
        )
        return ComposedDigest(
            key=digest_key(config.channel, window),
            channel=config.channel,
            window=window,
            digest=digest,
            messages=self._renderer.render(digest),
            chart=self._renderer.chart(digest),
        )

    def post(
        self, config: DigestSettings, now: datetime, period: str | None = None
    ) -> DigestOutcome:
        """Post the digest for the period once, whatever happened to earlier runs."""
        window = self.window_for(config, now, period)
        key = digest_key(config.channel, window)
        record = self._ledger.begin(
            key,
            KIND,
            subject=f"channel:{config.channel}",
            payload={
                "digest": config.name,
                "window": window.label,
                "period": f"{window.start_day.isoformat()}..{window.last_day.isoformat()}",
                "group": config.group,
            },
        )
        if record.status == "done":
            log.info("digest.already_posted", key=key)
            return DigestOutcome(key, "already_posted")
        progress = dict(record.result or {})
        parts: dict[str, str] = dict(progress.get("parts") or {})
        outcome = DigestOutcome(key, "posted" if record.new else "resumed")
        try:
            if not record.new:
                # An earlier run got as far as the intent: see what reached the channel.
                since = record.created_at - timedelta(minutes=5)
                found = self._notifier.find_marked(config.channel, f"{key}#", since)
                for marker, msg in found.items():
                    parts.setdefault(marker.rsplit("#", 1)[1], msg.ts)
                    progress.setdefault("channel_id", msg.channel)
                log.info("digest.resuming", key=key, parts_found=sorted(parts))
            composed = self.compose(config, now, period)
            for index, message in enumerate(composed.messages):
                if str(index) in parts:
                    continue
                posted = self._notifier.post_message(
                    config.channel, message, marker=f"{key}#{index}"
                )
                parts[str(index)] = posted.ts
                progress["channel_id"] = posted.channel
                outcome.posted.append(posted.ts)
                self._ledger.checkpoint(key, {"parts": parts, "channel_id": posted.channel})
            outcome.chart_file = self._post_chart(key, composed, progress, parts)
            self._ledger.complete(key, {"parts": parts, "messages": len(composed.messages)})
        except Exception as exc:
            self._ledger.fail(key, f"{type(exc).__name__}: {exc}")
            log.warning("digest.failed", key=key, error=str(exc))
            raise
        log.info("digest.posted", key=key, messages=len(outcome.posted), status=outcome.status)
        return outcome

    def resume_unfinished(
        self, config: DigestSettings, now: datetime, max_age: timedelta = timedelta(days=7)
    ) -> list[DigestOutcome]:
        """Finish digests of ``config`` that an earlier run left pending (crash) or failed
        (Slack error) in the last ``max_age``: a daily job would otherwise move on to the next
        period and never post them. Errors are logged, not raised, so they cannot block the
        current period's digest."""
        outcomes = []
        for record in self._ledger.recent(KIND, now - max_age):
            if record.status not in ("pending", "failed"):
                continue
            if record.payload.get("digest") != config.name or "period" not in record.payload:
                continue
            try:
                outcomes.append(self.post(config, now, str(record.payload["period"])))
            except Exception as exc:  # logged; retried by the next run
                log.warning("digest.resume_failed", key=record.key, error=str(exc))
        return outcomes

    def _post_chart(
        self,
        key: str,
        composed: ComposedDigest,
        progress: dict[str, object],
        parts: dict[str, str],
    ) -> str | None:
        if composed.chart is None:
            return None
        state = progress.get("chart")
        if state == "started":
            log.warning("digest.chart_skipped", key=key, reason="an earlier upload was cut off")
            return None
        if isinstance(state, str):
            return state  # uploaded by an earlier run
        self._ledger.checkpoint(key, {"chart": "started"})
        channel = str(progress.get("channel_id") or composed.channel)
        file_id = self._notifier.upload_file(
            channel,
            composed.chart,
            filename=f"digest-{composed.window.start_day.isoformat()}.png",
            title=f"{composed.digest.title}: volume, CSAT and first reply time",
            thread_ts=parts.get("0"),
        )
        self._ledger.checkpoint(key, {"chart": file_id or "uploaded"})
        return file_id
