"""The matching rules of the people directory (pure): case, whitespace, duplicates, overrides,
deactivation, bots, guests, departments."""

from __future__ import annotations

from deskbot.domain.people_match import (
    NO_SLACK_USER,
    DepartmentSpec,
    Override,
    SlackMember,
    ZendeskAgent,
    match_people,
    normalise_email,
    resolve_departments,
)


def by_zendesk(result, zid):  # type: ignore[no-untyped-def]
    return next(p for p in result.people if p.zendesk_user_id == zid)


def by_slack(result, sid):  # type: ignore[no-untyped-def]
    return next(p for p in result.people if p.slack_user_id == sid)


def test_emails_compare_trimmed_and_case_insensitively() -> None:
    assert normalise_email("  Ada.Lovelace@Example.COM \n") == "ada.lovelace@example.com"
    assert normalise_email("   ") is None
    result = match_people(
        [ZendeskAgent(1, "Ada", " ADA@example.com"), ZendeskAgent(2, "Bob", "bob@example.com")],
        [SlackMember("U1", "ada", "ada@EXAMPLE.com\t", tz="Europe/Berlin"), SlackMember("U2", "x")],
    )
    ada = by_zendesk(result, 1)
    assert (ada.slack_user_id, ada.matched_by, ada.tz, ada.active) == (
        "U1",
        "email",
        "Europe/Berlin",
        True,
    )
    assert ada.email == "ada@example.com"
    bob = by_zendesk(result, 2)
    assert bob.slack_user_id is None and bob.note == NO_SLACK_USER
    assert [a.id for a in result.stragglers] == [2]
    # The Slack user nobody matched is an employee.
    assert by_slack(result, "U2").zendesk_user_id is None


def test_two_agents_sharing_an_email_match_nobody() -> None:
    result = match_people(
        [ZendeskAgent(1, "A", "shared@x.io"), ZendeskAgent(2, "B", "SHARED@x.io")],
        [SlackMember("U1", "shared", "shared@x.io")],
    )
    assert by_zendesk(result, 1).slack_user_id is None
    assert by_zendesk(result, 2).slack_user_id is None
    assert "share this e-mail" in (by_zendesk(result, 1).note or "")
    assert any("1, 2" in w and "share one e-mail" in w for w in result.warnings)
    assert by_slack(result, "U1").active  # still a person (an employee)


def test_two_slack_users_sharing_an_email_are_ambiguous() -> None:
    result = match_people(
        [ZendeskAgent(1, "A", "a@x.io")],
        [SlackMember("U1", "a", "a@x.io"), SlackMember("U2", "a2", "A@x.io")],
    )
    assert by_zendesk(result, 1).slack_user_id is None
    assert "several Slack users" in (by_zendesk(result, 1).note or "")
    # ...unless one of them is deactivated: then the active one is the match.
    result = match_people(
        [ZendeskAgent(1, "A", "a@x.io")],
        [SlackMember("U1", "a", "a@x.io", deleted=True), SlackMember("U2", "a2", "A@x.io")],
    )
    assert by_zendesk(result, 1).slack_user_id == "U2"


def test_deactivated_bot_and_guest_slack_users_are_excluded_with_reasons() -> None:
    agents = [ZendeskAgent(1, "Gone", "gone@x.io"), ZendeskAgent(2, "Bot", "bot@x.io")]
    agents.append(ZendeskAgent(3, "Guest", "guest@x.io"))
    members = [
        SlackMember("U1", "gone", "gone@x.io", deleted=True),
        SlackMember("U2", "bot", "bot@x.io", is_bot=True),
        SlackMember("U3", "guest", "guest@x.io", is_guest=True),
        SlackMember("USLACKBOT", "Slackbot"),
    ]
    result = match_people(agents, members)
    for zid, why in ((1, "slack deactivated"), (2, "bot"), (3, "guest")):
        agent = by_zendesk(result, zid)
        assert agent.slack_user_id is None and why in (agent.note or "")
    assert by_slack(result, "U1").inactive_reason == "slack deactivated"
    assert by_slack(result, "U2").inactive_reason == "bot"
    assert by_slack(result, "U3").inactive_reason == "guest"
    assert by_slack(result, "USLACKBOT").is_bot
    assert not any(p.active for p in result.people if p.slack_user_id)
    # Guests count when configured to.
    result = match_people(agents, members, include_guests=True)
    assert by_zendesk(result, 3).slack_user_id == "U3"
    assert by_zendesk(result, 3).is_guest


def test_suspended_and_deleted_agents_are_inactive() -> None:
    result = match_people(
        [ZendeskAgent(1, "S", "s@x.io", suspended=True), ZendeskAgent(2, "D", "d@x.io", False)],
        [SlackMember("U1", "s", "s@x.io"), SlackMember("U2", "d", "d@x.io")],
    )
    assert by_zendesk(result, 1).inactive_reason == "zendesk suspended"
    assert by_zendesk(result, 2).inactive_reason == "zendesk user deleted"
    assert by_zendesk(result, 1).slack_user_id == "U1"  # the link is kept for history
    assert not result.stragglers


def test_override_wins_over_email_and_conflicts_name_the_entry() -> None:
    agents = [ZendeskAgent(1, "Ada", "ada@x.io"), ZendeskAgent(2, "Bob", "bob@x.io")]
    members = [SlackMember("U1", "ada", "ada@x.io"), SlackMember("U9", "ada-other", "a@y.io")]
    overrides = [
        Override(0, 1, "U9", "ULEAD", line=40),  # e-mails differ: the YAML says who it is
        Override(1, 2, "U9", None, line=44),  # two agents → one Slack user
        Override(2, 3, "UNKNOWN1", None, line=47),  # a Slack user the workspace lacks
    ]
    result = match_people(agents, members, overrides)
    ada = by_zendesk(result, 1)
    assert (ada.slack_user_id, ada.matched_by, ada.lead_slack_id) == ("U9", "override", "ULEAD")
    assert by_zendesk(result, 2).slack_user_id is None
    text = "\n".join(result.warnings)
    assert "roster.agents[1] (line 44): slack_user U9 is already given to zendesk_user_id 1" in text
    assert "roster.agents[2] (line 47): slack_user UNKNOWN1 is not a user" in text
    assert "roster.agents[2] (line 47): zendesk_user_id 3 is not an agent" in text
    # The override for an agent the synced copy lacks still applies (YAML keeps working).
    assert by_zendesk(result, 3).slack_user_id == "UNKNOWN1"
    # U1 (Ada's e-mail twin) is not matched to anyone: Ada is U9 by override.
    assert by_slack(result, "U1").zendesk_user_id is None
    assert "@" not in text  # never an e-mail in a warning


def test_email_match_does_not_steal_a_slack_user_claimed_by_an_override() -> None:
    result = match_people(
        [ZendeskAgent(1, "Ada", "ada@x.io"), ZendeskAgent(2, "Bob", "ada2@x.io")],
        [SlackMember("U1", "ada", "ada2@x.io")],
        [Override(0, 1, "U1", None)],
    )
    assert by_zendesk(result, 1).slack_user_id == "U1"
    bob = by_zendesk(result, 2)
    assert bob.slack_user_id is None and "already mapped to zendesk_user_id 1" in (bob.note or "")


def test_lookup_matches_are_marked() -> None:
    result = match_people(
        [ZendeskAgent(1, "Ada", "ada@x.io")],
        [SlackMember("U1", "ada", "ada@x.io", found_by_lookup=True)],
        looked_up=[1],
    )
    assert by_zendesk(result, 1).matched_by == "lookup"


def test_departments_merge_yaml_members_and_usergroups_and_keep_last_good() -> None:
    specs = [
        DepartmentSpec(0, "Support", "UL", ("U1",), "S1", line=10),
        DepartmentSpec(1, "Sales", None, (), "S2", line=15),
    ]
    depts, warnings = resolve_departments(
        specs, {"S1": ["U1", "U2"], "S2": None}, lambda name: ["U7"] if name == "Sales" else []
    )
    assert depts[0].members == ("U1", "U2") and depts[0].source == "usergroup"
    assert depts[1].members == ("U7",)  # the group could not be read: last good members
    assert any("roster.departments[1] (line 15): Slack user group S2" in w for w in warnings)
    assert any("Sales has no owner" in w for w in warnings)
