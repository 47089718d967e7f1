"""``deskbot.services.qa.QaSlack`` through slack_sdk: DMs and posts carrying their ledger key
in message metadata (``SlackNotifier``'s marker), found again in the DM's history after a
crash; modals opened on the clicking user's trigger.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from deskbot.adapters.slack import qa_blocks as qb
from deskbot.adapters.slack.notifier import HISTORY_UNREADABLE, SlackNotifier
from deskbot.errors import SlackError
from deskbot.log import get_logger
from deskbot.ports import Clock, OutgoingMessage
from deskbot.services.qa import Comment
from deskbot.services.qa_types import CycleRecord, DisputeRecord, ReviewRecord, TaskView

log = get_logger(__name__)

BLOCK_PREFIX = "dkqa:"


def _carries(message: Mapping[str, Any], marker: str) -> bool:
    meta = message.get("metadata") or {}
    if (meta.get("event_payload") or {}).get("key") == marker:
        return True
    blocks = message.get("blocks") or []
    return bool(blocks) and blocks[0].get("block_id") == (BLOCK_PREFIX + marker)[:255]


class SlackQa:
    def __init__(
        self,
        client: WebClient,
        *,
        api_root: str | None,
        clock: Clock | None = None,
        names: Callable[[int], str] | None = None,
        reviewer_names: Mapping[str, str] | None = None,
        messages_per_second: float = 1.0,
        chart: Callable[[Any], bytes | None] | None = None,
    ) -> None:
        self.client = client
        self.notifier = SlackNotifier(client, clock=clock, messages_per_second=messages_per_second)
        self.api_root = api_root
        self.names = names or (lambda agent_id: f"agent {agent_id}")
        self.reviewer_names = dict(reviewer_names or {})
        self.chart = chart
        self._dm: dict[str, str] = {}

    # -- posting ------------------------------------------------------------------------------

    def _dm_channel(self, user: str) -> str:
        if user in self._dm:
            return self._dm[user]
        try:
            data = self.client.conversations_open(users=user)
        except Exception as exc:
            raise SlackError(f"open a DM with {user}: {exc}") from exc
        channel = str((data.get("channel") or {}).get("id"))
        self._dm[user] = channel
        return channel

    def _target(self, target: str) -> str:
        return self._dm_channel(target) if target[:1] in ("U", "W") else target

    def _post(self, target: str, text: str, blocks: list[dict[str, Any]], marker: str) -> str:
        tagged = [dict(b) for b in blocks]
        if tagged:  # the marker twice: metadata, and the first block's id (kept by every Slack)
            tagged[0]["block_id"] = (BLOCK_PREFIX + marker)[:255]
        posted = self.notifier.post_message(
            self._target(target), OutgoingMessage(text, tagged), marker=marker
        )
        return posted.ts

    def find(self, target: str, marker: str, since: datetime) -> str | None:
        channel = self._target(target)
        cursor: str | None = None
        for _page in range(20):
            try:
                data = self.client.conversations_history(
                    channel=channel,
                    oldest=f"{since.timestamp():.6f}",
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            except SlackApiError as exc:
                error = str(exc.response.get("error", "")) if exc.response is not None else ""
                if error in HISTORY_UNREADABLE:
                    log.warning("qa.history_unreadable", error=error)
                    return None  # a rare duplicate beats a DM never sent
                raise SlackError(f"read the history of {channel}: {error or exc}") from exc
            for message in data.get("messages") or []:
                if _carries(message, marker):
                    return str(message["ts"])
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        return None

    def task_list(
        self, reviewer: str, cycle: CycleRecord, tasks: Sequence[TaskView], marker: str
    ) -> str:
        text, blocks = qb.task_list(cycle, tasks, self.api_root)
        return self._post(reviewer, text, blocks, marker)

    def review(
        self,
        agent: str,
        task: TaskView,
        review: ReviewRecord,
        reviewer_shown: str | None,
        closes: datetime,
        marker: str,
    ) -> str:
        text, blocks = qb.review_message(task, review, reviewer_shown, closes, self.api_root)
        return self._post(agent, text, blocks, marker)

    def dispute(self, resolver: str, task: TaskView, dispute: DisputeRecord, marker: str) -> str:
        name = self.names(task.sample.agent_id)
        text, blocks = qb.dispute_message(task, dispute, name, self.api_root)
        return self._post(resolver, text, blocks, marker)

    def dispute_outcome(
        self, agent: str, task: TaskView, dispute: DisputeRecord, marker: str
    ) -> str:
        text, blocks = qb.outcome_message(task, dispute, self.api_root)
        return self._post(agent, text, blocks, marker)

    def reminder(
        self, reviewer: str, cycle: CycleRecord, tasks: Sequence[TaskView], marker: str
    ) -> str:
        text, blocks = qb.task_list(cycle, tasks, self.api_root, reminder=True)
        return self._post(reviewer, text, blocks, marker)

    def overdue(
        self, owner: str, cycle: CycleRecord, tasks: Sequence[TaskView], marker: str
    ) -> str:
        text, blocks = qb.overdue_message(cycle, tasks, self.reviewer_names)
        return self._post(owner, text, blocks, marker)

    def digest(self, channel: str, report: Any, marker: str) -> str:
        text, blocks = qb.digest_message(report)
        ts = self._post(channel, text, blocks, marker)
        if self.chart is not None:
            try:
                png = self.chart(report)
                if png:
                    self.notifier.upload_file(
                        self._target(channel),
                        png,
                        f"qa-{'-'.join(report.cycles)}.png",
                        f"QA {', '.join(report.cycles)}",
                        thread_ts=ts,
                    )
            except Exception as exc:  # the digest is posted; the chart is a bonus
                log.warning("qa.chart_failed", error=str(exc)[:200])
        return ts

    # -- modals -------------------------------------------------------------------------------

    def _open(self, trigger_id: str, view: dict[str, Any]) -> dict[str, Any]:
        try:
            data = self.client.views_open(trigger_id=trigger_id, view=view)
        except Exception as exc:
            raise SlackError(f"open a modal: {exc}") from exc
        return dict(data.get("view") or {})

    def open_score_modal(self, trigger_id: str, task: TaskView, closes: datetime) -> None:
        self._open(trigger_id, qb.score_modal(task, closes, self.api_root))

    def open_dispute_modal(self, trigger_id: str, task: TaskView) -> None:
        self._open(trigger_id, qb.dispute_modal(task, self.api_root))

    def open_resolve_modal(self, trigger_id: str, task: TaskView) -> None:
        self._open(trigger_id, qb.resolve_modal(task, self.api_root))

    def open_conversation(
        self, trigger_id: str, task: TaskView, load: Callable[[], list[Comment]]
    ) -> None:
        view = self._open(trigger_id, qb.conversation_modal(task, None, self.api_root))
        try:
            filled = qb.conversation_modal(task, load(), self.api_root)
        except Exception as exc:
            log.warning("qa.comments_failed", ticket=task.sample.ticket_id, error=str(exc)[:200])
            filled = qb.conversation_modal(
                task, None, self.api_root, error="Zendesk did not answer; try again later."
            )
        view_id = view.get("id")
        if view_id:
            self.client.views_update(view_id=str(view_id), hash=view.get("hash"), view=filled)
