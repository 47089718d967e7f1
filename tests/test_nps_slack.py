"""Internal NPS through the real Slack app and the Slack sandbox: signed button clicks and modal
submissions, DMs, the owner's anonymous reply reaching the comment's author, /deskbot nps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from deskbot import bootstrap
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import NpsAnswer, NpsSealed
from deskbot.adapters.slack.server import HttpHandle
from deskbot.adapters.slack.work import BackgroundWork
from deskbot.sandbox.slack import SlackSandbox
from deskbot.settings import Settings
from deskbot.testing import FakeClock

SUPPORT = ["sam.reyes", "priya.nair"]
ENGINEERING = ["jonas.becker", "chloe.martin"]
OTHERS = ["noah.kim", "elena.petrova", "omar.haddad", "grace.liu"]


@pytest.fixture
def slack(tmp_path: Path, clock: FakeClock) -> Iterator[SlackSandbox]:
    sb = SlackSandbox(out_dir=tmp_path / "slack", seed=1, clock=clock, signature_clock=clock)
    sb.start()
    yield sb
    sb.stop()


def settings_for(sb: SlackSandbox) -> Settings:
    uid = sb.user_id
    return Settings.model_validate(
        {
            "timezone": "Europe/Berlin",
            "zendesk": {"subdomain": "acme"},
            "slack": {
                "mode": "http",
                "base_url": sb.base_url,
                "bot_token": sb.bot_token,
                "signing_secret": sb.signing_secret,
            },
            "roles": {"admins": [uid("maya.okafor")]},
            "roster": {
                "departments": [
                    {
                        "name": "Support",
                        "owner": uid("lucas.ferreira"),
                        "members": [uid(n) for n in SUPPORT],
                    },
                    {
                        "name": "Engineering",
                        "owner": uid("aiko.tanaka"),
                        "members": [uid(n) for n in ENGINEERING],
                    },
                    {"name": "Everyone else", "members": [uid(n) for n in OTHERS]},
                ]
            },
            "nps": {
                "anonymity_threshold": 2,
                "departments": ["Support", "Engineering"],
                "dms_per_minute": 600,
            },
        }
    )


def dm_with(sb: SlackSandbox, name: str, action_prefix: str) -> dict[str, Any]:
    found = [
        m
        for m in sb.messages(sb.user_id(name))
        if m["kind"] == "message" and action_prefix in json.dumps(m.get("blocks") or [])
    ]
    assert found, f"no message with {action_prefix} in {name}'s DM"
    return found[-1]


def said(sb: SlackSandbox, name: str) -> str:
    return json.dumps(sb.messages(sb.user_id(name)))


def count(db: Database, table: type) -> int:
    with db.engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(table.__table__)).scalar_one()  # type: ignore[attr-defined]
        )


def test_answers_comments_release_and_an_anonymous_reply_through_slack(
    db: Database, clock: FakeClock, slack: SlackSandbox
) -> None:
    settings = settings_for(slack)
    service = bootstrap.nps_service(settings, db, clock)
    plan, created = service.start_round(clock.now())
    assert created
    assert service.tick().sent == len(plan.asks)
    support_raters = [a.slack_user_id for a in service.store.asks() if a.department == "Support"]
    names = {u["id"]: u["name"] for u in slack.users}
    # two raters who are not Support's owner (ask ids are random: sort for a stable choice)
    raters = [
        names[s]
        for s in sorted(support_raters)
        if names.get(s, "lucas.ferreira") != "lucas.ferreira"
    ]
    first, second = raters[0], raters[1]

    work = BackgroundWork()
    handle = bootstrap.start_slack_app(
        settings,
        bootstrap.slack_services(db, settings, clock),
        clock,
        host="127.0.0.1",
        port=0,
        work=work,
        database=db,
    )
    assert isinstance(handle, HttpHandle)
    url = handle.url + settings.slack.http.path
    try:
        ask = dm_with(slack, first, "nps_score_")
        # Someone else clicks on it: refused, nothing stored.
        status, _ = slack.click_button(
            url,
            message_ts=ask["ts"],
            channel=slack.user_id(first),
            action_id="nps_score_3",
            user_id=second,
        )
        assert status == 200 and work.wait_idle(10)
        assert count(db, NpsSealed) == 0
        assert "sent to someone else" in said(slack, first)

        # A forged score outside 0-10: refused, nothing stored.
        ask_id = json.dumps(ask["blocks"]).split('"value": "')[1].split(":")[0]
        slack.click_button(
            url,
            message_ts=ask["ts"],
            channel=slack.user_id(first),
            action_id="nps_score_10",
            value=f"{ask_id}:11",
            user_id=first,
        )
        assert work.wait_idle(10)
        assert count(db, NpsSealed) == 0 and "0 to 10" in said(slack, first)

        slack.click_button(
            url,
            message_ts=ask["ts"],
            channel=slack.user_id(first),
            action_id="nps_score_2",
            user_id=first,
        )
        assert work.wait_idle(10)
        assert count(db, NpsSealed) == 1
        [view] = [v for v in slack.views if v["view"]["callback_id"] == "nps_comment_modal"]
        updated = next(m for m in slack.messages(slack.user_id(first)) if m["ts"] == ask["ts"])
        assert "Your answer is recorded" in json.dumps(updated["blocks"])
        shown = [b["text"]["text"] for b in updated["blocks"] if b["type"] == "section"]
        assert not any("2" in t for t in shown)  # the score is not echoed into Slack history
        # Over Slack's limit: refused in the modal, nothing stored.
        delivery = slack.submit_view(
            url,
            view_id=view["view"]["id"],
            values={"comment": {"text": "x" * 3001}},
            user_id=first,
        )
        assert "response_action" in delivery.body and "errors" in delivery.body
        delivery = slack.submit_view(
            url,
            view_id=view["view"]["id"],
            values={"comment": {"text": "Tickets vanish & nobody answers <ever>"}},
            user_id=first,
        )
        assert delivery.status == 200 and work.wait_idle(10)
        # The answered message has no score buttons left (the service refuses a second
        # answer anyway: tests/test_nps_service.py), only "Add a comment".
        updated = next(m for m in slack.messages(slack.user_id(first)) if m["ts"] == ask["ts"])
        assert "nps_score_" not in json.dumps(updated["blocks"])
        assert "nps_comment" in json.dumps(updated["blocks"])
        assert count(db, NpsSealed) == 1

        other_ask = dm_with(slack, second, "nps_score_")
        slack.click_button(
            url,
            message_ts=other_ask["ts"],
            channel=slack.user_id(second),
            action_id="nps_score_9",
            user_id=second,
        )
        assert work.wait_idle(10)
        assert count(db, NpsAnswer) == 0  # nothing released while the round is open

        clock.advance(hours=121)
        summary = service.tick()
        assert summary.released_cells == 1
        assert count(db, NpsAnswer) == 2
        owner = "lucas.ferreira"
        assert "eNPS" in said(slack, owner)
        comment = dm_with(slack, owner, "nps_reply")
        assert "Tickets vanish & nobody answers <ever>" in json.dumps(comment["blocks"])
        assert "Detractor" in json.dumps(comment["blocks"])
        assert slack.user_id(first) not in json.dumps(comment)  # the owner sees no name
        # Expired buttons say so; a late click is refused.
        late = next(a for a in service.store.asks() if not a.answered)
        late_name = next(n for i, n in names.items() if i == late.slack_user_id)
        assert "expired" in json.dumps(dm_with(slack, late_name, "expired")["blocks"])

        slack.click_button(
            url,
            message_ts=comment["ts"],
            channel=slack.user_id(owner),
            action_id="nps_reply",
            user_id=owner,
        )
        assert work.wait_idle(10)
        [reply_view] = [v for v in slack.views if v["view"]["callback_id"] == "nps_reply_modal"]
        slack.submit_view(
            url,
            view_id=reply_view["view"]["id"],
            values={"reply": {"text": "Sorry! Which queue was it?"}},
            user_id=owner,
        )
        assert work.wait_idle(10)
        reply = dm_with(slack, first, "nps_author_reply")
        assert "Sorry! Which queue was it?" in json.dumps(reply["blocks"])
        assert slack.user_id(owner) not in json.dumps(reply["blocks"])
        slack.click_button(
            url,
            message_ts=reply["ts"],
            channel=slack.user_id(first),
            action_id="nps_author_reply",
            user_id=first,
        )
        assert work.wait_idle(10)
        [back_view] = [
            v for v in slack.views if v["view"]["callback_id"] == "nps_author_reply_modal"
        ]
        slack.submit_view(
            url,
            view_id=back_view["view"]["id"],
            values={"reply": {"text": "The billing queue."}},
            user_id=first,
        )
        assert work.wait_idle(10)
        assert "The billing queue." in said(slack, owner)
        # Someone who is not the owner cannot open a reply.
        slack.click_button(
            url,
            message_ts=comment["ts"],
            channel=slack.user_id(owner),
            action_id="nps_reply",
            user_id="aiko.tanaka",
        )
        assert work.wait_idle(10)
        assert "Support's owner" in said(slack, owner)

        # /deskbot nps optout, report (owner) and a refused report (employee).
        status, body = slack.send_slash_command(url, text="nps optout", user_id="noah.kim")
        assert status == 200 and work.wait_idle(10)
        everything = json.dumps(slack.messages()) + body
        assert "not get internal NPS surveys" in everything
        slack.send_slash_command(url, text="nps report", user_id=owner)
        assert work.wait_idle(10)
        assert "Internal NPS" in json.dumps(slack.messages()) and "95% CI" in json.dumps(
            slack.messages()
        )
        slack.send_slash_command(url, text="nps report Marketing", user_id="maya.okafor")
        assert work.wait_idle(10)
        assert "no department named" in json.dumps(slack.messages())
    finally:
        handle.stop()
