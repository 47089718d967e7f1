"""Pure parsing of /deskbot command text (deskbot.domain.commands)."""

from __future__ import annotations

from datetime import date

import pytest

from deskbot.domain.commands import (
    AgentRef,
    CommandError,
    GroupRef,
    Role,
    did_you_mean,
    parse_period,
    parse_stats_args,
    resolve_agent,
    resolve_target,
    role_for,
    split_command,
)

TODAY = date(2026, 11, 4)  # a Wednesday
AGENTS = [
    AgentRef(101, "Ada Lovelace", "UAGENT01"),
    AgentRef(102, "Grace Hopper", "UAGENT02"),
    AgentRef(103, "Alan Turing"),
    AgentRef(104, "Alan Kay"),
]
GROUPS = [GroupRef(7, "Billing"), GroupRef(8, "Tier 2 Support")]


def test_split_command_lowercases_the_subcommand_and_pulls_out_share() -> None:
    line = split_command("  STATS 7d Share @ada ")
    assert line.subcommand == "stats"
    assert line.args == ("7d", "@ada")
    assert line.share is True
    assert split_command("") == split_command("   ")
    assert split_command("").subcommand == ""
    # "share" as the subcommand itself is not the flag
    assert split_command("share").subcommand == "share"


@pytest.mark.parametrize(
    ("word", "start", "end"),
    [
        ("7d", date(2026, 10, 29), date(2026, 11, 5)),
        ("30D", date(2026, 10, 6), date(2026, 11, 5)),
        ("2w", date(2026, 10, 22), date(2026, 11, 5)),
        ("today", date(2026, 11, 4), date(2026, 11, 5)),
        ("yesterday", date(2026, 11, 3), date(2026, 11, 4)),
        ("week", date(2026, 11, 2), date(2026, 11, 9)),
        ("last-week", date(2026, 10, 26), date(2026, 11, 2)),
        ("month", date(2026, 11, 1), date(2026, 12, 1)),
        ("last-month", date(2026, 10, 1), date(2026, 11, 1)),
        ("2026-11-01..2026-11-08", date(2026, 11, 1), date(2026, 11, 8)),
    ],
)
def test_periods_are_half_open_calendar_windows(word: str, start: date, end: date) -> None:
    period = parse_period(word, TODAY)
    assert (period.start, period.end) == (start, end)


def test_previous_period_has_the_same_length_just_before() -> None:
    period = parse_period("7d", TODAY)
    previous = period.previous()
    assert previous.end == period.start
    assert previous.days == 7


@pytest.mark.parametrize(
    ("word", "why"),
    [
        ("7x", ""),
        ("0d", "1 to 731 days"),
        ("999d", "1 to 731 days"),
        ("2026-11-08..2026-11-01", "must come after"),
        ("2026-02-30..2026-03-02", "not a calendar date"),
        ("fortnight", ""),
    ],
)
def test_a_bad_period_gets_examples_of_good_ones(word: str, why: str) -> None:
    with pytest.raises(CommandError) as err:
        parse_period(word, TODAY)
    message = str(err.value)
    assert f"`{word}`" in message
    assert "`7d`" in message and "`30d`" in message and "`2026-11-01..2026-11-08`" in message
    assert why in message


def test_did_you_mean_uses_the_closest_known_words() -> None:
    names = ["help", "me", "stats", "csat", "hero", "sync", "config"]
    assert did_you_mean("stast", names).startswith(" Did you mean `stats`")  # best first
    assert "`sync`" in did_you_mean("synk", names)
    assert did_you_mean("xyzzy", names) == ""


def test_resolve_agent_by_mention_name_partial_name_and_id() -> None:
    assert resolve_agent("<@UAGENT02|grace>", AGENTS).zendesk_user_id == 102
    assert resolve_agent("<@UAGENT01>", AGENTS).name == "Ada Lovelace"
    assert resolve_agent("@grace_hopper", AGENTS).zendesk_user_id == 102
    assert resolve_agent("lovelace", AGENTS).zendesk_user_id == 101
    assert resolve_agent("103", AGENTS).name == "Alan Turing"


def test_an_unknown_agent_gets_suggestions() -> None:
    with pytest.raises(CommandError, match=r"Did you mean `Grace Hopper`\?"):
        resolve_agent("@grace hoper", AGENTS)
    with pytest.raises(CommandError, match="several agents: `Alan Turing`, `Alan Kay`"):
        resolve_agent("alan", AGENTS)
    with pytest.raises(CommandError, match=r"not in the roster.*slack_user"):
        resolve_agent("<@UZZZ9999|zed>", AGENTS)


def test_resolve_target_prefers_groups_then_agents() -> None:
    assert resolve_target([], AGENTS, GROUPS).label == "the whole team"
    assert resolve_target(["tier", "2", "support"], AGENTS, GROUPS).group == GROUPS[1]
    assert resolve_target(["billing"], AGENTS, GROUPS).group == GROUPS[0]
    assert resolve_target(["@ada"], AGENTS, GROUPS).agent == AGENTS[0]
    assert resolve_target(["grace"], AGENTS, GROUPS).agent == AGENTS[1]
    with pytest.raises(CommandError, match="Did you mean `Billing`"):
        resolve_target(["biling"], AGENTS, GROUPS)


def test_stats_args_take_the_period_first_or_last() -> None:
    assert parse_stats_args([], TODAY).period.days == 7
    args = parse_stats_args(["30d", "tier", "2", "support"], TODAY)
    assert args.period.days == 30 and args.target_words == ("tier", "2", "support")
    args = parse_stats_args(["@ada", "last-week"], TODAY)
    assert args.period.label == "last week" and args.target_words == ("@ada",)
    with pytest.raises(CommandError, match="not a period"):
        parse_stats_args(["7x"], TODAY)
    # a long number is a Zendesk user id, not a period
    assert parse_stats_args(["123456"], TODAY).target_words == ("123456",)


def test_roles_come_from_the_yaml_lists() -> None:
    assert role_for("U1", admins=["U1"], leads=["U1"]) is Role.ADMIN
    assert role_for("U2", admins=["U1"], leads=["U2"]) is Role.LEAD
    assert role_for("U3", admins=["U1"], leads=["U2"]) is Role.AGENT
    assert Role.ADMIN > Role.LEAD > Role.AGENT
