"""``SlackNpsMessenger``: the NPS service's Slack (``deskbot.services.nps.NpsMessenger``).

DMs go to the person's app DM (``conversations.open``); every post that must happen once
carries its ledger key as message metadata, so a rerun can find it in the DM or channel
history before posting again (``find_marked``). Message updates (answered, expired) are safe to
repeat. Pacing across DMs is the service's (``nps.dms_per_minute``); ``SlackNotifier`` paces
each channel and its client honours ``Retry-After``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_sdk import WebClient

from deskbot.adapters.slack import nps_blocks as nb
from deskbot.adapters.slack.blocks import escape, section
from deskbot.adapters.slack.notifier import SlackNotifier
from deskbot.ports import Clock, OutgoingMessage, PostedMessage
from deskbot.services.nps import AskView, CommentView, DepartmentResult, ReplyView


def _is_user(target: str) -> bool:
    return target[:1] in ("U", "W") and not target.startswith("#")


class SlackNpsMessenger:
    def __init__(self, client: WebClient, clock: Clock | None = None) -> None:
        self.client = client
        self.notifier = SlackNotifier(client, clock=clock)
        self._dms: dict[str, str] = {}

    def _channel(self, target: str) -> str:
        """A user's DM channel id, or a channel's id ('#name' or an id)."""
        if not _is_user(target):
            return self.notifier.channel_id(target)
        if target not in self._dms:
            response = self.notifier._call(
                "conversations.open", self.client.conversations_open, users=target
            )
            self._dms[target] = str(response["channel"]["id"])
        return self._dms[target]

    def _post(self, target: str, message: OutgoingMessage, marker: str | None) -> PostedMessage:
        return self.notifier.post_message(self._channel(target), message, marker=marker)

    def _update(self, channel: str, ts: str, message: OutgoingMessage) -> None:
        kwargs: dict[str, Any] = {"channel": channel, "ts": ts, "text": message.text}
        if message.blocks is not None:
            kwargs["blocks"] = message.blocks
        self.notifier._call("chat.update", self.client.chat_update, **kwargs)

    # -- NpsMessenger ---------------------------------------------------------------------

    def send_ask(self, user_id: str, ask: AskView, marker: str) -> PostedMessage:
        return self._post(user_id, nb.ask_message(ask), marker)

    def send_reminder(self, user_id: str, ask: AskView, marker: str) -> PostedMessage:
        return self._post(user_id, nb.ask_message(ask, reminder=True), marker)

    def find_marked(self, target: str, prefix: str, since: datetime) -> dict[str, PostedMessage]:
        return self.notifier.find_marked(self._channel(target), prefix, since)

    def show_expired(self, channel: str, ts: str, ask: AskView) -> None:
        self._update(channel, ts, nb.expired_message(ask))

    def show_answered(self, channel: str, ts: str, ask: AskView, score: int) -> None:
        self._update(channel, ts, nb.answered_message(ask))

    def send_results(
        self, target: str, result: DepartmentResult, threshold: int, marker: str
    ) -> PostedMessage:
        return self._post(target, nb.results_message(result, threshold), marker)

    def send_withheld(
        self, target: str, department: str, period: str, threshold: int, marker: str
    ) -> PostedMessage:
        return self._post(target, nb.withheld_message(department, period, threshold), marker)

    def send_comment(self, target: str, comment: CommentView, marker: str) -> PostedMessage:
        return self._post(target, nb.comment_message(comment), marker)

    def send_reply(self, user_id: str, reply: ReplyView) -> PostedMessage:
        return self._post(user_id, nb.reply_message(reply), None)

    def upload_chart(self, target: str, png: bytes, title: str) -> None:
        self.notifier.upload_file(self._channel(target), png, "nps-trend.png", title)

    # -- used by the handlers -------------------------------------------------------------

    def update_message(self, channel: str, ts: str, message: OutgoingMessage) -> None:
        self._update(channel, ts, message)

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        self.notifier._call("views.open", self.client.views_open, trigger_id=trigger_id, view=view)

    def tell(self, user_id: str, text: str) -> None:
        """A short private note in the person's DM with deskbot."""
        self._post(user_id, OutgoingMessage(text=text, blocks=[section(escape(text))]), None)
