"""``/deskbot whois`` through the real Slack app (signed requests), the directory read by the
Slack side (``/deskbot me`` and mentions), and roster users reading the directory."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_bolt import App
from slack_sdk import WebClient

from deskbot import bootstrap
from deskbot.adapters.db.directory import StoreDirectory
from deskbot.adapters.db.people_store import SqlPeopleStore
from deskbot.adapters.db.store import Database
from deskbot.adapters.slack.app import build_app
from deskbot.adapters.slack.work import BackgroundWork
from deskbot.domain import csat
from deskbot.domain.people import DepartmentInfo
from deskbot.domain.people_match import PersonRecord
from deskbot.services.people import effective_roster, slack_ids_by_zendesk
from deskbot.settings import FollowupRule, Settings
from deskbot.testing import FakeClock
from people_support import store_agents
from slack_helpers import FakeSlackApi, command_body, fake_slack_api, signed_request

ADMIN, LEAD, ADA, GRACE, EMPLOYEE = "UADMIN01", "ULEAD001", "UADA0001", "UGRACE01", "UEMPL001"


def settings(**extra: Any) -> Settings:
    return Settings.model_validate(
        {
            "timezone": "Europe/Berlin",
            "zendesk": {"subdomain": "acme"},
            "slack": {"mode": "http", "signing_secret": "test-signing-secret-0123456789abcdef"},
            "roles": {"admins": [ADMIN]},
            **extra,
        }
    )


def fill(db: Database) -> None:
    """A refreshed directory: Ada matched by e-mail (lead: LEAD), Grace unmatched, LEAD the
    Support owner, an employee; no roster.agents in YAML."""
    store_agents(
        db,
        [
            {"id": 101, "name": "Ada Lovelace", "email": "ada@x.io", "role": "agent"},
            {"id": 102, "name": "Grace Hopper", "email": "grace@x.io", "role": "agent"},
            {"id": 103, "name": "Lin Lead", "email": "lin@x.io", "role": "agent"},
        ],
    )
    records = [
        PersonRecord(
            "Ada Lovelace", ADA, 101, "ada@x.io", "Europe/Berlin", LEAD, matched_by="email"
        ),
        PersonRecord(
            "Grace Hopper", None, 102, "grace@x.io", note="no Slack user with this e-mail"
        ),
        PersonRecord("Lin Lead", LEAD, 103, "lin@x.io", matched_by="email"),
        PersonRecord("Ed Employee", EMPLOYEE, None, "ed@x.io"),
    ]
    SqlPeopleStore(db).apply(
        records,
        [
            DepartmentInfo("Support", LEAD, (ADA, LEAD)),
            DepartmentInfo("People", ADMIN, (EMPLOYEE,)),
        ],
        datetime(2026, 11, 2, tzinfo=UTC),
    )


@pytest.fixture
def app(db: Database, clock: FakeClock) -> Iterator[tuple[App, FakeSlackApi, BackgroundWork]]:
    fill(db)
    conf = settings()
    services = bootstrap.slack_services(db, conf, clock)
    with fake_slack_api() as api:
        work = BackgroundWork()
        client = WebClient(token="xoxb-test", base_url=api.api_url)
        app = build_app(conf, client, services, clock, work=work, token_verification_enabled=False)
        yield app, api, work
        work.shutdown()


def ask(
    app: tuple[App, FakeSlackApi, BackgroundWork], clock: FakeClock, text: str, user: str
) -> str:
    bolt, api, work = app
    before = len(api.responses)
    body = command_body(text, user, api.url + "/hooks/commands/1")
    response = bolt.dispatch(signed_request(body, int(clock.now().timestamp())))
    assert response.status == 200
    assert work.wait_idle(timeout=10)
    return json.dumps([response.body, *api.responses[before:]], ensure_ascii=False)


def test_whois_answers_leads_with_match_and_reason(
    app: tuple[App, FakeSlackApi, BackgroundWork], clock: FakeClock
) -> None:
    # LEAD is a lead only through the directory (Ada's team lead, Support's owner).
    answer = ask(app, clock, f"whois <@{ADA}|ada>", LEAD)
    assert "Ada Lovelace" in answer and "matched by email" in answer
    assert "Support" in answer and "ada@x.io" not in answer
    answer = ask(app, clock, "whois grace", ADMIN)
    assert "Grace Hopper" in answer and "not matched: no Slack user with this e-mail" in answer
    assert "Nobody in the people directory" in ask(app, clock, "whois nobody-here", ADMIN)


def test_whois_refuses_agents_and_employees_privately(
    app: tuple[App, FakeSlackApi, BackgroundWork], clock: FakeClock
) -> None:
    for user in (ADA, EMPLOYEE, "UNKNOWN01"):
        answer = ask(app, clock, "whois ada", user)
        # agents reach the service, which refuses; employees are refused by the command table
        assert re.search(r"Sorry, only (agents, )?leads and admins can", answer), answer
        assert "Ada Lovelace" not in answer
        assert "ephemeral" in answer and "in_channel" not in answer  # private


def test_me_and_mentions_find_the_agent_through_the_directory(
    app: tuple[App, FakeSlackApi, BackgroundWork], db: Database, clock: FakeClock
) -> None:
    agents = {a.zendesk_user_id: a.slack_user for a in StoreDirectory(db).agents()}
    assert agents == {101: ADA, 102: None, 103: LEAD}
    answer = ask(app, clock, "me", ADA)
    assert "I don't know which Zendesk agent you are" not in answer
    assert "Ada Lovelace" in answer


def test_roster_users_read_the_directory_and_yaml_still_wins(db: Database) -> None:
    fill(db)
    plain = settings()
    directory = bootstrap.people_directory(plain, db)
    # Follow-up owners: the agent's lead from the directory, with no roster.agents at all.
    rule = FollowupRule.model_validate({"name": "r", "actions": {"assign_to": "lead"}})
    when = datetime(2026, 11, 2, tzinfo=UTC)
    facts = csat.RatingFacts(1, "bad", when, when, assignee_id=101)
    owner = csat.resolve_owner(rule, effective_roster(plain, directory), facts)
    assert owner.slack_user == LEAD and owner.assignee_id == 103  # the lead is an agent too
    assert slack_ids_by_zendesk(plain, directory) == {101: ADA, 103: LEAD}
    # A YAML entry overrides what matching found.
    yaml = settings(roster={"agents": [{"zendesk_user_id": 101, "slack_user": "UOTHER01"}]})
    assert slack_ids_by_zendesk(yaml, directory)[101] == "UOTHER01"
    roster = effective_roster(yaml, directory)
    assert roster[0].slack_user == "UOTHER01" and roster[0].lead == LEAD  # gap filled


def test_before_the_first_refresh_the_yaml_roster_answers(db: Database) -> None:
    conf = settings(
        roles={"admins": [ADMIN], "leads": [LEAD]},
        roster={"agents": [{"zendesk_user_id": 101, "slack_user": ADA, "lead": LEAD}]},
    )
    directory = bootstrap.people_directory(conf, db)
    assert directory.by_zendesk_id(101).slack_user_id == ADA  # type: ignore[union-attr]
    assert directory.actor(LEAD).role.name == "LEAD"
    fill(db)  # the first refresh lands: the synced directory answers from now on
    assert directory.by_slack_id(EMPLOYEE) is not None


def test_a_lead_known_only_to_the_directory_may_use_lead_commands(
    app: tuple[App, FakeSlackApi, BackgroundWork], clock: FakeClock
) -> None:
    # LEAD is in no `roles` list: the directory knows them as Ada's team lead.
    assert "Sorry, only" not in ask(app, clock, "csat", LEAD)
    assert "Sorry, only leads and admins" in ask(app, clock, "csat", ADA)
