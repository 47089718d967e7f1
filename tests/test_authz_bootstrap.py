"""The one place the people directory is chosen, and a directory that follows reloads."""

from __future__ import annotations

from deskbot import bootstrap
from deskbot.adapters.db.store import Database
from deskbot.domain.people import Role
from slack_helpers import ADMIN, AGENT, LEAD, STRANGER, make_settings


def test_people_directory_resolves_every_role(db: Database) -> None:
    people = bootstrap.people_directory(make_settings(), db)
    assert people.actor(ADMIN).role is Role.ADMIN
    assert people.actor(LEAD).role is Role.LEAD
    assert people.actor(AGENT).role is Role.AGENT
    assert people.actor(STRANGER).role is Role.EMPLOYEE  # guests and everyone else


def test_the_directory_follows_a_reload(db: Database) -> None:
    held = [make_settings()]
    people = bootstrap.people_directory(lambda: held[0], db)
    assert people.actor(AGENT).role is Role.AGENT
    held[0] = make_settings(roles={"admins": [ADMIN, AGENT], "leads": [LEAD]})
    assert people.actor(AGENT).role is Role.ADMIN
    assert people.by_slack_id(AGENT) is not None and people.departments() == []


def test_slack_services_carry_the_directory(db: Database) -> None:
    services = bootstrap.slack_services(db, make_settings())
    assert services.people is not None
    assert services.people.actor(ADMIN).role is Role.ADMIN
