"""Buttons and modals: a registry where features add handlers by ``action_id`` / ``callback_id``.

Follow-ups (Claim / Handled), QA scoring and NPS answers register here, e.g.::

    registry.on_action("followup:claim", handle_claim)         # matches "followup:claim:1234"
    registry.on_view("qa:score", handle_score, validate=check_scores)

The longest registered prefix wins. Before anything is acknowledged, the app's request check
(``authz_checks``) refuses with HTTP 400 an action id or callback id nobody registered, an
action whose ``check(body, value)`` returns a reason (e.g. a button value edited to another
record), and a submission of a ``bound=True`` view by anyone but the user it was opened for
(``deskbot.domain.authz.bind_view``). Wrap handlers in ``authz_handlers.guarded`` so the
service authorises the clicking user. Every interaction is acknowledged first; the handler then
runs in the background. A modal's ``validate`` runs before the acknowledgement (it must be fast
and pure) so that field errors can be shown in the modal; a handler never runs for an invalid
submission. Duplicates and Slack retries never reach a handler (see ``gate.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from slack_bolt.context.respond import Respond
from slack_sdk import WebClient


@dataclass(frozen=True)
class Interaction:
    """A button click or a modal submission, with what a handler needs to answer it."""

    kind: Literal["block_actions", "view_submission"]
    id: str  # action_id or callback_id
    user_id: str
    client: WebClient
    value: str | None = None  # the clicked element's value
    trigger_id: str | None = None  # to open a modal (valid for 3 seconds)
    channel_id: str | None = None
    message_ts: str | None = None
    response_url: str | None = None
    private_metadata: str | None = None
    # view_submission: {block_id: {action_id: value}}, values flattened to str / list / None
    values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    respond: Respond | None = None
    body: Mapping[str, Any] = field(default_factory=dict)


V = TypeVar("V")

ActionHandler = Callable[[Interaction], None]
ViewValidator = Callable[[Interaction], dict[str, str] | None]
# (the whole payload, the clicked element's value) -> a reason to refuse, or None
ActionCheck = Callable[[Mapping[str, Any], str | None], str | None]


@dataclass(frozen=True)
class _ViewEntry:
    handler: ActionHandler
    validate: ViewValidator | None
    bound: bool = False  # private_metadata names the opener; only they may submit


@dataclass(frozen=True)
class _ActionEntry:
    handler: ActionHandler
    check: ActionCheck | None = None


class InteractionRegistry:
    """Handlers by id prefix. Registration is thread-safe and may happen after the app starts."""

    def __init__(self) -> None:
        self._actions: dict[str, _ActionEntry] = {}
        self._views: dict[str, _ViewEntry] = {}
        self._lock = threading.Lock()

    def on_action(
        self, prefix: str, handler: ActionHandler, check: ActionCheck | None = None
    ) -> None:
        with self._lock:
            if prefix in self._actions:
                raise ValueError(f"an action handler for {prefix!r} is already registered")
            self._actions[prefix] = _ActionEntry(handler, check)

    def on_view(
        self,
        prefix: str,
        handler: ActionHandler,
        validate: ViewValidator | None = None,
        *,
        bound: bool = False,
    ) -> None:
        with self._lock:
            if prefix in self._views:
                raise ValueError(f"a view handler for {prefix!r} is already registered")
            self._views[prefix] = _ViewEntry(handler, validate, bound)

    def action(self, action_id: str) -> ActionHandler | None:
        entry = self.action_entry(action_id)
        return entry.handler if entry is not None else None

    def action_entry(self, action_id: str) -> _ActionEntry | None:
        with self._lock:
            return _longest_prefix(self._actions, action_id)

    def view(self, callback_id: str) -> _ViewEntry | None:
        with self._lock:
            return _longest_prefix(self._views, callback_id)


def _longest_prefix(table: Mapping[str, V], key: str) -> V | None:
    best = max((p for p in table if key.startswith(p)), key=len, default=None)
    return None if best is None else table[best]


def state_values(view: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A modal's input values as plain Python values, by block_id and action_id."""
    out: dict[str, dict[str, Any]] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        for action_id, element in actions.items():
            out.setdefault(block_id, {})[action_id] = _element_value(element)
    return out


def _element_value(element: Mapping[str, Any]) -> Any:
    if "value" in element:
        return element["value"]
    if "selected_option" in element:
        option = element["selected_option"]
        return option.get("value") if option else None
    if "selected_options" in element:
        return [o.get("value") for o in element["selected_options"]]
    for key in ("selected_user", "selected_channel", "selected_conversation", "selected_date"):
        if key in element:
            return element[key]
    return None
