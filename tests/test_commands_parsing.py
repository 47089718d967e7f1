"""Pure parsing of /deskbot command text (deskbot.domain.commands)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from deskbot.domain.commands import (
    AgentRef,
    CommandError,
    GroupRef,
    did_you_mean,
    parse_stats_args,
    period_arg,
    resolve_agent,
    resolve_target,
    role_for,
    split_command,
)
from deskbot.domain.metrics import PERIOD_HELP, parse_period
from deskbot.domain.people import Role

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 4, 9, 0, tzinfo=UTC)  # a Wednesday
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
    assert parse_stats_args([], NOW, BERLIN).period == parse_period("7d", NOW, BERLIN)
    args = parse_stats_args(["30d", "tier", "2", "support"], NOW, BERLIN)
    assert args.period.days == 30 and args.target_words == ("tier", "2", "support")
    args = parse_stats_args(["@ada", "last-week"], NOW, BERLIN)
    assert args.period.name == "last week" and args.target_words == ("@ada",)
    # a long number is a Zendesk user id, not a period
    assert parse_stats_args(["123456"], NOW, BERLIN).target_words == ("123456",)


def test_a_command_period_means_what_it_means_in_deskbot_report() -> None:
    # one parser: a period typed in Slack is the window `deskbot report --period` reads
    for word in ("7d", "2w", "today", "week", "month", "last-month", "2026-11-01..2026-11-03"):
        assert period_arg(word, NOW, BERLIN) == parse_period(word, NOW, BERLIN), word


@pytest.mark.parametrize("word", ["7x", "0d", "2026-11-08..2026-11-01"])
def test_a_bad_period_in_a_command_is_a_command_error_with_examples(word: str) -> None:
    with pytest.raises(CommandError) as err:
        parse_stats_args([word], NOW, BERLIN)
    message = str(err.value)
    assert f"`{word}` is not a period I understand" in message
    assert PERIOD_HELP in message
    with pytest.raises(CommandError, match="`fortnight` is not a period"):
        period_arg("fortnight", NOW, BERLIN)


def test_roles_come_from_the_yaml_lists() -> None:
    assert role_for("U1", admins=["U1"], leads=["U1"]) is Role.ADMIN
    assert role_for("U2", admins=["U1"], leads=["U2"]) is Role.LEAD
    assert role_for("U3", admins=["U1"], leads=["U2"], agents=["U3"]) is Role.AGENT
    # everyone else (guests included) is an employee: help only
    assert role_for("U4", admins=["U1"], leads=["U2"], agents=["U3"]) is Role.EMPLOYEE
    assert Role.ADMIN > Role.LEAD > Role.AGENT
