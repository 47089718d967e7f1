"""Zendesk ticket writes for follow-ups, through zenpy.

Implements ``deskbot.services.followups.TicketWriter``: read a ticket and its comments, one
``safe_update`` PUT carrying the internal note, tags and assignment, look a ticket up by
``external_id``, and create a follow-up ticket of a closed one (``via_followup_source_id``).

zenpy runs on the sync's ``PacedSession`` machinery (``http.py``): the writer's session spends
the process-wide account budget shared with every other client built for the same settings and
clock (``client.make_budgets``), so a sync and a burst of follow-up writes together stay under
``zendesk.account_limit_per_minute * rate_limits.utilisation``. zenpy's object cache is off (a
stale read would defeat ``safe_update``). zenpy's own 429 loop (which sleeps inside the call,
forever) never runs: the session raises ``RateLimited`` and pauses the budgets for
``Retry-After``, so the retry here waits it out in the next ``acquire`` on the injected,
shutdown-aware clock. 5xx (``ServerError``), timeouts and connection errors are retried with
bounded exponential backoff and jitter on the same clock. The follow-up service's
``ticket_updates_per_minute`` pacer is a separate, stricter cap on ticket updates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import requests
from tenacity import (
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity import Retrying as _Retrying
from zenpy.lib.api_objects import Comment
from zenpy.lib.api_objects import Ticket as ZTicket
from zenpy.lib.exception import APIException, RecordNotFoundException, ZenpyException

from deskbot.adapters.zendesk.client import TRANSIENT, make_session, zenpy_on
from deskbot.adapters.zendesk.http import PacedSession, RateLimited, ServerError
from deskbot.errors import Interrupted, ZendeskError
from deskbot.log import get_logger
from deskbot.ports import Clock, StopEvent
from deskbot.services.followups import (
    TicketClosed,
    TicketConflict,
    TicketGone,
    TicketSnapshot,
)
from deskbot.settings import ZendeskSettings

log = get_logger(__name__)

T = TypeVar("T")


def _status_of(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


class ZendeskTicketWriter:
    """``TicketWriter`` on zenpy over a ``PacedSession`` (shared budgets; see the module doc).

    ``session`` must be a ``PacedSession``: a plain ``requests.Session`` would neither spend the
    account budget nor stop zenpy's endless 429 loop. ``from_settings`` builds the usual one.
    """

    def __init__(
        self,
        subdomain: str,
        email: str,
        token: str,
        *,
        session: PacedSession,
        clock: Clock,
        max_retries: int = 4,
        stop_event: StopEvent | None = None,
        zenpy_client: Any | None = None,
    ) -> None:
        if not isinstance(session, PacedSession):
            raise TypeError(
                "ZendeskTicketWriter needs a PacedSession (adapters/zendesk/http.py) so its "
                f"calls spend the shared account budget; got {type(session).__name__}. Build "
                "one with ZendeskTicketWriter.from_settings or client.make_session"
            )
        self.session = session
        self._client: Any = zenpy_client or zenpy_on(
            session, subdomain, email, token, timeout=session.timeout
        )
        self._clock = clock
        self._stop = stop_event
        self._acting_agent_id: int | None = None
        self._max_retries = max_retries
        self._backoff = wait_exponential_jitter(initial=1, max=30)

    @classmethod
    def from_settings(
        cls,
        settings: ZendeskSettings,
        clock: Clock,
        stop_event: StopEvent | None = None,
        *,
        max_retries: int | None = None,
    ) -> ZendeskTicketWriter:
        """A writer whose session spends the budgets every client for ``settings`` and
        ``clock`` (and ``stop_event``) in this process shares, the sync's included."""
        email, token = settings.require_credentials()
        return cls(
            settings.subdomain,
            email,
            token,
            session=make_session(settings, clock, stop_event),
            clock=clock,
            max_retries=settings.max_retries if max_retries is None else max_retries,
            stop_event=stop_event,
        )

    # -- plumbing ---------------------------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited):
            # The session paused the shared budgets for Retry-After: the next request's
            # acquire waits it out (on the clock) for every client, this one included.
            return 0.0
        backoff = float(self._backoff(state))
        if isinstance(exc, ServerError) and exc.retry_after is not None:
            return max(backoff, exc.retry_after)
        return backoff

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._clock.sleep(seconds)
        if self._stop is not None and self._stop.is_set():
            raise Interrupted("stopped while waiting to retry a Zendesk write")

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            self.session.counters["retries"] += 1
            log.warning(
                "zendesk.retry", call=what, attempt=state.attempt_number, error=str(exc)[:200]
            )

        retrying = _Retrying(
            retry=retry_if_exception_type(TRANSIENT),
            stop=stop_after_attempt(self._max_retries),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(fn)
        except RecordNotFoundException as exc:
            raise TicketGone(f"{what}: not found in Zendesk (deleted?)") from exc
        except APIException as exc:
            code = _status_of(exc)
            if code == 409:
                raise TicketConflict(f"{what}: the ticket changed meanwhile (409)") from exc
            if code == 422 and "closed" in str(exc).lower():
                raise TicketClosed(f"{what}: the ticket is closed (422)") from exc
            if code in (403, 404):
                raise TicketGone(f"{what}: Zendesk answered {code}") from exc
            raise ZendeskError(f"{what}: Zendesk answered {code}: {str(exc)[:300]}") from exc
        except RateLimited as exc:
            raise ZendeskError(
                f"{what}: still rate limited (429) after {self._max_retries} tries; another "
                "integration may be spending the account's API budget; lower "
                "zendesk.rate_limits.utilisation or followups.ticket_updates_per_minute"
            ) from exc
        except ServerError as exc:
            raise ZendeskError(
                f"{what}: Zendesk answered {exc.status} {self._max_retries} times"
            ) from exc
        except (requests.RequestException, ZenpyException) as exc:
            raise ZendeskError(f"{what}: {type(exc).__name__}: {str(exc)[:300]}") from exc

    # -- reads ------------------------------------------------------------------------------

    def acting_agent_id(self) -> int:
        """The Zendesk user deskbot acts as (the API token's agent), read once."""
        if self._acting_agent_id is None:
            me = self._call("read the API user", self._client.users.me)
            self._acting_agent_id = int(me.id)
        return self._acting_agent_id

    def get_ticket(self, ticket_id: int) -> TicketSnapshot:
        return _snapshot(self._read_ticket(ticket_id))

    def _read_ticket(self, ticket_id: int) -> Any:
        return self._call(f"read ticket {ticket_id}", lambda: self._client.tickets(id=ticket_id))

    def has_comment_containing(self, ticket_id: int, text: str) -> bool:
        def scan() -> bool:
            for comment in self._client.tickets.comments(ticket=ticket_id):
                for attr in ("body", "plain_body", "html_body"):
                    body = getattr(comment, attr, None)
                    if isinstance(body, str) and text in body:
                        return True
            return False

        return self._call(f"read comments of ticket {ticket_id}", scan)

    def find_ticket_by_external_id(self, external_id: str) -> int | None:
        def find() -> int | None:
            for ticket in self._client.tickets(external_id=external_id):
                if ticket.external_id == external_id:
                    return int(ticket.id)
            return None

        return self._call("find ticket by external_id", find)

    def find_followup_ticket(
        self, source_ticket_id: int, external_id: str, marker: str
    ) -> int | None:
        """The follow-up deskbot already created for ``source_ticket_id``, if any.

        Zendesk lists a closed ticket's follow-ups in its ``followup_ids``; each is matched by
        its ``external_id`` or by the hidden marker in its description, with single-ticket reads
        only. Where the source ticket does not report ``followup_ids``, the account is searched
        by external id instead.
        """

        def followups_of_source() -> list[int] | None:
            source = self._client.tickets(id=source_ticket_id)
            ids = getattr(source, "followup_ids", None)
            return None if ids is None else [int(i) for i in ids]

        ids = self._call(f"read ticket {source_ticket_id}", followups_of_source)
        if ids is None:
            return self.find_ticket_by_external_id(external_id)
        for followup_id in ids:
            ticket = self._read_ticket(followup_id)
            description = getattr(ticket, "description", None) or ""
            if getattr(ticket, "external_id", None) == external_id or marker in description:
                return followup_id
        return None

    # -- writes -----------------------------------------------------------------------------

    def update_ticket(
        self,
        ticket_id: int,
        *,
        note: str | None,
        add_tags: Sequence[str],
        assignee_id: int | None,
        group_id: int | None,
        updated_stamp: str | None,
    ) -> None:
        fields: dict[str, Any] = {"id": ticket_id}
        if note:
            fields["comment"] = Comment(body=note, public=False)
        if add_tags:
            fields["additional_tags"] = list(add_tags)
        if assignee_id is not None:
            fields["assignee_id"] = assignee_id
        if group_id is not None:
            fields["group_id"] = group_id
        if updated_stamp:
            fields["safe_update"] = True
            fields["updated_stamp"] = updated_stamp
        self._call(
            f"update ticket {ticket_id}", lambda: self._client.tickets.update(ZTicket(**fields))
        )
        log.info("zendesk.ticket_updated", ticket_id=ticket_id, note=bool(note), tags=len(add_tags))

    def create_followup_ticket(
        self,
        source_ticket_id: int,
        *,
        subject: str,
        note: str,
        tags: Sequence[str],
        assignee_id: int | None,
        group_id: int | None,
        requester_id: int | None,
        external_id: str,
    ) -> int:
        fields: dict[str, Any] = {
            "via_followup_source_id": source_ticket_id,
            "subject": subject,
            # Without an author Zendesk attributes the first comment to the requester, and the
            # bad-CSAT note would look written by the unhappy customer.
            "comment": Comment(body=note, public=False, author_id=self.acting_agent_id()),
            "tags": list(tags),
            "external_id": external_id,
        }
        if assignee_id is not None:
            fields["assignee_id"] = assignee_id
        if group_id is not None:
            fields["group_id"] = group_id
        if requester_id is not None:
            fields["requester_id"] = requester_id
        audit = self._call(
            f"create follow-up of ticket {source_ticket_id}",
            lambda: self._client.tickets.create(ZTicket(**fields)),
        )
        ticket = getattr(audit, "ticket", audit)
        return int(ticket.id)


def _snapshot(ticket: Any) -> TicketSnapshot:
    updated = ticket.updated_at
    return TicketSnapshot(
        id=int(ticket.id),
        status=str(ticket.status),
        updated_stamp=str(updated) if updated else None,
        tags=frozenset(ticket.tags or ()),
        assignee_id=ticket.assignee_id,
        group_id=ticket.group_id,
        requester_id=ticket.requester_id,
        subject=ticket.subject,
    )
