"""The Zendesk client deskbot uses: zenpy, with our session, our retries and our pages.

How far we use zenpy (the decision, and why)
-------------------------------------------
The product goes through zenpy, and so does this module: the ``Zenpy`` object is built with
our ``PacedSession`` (``http.py``), and every read goes through zenpy's request path
(``Api._get`` → ``_call_api`` → ``_check_response``), so zenpy authenticates, builds the API
root URL and turns 4xx answers into its exceptions. Every Zendesk client built in one
process, the sync's and the follow-up writer's, spends the same account budget
(``make_budgets``), so together they stay under the account's rate limit.

For the *sync* we do not use zenpy's high-level generators (``tickets.incremental(...)``):

- they drop ``per_page`` when resuming from a cursor (``PrimaryEndpoint`` ignores it), and
  they do not URL-encode the cursor (``Url.build`` joins raw values; base64 has ``+`` and ``/``);
- they hide page boundaries, but a page's rows and the new cursor must commit together;
- they turn JSON into zenpy objects and feed zenpy's caches, whereas we keep each record's raw
  JSON and must keep memory bounded by the page size.

So the sync asks zenpy for the raw response of a URL we build from the endpoint table
(``endpoints.py``) with ``params=`` (properly encoded, ``per_page`` always present), and
parses the JSON itself (``mapping.py``).

Behaviours we own instead of zenpy's defaults:

- **429**: zenpy retries 429s forever, sleeping inside the call. ``PacedSession`` raises
  ``RateLimited`` before zenpy sees the response; ``ZendeskClient.call`` waits
  ``Retry-After`` on the injected clock (interruptible) and retries a bounded number of times.
- **caches**: ``disable_cache=True`` (zenpy's caches hold up to 10k objects per type).
- **proactive rate limiting**: zenpy's (``proactive_ratelimit``) sleeps with ``time.sleep``
  and is per-API-object; ours is per budget, shared by every request, on the clock.
- **5xx, timeouts, connection errors, malformed pages**: retried with tenacity (exponential
  backoff with jitter, ``zendesk.max_retries``), then a ``ZendeskError`` that says what failed.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson
import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)
from zenpy import Zenpy
from zenpy.lib.endpoint import Url
from zenpy.lib.exception import APIException

from deskbot.adapters.zendesk.endpoints import SATISFACTION_RATINGS, TICKETS_EXPORT, Endpoint
from deskbot.adapters.zendesk.http import (
    Budgets,
    PacedSession,
    RateLimited,
    RateLimiter,
    ServerError,
)
from deskbot.adapters.zendesk.mapping import (
    AFTER_PREFIX,
    URL_PREFIX,
    MalformedPage,
    parse_rating_page,
    parse_ticket_page,
)
from deskbot.domain.sync import RatingPage, TicketPage
from deskbot.errors import Interrupted, ZendeskError
from deskbot.log import get_logger
from deskbot.ports import Clock, StopEvent
from deskbot.settings import ZendeskSettings

log = get_logger(__name__)

T = TypeVar("T")


class ForeignUrlError(ZendeskError):
    """A response pointed deskbot at another host than the configured Zendesk account."""


TRANSIENT: tuple[type[BaseException], ...] = (
    RateLimited,
    ServerError,
    MalformedPage,
    requests.Timeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


_shared_budgets: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Budgets]] = (
    weakref.WeakKeyDictionary()
)
_shared_lock = threading.Lock()


def make_budgets(
    settings: ZendeskSettings, clock: Clock, stop_event: StopEvent | None = None
) -> Budgets:
    """The account's budgets, shared by every client built in this process with this clock.

    Jobs that each build a client (sync, follow-ups) still spend one account-wide budget.
    """
    key = (
        settings.api_root,
        settings.account_limit_per_minute,
        settings.incremental_limit_per_minute,
        settings.rate_limits.utilisation,
        settings.budget_share,
        id(stop_event),
    )
    with _shared_lock:
        per_clock = _shared_budgets.setdefault(clock, {})
        if key not in per_clock:
            per_clock[key] = _new_budgets(settings, clock, stop_event)
        return per_clock[key]


def _new_budgets(settings: ZendeskSettings, clock: Clock, stop_event: StopEvent | None) -> Budgets:
    utilisation = settings.rate_limits.utilisation
    return Budgets(
        account=RateLimiter(
            "account",
            settings.account_limit_per_minute,
            clock,
            stop_event,
            utilisation,
            share=settings.budget_share,
        ),
        incremental=RateLimiter(
            "incremental_export",
            settings.incremental_limit_per_minute,
            clock,
            stop_event,
            utilisation,
        ),
    )


def make_session(
    settings: ZendeskSettings, clock: Clock, stop_event: StopEvent | None = None
) -> PacedSession:
    return PacedSession(
        subdomain=settings.subdomain,
        base_url=settings.base_url,
        budgets=make_budgets(settings, clock, stop_event),
        clock=clock,
        timeout=settings.request_timeout_seconds,
    )


def make_zenpy(settings: ZendeskSettings, session: requests.Session) -> Any:
    """A ``Zenpy`` on our session for these settings (see ``zenpy_on``)."""
    email, token = settings.require_credentials()
    return zenpy_on(
        session, settings.subdomain, email, token, timeout=settings.request_timeout_seconds
    )


def zenpy_on(
    session: requests.Session, subdomain: str, email: str, token: str, *, timeout: float
) -> Any:
    """A ``Zenpy`` that sends everything through ``session`` (which paces and handles 429s):
    no caches, no zenpy-side rate limiting. Every Zendesk client deskbot builds is this."""
    return Zenpy(
        subdomain=subdomain,
        email=email,
        token=token,
        session=session,
        timeout=timeout,
        disable_cache=True,
        proactive_ratelimit=None,
    )


class ZendeskClient:
    """Paced, retried, validated reads (satisfies ``deskbot.ports.ZendeskSource``)."""

    def __init__(
        self,
        zenpy: Any,
        session: PacedSession,
        clock: Clock,
        *,
        max_retries: int,
        stop_event: StopEvent | None = None,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
    ) -> None:
        self.zenpy = zenpy
        self.session = session
        self._clock = clock
        self._stop = stop_event
        self.max_retries = max_retries
        self._backoff = wait_exponential_jitter(initial=backoff_initial, max=backoff_max)

    @classmethod
    def from_settings(
        cls, settings: ZendeskSettings, clock: Clock, stop_event: StopEvent | None = None
    ) -> ZendeskClient:
        session = make_session(settings, clock, stop_event)
        return cls(
            make_zenpy(settings, session),
            session,
            clock,
            max_retries=settings.max_retries,
            stop_event=stop_event,
        )

    @property
    def counters(self) -> dict[str, int]:
        return dict(self.session.counters)

    # -- retries ------------------------------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited):
            return 0.0  # the limiters are paused for Retry-After: the next acquire waits it
        backoff = float(self._backoff(state))
        if isinstance(exc, ServerError) and exc.retry_after is not None:
            return max(backoff, exc.retry_after)
        return backoff

    def _sleep(self, seconds: float) -> None:
        self._clock.sleep(seconds)
        if self._stop is not None and self._stop.is_set():
            raise Interrupted("stopped while waiting to retry a Zendesk request")

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        self.session.counters["retries"] += 1
        log.warning(
            "zendesk.retry",
            attempt=state.attempt_number,
            error=type(exc).__name__,
            detail=str(exc)[:200],
        )

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` (one request and its parsing), retrying transient failures.

        Also usable for zenpy writes (``client.call("note", lambda: zenpy.tickets.update(t))``)
        — but only writes that are safe to repeat: a timeout may hide a write that succeeded.
        """
        retrying = Retrying(
            retry=retry_if_exception_type(TRANSIENT),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            return retrying(fn)
        except MalformedPage as exc:
            raise ZendeskError(
                f"{what}: Zendesk sent a malformed page ({exc}) {self.max_retries + 1} times; "
                "nothing from it was written. If a proxy sits in between, check it; otherwise "
                "report the response shape"
            ) from exc
        except RateLimited as exc:
            raise ZendeskError(
                f"{what}: still rate limited (429) after {self.max_retries + 1} attempts; "
                "another integration may be spending the account's API budget; lower "
                "zendesk.rate_limits.utilisation or retry later"
            ) from exc
        except (ServerError, requests.RequestException) as exc:
            raise ZendeskError(
                f"{what}: failed after {self.max_retries + 1} attempts ({type(exc).__name__}: "
                f"{exc}); check zendesk.base_url/subdomain and the network, or Zendesk's status"
            ) from exc
        except Exception as exc:
            if isinstance(exc, APIException):
                status = getattr(getattr(exc, "response", None), "status_code", "?")
                hint = (
                    "check DESKBOT_ZENDESK_EMAIL / DESKBOT_ZENDESK_API_TOKEN and the agent's role"
                    if status in (401, 403)
                    else "check zendesk.subdomain / zendesk.base_url"
                )
                raise ZendeskError(f"{what}: Zendesk answered {status} ({exc}); {hint}") from exc
            raise

    # -- raw requests through zenpy -----------------------------------------------------------

    def _endpoint_url(self, endpoint: Endpoint) -> str:
        api = getattr(self.zenpy, endpoint.zenpy_api)
        return str(api._build_url(Url(endpoint.path)))

    def check_same_origin(self, endpoint: Endpoint, url: str) -> None:
        """Refuse (``ForeignUrlError``, never retried) a URL from a response that points
        anywhere but the configured account: following it would send the account's
        credentials there. Nothing from the page is written."""
        if _origin(url) != _origin(self._endpoint_url(endpoint)):
            log.warning(
                "zendesk.foreign_url_refused",
                endpoint=endpoint.path,
                host=(urlsplit(url).hostname or "")[:100],
            )
            raise ForeignUrlError(
                "Zendesk sent a pagination URL on another host than the configured account "
                f"({urlsplit(url).hostname!r}); deskbot refuses to send the account's "
                "credentials there and wrote nothing from that page. If zendesk.base_url is "
                "behind a proxy that rewrites hosts, point base_url at the host Zendesk returns"
            )

    def get_json(
        self, endpoint: Endpoint, params: dict[str, Any] | None = None, url: str | None = None
    ) -> Any:
        """GET through zenpy's request path; the body parsed as JSON (bad JSON: malformed).
        A ``url`` (a ``next_page`` from a response) must be on the configured account."""
        api = getattr(self.zenpy, endpoint.zenpy_api)
        if url is not None:
            self.check_same_origin(endpoint, url)
        full_url = url or api._build_url(Url(endpoint.path))
        response = api._get(full_url, raw_response=True, params=params)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise MalformedPage(f"the body is not JSON ({exc})") from None

    # -- pages (ZendeskSource) ----------------------------------------------------------------

    def ticket_page(
        self, *, cursor: str | None, start_time: int | None, per_page: int
    ) -> TicketPage:
        params: dict[str, Any] = {"per_page": per_page, "include": ",".join(TICKETS_EXPORT.include)}
        if cursor:
            params["cursor"] = cursor
        else:
            params["start_time"] = start_time or 0

        def fetch() -> TicketPage:
            body = self.get_json(TICKETS_EXPORT, params)
            return parse_ticket_page(body, self._synced_at())

        return self.call("incremental ticket export", fetch)

    def rating_page(
        self, *, start_time: int, end_time: int, page: str | None, per_page: int
    ) -> RatingPage:
        url: str | None = None
        params: dict[str, Any] | None = {
            "start_time": start_time,
            "end_time": end_time,
            "sort_order": "asc",
            "page[size]": per_page,
        }
        if page and page.startswith(URL_PREFIX):
            url, params = page[len(URL_PREFIX) :], None
        elif page and page.startswith(AFTER_PREFIX):
            assert params is not None
            params["page[after]"] = page[len(AFTER_PREFIX) :]

        def fetch() -> RatingPage:
            body = self.get_json(SATISFACTION_RATINGS, params, url)
            page = parse_rating_page(body, self._synced_at())
            if page.next_page and page.next_page.startswith(URL_PREFIX):
                # refused before it is ever stored as the stream's position
                self.check_same_origin(SATISFACTION_RATINGS, page.next_page[len(URL_PREFIX) :])
            return page

        return self.call("satisfaction ratings", fetch)

    def _synced_at(self) -> datetime:
        return self._clock.now()

    # -- Zendesk's clock ----------------------------------------------------------------------

    def server_now(self) -> datetime:
        """Zendesk's current time (``PacedSession.server_clock``). Before any response carried
        a ``Date`` header, one small request (``users/me``) asks for it; a server that sends
        none leaves the host's clock, said once in the log."""
        now = self.session.server_clock.now()
        if now is None:
            self.call("server time", self.zenpy.users.me)
            now = self.session.server_clock.now()
        if now is None:
            log.warning("zendesk.no_date_header", hint="windows fall back to the host's clock")
            now = self._clock.now()
        return now

    @property
    def clock_skew_seconds(self) -> float | None:
        """Zendesk's clock minus ours at the last response (``None`` before one)."""
        return self.session.server_clock.skew_seconds


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = -1  # a malformed port matches nothing
    if port is None:
        port = {"https": 443, "http": 80}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port
