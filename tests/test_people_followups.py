"""Bad-CSAT follow-ups with no hand-written roster: the agent's Slack user, their lead and the
lead's Zendesk user all come from the people directory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from deskbot import bootstrap
from deskbot.adapters.db.followups_store import SqlFollowupStore
from deskbot.adapters.db.people_store import SqlPeopleStore
from deskbot.adapters.db.store import Database
from deskbot.domain.people_match import PersonRecord
from deskbot.services.followups import FollowupService
from deskbot.settings import parse_settings
from deskbot.testing import FakeClock
from followups_support import (
    AGENT,
    CONFIG,
    LEAD_ZD,
    FollowupEnv,
    followup_env,
    slack_notifier,
    zendesk_writer,
)

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


@pytest.fixture
def env(db: Database) -> Iterator[FollowupEnv]:
    with followup_env(db) as world:
        yield world


def test_owner_and_mentions_come_from_the_directory(env: FollowupEnv) -> None:
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
    env.bad(1, 100)
    assert service.run().opened == 1
    _kind, _ticket, body = env.zendesk.writes[0]
    assert body["assignee_id"] == LEAD_ZD  # the directory's lead, who is an agent too
    [alert] = env.slack.messages
    text = json.dumps(alert["blocks"])
    assert "<@U0AGENT01>" in text and "<@U0LEAD001>" in text


def test_shoutouts_mention_the_agent_the_directory_matched(db: Database, clock: FakeClock) -> None:
    from deskbot.adapters.db.kpi import SqlKpiSource
    from deskbot.adapters.db.ledger import SqlActionLedger
    from deskbot.adapters.slack.digest_blocks import SlackDigestRenderer
    from deskbot.adapters.slack.notifier import SlackNotifier, make_client
    from deskbot.services.shoutouts import ShoutoutService
    from fake_slack import serve
    from kpi_dataset import load, utc

    settings = parse_settings(
        "timezone: Europe/Berlin\nzendesk: {subdomain: example}\n"
        "slack: {channels: {shoutouts: '#wins'}}\n"
    )  # no roster at all
    load(db)
    SqlPeopleStore(db).apply(
        [PersonRecord("Ada Agent", "U0ADA", 100, matched_by="email")],
        [],
        datetime(2026, 3, 1, tzinfo=UTC),
    )
    clock.set(utc(2026, 3, 29, 10))
    with serve(clock) as slack:
        notifier = SlackNotifier(
            make_client("xoxb-test", f"{slack.base_url}api/", clock=clock), clock=clock
        )
        service = ShoutoutService(
            settings,
            SqlKpiSource(db),
            SqlActionLedger(db, clock),
            notifier,
            SlackDigestRenderer(),
            people=bootstrap.people_directory(settings, db),
        )
        assert service.run_ratings(clock.now()).posted == ["shoutout:ticket:2"]
        text = slack.messages["C0WINS"][0]["blocks"][0]["text"]["text"]
    assert "<@U0ADA>" in text
