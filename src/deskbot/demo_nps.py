"""The internal NPS scene of ``deskbot demo``: a round of asks, answers through signed button
clicks and a comment modal, a reminder, the release with the anonymity threshold applied, and
the department owner's anonymous reply reaching the comment's author.

``demo.py`` passes its configuration through ``add_nps_config`` and calls
``run_nps_scene`` once the Slack app is up.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from deskbot import bootstrap
from deskbot.ports import Clock

if TYPE_CHECKING:
    from deskbot.demo import Demo
    from deskbot.sandbox.slack import SlackSandbox
    from deskbot.settings import Settings

SUPPORT = ["sam.reyes", "priya.nair", "jonas.becker", "chloe.martin", "tom", "noah.kim"]
ENGINEERING = ["elena.petrova", "omar.haddad", "grace.liu"]
FINANCE = ["dev.patel", "ines.garcia", "ben.walker"]


def add_nps_config(config: dict[str, Any], slack: SlackSandbox) -> dict[str, Any]:
    """The demo's configuration with departments in the roster and the ``nps`` section (no
    quiet hours: the demo's simulated day may be anyone's night)."""
    uid = slack.user_id
    config.setdefault("roster", {})["departments"] = [
        {"name": "Support", "owner": uid("lucas.ferreira"), "members": [uid(n) for n in SUPPORT]},
        {
            "name": "Engineering",
            "owner": uid("aiko.tanaka"),
            "members": [uid(n) for n in ENGINEERING],
        },
        {"name": "Finance", "members": [uid(n) for n in FINANCE]},
    ]
    config["nps"] = {
        "departments": ["Support", "Engineering"],
        "anonymity_threshold": 3,
        "per_round_cap": 12,
        "quiet_hours_start": "00:00",
        "quiet_hours_end": "00:00",
        "working_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "dms_per_minute": 600,
    }
    return config


class _Later:
    """The demo's clock moved forward by ``offset`` (days pass for the survey, not for Slack's
    signatures)."""

    def __init__(self, base: Clock, offset: timedelta) -> None:
        self.base, self.offset = base, offset

    def now(self) -> datetime:
        return self.base.now() + self.offset

    def monotonic(self) -> float:
        return self.base.monotonic()

    def sleep(self, seconds: float) -> None:
        self.base.sleep(seconds)


def _wait(check: Callable[[], Any], seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    return None


def _modal(slack: SlackSandbox, callback_id: str, user_id: str) -> dict[str, Any] | None:
    return next(
        (
            v
            for v in slack.views
            if v["view"]["callback_id"] == callback_id and v.get("user") == user_id
        ),
        None,
    )


def _dm(slack: SlackSandbox, name: str, marker: str) -> dict[str, Any] | None:
    found = [
        m
        for m in slack.messages(slack.user_id(name))
        if m["kind"] == "message" and marker in json.dumps(m.get("blocks") or [])
    ]
    return found[-1] if found else None


def run_nps_scene(  # noqa: PLR0915 (a narrated scene, step by step)
    demo: Demo, settings: Settings, database: Any, clock: Clock, slack: SlackSandbox, url: str
) -> None:
    demo.step("Internal NPS: an anonymous round")
    service = bootstrap.nps_service(settings, database, clock)
    plan, _ = service.start_round(clock.now())
    tick = service.tick()
    counts = ", ".join(f"{d}: {n}" for d, n in plan.counts().items())
    demo.record("nps asks", f"round {plan.round_id}: {tick.sent} DMs with 0-10 buttons ({counts})")
    names = {slack.user_id(u["name"]): u["name"] for u in slack.users}
    support = [names[a.slack_user_id] for a in service.store.asks() if a.department == "Support"]
    eng = [names[a.slack_user_id] for a in service.store.asks() if a.department == "Engineering"]
    if len(support) < 3 or not eng:
        demo.say("Not enough colleagues to rate Support this round; skipping the rest.")
        return
    first = _dm(slack, support[0], "nps_score_")
    if first is not None:
        demo.show_ts(slack, slack.user_id(support[0]), first["ts"], 6)

    for name, score in zip(support[:3], (3, 10, 8), strict=True):
        ask = _dm(slack, name, "nps_score_")
        assert ask is not None
        slack.click_button(
            url,
            message_ts=ask["ts"],
            channel=slack.user_id(name),
            action_id=f"nps_score_{score}",
            user_id=name,
        )
        view = _wait(partial(_modal, slack, "nps_comment_modal", slack.user_id(name)))
        comment = {
            3: "Tickets bounce between queues for days. Nobody owns them.",
            10: "Sam stayed late to fix my customer's billing mess. Legends.",
        }.get(score)
        if view is not None and comment:
            values: dict[str, Any] = {"comment": {"text": comment}}
            if score == 10:
                values["share"] = {"may_share": ["yes"]}
            slack.submit_view(url, view_id=view["view"]["id"], values=values, user_id=name)
    # Someone clicks a colleague's survey: refused, nothing stored.
    other = _dm(slack, support[3], "nps_score_") if len(support) > 3 else None
    if other is not None:
        slack.click_button(
            url,
            message_ts=other["ts"],
            channel=slack.user_id(support[3]),
            action_id="nps_score_0",
            user_id=support[0],
        )
    eng_ask = _dm(slack, eng[0], "nps_score_")
    if eng_ask is not None:
        slack.click_button(
            url,
            message_ts=eng_ask["ts"],
            channel=slack.user_id(eng[0]),
            action_id="nps_score_6",
            user_id=eng[0],
        )
    answered = _wait(lambda: sum(a.answered for a in service.store.asks()) >= 4 or None)
    demo.record(
        "nps answers",
        f"{4 if answered else '?'} colleagues answered through signed clicks (3 about Support, "
        "1 about Engineering), two with a comment; a click on someone else's survey was refused",
    )

    later = bootstrap.nps_service(
        settings, database, _Later(clock, timedelta(hours=settings.nps.reminder_after_hours + 1))
    )
    reminded = later.tick().reminded
    demo.record("nps reminder", f"{reminded} colleague(s) who had not answered got one reminder")

    closed = bootstrap.nps_service(
        settings, database, _Later(clock, timedelta(hours=settings.nps.expire_after_hours + 1))
    )
    summary = closed.tick()
    demo.record(
        "nps release",
        f"round closed: {summary.released_cells} department released (at least "
        f"{settings.nps.anonymity_threshold} answers), {summary.withheld_cells} withheld "
        "(below the threshold: no score, no comment); unanswered asks now say they expired",
    )
    owner = "lucas.ferreira"
    results = _dm(slack, owner, "eNPS")
    if results is not None:
        demo.show_ts(slack, slack.user_id(owner), results["ts"], 10)
    comment_msg = _dm(slack, owner, "Nobody owns them")  # the detractor's, flagged
    if comment_msg is None:
        return
    story = [m for m in slack.messages("#shoutouts") if "Legends" in json.dumps(m)]
    if story:
        demo.record("nps shout-out", "the promoter ticked 'may be shared': a shout-out, anonymous")
        demo.show_ts(slack, "#shoutouts", story[-1]["ts"], 4)
    demo.show_ts(slack, slack.user_id(owner), comment_msg["ts"], 6)
    slack.click_button(
        url,
        message_ts=comment_msg["ts"],
        channel=slack.user_id(owner),
        action_id="nps_reply",
        user_id=owner,
    )
    view = _wait(partial(_modal, slack, "nps_reply_modal", slack.user_id(owner)))
    if view is None:
        return
    slack.submit_view(
        url,
        view_id=view["view"]["id"],
        values={"reply": {"text": "Thank you. Which queue? We'll fix the hand-over this week."}},
        user_id=owner,
    )
    author = support[0]
    reply = _wait(lambda: _dm(slack, author, "nps_author_reply"))
    if reply is not None:
        demo.record(
            "nps reply",
            f"{owner} replied to the anonymous comment; it reached its author by DM, and "
            "neither saw the other's name:",
        )
        demo.show_ts(slack, slack.user_id(author), reply["ts"], 5)
