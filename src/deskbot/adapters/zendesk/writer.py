"""Zendesk ticket writes for follow-ups, through zenpy.

Implements ``deskbot.services.followups.TicketWriter``: read a ticket and its comments, one
``safe_update`` PUT carrying the internal note, tags and assignment, look a ticket up by
``external_id``, and create a follow-up ticket of a closed one (``via_followup_source_id``).

zenpy is used with a caller-supplied ``requests.Session`` (the sandbox session rewrites
``https://{subdomain}.zendesk.com`` to a local base URL), its object cache off (a stale read
would defeat ``safe_update``). zenpy's own 429 loop (which sleeps inside the call, forever) never
runs: a response hook turns a 429 into ``RateLimited``, waited out here for its ``Retry-After``
on the injected, shutdown-aware clock. 5xx, timeouts and connection errors are retried with
bounded exponential backoff and jitter on the same clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import requests
from tenacity import (
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity import Retrying as _Retrying
from zenpy import Zenpy
from zenpy.lib.api_objects import Comment
from zenpy.lib.api_objects import Ticket as ZTicket
from zenpy.lib.exception import APIException, RecordNotFoundException, ZenpyException

from deskbot.errors import ZendeskError
from deskbot.log import get_logger
from deskbot.ports import Clock, SystemClock
from deskbot.services.followups import (
    TicketClosed,
    TicketConflict,
    TicketGone,
    TicketSnapshot,
)

log = get_logger(__name__)

T = TypeVar("T")


def _status_of(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


class RateLimited(requests.RequestException):
    """Zendesk answered 429; raised from the session so zenpy's own sleeping loop never runs."""

    def __init__(self, retry_after: float, response: requests.Response) -> None:
        super().__init__(f"rate limited; retry after {retry_after:g} s", response=response)
        self.retry_after = retry_after


def _raise_on_429(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
    if response.status_code == 429:
        try:
            retry_after = float(response.headers.get("Retry-After", "60"))
        except ValueError:
            retry_after = 60.0
        raise RateLimited(max(retry_after, 1.0), response)


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, RateLimited | requests.ConnectionError | requests.Timeout):
        return True
    code = _status_of(exc)
    return code is not None and code >= 500


class ZendeskTicketWriter:
    """``TicketWriter`` on zenpy. ``session`` is injected (sandbox URL rewriting, tests)."""

    def __init__(
        self,
        subdomain: str,
        email: str,
        token: str,
        *,
        session: requests.Session | None = None,
        clock: Clock | None = None,
        timeout: float = 30.0,
        max_retries: int = 4,
        zenpy_client: Any | None = None,
    ) -> None:
        session = session or requests.Session()
        # 429s are waited out here, on the injectable (shutdown-aware) clock, honouring
        # Retry-After; the session must be this writer's own (the hook applies to all its calls).
        session.hooks.setdefault("response", []).append(_raise_on_429)
        self._client: Any = zenpy_client or Zenpy(
            subdomain=subdomain,
            email=email,
            token=token,
            session=session,
            timeout=timeout,
            disable_cache=True,
        )
        self._clock: Clock = clock or SystemClock()
        self._max_retries = max_retries

    # -- plumbing ---------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        sleep: Callable[[float], None] = self._clock.sleep

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "zendesk.retry", call=what, attempt=state.attempt_number, error=str(exc)[:200]
            )

        backoff = wait_exponential_jitter(initial=1, max=30)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RateLimited):
                return exc.retry_after
            return float(backoff(state))

        retrying = _Retrying(
            retry=retry_if_exception(_transient),
            stop=stop_after_attempt(self._max_retries),
            wait=wait,
            sleep=sleep,
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
                f"{what}: still rate limited after {self._max_retries} tries"
            ) from exc
        except (requests.RequestException, ZenpyException) as exc:
            raise ZendeskError(f"{what}: {type(exc).__name__}: {str(exc)[:300]}") from exc

    # -- reads ------------------------------------------------------------------------------

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
            "comment": Comment(body=note, public=False),
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
