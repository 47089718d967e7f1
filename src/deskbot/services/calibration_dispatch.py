"""Calibration in Slack, exactly once: invitations, results (with chart and notes) and lessons.

Every post has an idempotency key in the action ledger, begun before posting and completed
after; a post carries the key as message metadata, so a run after a crash looks for it in the
channel (``find_marked``) before posting again (the follow-ups' and digests' protocol):

=================================  ============================================
key                                what
=================================  ============================================
``calibration:{id}:invite:{user}``  the DM with the tickets and Score buttons
``calibration:{id}:results``        results in the channel (then chart, notes)
``calibration:{id}:lessons``        the lessons in the results' thread
``calibration:{id}:lessons:{user}`` the lessons by DM to each participant
=================================  ============================================

The scheduled pass (job ``qa_calibration``) runs one at a time across replicas (job leases);
the Slack handlers call ``after_submission`` / ``after_lessons`` so results and lessons go out
without waiting for the next pass. Both paths use the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from deskbot.log import get_logger
from deskbot.ports import ActionLedger, Notifier, OutgoingMessage, PostedMessage
from deskbot.services.calibration import CalibrationReport, CalibrationService, SessionRecord

log = get_logger(__name__)

KIND = "calibration"


class CalibrationRenderer(Protocol):
    def invitation(self, session: SessionRecord) -> OutgoingMessage: ...

    def results(self, report: CalibrationReport) -> OutgoingMessage: ...

    def notes(self, report: CalibrationReport) -> OutgoingMessage: ...

    def lessons(self, session: SessionRecord) -> OutgoingMessage: ...

    def chart(self, report: CalibrationReport) -> bytes | None: ...


@dataclass
class CalibrationPass:
    created: list[int] = field(default_factory=list)
    invited: list[str] = field(default_factory=list)  # ledger keys posted
    closed: list[int] = field(default_factory=list)
    results: list[int] = field(default_factory=list)
    lessons: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "invited": len(self.invited),
            "closed": len(self.closed),
            "results": len(self.results),
            "lessons": len(self.lessons),
        }


class CalibrationDispatcher:
    def __init__(
        self,
        service: CalibrationService,
        ledger: ActionLedger,
        notifier: Notifier,
        renderer: CalibrationRenderer,
        channel: str | None,
    ) -> None:
        self.service = service
        self.ledger = ledger
        self.notifier = notifier
        self.renderer = renderer
        self.channel = channel

    # -- the pass ---------------------------------------------------------------------------

    def run(self) -> CalibrationPass:
        """Invite, close what is ready, post what is due (each exactly once)."""
        done = CalibrationPass()
        for session in self.service.store.sessions(status="open"):
            self.invite(session, done)
        done.closed = [s.id for s in self.service.close_ready()]
        for session in self.service.store.sessions(status="closed", limit=20):
            self.post_results(session, done)
            if session.lessons:
                self.post_lessons(session, done)
        if any(done.summary().values()):
            log.info("calibration.pass", **done.summary())
        return done

    def invite(self, session: SessionRecord, done: CalibrationPass | None = None) -> None:
        for user in session.calibrators:
            key = f"calibration:{session.id}:invite:{user}"
            if self._is_done(key):
                continue
            posted = self._post_once(key, user, lambda: self.renderer.invitation(session))
            if posted is not None and done is not None:
                done.invited.append(key)

    def after_submission(self) -> None:
        """A scorecard was stored: close and post at once when everyone has finished."""
        for session in self.service.close_ready():
            self.post_results(session)

    def post_results(self, session: SessionRecord, done: CalibrationPass | None = None) -> None:
        if self.channel is None:
            log.info("calibration.no_channel", session=session.id)
            return
        key = f"calibration:{session.id}:results"
        if self._is_done(key):
            return
        report = self.service.report(None, session.id)
        posted = self._post_once(key, self.channel, lambda: self.renderer.results(report))
        if posted is None:
            return
        if done is not None:
            done.results.append(session.id)
        # The chart and the notes hang off the results message; each has its own key.
        chart_key = f"{key}:chart"
        if self.ledger.begin(chart_key, KIND, subject=f"calibration:{session.id}").new:
            try:
                image = self.renderer.chart(report)
                if image:
                    self.notifier.upload_file(
                        posted.channel,
                        image,
                        f"calibration-{session.id}.png",
                        f"Calibration #{session.id}: scores per ticket and competency",
                        thread_ts=posted.ts,
                    )
                self.ledger.complete(chart_key, {})
            except Exception as exc:  # a chart is a nicety: at most once, never blocking
                self.ledger.fail(chart_key, f"{type(exc).__name__}: {exc}")
                log.warning("calibration.chart_failed", session=session.id, error=str(exc))
        self._post_once(
            f"{key}:notes",
            posted.channel,
            lambda: self.renderer.notes(report),
            thread_ts=posted.ts,
        )

    def after_lessons(self, session: SessionRecord) -> None:
        self.post_lessons(session)

    def post_lessons(self, session: SessionRecord, done: CalibrationPass | None = None) -> None:
        if self._is_done(f"calibration:{session.id}:lessons:{session.calibrators[-1]}"):
            return  # the last DM is the last step: everything before it went out
        results = self.ledger.get(f"calibration:{session.id}:results")
        thread = (results.result or {}) if results is not None else {}
        if self.channel is not None and thread.get("ts"):
            posted = self._post_once(
                f"calibration:{session.id}:lessons",
                str(thread.get("channel_id") or self.channel),
                lambda: self.renderer.lessons(session),
                thread_ts=str(thread["ts"]),
            )
            if posted is not None and done is not None:
                done.lessons.append(session.id)
        for user in session.calibrators:
            self._post_once(
                f"calibration:{session.id}:lessons:{user}",
                user,
                lambda: self.renderer.lessons(session),
            )

    # -- one post, once ---------------------------------------------------------------------

    def _is_done(self, key: str) -> bool:
        record = self.ledger.get(key)
        return record is not None and record.status == "done"

    def _post_once(
        self,
        key: str,
        channel: str,
        render: _Render,
        *,
        thread_ts: str | None = None,
    ) -> PostedMessage | None:
        """Post unless the ledger says it is done; returns the message (also when it was
        posted by an earlier run), or ``None`` when the post failed (retried next pass)."""
        record = self.ledger.begin(key, KIND, subject=key.rsplit(":", 1)[0])
        if record.status == "done":
            result = record.result or {}
            if result.get("ts"):
                return PostedMessage(str(result.get("channel_id") or channel), str(result["ts"]))
            return None
        try:
            if not record.new:
                since = record.created_at - timedelta(minutes=5)
                found = self.notifier.find_marked(channel, key, since).get(key)
                if found is not None:
                    self.ledger.complete(key, {"ts": found.ts, "channel_id": found.channel})
                    return found
            posted = self.notifier.post_message(channel, render(), marker=key, thread_ts=thread_ts)
        except Exception as exc:
            self.ledger.fail(key, f"{type(exc).__name__}: {exc}")
            log.warning("calibration.post_failed", key=key, error=str(exc))
            return None
        self.ledger.complete(key, {"ts": posted.ts, "channel_id": posted.channel})
        return posted


class _Render(Protocol):
    def __call__(self) -> OutgoingMessage: ...
