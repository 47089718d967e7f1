"""The weekly forecast post: once per ISO week and Slack channel, whatever happens to runs.

``ForecastPoster.post`` uses the action ledger (key ``forecast:{channel}:{Monday of the week}``):
the message carries a marker (``{key}#0``) in its metadata and its ``ts`` is checkpointed; a
resumed run looks for the marker in the channel before posting; the chart upload is at most
once (``chart: started`` is checkpointed before it, so a cut-off upload is not repeated).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol

from deskbot.errors import DeskbotError
from deskbot.log import get_logger
from deskbot.ports import ActionLedger, Notifier, OutgoingMessage
from deskbot.services.forecast import ForecastReport, ForecastService
from deskbot.settings import Settings

log = get_logger(__name__)

KIND = "forecast"


class ForecastRenderer(Protocol):
    def render(self, report: ForecastReport) -> OutgoingMessage: ...

    def chart(self, report: ForecastReport) -> bytes | None: ...


@dataclass
class ForecastPostOutcome:
    key: str
    status: Literal["posted", "already_posted", "resumed"]
    ts: str | None = None
    chart_file: str | None = None


def forecast_key(channel: str, day: date) -> str:
    monday = day - timedelta(days=day.weekday())
    return f"forecast:{channel}:{monday.isoformat()}"


class ForecastPoster:
    def __init__(
        self,
        service: ForecastService,
        ledger: ActionLedger,
        notifier: Notifier,
        renderer: ForecastRenderer,
        settings: Settings,
    ) -> None:
        self._service = service
        self._ledger = ledger
        self._notifier = notifier
        self._renderer = renderer
        self._settings = settings

    def channel(self) -> str:
        channel = self._settings.forecast.channel or self._settings.slack.channels.digests
        if channel is None:
            raise DeskbotError(
                "no channel for the forecast post: set forecast.channel (or "
                "slack.channels.digests) in the config file"
            )
        return channel

    def post(self, now: datetime) -> ForecastPostOutcome:
        """Post this week's forecast once, whatever happened to earlier runs."""
        channel = self.channel()
        day = now.astimezone(self._settings.tz).date()
        key = forecast_key(channel, day)
        record = self._ledger.begin(
            key, KIND, subject=f"channel:{channel}", payload={"week_of": day.isoformat()}
        )
        if record.status == "done":
            log.info("forecast.already_posted", key=key)
            return ForecastPostOutcome(key, "already_posted")
        progress: dict[str, Any] = dict(record.result or {})
        outcome = ForecastPostOutcome(key, "posted" if record.new else "resumed")
        marker = f"{key}#0"
        try:
            ts = progress.get("ts")
            if ts is None and not record.new:
                found = self._notifier.find_marked(
                    channel, marker, record.created_at - timedelta(minutes=5)
                )
                if marker in found:
                    ts = found[marker].ts
                    progress["channel_id"] = found[marker].channel
            report = self._service.build(now)
            if ts is None:
                posted = self._notifier.post_message(
                    channel, self._renderer.render(report), marker=marker
                )
                ts, progress["channel_id"] = posted.ts, posted.channel
                outcome.ts = ts
                self._ledger.checkpoint(key, {"ts": ts, "channel_id": posted.channel})
            outcome.chart_file = self._post_chart(key, report, progress, str(ts))
            self._ledger.complete(key, {"ts": ts})
        except Exception as exc:
            self._ledger.fail(key, f"{type(exc).__name__}: {exc}")
            log.warning("forecast.post_failed", key=key, error=str(exc))
            raise
        log.info("forecast.posted", key=key, status=outcome.status)
        return outcome

    def _post_chart(
        self, key: str, report: ForecastReport, progress: dict[str, Any], ts: str
    ) -> str | None:
        state = progress.get("chart")
        if state == "started":
            log.warning("forecast.chart_skipped", key=key, reason="an earlier upload was cut off")
            return None
        if isinstance(state, str):
            return state
        chart = self._renderer.chart(report)
        if chart is None:
            return None
        self._ledger.checkpoint(key, {"chart": "started"})
        file_id = self._notifier.upload_file(
            str(progress.get("channel_id") or self.channel()),
            chart,
            filename=f"forecast-{report.start_day.isoformat()}.png",
            title="Forecast vs recent weeks, and agents needed by weekday and half hour",
            thread_ts=ts,
        )
        self._ledger.checkpoint(key, {"chart": file_id or "uploaded"})
        return file_id
