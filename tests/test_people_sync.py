"""The people directory's refresh against the Slack sandbox through slack_sdk, on SQLite and
PostgreSQL: matching the Zendesk sandbox's agents, pagination and Retry-After, user groups after a
change, missing scopes, deactivation, and roles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlmodel import select

from deskbot import bootstrap
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import PersonRow, User
from deskbot.domain.people import Role
from deskbot.sandbox.slack import SlackSandbox
from deskbot.sandbox.slack.people import PeopleMirror, mirror_help_desk
from deskbot.sandbox.zendesk.data import State
from deskbot.services.people import FallbackDirectory, ScopeMissing
from deskbot.testing import FakeClock
from people_support import people_settings, store_agents


@pytest.fixture
def slack(tmp_path: Path, clock: FakeClock) -> Iterator[SlackSandbox]:
    sb = SlackSandbox(seed=3, clock=clock)
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture
def help_desk(slack: SlackSandbox, db: Database, clock: FakeClock) -> PeopleMirror:
    """The Zendesk sandbox's agents synced into the store, mirrored into the Slack sandbox."""
    state = State(5, 1500, int(clock.now().timestamp()))  # 10 agents + 2 admins
    staff = [u for u in state.users.values() if u.role != "end-user"]
    store_agents(db, staff)
    return mirror_help_desk(slack, staff)


def rows(db: Database) -> list[PersonRow]:
    with db.session() as session:
        return list(session.exec(select(PersonRow)))


def test_every_matchable_agent_is_matched_and_no_one_wrongly(
    db: Database, slack: SlackSandbox, help_desk: PeopleMirror, clock: FakeClock
) -> None:
    settings = people_settings(slack)
    result = bootstrap.run_people(settings, db, clock)
    directory = bootstrap.people_directory(settings, db)
    assert isinstance(directory, FallbackDirectory) and directory.synced
    for zid, expected in help_desk.expected_match.items():
        person = directory.by_zendesk_id(zid)
        assert person is not None
        assert person.slack_user_id == expected, (zid, person)
    why = {zid: reason for zid, _name, reason in result.unmatched}
    assert len(why) == 4  # two different e-mails, one deactivated, one bot
    assert sorted(why.values()).count("no Slack user with this e-mail") == 2
    assert any("slack deactivated" in r for r in why.values())
    assert any("bot" in r for r in why.values())
    assert result.matched_email == len(help_desk.expected_match) - 4
    # The agent whose Slack e-mail is in upper case is matched by e-mail.
    upper = next(z for z, kind in help_desk.variations.items() if kind == "upper")
    assert directory.by_zendesk_id(upper).matched_by == "email"  # type: ignore[union-attr]
    # Employees who are not agents are people too; bots and the deactivated are inactive.
    employee = directory.by_slack_id(slack.user_id("rosa.hr"))
    assert employee is not None and employee.zendesk_user_id is None and employee.active
    assert directory.actor(employee.slack_user_id or "").role is Role.EMPLOYEE
    assert directory.by_slack_id("USLACKBOT").is_bot  # type: ignore[union-attr]
    assert "@" not in " ".join(result.lines())


def test_yaml_override_matches_an_agent_whose_emails_differ_and_a_refresh_is_idempotent(
    db: Database, slack: SlackSandbox, help_desk: PeopleMirror, clock: FakeClock
) -> None:
    different = next(z for z, kind in help_desk.variations.items() if kind == "different")
    slack_id = help_desk.slack_by_zendesk[different]
    lead = slack.user_id("lucas.ferreira")
    settings = people_settings(
        slack,
        f"""roles:
  admins: [{slack.user_id("maya.okafor")}]
roster:
  agents:
    - zendesk_user_id: {different}
      slack_user: {slack_id}
      lead: {lead}
""",
    )
    bootstrap.run_people(settings, db, clock)
    before = {(r.id, r.slack_user_id, r.zendesk_user_id) for r in rows(db)}
    bootstrap.run_people(settings, db, clock)
    assert {(r.id, r.slack_user_id, r.zendesk_user_id) for r in rows(db)} == before
    directory = bootstrap.people_directory(settings, db)
    person = directory.by_zendesk_id(different)
    assert person is not None and person.slack_user_id == slack_id
    assert person.matched_by == "override" and person.lead_slack_id == lead
    assert directory.actor(lead).role is Role.LEAD  # a team lead
    assert directory.actor(slack_id).role is Role.AGENT
    assert directory.actor(slack.user_id("maya.okafor")).role is Role.ADMIN
    assert directory.actor("UNOBODY1").role is Role.EMPLOYEE


def test_users_list_paginates_with_cursors_and_honours_retry_after(
    db: Database, slack: SlackSandbox, help_desk: PeopleMirror, clock: FakeClock
) -> None:
    slack.set_method_limit("users.list", 2)  # two calls a minute: the third waits
    settings = people_settings(slack, "people:\n  page_size: 5\n")
    result = bootstrap.run_people(settings, db, clock)
    listed = [c for c in slack.calls if c.method == "users.list"]
    pages = [c for c in listed if c.status == 200]
    assert len(pages) == -(-len(slack.users) // 5)  # every page, once
    assert all(c.args.get("limit") in ("5", 5) for c in listed)
    assert all(c.args.get("cursor") for c in pages[1:])
    limited = [c for c in listed if c.status == 429]
    assert limited, "the sandbox answered 429 with Retry-After"
    assert any(s >= 30 for s in clock.sleeps)  # waited Retry-After on the clock
    assert result.slack_users == len(slack.users)


def test_users_list_keeps_to_tier_2_by_itself(
    db: Database, slack: SlackSandbox, help_desk: PeopleMirror, clock: FakeClock
) -> None:
    """At Slack's own limit (20 a minute) a long listing is paced, never answered 429."""
    settings = people_settings(slack, "people:\n  page_size: 1\n")
    bootstrap.run_people(settings, db, clock)
    listed = [c for c in slack.calls if c.method == "users.list"]
    assert len(listed) == len(slack.users) > 30
    assert all(c.status == 200 for c in listed)
    times = [c.at for c in listed]
    assert all(sum(1 for t in times if start <= t < start + 60) <= 20 for start in times)
    assert times[-1] - times[0] >= 60  # it took the minutes Tier 2 asks for


def test_departments_follow_the_user_group_after_a_change(
    db: Database, slack: SlackSandbox, help_desk: PeopleMirror, clock: FakeClock
) -> None:
    owner = slack.user_id("rosa.hr")
    yaml = f"""roster:
  departments:
    - name: People
      owner: {owner}
      slack_usergroup: {help_desk.usergroups["People"]}
    - name: Finance
      owner: {slack.user_id("omar.haddad")}
      members: [{slack.user_id("ben.walker")}]
      slack_usergroup: {help_desk.usergroups["Finance"]}
"""
    settings = people_settings(slack, yaml)
    bootstrap.run_people(settings, db, clock)
    directory = bootstrap.people_directory(settings, db)
    people = directory.department("people")
    assert people is not None and people.source == "usergroup" and people.owner_slack_id == owner
    assert set(people.members) == {owner, slack.user_id("kai.recruit")}
    finance = directory.department("Finance")
    assert finance is not None and slack.user_id("ben.walker") in finance.members
    assert directory.actor(owner).role is Role.LEAD  # department owners lead

    newcomer = slack.add_user("lena.new", real_name="Lena New")["id"]
    slack.set_usergroup_members("dept-people", [owner, newcomer])
    bootstrap.run_people(settings, db, clock)
    people = directory.department("People")
    assert people is not None and set(people.members) == {owner, newcomer}
    lena = directory.by_slack_id(newcomer)
    assert lena is not None and lena.departments == ("People",)
    ben = directory.by_slack_id(slack.user_id("ben.walker"))
    assert ben is not None and "Finance" in ben.departments


@pytest.mark.parametrize(
    "scope", ["users:read.email", "users:read", "usergroups:read"], ids=lambda s: s
)
def test_missing_scope_names_the_scope_and_keeps_the_last_good_directory(
    db: Database, slack: SlackSandbox, help_desk: PeopleMirror, clock: FakeClock, scope: str
) -> None:
    yaml = f"""roster:
  departments:
    - name: Sales
      owner: {slack.user_id("ben.walker")}
      slack_usergroup: {help_desk.usergroups["Sales"]}
"""
    settings = people_settings(slack, yaml)
    bootstrap.run_people(settings, db, clock)
    before = {(r.id, r.slack_user_id, r.zendesk_user_id, r.active) for r in rows(db)}
    departments = bootstrap.people_directory(settings, db).departments()
    slack.remove_scope(scope)
    # A newly deactivated agent would change the directory, if the refresh went through.
    slack.deactivate_user(next(s for s in help_desk.expected_match.values() if s))
    with pytest.raises(ScopeMissing) as caught:
        bootstrap.run_people(settings, db, clock)
    assert f"`{scope}`" in str(caught.value) and "OAuth" in str(caught.value)
    assert {(r.id, r.slack_user_id, r.zendesk_user_id, r.active) for r in rows(db)} == before
    assert bootstrap.people_directory(settings, db).departments() == departments


def test_deactivation_and_agents_leaving_never_delete_rows(
    db: Database, slack: SlackSandbox, help_desk: PeopleMirror, clock: FakeClock
) -> None:
    settings = people_settings(slack)
    bootstrap.run_people(settings, db, clock)
    count = len(rows(db))
    matched = [z for z, s in help_desk.expected_match.items() if s]
    gone_slack = help_desk.slack_by_zendesk[matched[3]]
    slack.deactivate_user(gone_slack)
    store_agents(db, [{"id": matched[4], "name": "Former", "email": "f@x.io", "role": "end-user"}])
    bootstrap.run_people(settings, db, clock)
    directory = bootstrap.people_directory(settings, db)
    left = directory.by_zendesk_id(matched[4])
    assert left is not None and not left.active
    assert left.inactive_reason == "no longer an agent in Zendesk"
    # Their Slack user stays a person of its own: an employee now.
    former_slack = help_desk.slack_by_zendesk[matched[4]]
    assert directory.actor(former_slack).role is Role.EMPLOYEE
    assert directory.by_slack_id(former_slack).active  # type: ignore[union-attr]
    agent = directory.by_zendesk_id(matched[3])
    assert agent is not None and agent.slack_user_id is None
    slack_row = directory.by_slack_id(gone_slack)
    assert slack_row is not None and slack_row.inactive_reason == "slack deactivated"
    # Nothing deleted: the deactivated Slack user and the former agent's Slack user get rows.
    assert len(rows(db)) == count + 2


def test_agents_are_listed_live_from_zendesk_so_a_new_hire_without_tickets_is_matched(
    db: Database, slack: SlackSandbox, clock: FakeClock
) -> None:
    from deskbot.sandbox.zendesk import ZendeskSandbox

    zendesk = ZendeskSandbox(5, 300)
    zendesk.start()
    try:
        staff = [u for u in zendesk.state.users.values() if u.role != "end-user"]
        mirror = mirror_help_desk(slack, staff)
        settings = people_settings(slack, "people: {lookup_by_email: false}\n")
        settings = settings.model_copy(
            update={
                "zendesk": settings.zendesk.model_copy(
                    update={
                        "base_url": zendesk.base_url,
                        "email": SecretStr(zendesk.email),
                        "api_token": SecretStr(zendesk.token),
                    }
                )
            }
        )
        # Nothing synced yet: the users table is empty.
        result = bootstrap.run_people(settings, db, clock)
    finally:
        zendesk.stop()
    assert result.agents == len(staff)
    directory = bootstrap.people_directory(settings, db)
    for zid, expected in mirror.expected_match.items():
        assert directory.by_zendesk_id(zid).slack_user_id == expected  # type: ignore[union-attr]
    with db.session() as session:  # stored like the sync stores sideloaded users
        assert session.get(User, staff[0].id) is not None


def test_a_user_group_slack_no_longer_knows_keeps_the_last_members_with_a_warning(
    db: Database, slack: SlackSandbox, help_desk: PeopleMirror, clock: FakeClock
) -> None:
    group = help_desk.usergroups["Sales"]
    yaml = f"""roster:
  departments:
    - name: Sales
      owner: {slack.user_id("ben.walker")}
      slack_usergroup: {group}
"""
    settings = people_settings(slack, yaml)
    bootstrap.run_people(settings, db, clock)
    with slack._state.lock:  # the group is deleted in Slack
        del slack.workspace.usergroups[group]
    result = bootstrap.run_people(settings, db, clock)
    assert any(
        w.startswith("roster.departments[0] (line 9): Slack user group") for w in result.warnings
    ), result.warnings
    sales = bootstrap.people_directory(settings, db).department("Sales")
    assert sales is not None and slack.user_id("ines.garcia") in sales.members


def test_when_zendesk_cannot_list_users_the_synced_copy_is_used_and_said(
    db: Database, slack: SlackSandbox, help_desk: PeopleMirror, clock: FakeClock
) -> None:
    from deskbot.adapters.db.people_store import SqlPeopleStore
    from deskbot.adapters.slack.people_source import SlackPeopleSource
    from deskbot.errors import ZendeskError
    from deskbot.services.people import PeopleService

    class Down:
        def staff(self) -> list[dict[str, object]]:
            raise ZendeskError("list Zendesk agents: Zendesk answered 503")

    settings = people_settings(slack)
    source = SlackPeopleSource.from_token(slack.bot_token, slack.base_url, clock)
    result = PeopleService(settings, SqlPeopleStore(db), source, clock, Down()).refresh()
    assert result.agents == len(help_desk.expected_match)  # from the synced users table
    assert any("used the synced copy" in w for w in result.warnings)
