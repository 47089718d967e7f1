"""The second door: what a verified, well-formed request may ask for, before it is acknowledged.

``RequestCheck`` is a bolt middleware (HTTP and Socket Mode alike) chained right after
``SlackGate`` in bolt's ``before_authorize`` slot (``Chain``): before authorization, so a refused
request causes no Web API call, and before any listener. It refuses with HTTP 400 and one
``slack.request.rejected`` log line:

* a slash command other than the configured one;
* a request type the app does not handle (shortcuts, message actions, events, …);
* a button whose ``action_id`` no feature registered, or whose registered ``check`` finds the
  value does not belong to the message clicked (e.g. a rating id edited into the payload);
* a modal submission whose ``callback_id`` nobody registered, or — for a ``bound`` view — by a
  user other than the one it was opened for.

Nothing behind a refusal runs: no acknowledgement, no handler, no write. Who may do what is the
services' business (``deskbot.domain.authz``); this only checks that a request is coherent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from slack_bolt.middleware import Middleware
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse

from deskbot.adapters.slack.interactions import InteractionRegistry
from deskbot.domain.authz import view_binding
from deskbot.log import get_logger

log = get_logger(__name__)

MAX_ACTIONS = 10  # Slack sends one action per click


class Chain(Middleware):
    """Several middlewares in bolt's single ``before_authorize`` slot, in order; any of them
    may answer (not calling ``next``) and stop the chain."""

    def __init__(self, *middlewares: Middleware) -> None:
        self._middlewares = middlewares

    def process(
        self,
        *,
        req: BoltRequest,
        resp: BoltResponse,
        next: Callable[[], BoltResponse],  # bolt's middleware signature
    ) -> BoltResponse | None:
        def run(index: int) -> BoltResponse | None:
            if index == len(self._middlewares):
                return next()
            return self._middlewares[index].process(
                req=req, resp=resp, next=lambda: run(index + 1) or resp
            )

        return run(0)


class RequestCheck(Middleware):
    """Refuse incoherent requests with 400 before any listener runs."""

    def __init__(self, registry: InteractionRegistry, command: Callable[[], str]) -> None:
        self._registry = registry
        self._command = command

    def process(
        self,
        *,
        req: BoltRequest,
        resp: BoltResponse,
        next: Callable[[], BoltResponse],  # bolt's middleware signature
    ) -> BoltResponse:
        try:
            reason = self.reason(req.body)
        except Exception as exc:  # a check that cannot run refuses; it never crashes the request
            log.error("slack.request.check_failed", error=type(exc).__name__)
            reason = "request could not be checked"
        if reason is not None:
            log.warning("slack.request.rejected", status=400, reason=reason)
            return BoltResponse(status=400, body="rejected: " + reason)
        return next()

    def reason(self, body: Mapping[str, Any]) -> str | None:
        """Why this request must be refused, or ``None``."""
        if not isinstance(body, Mapping):
            return "body is not an object"
        if "command" in body:
            return None if body.get("command") == self._command() else "unknown slash command"
        kind = body.get("type")
        if kind == "block_actions":
            return self._actions(body)
        if kind == "view_submission":
            return self._view(body)
        return "unsupported request type"

    def _actions(self, body: Mapping[str, Any]) -> str | None:
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions or len(actions) > MAX_ACTIONS:
            return "block_actions without actions"
        for action in actions:
            if not isinstance(action, Mapping):
                return "action is not an object"
            action_id = action.get("action_id")
            entry = self._registry.action_entry(action_id) if isinstance(action_id, str) else None
            if entry is None:
                return "unknown action id"
            if entry.check is not None:
                option = action.get("selected_option")
                value = action.get("value")
                if value is None and isinstance(option, Mapping):
                    value = option.get("value")
                problem = entry.check(body, value if isinstance(value, str) else None)
                if problem is not None:
                    return problem
        return None

    def _view(self, body: Mapping[str, Any]) -> str | None:
        view = body.get("view")
        if not isinstance(view, Mapping):
            return "view_submission without a view"
        callback_id = view.get("callback_id")
        entry = self._registry.view(callback_id) if isinstance(callback_id, str) else None
        if entry is None:
            return "unknown view callback id"
        if entry.bound:
            metadata = view.get("private_metadata")
            _value, opener = view_binding(metadata if isinstance(metadata, str) else "")
            user = (body.get("user") or {}).get("id")
            if opener is None or opener != user:
                return "view submitted by a user it was not opened for"
        return None
