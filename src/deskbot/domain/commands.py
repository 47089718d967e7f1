"""Pure parsing for ``/deskbot`` commands: words, roles, agent and group references; periods
are read by the one period parser, ``deskbot.domain.metrics.parse_period``.

Everything here is forgiving and explicit: a typo gets "did you mean …", a bad period gets an
example of a good one, an unknown agent gets the closest known names. No I/O, no clock reads:
"now" is always passed in.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from deskbot.domain.metrics import PeriodError, Window, looks_like_period, parse_period
from deskbot.domain.people import Role


class CommandError(Exception):
    """A person's input cannot be understood; the message says what to type instead."""


def role_for(
    user_id: str, admins: Iterable[str], leads: Iterable[str], agents: Iterable[str] = ()
) -> Role:
    """A Slack user's role from the YAML ``roles`` section and the agents' Slack ids; everyone
    else is an employee (help only, plus their own NPS asks). The Slack app resolves roles
    through the people directory (``PeopleDirectory.actor``); this is the same rule, pure."""
    if user_id in set(admins):
        return Role.ADMIN
    if user_id in set(leads):
        return Role.LEAD
    if user_id in set(agents):
        return Role.AGENT
    return Role.EMPLOYEE


# --------------------------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandLine:
    """``/deskbot <subcommand> <args…> [share]``, split into words."""

    subcommand: str  # lower case; "" when the text was empty
    args: tuple[str, ...]
    share: bool  # answer in the channel instead of only to the caller


def split_command(text: str) -> CommandLine:
    """Split the command text; the word ``share`` anywhere (after the subcommand) is a flag."""
    words = text.split()
    if not words:
        return CommandLine("", (), False)
    head, rest = words[0].lower(), words[1:]
    share = any(w.lower() == "share" for w in rest)
    args = tuple(w for w in rest if w.lower() != "share")
    return CommandLine(head, args, share)


def suggest(word: str, choices: Iterable[str], limit: int = 3, cutoff: float = 0.6) -> list[str]:
    """The known names closest to ``word`` (case-insensitive), best first."""
    by_lower: dict[str, str] = {}
    for choice in choices:
        by_lower.setdefault(choice.lower(), choice)
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=limit, cutoff=cutoff)
    return [by_lower[m] for m in matches]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` Did you mean `x`?`` or an empty string when nothing is close."""
    return _did_you_mean(suggest(word, choices))


def _did_you_mean(close: Iterable[str]) -> str:
    names = list(dict.fromkeys(close))[:3]
    return " Did you mean " + " or ".join(f"`{c}`" for c in names) + "?" if names else ""


def did_you_mean_name(word: str, names: Iterable[str]) -> str:
    """Like ``did_you_mean``, but a typo in a first or last name also finds the full name."""
    full: dict[str, str] = {}
    for name in names:
        full.setdefault(_norm(name), name)
        for part in _norm(name).split():
            full.setdefault(part, name)
    return _did_you_mean(full[m] for m in suggest(_norm(word), full, limit=5))


# --------------------------------------------------------------------------------------------
# Agents and groups
# --------------------------------------------------------------------------------------------

# A user mention as Slack escapes it in slash-command text: <@U123ABC> or <@U123ABC|name>.
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|([^>]*))?>$")


@dataclass(frozen=True)
class AgentRef:
    """A Zendesk agent as deskbot knows it (name from Zendesk, Slack user from the roster)."""

    zendesk_user_id: int
    name: str
    slack_user: str | None = None


@dataclass(frozen=True)
class GroupRef:
    """A Zendesk group."""

    id: int
    name: str


@dataclass(frozen=True)
class Target:
    """What a ``stats`` question is about: the whole team, one group, or one agent."""

    group: GroupRef | None = None
    agent: AgentRef | None = None

    @property
    def label(self) -> str:
        if self.agent is not None:
            return self.agent.name
        if self.group is not None:
            return self.group.name
        return "the whole team"


def _norm(name: str) -> str:
    return re.sub(r"[\s._-]+", " ", name.strip().lower().lstrip("@"))


def resolve_agent(word: str, agents: Sequence[AgentRef]) -> AgentRef:
    """An agent from a Slack mention, ``@name``, a Zendesk user id or a (partial) name."""
    if m := _MENTION.match(word):
        for agent in agents:
            if agent.slack_user == m.group(1):
                return agent
        shown = m.group(2) or m.group(1)
        raise CommandError(
            f"<@{m.group(1)}> ({shown}) is not in the roster: an admin can map them with "
            "`roster.agents[].slack_user` in the YAML file."
        )
    if word.isdigit():
        for agent in agents:
            if agent.zendesk_user_id == int(word):
                return agent
    wanted = _norm(word)
    exact = [a for a in agents if _norm(a.name) == wanted]
    if len(exact) == 1:
        return exact[0]
    partial = exact or [a for a in agents if wanted and wanted in _norm(a.name)]
    if len(partial) == 1:
        return partial[0]
    if len(partial) > 1:
        names = ", ".join(f"`{a.name}`" for a in partial[:5])
        raise CommandError(f"`{word}` matches several agents: {names}. Be more specific.")
    hint = did_you_mean_name(wanted, [a.name for a in agents])
    raise CommandError(f"I don't know an agent called `{word.lstrip('@')}`.{hint}")


def resolve_target(
    words: Sequence[str], agents: Sequence[AgentRef], groups: Sequence[GroupRef]
) -> Target:
    """``@agent`` / a mention → that agent; otherwise a group name, else an agent name."""
    if not words:
        return Target()
    word = " ".join(words)
    if word.startswith(("@", "<@")):
        return Target(agent=resolve_agent(word, agents))
    wanted = _norm(word)
    for group in groups:
        if _norm(group.name) == wanted or (word.isdigit() and group.id == int(word)):
            return Target(group=group)
    try:
        return Target(agent=resolve_agent(word, agents))
    except CommandError:
        pass
    names = [g.name for g in groups] + [a.name for a in agents]
    hint = did_you_mean_name(wanted, names)
    raise CommandError(
        f"`{word}` is neither a group nor an agent I know.{hint} Mention an agent with `@name`."
    )


@dataclass(frozen=True)
class StatsArgs:
    """``stats [period] [group|@agent]``: the period, and the unresolved target words."""

    period: Window
    target_words: tuple[str, ...]


def period_arg(word: str, now: datetime, tz: ZoneInfo) -> Window:
    """A period typed in a command, read by the one period parser (``metrics.parse_period``);
    a bad one becomes a ``CommandError`` with the parser's own examples."""
    try:
        return parse_period(word, now, tz)
    except PeriodError as exc:
        raise CommandError(str(exc)) from exc


def parse_stats_args(
    args: Sequence[str], now: datetime, tz: ZoneInfo, default: str = "7d"
) -> StatsArgs:
    """The period comes first when present; everything else names a group or an agent."""
    rest = list(args)
    word = default
    if rest and looks_like_period(rest[0]) and not rest[0].startswith(("@", "<@")):
        word = rest.pop(0)
    elif rest and looks_like_period(rest[-1]) and not rest[-1].startswith(("@", "<@")):
        word = rest.pop()
    return StatsArgs(period_arg(word, now, tz), tuple(rest))
