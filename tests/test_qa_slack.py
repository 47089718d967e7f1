"""QA through the real Slack app and the Slack sandbox, by signed payloads: the reviewer's DM,
Score → modal → view_submission (errors in the modal; a retry stores one version), the agent's
DM, View conversation from the Zendesk sandbox's comments API, Dispute → Resolve."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from deskbot import bootstrap
from deskbot.adapters.db.qa_store import SqlQaStore
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import Ticket, TicketMetric
from deskbot.adapters.slack.scorecard_blocks import block_id
from deskbot.adapters.slack.server import HttpHandle
from deskbot.adapters.slack.work import BackgroundWork
from deskbot.domain.scorecard import COMPETENCY_KEYS
from deskbot.sandbox.slack import SlackSandbox
from deskbot.sandbox.zendesk import ZendeskSandbox
from deskbot.settings import Settings
from deskbot.testing import FakeClock

ADA, BOB = 101, 102
NOW = datetime(2026, 11, 9, 8, 0, tzinfo=UTC)  # Monday after week 2026-W45


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def slack(tmp_path: Path, clock: FakeClock) -> Iterator[SlackSandbox]:
    sb = SlackSandbox(out_dir=tmp_path / "slack", seed=1, clock=clock, signature_clock=clock)
    sb.start()
    yield sb
    sb.stop()


@pytest.fixture
def zendesk(clock: FakeClock) -> Iterator[ZendeskSandbox]:
    zd = ZendeskSandbox(
        seed=7,
        tickets=60,
        start=NOW - timedelta(days=20),
        account_limit=1_000_000,
        incremental_limit=1_000_000,
        monotonic=clock.monotonic,
    )
    zd.start()
    yield zd
    zd.stop()


def settings_for(sb: SlackSandbox, zd: ZendeskSandbox, **qa: Any) -> Settings:
    u = sb.user_id
    return Settings.model_validate(
        {
            "timezone": "UTC",
            "zendesk": {
                "subdomain": "acme",
                "base_url": zd.base_url,
                "email": zd.email,
                "api_token": zd.token,
            },
            "slack": {
                "mode": "http",
                "base_url": sb.base_url,
                "bot_token": sb.bot_token,
                "signing_secret": sb.signing_secret,
            },
            "roles": {
                "admins": [u("maya.okafor")],
                "leads": [u("lucas.ferreira"), u("aiko.tanaka")],
            },
            "roster": {
                "agents": [
                    {
                        "zendesk_user_id": ADA,
                        "slack_user": u("sam.reyes"),
                        "lead": u("lucas.ferreira"),
                    },
                    {
                        "zendesk_user_id": BOB,
                        "slack_user": u("priya.nair"),
                        "lead": u("aiko.tanaka"),
                    },
                ]
            },
            "qa": {
                "samples_per_agent": 2,
                "strata": {"bad_csat": 0, "reopened": 0, "long_resolution": 0, "many_replies": 0},
                "reviewers": [u("lucas.ferreira"), u("aiko.tanaka")],
                "owners": [u("maya.okafor")],
                **qa,
            },
        }
    )


def load_tickets(db: Database, zd: ZendeskSandbox) -> list[int]:
    """Four of the Zendesk sandbox's tickets, solved in week 2026-W45 by Ada and Bob."""
    ids = sorted(zd.state.tickets)[:4]
    solved = datetime(2026, 11, 4, 12, tzinfo=UTC)
    with db.engine.begin() as conn:
        db.upsert(
            conn,
            Ticket,
            [
                {
                    "id": tid,
                    "created_at": solved - timedelta(hours=3),
                    "updated_at": solved,
                    "generated_timestamp": int(solved.timestamp()),
                    "status": "solved",
                    "subject": f"Refund question {tid}",
                    "assignee_id": ADA if i % 2 == 0 else BOB,
                    "raw": "{}",
                    "synced_at": solved,
                }
                for i, tid in enumerate(ids)
            ],
        )
        db.upsert(
            conn,
            TicketMetric,
            [{"ticket_id": t, "solved_at": solved, "replies": 2, "raw": "{}"} for t in ids],
            key=("ticket_id",),
        )
    return ids


def serve(
    settings: Settings, db: Database, clock: FakeClock
) -> tuple[HttpHandle, str, BackgroundWork]:
    work = BackgroundWork()
    services = bootstrap.slack_services(db, settings, clock)
    handle = bootstrap.start_slack_app(
        settings, services, clock, host="127.0.0.1", port=0, work=work, database=db
    )
    assert isinstance(handle, HttpHandle)
    return handle, handle.url + settings.slack.http.path, work


def dm(sb: SlackSandbox, user: str) -> list[dict[str, Any]]:
    return sb.messages(sb.user_id(user))


def scores(value: str = "3", **override: str | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {
        block_id(k): {"score": override.get(k, value)} for k in COMPETENCY_KEYS
    }
    out["sc_hero"] = {"hero": []}
    out["sc_notes"] = {"notes": "Clear and kind."}
    return out


def test_review_dispute_and_resolution_through_signed_payloads(
    db: Database, clock: FakeClock, slack: SlackSandbox, zendesk: ZendeskSandbox
) -> None:
    settings = settings_for(slack, zendesk)
    load_tickets(db, zendesk)
    summary = bootstrap.run_qa_cycle(settings, db, clock)
    assert summary["draw"]["samples"] == 4 and summary["task_dms"] == 2
    assert bootstrap.run_qa_cycle(settings, db, clock)["task_dms"] == 0  # exactly once
    store = SqlQaStore(db)
    task = next(t for t in store.tasks() if t.sample.agent_id == ADA)
    reviewer = task.reviewer
    reviewer_name = next(
        n for n in ("lucas.ferreira", "aiko.tanaka") if slack.user_id(n) == reviewer
    )
    other = "aiko.tanaka" if reviewer_name == "lucas.ferreira" else "lucas.ferreira"
    [tasks_dm] = dm(slack, reviewer_name)
    body = json.dumps(tasks_dm["blocks"])
    assert f"#{task.sample.ticket_id}" in body and "why: random" in body and "replies: 2" in body

    handle, url, work = serve(settings, db, clock)
    try:
        chan = reviewer
        # a stranger's click on Score opens nothing
        slack.click_button(
            url, message_ts=tasks_dm["ts"], channel=chan, action_id=f"qa:score:{task.id}",
            user_id=other,
        )  # fmt: skip
        assert work.wait_idle(10)
        assert not [v for v in slack.views if v["view"]["callback_id"] == "qa:score_modal"]

        slack.click_button(
            url, message_ts=tasks_dm["ts"], channel=chan, action_id=f"qa:score:{task.id}",
            user_id=reviewer_name,
        )  # fmt: skip
        assert work.wait_idle(10)
        [modal] = [v for v in slack.views if v["view"]["callback_id"] == "qa:score_modal"]
        assert modal["view"]["private_metadata"] == str(task.id)

        # a missing and an out-of-range score: errors in the modal, nothing stored
        bad = scores(accuracy=None, judgment="9")
        status, answer = slack.submit_view(
            url, view_id=modal["view"]["id"], values=bad, user_id=reviewer_name
        )
        errors = json.loads(answer)["errors"]
        assert set(errors) == {block_id("accuracy"), block_id("judgment")}
        assert store.review_history(task.id) == []

        clock.advance(seconds=30)
        status, answer = slack.submit_view(
            url, view_id=modal["view"]["id"], values=scores(judgment="na"), user_id=reviewer_name
        )
        assert status == 200 and not answer.strip()
        slack.submit_view(  # Slack retries the same submission
            url, view_id=modal["view"]["id"], values=scores(judgment="na"),
            user_id=reviewer_name, retry=True,
        )  # fmt: skip
        assert work.wait_idle(10)
        history = store.review_history(task.id)
        assert [h.version for h in history] == [1] and history[0].scores["judgment"] is None
        assert history[0].score == 75.0

        [review_dm] = dm(slack, "sam.reyes")
        text = json.dumps(review_dm["blocks"])
        assert "75/100" in text and f"by <@{reviewer}>" in text
        assert "Judgment: N/A" in text

        # View conversation: public comments from Zendesk, in the modal
        slack.click_button(
            url, message_ts=review_dm["ts"], channel=slack.user_id("sam.reyes"),
            action_id=f"qa:convo:{task.id}", user_id="sam.reyes",
        )  # fmt: skip
        assert work.wait_idle(10)
        [convo] = [v for v in slack.views if v["view"]["callback_id"] == "qa:convo_modal"]
        assert "Loading" not in json.dumps(convo["view"]["blocks"])
        assert len(convo["view"]["blocks"]) >= 3

        # Dispute: only the agent; then the lead resolves (time passes: Slack paces DMs)
        clock.advance(seconds=30)
        slack.click_button(
            url, message_ts=review_dm["ts"], channel=slack.user_id("sam.reyes"),
            action_id=f"qa:dispute:{task.id}", user_id="sam.reyes",
        )  # fmt: skip
        assert work.wait_idle(10)
        status, answer = slack.submit_view(
            url, callback_id="qa:dispute_modal",
            values={"qa_reason": {"reason": "I escalated as the macro says"}},
            user_id="sam.reyes",
        )  # fmt: skip
        assert status == 200 and work.wait_idle(10)
        [lead_dm] = [m for m in dm(slack, "lucas.ferreira") if "disputes" in m["text"]]
        assert [m for m in dm(slack, "maya.okafor") if "disputes" in m["text"]]
        slack.click_button(
            url, message_ts=lead_dm["ts"], channel=slack.user_id("lucas.ferreira"),
            action_id=f"qa:resolve:{task.id}", user_id="lucas.ferreira",
        )  # fmt: skip
        assert work.wait_idle(10)
        clock.advance(seconds=30)
        resolve_values = {
            **{block_id(k): {"score": "4"} for k in COMPETENCY_KEYS},
            "qa_outcome": {"outcome": "changed"},
            "qa_note": {"note": "Right, the macro allows it."},
        }
        status, answer = slack.submit_view(
            url, callback_id="qa:resolve_modal", values=resolve_values, user_id="lucas.ferreira"
        )
        assert status == 200 and not answer.strip() and work.wait_idle(10)
        stored = store.task(task.id)
        assert stored is not None and stored.dispute is not None
        assert stored.dispute.state == "changed" and stored.review is not None
        assert stored.review.score == 100.0 and stored.review.version == 2
        outcome = [m for m in dm(slack, "sam.reyes") if "dispute" in m["text"]]
        assert len(outcome) == 1 and "changed" in outcome[0]["text"]

        # /deskbot qa report: the agent sees their own row, the admin everyone's
        slack.send_slash_command(url, text="qa report", user_id="sam.reyes")
        slack.send_slash_command(url, text="qa report 2026-W45", user_id="maya.okafor")
        slack.send_slash_command(url, text="qa report @101", user_id="priya.nair")
        assert work.wait_idle(10)
        answers = [json.dumps(m) for m in slack.messages("#support-leads")]
        mine = [
            a for a in answers if "QA report" in a and f"<@{slack.user_id('sam.reyes')}>" not in a
        ]
        assert any("1 other agents are not shown" in a for a in mine)
        assert any("Agents:" in a and "not shown" not in a for a in mine)
        assert any("Only the agent, their lead and QA owners may" in a for a in answers)
    finally:
        handle.stop()
        work.shutdown()


def test_closed_cycle_is_refused_in_the_modal(
    db: Database, clock: FakeClock, slack: SlackSandbox, zendesk: ZendeskSandbox
) -> None:
    settings = settings_for(slack, zendesk, close_days=7, due_days=3)
    load_tickets(db, zendesk)
    bootstrap.run_qa_cycle(settings, db, clock)
    task = SqlQaStore(db).tasks()[0]
    name = next(n for n in ("lucas.ferreira", "aiko.tanaka") if slack.user_id(n) == task.reviewer)
    handle, url, work = serve(settings, db, clock)
    try:
        [tasks_dm] = dm(slack, name)
        slack.click_button(
            url, message_ts=tasks_dm["ts"], channel=task.reviewer,
            action_id=f"qa:score:{task.id}", user_id=name,
        )  # fmt: skip
        assert work.wait_idle(10)
        [modal] = [v for v in slack.views if v["view"]["callback_id"] == "qa:score_modal"]
        clock.advance(days=8)
        _status, answer = slack.submit_view(
            url, view_id=modal["view"]["id"], values=scores(), user_id=name
        )
        assert "closed" in json.dumps(json.loads(answer)["errors"])
        assert SqlQaStore(db).review_history(task.id) == []
    finally:
        handle.stop()
        work.shutdown()
