from __future__ import annotations

from deskbot.domain.people import Role
from deskbot.services.roster_directory import roster_directory
from deskbot.settings import Settings


def test_roles_and_departments_come_from_the_yaml_roster() -> None:
    settings = Settings.model_validate(
        {
            "zendesk": {"subdomain": "acme"},
            "roles": {"admins": ["UADMIN1"], "leads": ["ULEAD01"]},
            "roster": {
                "agents": [
                    {"zendesk_user_id": 11, "slack_user": "UAGENT1", "lead": "ULEAD02"},
                    {"zendesk_user_id": 12},
                ],
                "departments": [
                    {"name": "Support", "owner": "ULEAD02", "members": ["UAGENT1", "UEMPL01"]}
                ],
            },
        }
    )
    directory = roster_directory(settings)
    assert directory.actor("UADMIN1").role is Role.ADMIN
    assert directory.actor("ULEAD01").role is Role.LEAD
    assert directory.actor("ULEAD02").role is Role.LEAD  # an agent's lead and a dept owner
    agent = directory.actor("UAGENT1")
    assert agent.role is Role.AGENT and agent.zendesk_user_id == 11
    assert directory.actor("UEMPL01").role is Role.EMPLOYEE
    assert directory.actor("USTRANGER").role is Role.EMPLOYEE
    assert directory.by_zendesk_id(11) is not None and directory.by_zendesk_id(12) is None
    support = directory.department("support")
    assert support is not None and support.owner_slack_id == "ULEAD02"
    assert directory.by_slack_id("UAGENT1").departments == ("Support",)  # type: ignore[union-attr]
