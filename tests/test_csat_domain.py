"""The pure follow-up rules: transitions, rule matching, plans and their keys, display, nudges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from deskbot.domain import csat
from deskbot.domain.csat import Nudge, PlanContext, RatingFacts, Transition
from deskbot.settings import (
    AgentEntry,
    FollowupActions,
    FollowupMatch,
    FollowupRule,
    FollowupSettings,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        (None, "bad", Transition.NEWLY_BAD),
        ("offered", "bad_with_comment", Transition.NEWLY_BAD),
        ("unoffered", "bad", Transition.NEWLY_BAD),
        ("good", "bad", Transition.GOOD_TO_BAD),
        ("good_with_comment", "bad_with_comment", Transition.GOOD_TO_BAD),
        ("bad", "good", Transition.BAD_TO_GOOD),
        ("bad", "good_with_comment", Transition.BAD_TO_GOOD),
        ("bad", "offered", Transition.WITHDRAWN),
        ("bad", "bad_with_comment", Transition.NONE),
        ("bad", "bad", Transition.NONE),
        (None, "good", Transition.NONE),
        ("good", "good", Transition.NONE),
        (None, "offered", Transition.NONE),
    ],
)
def test_transitions(previous: str | None, current: str, expected: Transition) -> None:
    assert csat.transition(previous, current) is expected


def test_transition_opens_and_closes() -> None:
    assert Transition.NEWLY_BAD.opens and Transition.GOOD_TO_BAD.opens
    assert Transition.BAD_TO_GOOD.closes and Transition.WITHDRAWN.closes
    assert not Transition.NONE.opens and not Transition.NONE.closes


def _facts(**extra: object) -> RatingFacts:
    base: dict[str, object] = {
        "rating_id": 7,
        "score": "bad",
        "created_at": T0,
        "updated_at": T0,
        "ticket_id": 70,
        "comment": "Too slow",
        "reason": "Issue took too long to resolve",
        "assignee_id": 1001,
        "group_id": 10,
        "ticket_subject": "Broken order",
        "ticket_group_id": 11,
        "ticket_brand_id": 5,
        "ticket_organization_id": 77,
        "ticket_tags": frozenset({"vip", "billing"}),
        "requester_name": "Maria Lopez",
        "organization_name": "Globex",
        "agent_name": "Alex Agent",
    }
    base.update(extra)
    return RatingFacts(**base)  # type: ignore[arg-type]


def _rule(name: str, **match: list[int] | list[str]) -> FollowupRule:
    return FollowupRule(name=name, match=FollowupMatch(**match))  # type: ignore[arg-type]


def test_first_matching_rule_wins_and_empty_match_matches_all() -> None:
    rules = [
        _rule("other-brand", brands=[6]),
        _rule("vip", tags=["vip", "gold"]),
        _rule("default"),
    ]
    assert csat.match_rule(rules, _facts()).name == "vip"  # type: ignore[union-attr]
    assert csat.match_rule(rules, _facts(ticket_tags=frozenset())).name == "default"  # type: ignore[union-attr]
    assert csat.match_rule(rules[:2], _facts(ticket_tags=frozenset())) is None


@pytest.mark.parametrize(
    ("match", "matches"),
    [
        ({"groups": [10]}, True),  # the group at rating time, not the ticket's current one
        ({"groups": [11]}, False),
        ({"brands": [5]}, True),
        ({"brands": [4]}, False),
        ({"organizations": [77, 78]}, True),
        ({"organizations": [78]}, False),
        ({"tags": ["billing"]}, True),
        ({"tags": ["nope"]}, False),
        ({"groups": [10], "brands": [4]}, False),  # every non-empty criterion must hold
        ({"groups": [10], "tags": ["vip"], "brands": [5], "organizations": [77]}, True),
    ],
)
def test_rule_criteria(match: dict[str, list[int] | list[str]], matches: bool) -> None:
    assert (csat.match_rule([_rule("r", **match)], _facts()) is not None) is matches


def test_group_falls_back_to_the_ticket_group_when_the_rating_has_none() -> None:
    assert csat.match_rule([_rule("r", groups=[11])], _facts(group_id=None)) is not None


@pytest.mark.parametrize(
    ("mode", "name", "org", "shown"),
    [
        ("first_name", "Maria Lopez", "Globex", "Maria"),
        ("first_name", None, "Globex", "a customer"),
        ("first_name", "maria@example.com", None, "a customer"),  # never an e-mail
        ("organization", "Maria Lopez", "Globex", "Globex"),
        ("organization", "Maria Lopez", None, "a customer"),
        ("anonymous", "Maria Lopez", "Globex", "a customer"),
    ],
)
def test_requester_display(mode: str, name: str | None, org: str | None, shown: str) -> None:
    assert csat.display_requester(mode, name, org) == shown


ROSTER = [
    AgentEntry(zendesk_user_id=1001, slack_user="U0AGENT01", lead="U0LEAD001"),
    AgentEntry(zendesk_user_id=2001, slack_user="U0LEAD001"),
]


def _ctx(**settings: object) -> PlanContext:
    return PlanContext(
        settings=FollowupSettings(**settings),  # type: ignore[arg-type]
        roster=ROSTER,
        ticket_url_base="https://acme.zendesk.com",
        default_channel="#csat-alerts",
    )


def test_plan_has_stable_keys_per_generation_and_the_lead_at_rating_time() -> None:
    rule = FollowupRule(
        name="default",
        actions=FollowupActions(assign_to="lead", add_tags=["csat_followup"]),
    )
    plan = csat.build_plan(_facts(), rule, 1, _ctx())
    assert [(s.key, s.kind) for s in plan] == [
        ("followup:7:1:ticket", csat.KIND_TICKET),
        ("followup:7:1:alert", csat.KIND_ALERT),
    ]
    assert plan == csat.build_plan(_facts(), rule, 1, _ctx())  # deterministic
    again = csat.build_plan(_facts(), rule, 2, _ctx())
    assert [s.key for s in again] == ["followup:7:2:ticket", "followup:7:2:alert"]
    ticket = plan[0].payload
    assert ticket["assignee_id"] == 2001 and ticket["group_id"] is None
    assert ticket["note"].endswith("[deskbot:followup:7:1]")
    assert "Too slow" in ticket["note"] and "Issue took too long" in ticket["note"]
    assert ticket["external_id"] == "deskbot-followup-7-1"
    alert = plan[1].payload["alert"]
    assert alert["owner"] == "U0LEAD001" and alert["agent_slack"] == "U0AGENT01"
    assert alert["ticket_url"] == "https://acme.zendesk.com/agent/tickets/70"
    assert alert["requester"] == "Maria"


def test_plan_for_a_group_rule_and_no_channel() -> None:
    rule = FollowupRule(
        name="g",
        actions=FollowupActions(
            assign_to="group", assign_group_id=42, internal_note=None, add_tags=[]
        ),
    )
    ctx = PlanContext(FollowupSettings(), ROSTER, "https://acme.zendesk.com", None)
    [step] = csat.build_plan(_facts(), rule, 1, ctx)
    assert step.payload["group_id"] == 42 and step.payload["note"] is None


def test_lead_missing_from_roster_still_owns_but_is_not_assigned() -> None:
    roster = [AgentEntry(zendesk_user_id=1001, slack_user="U0AGENT01", lead="U0LEAD009")]
    rule = FollowupRule(name="r", actions=FollowupActions(assign_to="lead"))
    owner = csat.resolve_owner(rule, roster, _facts())
    assert owner.slack_user == "U0LEAD009" and owner.assignee_id is None


def test_unknown_agent_falls_back_to_the_rule_mention() -> None:
    rule = FollowupRule(name="r", actions=FollowupActions(assign_to="lead", mention="U0MGR0001"))
    owner = csat.resolve_owner(rule, ROSTER, _facts(assignee_id=999))
    assert owner.slack_user == "U0MGR0001" and owner.assignee_id is None


def test_note_template_keeps_unknown_fields_and_survives_bad_braces() -> None:
    assert csat.render_note("{reason} / {nope}", {"reason": "slow"}) == "slow / {nope}"
    assert csat.render_note("broken {brace", {"reason": "slow"}) == "broken {brace"


def test_claim_value_round_trip_and_rejects_garbage() -> None:
    assert csat.parse_claim_value(csat.claim_value(12, 3)) == (12, 3)
    with pytest.raises(ValueError, match="rating_id:generation"):
        csat.parse_claim_value("12")


def test_burst_collapse_and_key() -> None:
    assert not csat.collapses(10, 10) and csat.collapses(11, 10)
    a = csat.burst_key("#c", [(1, 1), (2, 1)])
    assert a == csat.burst_key("#c", [(2, 1), (1, 1)])  # order does not matter
    assert a != csat.burst_key("#c", [(1, 1), (2, 2)])


def test_nudges_remind_once_then_escalate() -> None:
    cfg = FollowupSettings(
        remind_after_hours=4, escalate_after_hours=24, escalation_channel="#leads"
    )

    def due(
        hours: float, reminded: bool = False, escalated: bool = False, state: str = "open"
    ) -> list[Nudge]:
        return csat.nudges_due(
            state,
            T0,
            T0 if reminded else None,
            T0 if escalated else None,
            T0 + timedelta(hours=hours),
            cfg,
        )

    assert due(3.9) == []
    assert due(4) == [Nudge.REMIND]
    assert due(5, reminded=True) == []
    assert due(24, reminded=True) == [Nudge.ESCALATE]
    assert due(30, reminded=True, escalated=True) == []
    assert due(30, state="claimed") == []
    no_escalation = FollowupSettings(remind_after_hours=4)
    assert csat.nudges_due("open", T0, T0, None, T0 + timedelta(days=9), no_escalation) == []
    assert csat.reminder_due(T0, cfg) == T0 + timedelta(hours=4)
    assert csat.escalation_due(T0, cfg) == T0 + timedelta(hours=24)


def test_collapse_bursts_per_channel_above_the_threshold() -> None:
    rule = FollowupRule(name="r")
    vip = FollowupRule(name="vip", actions=FollowupActions(slack_channel="#vip"))
    plans = [
        csat.build_plan(_facts(rating_id=i, ticket_id=100 + i), rule, 1, _ctx()) for i in range(4)
    ]
    plans.append(csat.build_plan(_facts(rating_id=9, ticket_id=109), vip, 1, _ctx()))
    marked, summaries = csat.collapse_bursts(plans, threshold=3)
    [summary] = summaries
    assert summary.kind == csat.KIND_BURST and summary.payload["channel"] == "#csat-alerts"
    assert summary.payload["count"] == 4 and summary.payload["tickets"] == [100, 101, 102, 103]
    alerts = [s for steps in marked for s in steps if s.kind == csat.KIND_ALERT]
    assert [a.payload["burst_key"] for a in alerts] == [summary.key] * 4 + [None]
    assert [s.key for steps in marked for s in steps] == [s.key for steps in plans for s in steps]
    unchanged, none = csat.collapse_bursts(plans, threshold=4)
    assert none == [] and unchanged == [list(p) for p in plans]
