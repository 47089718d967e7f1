"""A ticket's public comments on demand, for the QA "View conversation" modal: zenpy's
comments API on the paced, retried session every Zendesk client of this process shares."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from deskbot.adapters.zendesk.client import ZendeskClient
from deskbot.ports import Clock, StopEvent
from deskbot.services.qa import Comment
from deskbot.settings import ZendeskSettings

MAX_COMMENTS = 200


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


class ZendeskComments:
    """``deskbot.services.qa.CommentSource``."""

    def __init__(self, client: ZendeskClient) -> None:
        self.client = client

    @classmethod
    def from_settings(
        cls, settings: ZendeskSettings, clock: Clock, stop_event: StopEvent | None = None
    ) -> ZendeskComments:
        return cls(ZendeskClient.from_settings(settings, clock, stop_event))

    def public_comments(self, ticket_id: int) -> list[Comment]:
        zenpy = self.client.zenpy

        def fetch() -> list[Comment]:
            out: list[Comment] = []
            names: dict[int, str] = {}
            for c in zenpy.tickets.comments(ticket=ticket_id):
                if not getattr(c, "public", True):
                    continue
                author_id = getattr(c, "author_id", None)
                if author_id is not None and author_id not in names:
                    try:
                        names[author_id] = str(zenpy.users(id=author_id).name)
                    except Exception:  # a deleted user: show the id
                        names[author_id] = f"user {author_id}"
                body = getattr(c, "plain_body", None) or getattr(c, "body", None) or ""
                out.append(
                    Comment(
                        author=names.get(author_id, "unknown") if author_id else "unknown",
                        created_at=_when(getattr(c, "created_at", None)),
                        body=str(body),
                    )
                )
                if len(out) >= MAX_COMMENTS:
                    break
            return out

        return self.client.call(f"read comments of ticket {ticket_id}", fetch)
