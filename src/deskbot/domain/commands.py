"""Pure parsing for ``/deskbot`` commands: words, periods, roles, agent and group references.

Everything here is forgiving and explicit: a typo gets "did you mean …", a bad period gets an
example of a good one, an unknown agent gets the closest known names. No I/O, no clock reads:
"today" is always passed in.
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

PERIOD_EXAMPLES = ("7d", "30d", "today", "week", "last-week", "month", "2026-11-01..2026-11-08")
NAMED_PERIODS = ("today", "yesterday", "week", "last-week", "month", "last-month")
MAX_PERIOD_DAYS = 731


class CommandError(Exception):
    """A person's input cannot be understood; the message says what to type instead."""


class Role(enum.IntEnum):
    """Who may do what. Higher roles may do everything lower roles may."""

    AGENT = 1
    LEAD = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return {Role.AGENT: "everyone", Role.LEAD: "leads and admins", Role.ADMIN: "admins"}[self]


def role_for(user_id: str, admins: Iterable[str], leads: Iterable[str]) -> Role:
    """A Slack user's role from the YAML ``roles`` section; everyone else is an agent."""
    if user_id in set(admins):
        return Role.ADMIN
    if user_id in set(leads):
        return Role.LEAD
    return Role.AGENT


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
# Periods
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateRange:
    """Calendar days ``[start, end)`` in the configured timezone, like every report window."""

    start: date
    end: date
    label: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def previous(self) -> DateRange:
        """The window of the same length just before this one (for period-over-period deltas)."""
        length = timedelta(days=self.days)
        return DateRange(self.start - length, self.start, f"before {self.label}")


_RELATIVE = re.compile(r"^(\d{1,3})([dw])$")
_ISO_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


def looks_like_period(word: str) -> bool:
    """Whether a word was meant as a period (so a typo in it is reported as a bad period)."""
    w = word.lower()
    return bool(
        _RELATIVE.match(w)
        or ".." in w
        or re.match(r"^\d{1,3}[a-z]{0,2}$", w)  # "7", "7x", "30dd"; long numbers are user ids
        or re.match(r"^\d{4}-\d", w)
        or w in NAMED_PERIODS
        or suggest(w, NAMED_PERIODS, 1, 0.75)
    )


def bad_period(word: str, why: str = "") -> CommandError:
    examples = ", ".join(f"`{e}`" for e in PERIOD_EXAMPLES)
    reason = f" ({why})" if why else ""
    return CommandError(
        f"`{word}` is not a period I understand{reason}. Try one of {examples} "
        "(a date range includes the first day and excludes the last)."
    )


def week_of(day: date) -> DateRange:
    """The ISO week (Monday to Sunday) containing ``day``."""
    monday = day - timedelta(days=day.weekday())
    return DateRange(monday, monday + timedelta(days=7), f"week of {monday.isoformat()}")


def _month(first: date, label: str | None = None) -> DateRange:
    following = (first + timedelta(days=32)).replace(day=1)
    return DateRange(first, following, label or first.strftime("%B %Y"))


def _named_period(name: str, today: date) -> DateRange | None:
    tomorrow = today + timedelta(days=1)
    this_month = today.replace(day=1)
    named: dict[str, Callable[[], DateRange]] = {
        "today": lambda: DateRange(today, tomorrow, "today"),
        "yesterday": lambda: DateRange(today - timedelta(days=1), today, "yesterday"),
        "week": lambda: replace(week_of(today), label="this week"),
        "last-week": lambda: replace(week_of(today - timedelta(days=7)), label="last week"),
        "month": lambda: _month(this_month),
        "last-month": lambda: _month((this_month - timedelta(days=1)).replace(day=1)),
    }
    make = named.get(name)
    return make() if make else None


def parse_period(word: str, today: date) -> DateRange:
    """``7d`` (the last 7 days, today included), ``2w``, ``today``, ``yesterday``, ``week``
    (this Monday-to-Sunday week), ``last-week``, ``month``, ``last-month``, or
    ``YYYY-MM-DD..YYYY-MM-DD`` (half-open: the second date is not included)."""
    w = word.lower()
    if m := _RELATIVE.match(w):
        count = int(m.group(1)) * (7 if m.group(2) == "w" else 1)
        if not 1 <= count <= MAX_PERIOD_DAYS:
            raise bad_period(word, f"use 1 to {MAX_PERIOD_DAYS} days")
        tomorrow = today + timedelta(days=1)
        return DateRange(tomorrow - timedelta(days=count), tomorrow, f"last {count} days")
    if (named := _named_period(w, today)) is not None:
        return named
    if m := _ISO_RANGE.match(w):
        try:
            start, end = date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2))
        except ValueError as exc:
            raise bad_period(word, f"not a calendar date: {exc}") from exc
        if end <= start:
            raise bad_period(word, "the second date must come after the first")
        if (end - start).days > MAX_PERIOD_DAYS:
            raise bad_period(word, f"at most {MAX_PERIOD_DAYS} days")
        return DateRange(start, end, f"{start.isoformat()} to {end.isoformat()} (excl.)")
    raise bad_period(word)


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

    period: DateRange
    target_words: tuple[str, ...]


def parse_stats_args(args: Sequence[str], today: date, default_days: int = 7) -> StatsArgs:
    """The period comes first when present; everything else names a group or an agent."""
    period = parse_period(f"{default_days}d", today)
    rest = list(args)
    if rest and looks_like_period(rest[0]) and not rest[0].startswith(("@", "<@")):
        period = parse_period(rest.pop(0), today)
    elif rest and looks_like_period(rest[-1]) and not rest[-1].startswith(("@", "<@")):
        period = parse_period(rest.pop(), today)
    return StatsArgs(period, tuple(rest))
