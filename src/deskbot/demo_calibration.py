"""The demo's QA calibration scene: a lead starts a session in Slack, three calibrators score
the same tickets through the scorecard modal (one of them harsh), the results are posted with
Krippendorff's alpha and a chart, and the facilitator shares the lessons learned."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from deskbot.adapters.slack.scorecard_blocks import ACTION_SCORE, block_id
from deskbot.domain.scorecard import COMPETENCY_KEYS

if TYPE_CHECKING:
    from deskbot.demo import Demo
    from deskbot.sandbox.slack import SlackSandbox

FACILITATOR = "lucas.ferreira"
CALIBRATORS = ("lucas.ferreira", "aiko.tanaka", "noah.kim")
# What each ticket deserves per competency (0-4), and how each calibrator leans: aiko is
# harsh on accuracy and judgment, noah a little lenient on tone.
DESERVED = ((3, 3, 2, 4, 3), (1, 2, 1, 2, 2), (4, 3, 3, 3, 4))
LEANINGS = {
    "lucas.ferreira": (0, 0, 0, 0, 0),
    "aiko.tanaka": (0, -2, -1, 0, 0),
    "noah.kim": (0, 0, 0, 1, 0),
}


def calibration_settings(slack: SlackSandbox) -> dict[str, Any]:
    """The ``qa`` part of the demo's configuration."""
    return {
        "calibrators": [slack.user_id(n) for n in CALIBRATORS],
        "calibration_tickets": 3,
        "calibration": {"channel": "#qa-reviews", "bootstrap_draws": 300},
    }


def calibration_scene(demo: Demo, slack: SlackSandbox, url: str) -> None:
    demo.step("QA calibration: the same tickets to every reviewer, blind")
    delivery = slack.send_slash_command(url, text="qa calibrate 3", user_id=FACILITATOR)
    demo.record(
        "calibrate",
        f"{FACILITATOR}: /deskbot qa calibrate 3 → acknowledged in "
        f"{delivery.ack_seconds * 1000:.0f} ms",
    )
    invites = demo._wait_for(lambda: _invites(slack) or None)
    if not invites:
        demo.say("[yellow]No calibration invitation arrived.[/yellow]")
        demo.result.ok = False
        return
    demo.say(f"{len(invites)} calibrators got a DM with the tickets and Score buttons.")
    for name in CALIBRATORS:
        channel, message = invites[name]
        buttons = [b for b in message.get("blocks") or [] if b.get("accessory")]
        for number, block in enumerate(buttons):
            button = block.get("accessory") or {}
            if button.get("action_id") != "calibration_score":
                continue
            slack.click_button(
                url,
                message_ts=message["ts"],
                channel=channel,
                action_id="calibration_score",
                value=button["value"],
                user_id=name,
            )
            view = demo._wait_for(_scorecard_of(slack, name))
            if view is None:
                demo.say(f"[yellow]{name}'s scorecard did not open.[/yellow]")
                demo.result.ok = False
                return
            deserved = DESERVED[number % len(DESERVED)]
            scores = {
                block_id(key): {ACTION_SCORE: str(min(4, max(0, value + lean)))}
                for key, value, lean in zip(COMPETENCY_KEYS, deserved, LEANINGS[name], strict=True)
            }
            notes = (
                "Right answer, but the refund policy was quoted loosely."
                if name == "aiko.tanaka"
                else ""
            )
            values = {**scores, **({"sc_notes": {"notes": notes}} if notes else {})}
            slack.submit_view(url, view_id=view["view"]["id"], values=values, user_id=name)
    results = demo._wait_for(lambda: _results(slack), seconds=8)
    if results is None:
        demo.say("[yellow]The calibration results were not posted.[/yellow]")
        demo.result.ok = False
        return
    demo.record("calibration results", "every calibrator scored: results posted to #qa-reviews")
    demo.show_ts(slack, "qa-reviews", results["ts"], lines=16)
    slack.click_button(
        url,
        message_ts=results["ts"],
        channel="qa-reviews",
        action_id="calibration_lessons",
        user_id=FACILITATOR,
    )
    lessons = demo._wait_for(lambda: _open_view(slack, FACILITATOR, "calibration_lessons_modal"))
    if lessons is not None:
        slack.submit_view(
            url,
            view_id=lessons["view"]["id"],
            values={"lessons": {"text": "Accuracy is about the policy we quote, not the tone."}},
            user_id=FACILITATOR,
        )
        demo._wait_for(lambda: _lessons_posted(slack) or None)
        demo.record("lessons", f"{FACILITATOR} shared the lessons learned in the thread and by DM")


def _invites(slack: SlackSandbox) -> dict[str, tuple[str, dict[str, Any]]]:
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for name in CALIBRATORS:
        channel = str(slack.workspace.open_dm(slack.user_id(name))["id"])
        for message in slack.messages(channel):
            if "calibration_score" in json.dumps(message.get("blocks") or []):
                found[name] = (channel, message)
    return found if len(found) == len(CALIBRATORS) else {}


def _open_view(slack: SlackSandbox, name: str, callback_id: str) -> dict[str, Any] | None:
    uid = slack.user_id(name)
    for view in reversed(slack.views):
        if view["user"] == uid and view["open"] and view["view"]["callback_id"] == callback_id:
            return dict(view)
    return None


def _scorecard_of(slack: SlackSandbox, name: str) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        return _open_view(slack, name, "calibration_scorecard")

    return probe


def _results(slack: SlackSandbox) -> dict[str, Any] | None:
    for message in slack.messages("#qa-reviews"):
        if "calibration_lessons" in json.dumps(message.get("blocks") or []):
            return dict(message)
    return None


def _lessons_posted(slack: SlackSandbox) -> bool:
    return any("Lessons learned" in json.dumps(m) for m in slack.messages("#qa-reviews"))
