"""An ``AdminNotifier`` that writes admin notices to the log (used until Slack is configured)."""

from __future__ import annotations

from deskbot.log import get_logger

log = get_logger(__name__)


class LogNotifier:
    """Satisfies ``deskbot.ports.AdminNotifier``: every notice becomes an ``admin.notice`` event."""

    def post(self, channel: str, text: str) -> None:
        log.warning("admin.notice", channel=channel, text=text)
