"""A calibration session end to end through the real Slack app, signed by the Slack sandbox:
a lead starts it, calibrators score through the scorecard modal, stay blind until they have
scored everything, results (alpha, spreads, bias, chart, notes) are posted once, and the
facilitator's lessons go to the thread and to every participant."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deskbot import bootstrap
from deskbot.adapters.db.store import Database
from deskbot.adapters.slack.scorecard_blocks import ACTION_SCORE, block_id
from deskbot.domain.scorecard import COMPETENCY_KEYS
from deskbot.sandbox.slack import SlackSandbox
from deskbot.testing import FakeClock
from test_wiring_e2e import load_week, make_settings, serve


@pytest.fixture
def slack(tmp_path: Path, clock: FakeClock) -> Iterator[SlackSandbox]:
    sb = SlackSandbox(out_dir=tmp_path / "slack", seed=1, clock=clock, signature_clock=clock)
    sb.start()
    yield sb
    sb.stop()


def scorecard(values: dict[str, str], notes: str = "") -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {block_id(k): {ACTION_SCORE: values[k]} for k in values}
    if notes:
        out["sc_notes"] = {"notes": notes}
    return out


def uniform(value: str) -> dict[str, str]:
    return dict.fromkeys(COMPETENCY_KEYS, value)


def dm(slack: SlackSandbox, name: str) -> str:
    return str(slack.workspace.open_dm(slack.user_id(name))["id"])


def test_a_calibration_session_through_signed_slack_requests(
    db: Database, clock: FakeClock, slack: SlackSandbox
) -> None:
    load_week(db)
    sam, priya = slack.user_id("sam.reyes"), slack.user_id("priya.nair")
    settings = make_settings(
        slack,
        qa={"calibrators": [sam, priya], "calibration": {"channel": "#qa-reviews"}},
    )
    handle, url, work = serve(settings, db, clock)
    try:
        # an agent may not start a session; a lead may
        status, _ = slack.send_slash_command(url, text="qa calibrate 1 2", user_id="sam.reyes")
        assert status == 200 and work.wait_idle(10)
        assert any("Only leads and admins" in json.dumps(m) for m in slack.messages())
        slack.send_slash_command(url, text="qa calibrate 1 2", user_id="lucas.ferreira")
        assert work.wait_idle(10)
        assert any("Calibration session #1 started" in json.dumps(m) for m in slack.messages())

        [_invite] = [
            m
            for m in slack.messages(dm(slack, "sam.reyes"))
            if "calibration_score" in json.dumps(m)
        ]
        assert (
            len(
                [
                    m
                    for m in slack.messages(dm(slack, "priya.nair"))
                    if "calibration_score" in json.dumps(m)
                ]
            )
            == 1
        )

        def score(name: str, ticket: int, values: dict[str, str], notes: str = "") -> Any:
            clock.advance(30)  # people take a while to read a ticket
            channel = dm(slack, name)
            [msg] = [m for m in slack.messages(channel) if "calibration_score" in json.dumps(m)]
            status, _ = slack.click_button(
                url,
                message_ts=msg["ts"],
                channel=channel,
                action_id="calibration_score",
                value=f"1:{ticket}",
                user_id=name,
            )
            assert status == 200 and work.wait_idle(10)
            return slack.submit_view(
                url,
                callback_id="calibration_scorecard",
                values=scorecard(values, notes),
                user_id=name,
            )

        status, _ = score("sam.reyes", 1, uniform("3"), notes="clear and kind")
        assert status == 200 and work.wait_idle(10)

        # a forged submission for someone else's session: refused in the modal, nothing stored
        status, answer = slack.submit_view(
            url,
            callback_id="calibration_scorecard",
            private_metadata="1:1",
            values=scorecard(uniform("0")),
            user_id="maya.okafor",
        )
        assert status == 200 and "its calibrators" in answer
        # an out-of-range score: a field error
        status, answer = slack.submit_view(
            url,
            callback_id="calibration_scorecard",
            private_metadata="1:2",
            values=scorecard({**uniform("2"), "accuracy": "7"}),
            user_id="sam.reyes",
        )
        assert "not a score" in answer
        service = bootstrap.calibration_service(settings, db, clock)
        assert len(service.store.scores(1)) == 1

        # blind: sam has not finished, so sees progress only
        slack.send_slash_command(url, text="qa calibration", user_id="sam.reyes")
        assert work.wait_idle(10)
        assert any("Scores stay hidden" in json.dumps(m) for m in slack.messages())

        score("priya.nair", 1, {**uniform("1"), "accuracy": "na"}, notes="missed the policy")
        score("sam.reyes", 2, uniform("2"))
        assert work.wait_idle(10)
        assert not [m for m in slack.messages("#qa-reviews") if "results" in json.dumps(m)]
        score("priya.nair", 2, uniform("2"))
        assert work.wait_idle(10)

        [results] = [
            m for m in slack.messages("#qa-reviews") if "calibration_lessons" in json.dumps(m)
        ]
        text = json.dumps(results)
        assert "Calibration session #1: results" in text
        assert "Krippendorff" in text and "pairable values" in text
        assert "Beyond the acceptable variance" in text  # ticket 1: 3 vs 1
        assert f"<@{sam}>: +" in text  # sam scores above the median... and priya below
        thread = [m for m in slack.messages("#qa-reviews") if m.get("thread_ts") == results["ts"]]
        assert any("missed the policy" in json.dumps(m) for m in thread)
        assert any(f["name"] == "calibration-1.png" for f in slack.files)

        # the results are posted once, whatever runs again
        bootstrap.run_calibration(settings, db, clock)
        assert (
            len(
                [m for m in slack.messages("#qa-reviews") if "calibration_lessons" in json.dumps(m)]
            )
            == 1
        )

        # lessons: the facilitator writes them, the thread and each calibrator get them
        slack.click_button(
            url,
            message_ts=results["ts"],
            channel="#qa-reviews",
            action_id="calibration_lessons",
            user_id="sam.reyes",
        )
        assert work.wait_idle(10)
        assert any("facilitator and admins" in json.dumps(m) for m in slack.messages())
        slack.click_button(
            url,
            message_ts=results["ts"],
            channel="#qa-reviews",
            action_id="calibration_lessons",
            user_id="lucas.ferreira",
        )
        assert work.wait_idle(10)
        status, _ = slack.submit_view(
            url,
            callback_id="calibration_lessons_modal",
            values={"lessons": {"text": "Accuracy means the policy, not the tone."}},
            user_id="lucas.ferreira",
        )
        assert status == 200 and work.wait_idle(10)
        thread = [m for m in slack.messages("#qa-reviews") if m.get("thread_ts") == results["ts"]]
        assert any("Accuracy means the policy" in json.dumps(m) for m in thread)
        for name in ("sam.reyes", "priya.nair"):
            assert any(
                "Accuracy means the policy" in json.dumps(m)
                for m in slack.messages(dm(slack, name))
            )
    finally:
        handle.stop()


def test_the_report_as_json_recomputes_from_the_stored_scores(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    """``deskbot qa calibration report --json`` (its JSON builder) says what an independent
    recomputation from the stored scores says."""
    import krippendorff
    import numpy as np

    from deskbot.cli.calibration_cmd import report_json
    from deskbot.settings import Settings

    load_week(db)
    settings = Settings.model_validate(
        {"zendesk": {"subdomain": "acme"}, "qa": {"calibrators": ["UCAL001", "UCAL002", "UCAL003"]}}
    )
    service = bootstrap.calibration_service(settings, db, clock)
    session, _ = service.start(None, ticket_ids=[1, 2, 10])  # as the scheduler does
    grid = {
        "UCAL001": [3, 2, 4],
        "UCAL002": [2, 2, 3],
        "UCAL003": [None, 1, 4],  # skipped ticket 1
    }
    for cal, values in grid.items():
        for ticket, value in zip([1, 2, 10], values, strict=True):
            if value is not None:
                service.submit(service.directory.actor(cal), session.id, ticket, uniform_int(value))
    clock.advance(days=8)  # UCAL003 never scores ticket 1: the deadline closes the session
    [closed] = service.close_ready()
    data = report_json(service.report(None, closed.id))
    rows = [
        [np.nan if v is None else v for v in vs for _ in COMPETENCY_KEYS] for vs in grid.values()
    ]
    matrix = np.array(rows, dtype=float)
    expected = krippendorff.alpha(
        reliability_data=matrix, level_of_measurement="ordinal", value_domain=[0, 1, 2, 3, 4]
    )
    assert data["alpha"]["overall"]["alpha"] == pytest.approx(expected)
    assert data["alpha"]["overall"]["pairable_values"] == 8 * len(COMPETENCY_KEYS)
    assert data["missing"] == {"UCAL003": [1]}
    flagged = {(s["ticket_id"], s["competency"]) for s in data["spreads"] if s["flagged"]}
    assert flagged == set()  # ranges: #1 3-2, #2 2-1, #10 4-3: all within the variance of 1
    bias = {b["calibrator"]: b["mean_deviation"] for b in data["bias"]}
    assert bias["UCAL003"] < 0 < bias["UCAL001"]


def uniform_int(value: int) -> dict[str, int | None]:
    return dict.fromkeys(COMPETENCY_KEYS, value)
