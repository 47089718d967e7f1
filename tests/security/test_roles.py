"""Who may do what, through the running app: every button and modal clicked by every role,
including the agent who was rated and a guest; slash commands for a non-agent.

A refusal is a private answer saying who may do it, and nothing changes.
"""

from __future__ import annotations

import json

import pytest
from security_env import (
    ADMIN,
    AGENT2,
    AGENT3,
    EMPLOYEE,
    GUEST,
    LEAD,
    LEAD2,
    RATED,
    RATING,
    UNOWNED,
    Env,
)

from deskbot.adapters.db.followups_store import SqlFollowupStore
from deskbot.domain.authz import Actor, Forbidden
from deskbot.domain.people import Person, Role
from deskbot.services.followups import FollowupService
from deskbot.testing import InMemoryLedger

WHO = "the follow-up's owner, a lead or an admin (never the agent who was rated)"

# user -> may they claim / close the follow-up whose owner is LEAD and whose rated agent is RATED
OWNED = {
    ADMIN: True,
    LEAD: True,  # the owner
    LEAD2: True,  # any lead
    RATED: False,  # never the rated agent
    AGENT2: False,  # a plain agent who does not own it
    EMPLOYEE: False,
    GUEST: False,
}


def _refused(env: Env, user: str) -> bool:
    return any(f"Sorry, only {WHO}" in r for r in env.replies(user))


@pytest.mark.parametrize("user", list(OWNED))
def test_claim_by_every_role(env: Env, user: str) -> None:
    before = env.snapshot()
    reply = env.post(env.click("followup_claim", f"{RATING}:1", user))
    assert reply.status == 200  # acknowledged; the answer is private
    env.settle()
    row = env.row(RATING)
    if OWNED[user]:
        assert (row.state, row.claimed_by) == ("claimed", user)
        assert any("You own this follow-up now." in r for r in env.replies(user))
    else:
        assert (row.state, row.claimed_by) == ("open", None)
        assert _refused(env, user)
        after = env.snapshot()
        assert after["followups"] == before["followups"] and after["ledger"] == before["ledger"]


@pytest.mark.parametrize("user", list(OWNED))
def test_handled_button_opens_the_modal_only_for_those_who_may(env: Env, user: str) -> None:
    reply = env.post(env.click("followup_handled", f"{RATING}:1", user))
    assert reply.status == 200
    env.settle()
    opened = [r for r in env.api.requests if r.path == "/api/views.open"]
    if OWNED[user]:
        [call] = opened
        sent = call.json() if call.body.startswith("{") else call.form()
        view = sent["view"] if isinstance(sent["view"], dict) else json.loads(sent["view"])
        assert view["private_metadata"] == env.bound(user)  # bound to who opened it
    else:
        assert opened == []
        assert _refused(env, user)
    assert env.row(RATING).state == "open"


@pytest.mark.parametrize("user", list(OWNED))
def test_handled_modal_submitted_by_every_role(env: Env, user: str) -> None:
    # the modal as Slack would deliver it: bound to the submitting user (a genuine view)
    reply = env.post(env.submit(user, env.bound(user), note="Refunded"))
    assert reply.status == 200
    env.settle()
    row = env.row(RATING)
    if OWNED[user]:
        assert (row.state, row.handled_by, row.note) == ("handled", user, "Refunded")
    else:
        assert (row.state, row.handled_by, row.note) == ("open", None, None)
        assert _refused(env, user)


def test_a_plain_agent_may_take_an_unowned_follow_up_but_not_close_a_colleagues(env: Env) -> None:
    # UNOWNED: no owner (no lead for its agent); rated agent is AGENT2 (Zendesk 102)
    assert env.post(env.click("followup_claim", f"{UNOWNED}:1", AGENT2, rating_id=UNOWNED))
    env.settle()
    assert env.row(UNOWNED).state == "open"  # AGENT2 was rated: refused
    assert _refused(env, AGENT2)

    env.post(env.click("followup_claim", f"{UNOWNED}:1", AGENT3, rating_id=UNOWNED))
    env.settle()
    assert (env.row(UNOWNED).state, env.row(UNOWNED).claimed_by) == ("claimed", AGENT3)

    # user B, another plain agent (RATED was rated on another ticket, not this one), may not
    # mark handled what AGENT3 claimed
    env.post(env.submit(RATED, env.bound(RATED, UNOWNED)))
    env.settle()
    row = env.row(UNOWNED)
    assert (row.state, row.claimed_by, row.handled_by) == ("claimed", AGENT3, None)
    assert _refused(env, RATED)

    # a lead may close what a colleague claimed; the claim stays AGENT3's
    env.post(env.submit(LEAD2, env.bound(LEAD2, UNOWNED), note="Took over"))
    env.settle()
    row = env.row(UNOWNED)
    assert (row.state, row.claimed_by, row.handled_by) == ("handled", AGENT3, LEAD2)


def test_the_claimer_closes_their_own_follow_up(env: Env) -> None:
    env.post(env.click("followup_claim", f"{UNOWNED}:1", AGENT3, rating_id=UNOWNED))
    env.post(env.submit(AGENT3, env.bound(AGENT3, UNOWNED), note="Done"))
    env.settle()
    assert env.row(UNOWNED).handled_by == AGENT3


def test_the_rated_agent_is_refused_even_as_a_lead_or_admin(env: Env) -> None:
    service = FollowupService(
        env.settings, SqlFollowupStore(env.db), InMemoryLedger(), None, None, env.clock
    )
    for role in (Role.LEAD, Role.ADMIN):
        with pytest.raises(Forbidden, match="never the agent who was rated"):
            service.authorize(env.row(RATING), Actor(RATED, role), "claim this follow-up")
    # known to the directory only by their Zendesk id: still the rated agent
    with pytest.raises(Forbidden):
        service.authorize(env.row(RATING), Actor("UOTHERID", Role.ADMIN, _person(101)), "claim")


def _person(zendesk_id: int) -> Person:
    return Person(id=1, name="x", zendesk_user_id=zendesk_id, role=Role.ADMIN)


# -- slash commands: a non-agent gets help only ---------------------------------------------

NOT_FOR_EMPLOYEES = [
    "me",
    "stats",
    "stats 30d",
    "hero",
    "sync",
    "sync now",
    "csat",
    "config reload",
]


@pytest.mark.parametrize("user", [EMPLOYEE, GUEST])
@pytest.mark.parametrize("text", NOT_FOR_EMPLOYEES)
def test_a_non_agent_gets_no_team_numbers_and_no_sync_errors(
    env: Env, user: str, text: str
) -> None:
    before = env.snapshot()
    reply = env.post(env.command(text, user))
    assert reply.status == 200
    answer = reply.text + "".join(env.replies(user))
    assert "Sorry, only" in answer
    after = env.snapshot()
    for key in ("stats", "sync_now", "reloads", "shoutouts", "sync_status", "followups"):
        assert after[key] == before[key], key


@pytest.mark.parametrize("user", [EMPLOYEE, GUEST])
def test_a_non_agent_gets_help(env: Env, user: str) -> None:
    reply = env.post(env.command("help", user))
    assert reply.status == 200
    assert "deskbot commands" in reply.text
    assert "/deskbot stats" not in reply.text  # they are not shown what they may not use


@pytest.mark.parametrize(("user", "allowed"), [(AGENT2, True), (LEAD, True), (EMPLOYEE, False)])
def test_team_numbers_are_for_agents(env: Env, user: str, allowed: bool) -> None:
    before = len(env.stats.queries)
    env.post(env.command("stats 7d", user))
    env.settle()
    assert (len(env.stats.queries) == before + 1) is allowed
