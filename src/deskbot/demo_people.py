"""The people directory's scene in ``deskbot demo``: the Zendesk sandbox's agents are mirrored
into the Slack sandbox (a few e-mails differ on purpose, one is in upper case, one account is
deactivated, one is a bot), departments come from Slack user groups, and one refresh matches
them. The scene prints the match summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deskbot import bootstrap
from deskbot.sandbox.slack.people import PeopleMirror, mirror_help_desk

if TYPE_CHECKING:
    from deskbot.adapters.db.store import Database
    from deskbot.demo import Demo
    from deskbot.ports import Clock
    from deskbot.sandbox.slack import SlackSandbox
    from deskbot.sandbox.zendesk import ZendeskSandbox
    from deskbot.settings import Settings

_OWNERS = {
    "Support": "maya.okafor",
    "Engineering": "dev.patel",
    "Sales": "ben.walker",
    "Finance": "omar.haddad",
    "People": "rosa.hr",
}


def prepare(config: dict[str, Any], zendesk: ZendeskSandbox, slack: SlackSandbox) -> PeopleMirror:
    """Mirror the help desk into Slack and name its departments (user groups) in ``config``."""
    mirror = mirror_help_desk(slack, zendesk.state.users.values())
    config.setdefault("roster", {})["departments"] = [
        {"name": name, "owner": slack.user_id(_OWNERS[name]), "slack_usergroup": group}
        for name, group in mirror.usergroups.items()
    ]
    return mirror


def scene(demo: Demo, settings: Settings, database: Database, clock: Clock) -> None:
    demo.step("People directory: Zendesk agents matched to Slack users")
    result = bootstrap.run_people(settings, database, clock)
    for line in result.lines():
        demo.say(line)
    matched = result.matched_email + result.matched_override + result.matched_lookup
    demo.record(
        "People directory",
        f"{matched} of {result.agents} agents matched ({result.matched_email} by e-mail, "
        f"{result.matched_override} by roster override), {len(result.unmatched)} unmatched "
        f"with reasons, {len(result.departments)} departments from Slack user groups",
    )
