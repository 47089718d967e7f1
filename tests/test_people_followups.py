"""Bad-CSAT follow-ups with no hand-written roster: the agent's Slack user, their lead and the
lead's Zendesk user all come from the people directory."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from deskbot import bootstrap
from deskbot.adapters.db.followups_store import SqlFollowupStore
from deskbot.adapters.db.people_store import SqlPeopleStore
from deskbot.domain.people_match import PersonRecord
from deskbot.services.followups import FollowupService
from deskbot.settings import parse_settings
from followups_support import AGENT, CONFIG, LEAD_ZD, slack_notifier, zendesk_writer
from test_followups_service import Env, bad_rating, env  # noqa: F401  # the fixture

NO_ROSTER = CONFIG.format(burst=10).replace(
    """roster:
  agents:
    - zendesk_user_id: 1001
      slack_user: U0AGENT01
      lead: U0LEAD001
    - zendesk_user_id: 2001
      slack_user: U0LEAD001
""",
    "",
)


def test_owner_and_mentions_come_from_the_directory(env: Env) -> None:  # noqa: F811
    settings = parse_settings(NO_ROSTER)
    assert not settings.roster.agents
    SqlPeopleStore(env.db).apply(
        [
            PersonRecord("Alex Agent", "U0AGENT01", AGENT, lead_slack_id="U0LEAD001"),
            PersonRecord("Lee Lead", "U0LEAD001", LEAD_ZD),
        ],
        [],
        datetime(2026, 11, 2, tzinfo=UTC),
    )
    service = FollowupService(
        settings,
        SqlFollowupStore(env.db),
        env.ledger,
        zendesk_writer(env.clock),
        slack_notifier(),
        env.clock,
        people=bootstrap.people_directory(settings, env.db),
    )
    bad_rating(env, 1, 100)
    assert service.run().opened == 1
    _kind, _ticket, body = env.zendesk.writes[0]
    assert body["assignee_id"] == LEAD_ZD  # the directory's lead, who is an agent too
    [alert] = env.slack.messages
    text = json.dumps(alert["blocks"])
    assert "<@U0AGENT01>" in text and "<@U0LEAD001>" in text
