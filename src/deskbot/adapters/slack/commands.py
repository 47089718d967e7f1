"""The ``/deskbot`` command table.

Adding a subcommand is one small function and one decorator line::

    @COMMANDS.add("hero", Role.AGENT, "hero", "Recent shout-outs")
    def _hero(inv: Invocation) -> Reply:
        provider = inv.need(inv.services.shoutouts, "Shout-outs")
        return lambda: render_shoutouts(provider.recent_shoutouts(5), inv.tz)

A subcommand parses its words and checks permissions at once (cheap and pure), then returns
either a ``Message`` (sent in the acknowledgement) or a zero-argument callable: the slow part,
run after the acknowledgement, whose ``Message`` is sent through ``respond``. Raising
``CommandError`` or ``PermissionDenied`` in either part answers politely and does nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from deskbot.adapters.slack.blocks import (
    Message,
    context,
    escape,
    header,
    render_bad_ratings,
    render_reload,
    render_shoutouts,
    render_stats,
    render_sync_status,
    render_trigger,
    section,
    text_message,
)
from deskbot.domain.authz import Actor, Forbidden
from deskbot.domain.commands import (
    AgentRef,
    CommandError,
    CommandLine,
    Target,
    did_you_mean,
    parse_stats_args,
    period_arg,
    resolve_target,
)
from deskbot.domain.metrics import PERIOD_HELP, today
from deskbot.domain.people import Role
from deskbot.services.providers import SlackServices, StatsQuery
from deskbot.settings import Settings

T = TypeVar("T")

Deferred = Callable[[], Message]
Reply = Message | Deferred


class PermissionDenied(Forbidden):
    """The caller's role does not allow this; the message says who may (and that nothing was
    done). A ``Forbidden`` like every refusal (``deskbot.domain.authz``)."""

    def __str__(self) -> str:
        return (
            f"Sorry, only {self.who_may} can {self.action}. "
            "Ask an admin if you think you should be able to."
        )


@dataclass(frozen=True)
class Invocation:
    """One ``/deskbot`` call: who asked, what they typed, and what the handler may use."""

    user_id: str
    role: Role
    line: CommandLine
    now: datetime  # aware; periods are read in the configured timezone
    settings: Settings
    services: SlackServices
    command: str  # the slash command as configured, e.g. "/deskbot"
    on_new_settings: Callable[[Settings], None] = lambda _settings: None
    # who asked, as the people directory resolved them (``role`` is ``actor.role``)
    actor: Actor | None = None

    @property
    def args(self) -> tuple[str, ...]:
        return self.line.args

    @property
    def tz(self) -> ZoneInfo:
        return self.settings.tz

    def require(self, role: Role, what: str) -> None:
        """Raise ``PermissionDenied`` (a ``Forbidden``) unless the caller holds ``role``."""
        if self.role < role:
            raise PermissionDenied(what, role.label)

    def need(self, provider: T | None, feature: str) -> T:
        if provider is None:
            raise CommandError(f"{feature} are not available in this deployment yet.")
        return provider

    def known_agents(self) -> list[AgentRef]:
        """Agents from the directory, with Slack users from the roster (the roster wins);
        roster agents the directory does not know yet are included by their Slack mention."""
        by_zendesk = {a.zendesk_user_id: a.slack_user for a in self.settings.roster.agents}
        directory = self.services.directory
        agents = [
            replace(a, slack_user=by_zendesk.get(a.zendesk_user_id) or a.slack_user)
            for a in (directory.agents() if directory is not None else ())
        ]
        named = {a.zendesk_user_id for a in agents}
        agents += [
            AgentRef(zendesk_id, f"<@{slack}>", slack)
            for zendesk_id, slack in by_zendesk.items()
            if slack and zendesk_id not in named
        ]
        return agents

    def own_agent(self) -> AgentRef | None:
        """The caller's Zendesk agent, from the roster's ``slack_user`` mapping."""
        return next((a for a in self.known_agents() if a.slack_user == self.user_id), None)


@dataclass(frozen=True)
class Subcommand:
    name: str
    run: Callable[[Invocation], Reply]
    role: Role  # the least role that may use it at all (arguments may demand more)
    usage: str
    summary: str


class CommandTable:
    """Subcommands by name, with "did you mean" for typos and a role check before running."""

    def __init__(self) -> None:
        self._commands: dict[str, Subcommand] = {}

    def add(
        self, name: str, role: Role, usage: str, summary: str
    ) -> Callable[[Callable[[Invocation], Reply]], Callable[[Invocation], Reply]]:
        def register(func: Callable[[Invocation], Reply]) -> Callable[[Invocation], Reply]:
            if name in self._commands:
                raise ValueError(f"subcommand {name!r} is registered twice")
            self._commands[name] = Subcommand(name, func, role, usage, summary)
            return func

        return register

    @property
    def names(self) -> list[str]:
        return list(self._commands)

    def get(self, name: str) -> Subcommand | None:
        return self._commands.get(name)

    def all(self) -> list[Subcommand]:
        return list(self._commands.values())

    def dispatch(self, inv: Invocation) -> Reply:
        """Run the fast part of a subcommand; errors and refusals become polite messages."""
        name = inv.line.subcommand or "help"
        sub = self._commands.get(name)
        if sub is None:
            hint = did_you_mean(name, self.names)
            intro = f"I don't know `{escape(inv.command)} {escape(name)}`.{hint}"
            message = help_message(self, inv, intro)
            message.private = True
            return message
        try:
            inv.require(sub.role, f"use `{inv.command} {sub.name}`")
            return sub.run(inv)
        except (CommandError, Forbidden) as exc:
            return refusal(exc, inv, sub)


def refusal(exc: Exception, inv: Invocation, sub: Subcommand | None = None) -> Message:
    if isinstance(exc, Forbidden) and not isinstance(exc, PermissionDenied):
        exc = PermissionDenied(exc.action, exc.who_may)  # a service's refusal, same wording
    text = f":warning: {exc}" if isinstance(exc, CommandError) else f":no_entry: {exc}"
    blocks = [section(text)]
    if sub is not None and isinstance(exc, CommandError):
        blocks.append(context(f"Usage: `{escape(inv.command)} {escape(sub.usage)}`"))
    return Message(text, blocks, private=True)  # refusals are never shared in the channel


def help_message(table: CommandTable, inv: Invocation, intro: str = "") -> Message:
    """The commands this caller may use (an employee sees ``help`` and a pointer)."""
    lines = []
    hidden = 0
    for sub in table.all():
        if inv.role < Role.AGENT and sub.role > inv.role:
            hidden += 1
            continue
        limit = "" if sub.role <= Role.AGENT else f"  _({sub.role.label})_"
        lines.append(f"`{escape(inv.command)} {escape(sub.usage)}` — {escape(sub.summary)}{limit}")
    if hidden:
        lines.append(
            f"_{hidden} more commands are for {Role.AGENT.label}; internal NPS questions "
            "arrive as direct messages._"
        )
    blocks = []
    if intro:
        blocks.append(section(intro))
    blocks += [
        header("deskbot commands"),
        section("\n".join(lines)),
        context(f"Add `share` to post the answer in the channel. Periods: {PERIOD_HELP}"),
    ]
    return Message(intro or "deskbot commands", blocks)


COMMANDS = CommandTable()


@COMMANDS.add("help", Role.EMPLOYEE, "help", "This list")
def _help(inv: Invocation) -> Reply:
    return help_message(COMMANDS, inv)


@COMMANDS.add("me", Role.AGENT, "me [period]", "My numbers (this week by default)")
def _me(inv: Invocation) -> Reply:
    if inv.args[1:]:
        raise CommandError("`me` takes at most one period, e.g. `me last-week`.")
    period = period_arg(inv.args[0] if inv.args else "week", inv.now, inv.tz)
    provider = inv.need(inv.services.stats, "Statistics")

    def work() -> Message:
        agent = inv.own_agent()
        if agent is None:
            raise CommandError(
                f"I don't know which Zendesk agent you are. An admin can add "
                f"`slack_user: {inv.user_id}` to your entry under `roster.agents`."
            )
        query = StatsQuery(period, Target(agent=agent))
        return render_stats(provider.stats(query))

    return work


@COMMANDS.add("stats", Role.AGENT, "stats [period] [group|@agent]", "Team, group or agent numbers")
def _stats(inv: Invocation) -> Reply:
    parsed = parse_stats_args(inv.args, inv.now, inv.tz)
    provider = inv.need(inv.services.stats, "Statistics")

    def work() -> Message:
        words = parsed.target_words
        if words and " ".join(words).lower() in ("me", "@me"):
            agent = inv.own_agent()
            if agent is None:
                raise CommandError("You are not mapped to a Zendesk agent in `roster.agents`.")
            target = Target(agent=agent)
        elif words:
            directory = inv.need(inv.services.directory, "Agent and group names")
            target = resolve_target(words, inv.known_agents(), directory.groups())
        else:
            target = Target()
        if target.agent is not None and target.agent.slack_user != inv.user_id:
            inv.require(Role.LEAD, "see another agent's numbers")
        query = StatsQuery(parsed.period, target)
        return render_stats(provider.stats(query))

    return work


@COMMANDS.add("csat", Role.LEAD, "csat [period]", "Recent bad ratings and their follow-ups")
def _csat(inv: Invocation) -> Reply:
    # By default the last 7 complete days *and today so far*: a bad rating that just came in
    # (and was alerted) must be on the list. Spelled as a date range for the one parser.
    day = today(inv.now, inv.tz)
    recent = f"{(day - timedelta(days=7)).isoformat()}..{day.isoformat()}"
    period = period_arg(inv.args[0] if inv.args else recent, inv.now, inv.tz)
    provider = inv.need(inv.services.csat, "CSAT ratings")
    return lambda: render_bad_ratings(provider.bad_ratings(period, 10), period, inv.tz)


@COMMANDS.add("hero", Role.AGENT, "hero", "Recent shout-outs")
def _hero(inv: Invocation) -> Reply:
    provider = inv.need(inv.services.shoutouts, "Shout-outs")
    return lambda: render_shoutouts(provider.recent_shoutouts(5), inv.tz)


@COMMANDS.add(
    "qa",
    Role.AGENT,
    "qa report [cycle|period] [@agent] | qa tasks | qa calibrate [n] [tickets…|tag:T] | "
    "qa calibration [session]",
    "QA scores, review tasks and calibration sessions",
)
def _qa(inv: Invocation) -> Reply:
    head = inv.args[0].lower() if inv.args else ""
    if head in ("calibrate", "calibration"):
        return _qa_calibration(inv, head, inv.args[1:])
    provider = inv.need(inv.services.qa, "QA reports")

    def run() -> Message:
        text = provider.qa_command(inv.user_id, inv.args)
        chunks = [text[i : i + 2900] for i in range(0, len(text), 2900)][:40]
        return Message(text[:3000], [section(c) for c in chunks])

    return run


def _qa_calibration(inv: Invocation, head: str, rest: tuple[str, ...]) -> Reply:
    """``qa calibrate …`` and ``qa calibration …`` (docs/calibration.md)."""
    from deskbot.adapters.slack import calibration_commands as cal

    if head == "calibrate":
        cal.parse_calibrate(rest)  # word errors answer at once
        return lambda: cal.calibrate(inv.user_id, rest, inv.services)
    root = inv.settings.zendesk.api_root
    return lambda: cal.calibration(inv.user_id, rest, inv.services, root)


@COMMANDS.add("sync", Role.AGENT, "sync [now]", "Where the Zendesk sync stands; `now` starts one")
def _sync(inv: Invocation) -> Reply:
    if inv.args == ("now",):
        inv.require(Role.ADMIN, "start a sync")
        trigger = inv.need(inv.services.sync_trigger, "On-demand syncs")
        return lambda: render_trigger(trigger.trigger_sync(inv.user_id))
    if inv.args:
        raise CommandError(f"`sync` takes nothing or `now`, not `{escape(' '.join(inv.args))}`.")
    status = inv.need(inv.services.sync_status, "Sync status reports")
    return lambda: render_sync_status(status.sync_status(), inv.tz)


@COMMANDS.add("config", Role.ADMIN, "config reload", "Re-read the YAML configuration")
def _config(inv: Invocation) -> Reply:
    if inv.args != ("reload",):
        raise CommandError("The only config subcommand is `config reload`.")
    reloader = inv.need(inv.services.config_reloader, "Configuration reloads")

    def work() -> Message:
        result = reloader.reload_config()
        if result.ok and result.settings is not None:
            inv.on_new_settings(result.settings)
        return render_reload(result)

    return work


@COMMANDS.add(
    "forecast", Role.LEAD, "forecast [channel] [weeks]", "Volume forecast and agents needed"
)
def _forecast(inv: Invocation) -> Reply:
    from deskbot.adapters.slack.forecast_blocks import forecast_command

    return forecast_command(inv)


def failure_message(error_id: str) -> Message:
    message = text_message(
        f":x: Sorry, that failed on my side (error id `{error_id}`). "
        "Please try again in a minute; an admin can find the details in the logs."
    )
    message.private = True
    return message


# Internal NPS lives in its own module (adapters/slack/nps_handlers.py).
from deskbot.adapters.slack.nps_handlers import NPS_USAGE, nps_subcommand  # noqa: E402

COMMANDS.add("nps", Role.EMPLOYEE, NPS_USAGE, "Internal NPS: opt out/in, results, next round")(
    nps_subcommand
)
