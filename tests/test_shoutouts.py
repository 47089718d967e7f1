"""Hero shout-outs: customer display, caps, gaps, no repeats, hero of the week, hooks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from deskbot.adapters.db.kpi import SqlKpiSource
from deskbot.adapters.db.ledger import SqlActionLedger
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import SatisfactionRating
from deskbot.adapters.slack.digest_blocks import SlackDigestRenderer, render_shoutout
from deskbot.adapters.slack.notifier import SlackNotifier, make_client
from deskbot.domain.metrics import AgentStats
from deskbot.domain.shoutouts import (
    PastShoutout,
    Shoutout,
    display_customer,
    hero_of_the_week,
    quote,
    select,
)
from deskbot.services.shoutouts import ShoutoutService
from deskbot.settings import parse_settings
from deskbot.testing import FakeClock
from fake_slack import FakeSlack, serve
from kpi_dataset import ADA, BOB, load, rating, utc

UTC_TZ = ZoneInfo("UTC")


# -- pure rules ---------------------------------------------------------------------------------


def test_customer_display() -> None:
    assert display_customer("first_name", "Carla  Customer", "Globex") == "Carla"
    assert display_customer("organization", "Carla Customer", "Globex") == "Globex"
    assert display_customer("organization", "Carla Customer", None) == "a customer"
    assert display_customer("anonymous", "Carla Customer", "Globex") == "a customer"
    assert display_customer("first_name", None, "Globex") == "a customer"


def test_quote_tidies_and_cuts() -> None:
    assert quote("  so\n\nhelpful   thanks ") == "so helpful thanks"
    long = quote("word " * 500, limit=50)
    assert len(long) == 50 and long.endswith("…")


def _s(key: str, agent: int | None, exempt: bool = False) -> Shoutout:
    return Shoutout("rating", key, "t", agent_id=agent, exempt_from_caps=exempt)


def test_select_applies_daily_cap_and_gap() -> None:
    now = utc(2026, 3, 10, 15)
    past = [
        PastShoutout(ADA, utc(2026, 3, 10, 9)),  # today: uses one of the cap
        PastShoutout(BOB, utc(2026, 3, 1, 9)),  # 9 days ago: outside a 7-day gap
    ]
    candidates = [_s("a", ADA), _s("b", BOB), _s("c", 7), _s("d", 8), _s("h", ADA, exempt=True)]
    chosen = select(candidates, past, now=now, tz=UTC_TZ, daily_cap=3, min_gap_days=7)
    # Ada was celebrated today (gap); Bob and 7 fit the cap of 3 with today's one; the exempt
    # weekly hero always passes
    assert [s.key for s in chosen] == ["b", "c", "h"]
    # the same agent twice in one batch is also a repeat
    twice = select([_s("x", 9), _s("y", 9)], [], now=now, tz=UTC_TZ, daily_cap=5, min_gap_days=1)
    assert [s.key for s in twice] == ["x"]
    no_gap = select([_s("x", 9), _s("y", 9)], [], now=now, tz=UTC_TZ, daily_cap=5, min_gap_days=0)
    assert [s.key for s in no_gap] == ["x", "y"]
    assert select(candidates, [], now=now, tz=UTC_TZ, daily_cap=0, min_gap_days=0) == [
        candidates[-1]
    ]


def test_daily_cap_counts_the_local_day() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    now = utc(2026, 3, 10, 23, 30)  # 00:30 on 11 March in Berlin: a new day
    past = [PastShoutout(1, utc(2026, 3, 10, 22, 0))]  # 23:00 on 10 March in Berlin
    chosen = select([_s("a", 2)], past, now=now, tz=berlin, daily_cap=1, min_gap_days=0)
    assert [s.key for s in chosen] == ["a"]


def test_hero_of_the_week_needs_volume_and_breaks_ties_by_volume() -> None:
    agents = [
        AgentStats(1, "A", solved=10, good=3, bad=0),  # 100% but only 3 rated
        AgentStats(2, "B", solved=20, good=9, bad=1),  # 90%
        AgentStats(3, "C", solved=30, good=9, bad=1),  # 90%, more volume
        AgentStats(4, "D", solved=5, good=5, bad=5),
    ]
    hero = hero_of_the_week(agents, min_rated=5)
    assert hero is not None and hero.agent_id == 3
    assert hero_of_the_week(agents, min_rated=50) is None


def test_rendered_shoutout_mentions_and_escapes() -> None:
    msg = render_shoutout(
        Shoutout(
            "rating",
            "k",
            "Kudos to Ada Agent!",
            agent_id=ADA,
            agent_name="Ada Agent",
            agent_slack_id="U0ADA",
            quote="<b>great</b> & quick",
            attribution="Carla",
            ticket_id=2,
        )
    )
    assert msg.blocks is not None
    text = msg.blocks[0]["text"]["text"]
    assert text.startswith(":tada: *Kudos to <@U0ADA>!*")
    assert "> &lt;b&gt;great&lt;/b&gt; &amp; quick" in text and "- Carla" in text
    assert msg.blocks[-1]["elements"][0]["text"] == "Ticket #2"


# -- the service, against the store and a local Slack -------------------------------------------


@pytest.fixture
def slack(clock: FakeClock) -> Iterator[FakeSlack]:
    with serve(clock) as fake:
        yield fake


def make_service(
    db: Database, slack: FakeSlack, clock: FakeClock, extra: str = ""
) -> ShoutoutService:
    settings = parse_settings(
        "timezone: Europe/Berlin\n"
        "zendesk: {subdomain: example}\n"
        "slack: {channels: {shoutouts: '#wins'}}\n"
        "roster: {agents: [{zendesk_user_id: 100, slack_user: U0ADA}]}\n"
        f"shoutouts: {{daily_cap: 2, min_gap_days: 7, hero_min_rated_tickets: 2{extra}}}\n"
    )
    notifier = SlackNotifier(
        make_client("xoxb-test", f"{slack.base_url}api/", clock=clock), clock=clock
    )
    return ShoutoutService(
        settings, SqlKpiSource(db), SqlActionLedger(db, clock), notifier, SlackDigestRenderer()
    )


def test_good_rating_with_comment_is_celebrated_once(
    db: Database, clock: FakeClock, slack: FakeSlack
) -> None:
    load(db)
    clock.set(utc(2026, 3, 29, 10))
    svc = make_service(db, slack, clock)
    run = svc.run_ratings(clock.now())
    # rating 1 is the only good one with a comment (rating 4 has none; 6 is in the future)
    assert run.posted == ["shoutout:ticket:2"]
    message = slack.messages["C0WINS"][0]
    assert message["metadata"]["event_payload"] == {"key": "shoutout:ticket:2"}
    text = message["blocks"][0]["text"]["text"]
    assert "<@U0ADA>" in text and "> Thanks, Ada sorted it in minutes!" in text
    assert "- Carla" in text  # first name only
    clock.advance(3600)
    again = svc.run_ratings(clock.now())
    assert again.posted == [] and again.already == ["shoutout:ticket:2"]
    assert slack.count("chat.postMessage") == 1


def test_organisation_display(db: Database, clock: FakeClock, slack: FakeSlack) -> None:
    load(db)
    clock.set(utc(2026, 3, 29, 10))
    svc = make_service(db, slack, clock, ", customer_display: organization")
    svc.run_ratings(clock.now())
    assert "- Globex" in slack.messages["C0WINS"][0]["blocks"][0]["text"]["text"]


def test_caps_and_gaps_across_runs(db: Database, clock: FakeClock, slack: FakeSlack) -> None:
    load(db)
    with db.engine.begin() as conn:
        db.upsert(
            conn,
            SatisfactionRating,
            [
                rating(
                    10,
                    6,
                    "good",
                    utc(2026, 3, 28, 10),
                    assignee=BOB,
                    requester=501,
                    comment="Bob was great",
                ),
                rating(
                    11,
                    7,
                    "good",
                    utc(2026, 3, 28, 11),
                    assignee=ADA,
                    requester=502,
                    comment="Ada again!",
                ),
                rating(
                    12,
                    9,
                    "good",
                    utc(2026, 3, 28, 12),
                    assignee=None,
                    requester=503,
                    comment="Thanks team",
                ),
            ],
        )
    clock.set(utc(2026, 3, 29, 10))
    svc = make_service(db, slack, clock)
    run = svc.run_ratings(clock.now())
    # cap 2 a day: Ada (ticket 2), Bob (ticket 6); Ada's second is inside her 7-day gap
    assert run.posted == ["shoutout:ticket:2", "shoutout:ticket:6"]
    assert set(run.skipped) == {"shoutout:ticket:7", "shoutout:ticket:9"}
    clock.advance(hours=12)  # 00:00 on 30 March in Berlin: a new day, a fresh cap
    later = svc.run_ratings(clock.now())
    assert later.posted == ["shoutout:ticket:9"]  # nobody's gap; Ada still waits
    assert later.skipped == ["shoutout:ticket:7"]
    assert slack.count("chat.postMessage") == 3


def test_hero_of_the_week_and_hooks(db: Database, clock: FakeClock, slack: FakeSlack) -> None:
    load(db)
    clock.set(utc(2026, 4, 1, 14))  # a Wednesday: last week is 23-29 March
    svc = make_service(db, slack, clock)
    run = svc.run_hero_of_the_week(clock.now())
    assert run.posted == ["shoutout:hero:2026-03-23"]
    text = slack.messages["C0WINS"][-1]["blocks"][0]["text"]["text"]
    assert "Hero of the week: <@U0ADA>!" in text and "CSAT 100.0% over 2 rated" in text
    assert svc.run_hero_of_the_week(clock.now() + timedelta(hours=1)).already == [
        "shoutout:hero:2026-03-23"
    ]
    qa = svc.shout_out_qa_hero(
        review_id=7,
        agent_id=BOB,
        agent_name="Bob Agent",
        ticket_id=6,
        note="Textbook de-escalation",
        now=clock.now(),
    )
    assert qa.posted == ["shoutout:qa:7"]
    nps = svc.shout_out_nps_story(
        story_id="r1", department="IT", comment="Always helpful", now=clock.now()
    )
    assert nps.posted == ["shoutout:nps:r1"]
    assert "a colleague (anonymous)" in slack.messages["C0WINS"][-1]["blocks"][0]["text"]["text"]
    repeat = svc.shout_out_qa_hero(
        review_id=7,
        agent_id=BOB,
        agent_name="Bob Agent",
        ticket_id=6,
        note=None,
        now=clock.now() + timedelta(days=30),
    )
    assert repeat.posted == [] and repeat.already == ["shoutout:qa:7"]
    assert slack.count("chat.postMessage") == 3


class Crash(BaseException):
    """The process dying between the post and the ledger update."""


def test_crash_after_posting_does_not_repeat_the_shoutout(
    db: Database, clock: FakeClock, slack: FakeSlack
) -> None:
    load(db)
    clock.set(utc(2026, 3, 29, 10))
    svc = make_service(db, slack, clock)
    ledger = svc._ledger
    original = ledger.complete

    def crash(key: str, result: object = None) -> object:
        raise Crash

    ledger.complete = crash  # type: ignore[method-assign]
    with pytest.raises(Crash):
        svc.run_ratings(clock.now())
    assert slack.count("chat.postMessage") == 1
    pending = ledger.get("shoutout:ticket:2")
    assert pending is not None and pending.status == "pending"
    ledger.complete = original  # type: ignore[method-assign]
    clock.advance(300)
    run = svc.run_ratings(clock.now())
    # the pending intent does not count against its own retry; the marker is found in the
    # channel history, so nothing is posted again
    assert run.posted == [] and run.already == ["shoutout:ticket:2"]
    assert slack.count("chat.postMessage") == 1
    done = ledger.get("shoutout:ticket:2")
    assert done is not None and done.status == "done"
