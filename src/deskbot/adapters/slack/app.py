"""The bolt app: ``/deskbot`` commands, buttons and modals, behind ``SlackGate``.

``build_app`` receives its ``WebClient`` so the whole app can point at a local Slack (the
sandbox, a test server). Listeners are a few lines: acknowledge, hand the slow part to
``BackgroundWork``, answer through ``respond``.

``process_before_response``: in HTTP mode the listener runs before the HTTP response is written
(it only parses, acknowledges and queues work, so the response still leaves at once, and there
is no polling for the acknowledgement); in Socket Mode bolt's default (False) is kept, which
sends the WebSocket acknowledgement as soon as ``ack()`` is called.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from deskbot.adapters.slack import (
    notifier,
    people_handlers,  # noqa: F401  # registers /deskbot whois
)
from deskbot.adapters.slack.authz_checks import Chain, RequestCheck
from deskbot.adapters.slack.blocks import Message
from deskbot.adapters.slack.commands import (
    COMMANDS,
    CommandTable,
    Invocation,
    failure_message,
    refusal,
)
from deskbot.adapters.slack.gate import ReplayStore, SlackGate
from deskbot.adapters.slack.interactions import Interaction, InteractionRegistry, state_values
from deskbot.adapters.slack.work import BackgroundWork
from deskbot.domain.authz import Forbidden
from deskbot.domain.commands import CommandError, split_command
from deskbot.errors import SlackError
from deskbot.log import get_logger
from deskbot.ports import Clock, PeopleDirectory
from deskbot.services.providers import SlackServices
from deskbot.services.roster_directory import roster_directory
from deskbot.settings import Settings

log = get_logger(__name__)

_ANY = re.compile(r".*")


class CurrentSettings:
    """The settings in force; ``/deskbot config reload`` and the daemon's reloads swap them
    (roles, roster)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()

    def get(self) -> Settings:
        with self._lock:
            return self._settings

    def set(self, settings: Settings) -> None:
        with self._lock:
            self._settings = settings
        log.info("slack.settings.reloaded")


def make_client(settings: Settings, clock: Clock | None = None) -> WebClient:
    """The Web API client for these settings (``slack.base_url`` points it at a local Slack),
    with deskbot's retry policy for rate limits and connection errors."""
    return notifier.make_client(
        settings.slack.require_bot_token(), settings.slack.base_url, clock=clock
    )


def build_app(
    settings: Settings,
    client: WebClient,
    services: SlackServices,
    clock: Clock,
    *,
    interactions: InteractionRegistry | None = None,
    work: BackgroundWork | None = None,
    commands: CommandTable = COMMANDS,
    mode: Literal["socket", "http"] | None = None,
    token_verification_enabled: bool = True,
    current: CurrentSettings | None = None,
    replay_store: ReplayStore | None = None,
) -> App:
    """The Slack app for these settings. ``token_verification_enabled=False`` skips the
    eager ``auth.test`` call (tests, sandbox); ``mode`` overrides ``settings.slack.mode``.
    ``current`` holds the settings in force; whoever reloads the configuration (the daemon)
    calls its ``set`` so the running app sees new roles and roster."""
    mode = mode or settings.slack.mode
    http = mode == "http"
    if not client.token:
        raise SlackError(
            "the WebClient given to build_app carries no bot token; build it with "
            "deskbot.adapters.slack.app.make_client(settings)"
        )
    if http:
        signing_secret: str | None = settings.slack.require_signing_secret()
    else:  # Socket Mode needs none; the gate refuses HTTP requests without one
        secret = settings.slack.signing_secret
        signing_secret = secret.get_secret_value() if secret else None
    registry = interactions if interactions is not None else InteractionRegistry()
    held = current if current is not None else CurrentSettings(settings)
    app = App(
        name="deskbot",
        client=client,  # carries the bot token
        signing_secret=signing_secret,
        token_verification_enabled=token_verification_enabled,
        # bolt's RequestVerification, with our clock, replay and retry handling: SlackGate.
        request_verification_enabled=False,
        # Before authorization (no Web API call for a refused request): the gate (signature,
        # replays, retries), then what a verified request may ask for (known ids, the right
        # record, the right view), refused with 400 before any listener acknowledges it.
        before_authorize=Chain(
            SlackGate(signing_secret, clock, replay_store),
            RequestCheck(registry, lambda: held.get().slack.command),
        ),
        process_before_response=http,
    )
    listeners = _Listeners(
        current=held,
        services=services,
        clock=clock,
        commands=commands,
        registry=registry,
        work=work if work is not None else BackgroundWork(),
    )
    app.command(settings.slack.command)(listeners.on_command)
    app.action(_ANY)(listeners.on_action)
    app.view(_ANY)(listeners.on_view)
    return app


@dataclass(frozen=True)
class _Listeners:
    """The app's three listeners: each acknowledges first and queues anything slow."""

    current: CurrentSettings
    services: SlackServices
    clock: Clock
    commands: CommandTable
    registry: InteractionRegistry
    work: BackgroundWork

    def people(self) -> PeopleDirectory:
        """The people directory in force: the services' (synced) one, else the YAML roster."""
        if self.services.people is not None:
            return self.services.people
        return roster_directory(self.current.get())

    def on_command(
        self, ack: Ack, command: dict[str, Any], respond: Respond, context: BoltContext
    ) -> None:
        settings = self.current.get()
        user_id = str(command.get("user_id") or context.user_id or "")
        line = split_command(str(command.get("text") or ""))
        actor = self.people().actor(user_id)
        role = actor.role
        inv = Invocation(
            actor=actor,
            user_id=user_id,
            role=role,
            line=line,
            now=self.clock.now(),
            settings=settings,
            services=self.services,
            command=str(command.get("command") or settings.slack.command),
            on_new_settings=self.current.set,
        )
        reply = self.commands.dispatch(inv)
        log.info(
            "slack.command", subcommand=line.subcommand or "help", user=user_id, role=role.name
        )
        if isinstance(reply, Message):
            ack(**reply.shared(line.share).payload())
            return
        ack()
        sub = self.commands.get(line.subcommand)

        def run() -> None:
            try:
                message = reply().shared(line.share)
            except (CommandError, Forbidden) as exc:
                message = refusal(exc, inv, sub)
            except Exception:
                error_id = uuid.uuid4().hex[:8]
                log.exception("slack.command.failed", subcommand=line.subcommand, error_id=error_id)
                message = failure_message(error_id)
            respond(**message.payload())

        self.work.submit(f"command:{line.subcommand}", run)

    def on_action(
        self, ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient
    ) -> None:
        ack()
        container = body.get("container") or {}
        for action in body.get("actions") or []:
            action_id = str(action.get("action_id", ""))
            handler = self.registry.action(action_id)
            if handler is None:
                log.warning("slack.action.unhandled", action_id=action_id)
                continue
            interaction = Interaction(
                kind="block_actions",
                id=action_id,
                user_id=_user_id(body),
                client=client,
                value=action.get("value") or (action.get("selected_option") or {}).get("value"),
                trigger_id=body.get("trigger_id"),
                channel_id=(body.get("channel") or {}).get("id") or container.get("channel_id"),
                message_ts=container.get("message_ts"),
                response_url=body.get("response_url"),
                respond=respond,
                body=body,
            )
            self.work.submit(f"action:{action_id}", partial(handler, interaction))

    def on_view(
        self, ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        callback_id = str(view.get("callback_id", ""))
        entry = self.registry.view(callback_id)
        if entry is None:
            ack()
            log.warning("slack.view.unhandled", callback_id=callback_id)
            return
        interaction = Interaction(
            kind="view_submission",
            id=callback_id,
            user_id=_user_id(body),
            client=client,
            trigger_id=body.get("trigger_id"),
            private_metadata=view.get("private_metadata"),
            values=state_values(view),
            body=body,
        )
        errors = entry.validate(interaction) if entry.validate else None
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        self.work.submit(f"view:{callback_id}", partial(entry.handler, interaction))


def _user_id(body: dict[str, Any]) -> str:
    return str((body.get("user") or {}).get("id", ""))
