"""The demo's QA scene: a cycle's sample is drawn, a reviewer's DM, a review scored through a
signed ``view_submission`` (with a Hero Bonus), the agent's DM, a dispute and its resolution,
the report with its chart (uploaded to the QA owner's DM)."""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any

from deskbot import bootstrap
from deskbot.adapters.slack.scorecard_blocks import block_id
from deskbot.domain.scorecard import COMPETENCY_KEYS
from deskbot.services.qa_report import render_text
from deskbot.settings import Settings

if TYPE_CHECKING:
    from deskbot.demo import Demo, SandboxClock
    from deskbot.sandbox.slack import SlackSandbox


def _name(slack: SlackSandbox, user_id: str) -> str:
    return next((u["name"] for u in slack.users if u["id"] == user_id), user_id)


def qa_scene(  # noqa: PLR0915 (one scene, told in order)
    demo: Demo,
    settings: Settings,
    database: Any,
    clock: SandboxClock,
    slack: SlackSandbox,
    url: str,
) -> None:
    from deskbot.adapters.db.qa_store import SqlQaStore
    from deskbot.adapters.slack.qa_charts import report_chart

    demo.step("Agent QA: a fair sample of last week's solved tickets")
    service = bootstrap.qa_service(settings, database, clock)
    summary = service.run_cycle(service.build)
    draw = summary["draw"]
    demo.record(
        "qa sample",
        f"cycle {draw['cycle']}: {draw['samples']} tickets for {draw['agents']} agents "
        f"(by stratum {draw['by_stratum']}), reviewers {draw['reviewer_loads']}; "
        f"{summary['task_dms']} task DMs",
    )
    again = service.run_cycle(service.build)
    demo.record("qa again", f"the job ran again: {again['task_dms']} DMs, nothing redrawn")
    store = SqlQaStore(database)
    tasks = store.tasks(cycle_keys=[draw["cycle"]])
    task = next((t for t in tasks if t.agent_slack), None)
    if task is None or task.agent_slack is None:
        demo.say("No roster agent solved a ticket last week: nothing to review.")
        return
    reviewer = _name(slack, task.reviewer)
    agent = _name(slack, task.agent_slack)
    dms = [m for m in slack.messages(task.reviewer) if m.get("text", "").startswith("QA reviews")]
    if not dms:
        demo.say("[yellow]The reviewer's task DM is missing.[/yellow]")
        demo.result.ok = False
        return
    demo.say(f"{reviewer}'s DM:")
    demo._print_message(dms[0], 8)

    slack.click_button(
        url,
        message_ts=dms[-1]["ts"],
        channel=task.reviewer,
        action_id=f"qa:score:{task.id}",
        user_id=reviewer,
    )
    modal = demo._wait_for(
        lambda: next((v for v in slack.views if v["view"]["callback_id"] == "qa:score_modal"), None)
    )
    if modal is None:
        demo.say("[yellow]The scoring modal did not open.[/yellow]")
        demo.result.ok = False
        return
    values: dict[str, dict[str, Any]] = {
        block_id(k): {"score": v}
        for k, v in zip(COMPETENCY_KEYS, ("4", "3", "na", "4", "3"), strict=True)
    }
    values["sc_hero"] = {"hero": ["hero"]}
    values["sc_notes"] = {"notes": "Spotted the real question behind the first one. Great."}
    missing = {**values, block_id("accuracy"): {"score": None}}  # a forged empty score
    _status, body = slack.submit_view(
        url, view_id=modal["view"]["id"], values=missing, user_id=reviewer
    )
    errors = (json.loads(body) if body.strip() else {}).get("errors", {})
    demo.record("qa modal errors", f"a score left out comes back in the modal: {errors}")
    slack.submit_view(url, view_id=modal["view"]["id"], values=values, user_id=reviewer)
    review_dm = demo._wait_for(
        lambda: next(
            (m for m in slack.messages(task.agent_slack) if "QA review" in m.get("text", "")),
            None,
        )
    )
    if review_dm is None:
        demo.say("[yellow]The agent never got the review.[/yellow]")
        demo.result.ok = False
        return
    demo.record("qa review", f"{reviewer} scored ticket #{task.sample.ticket_id}; {agent}'s DM:")
    demo.show(slack, task.agent_slack, lines=10)

    slack.click_button(
        url,
        message_ts=review_dm["ts"],
        channel=task.agent_slack,
        action_id=f"qa:dispute:{task.id}",
        user_id=agent,
    )
    if demo._wait_for(
        lambda: next(
            (v for v in slack.views if v["view"]["callback_id"] == "qa:dispute_modal"), None
        )
    ):
        slack.submit_view(
            url,
            callback_id="qa:dispute_modal",
            values={"qa_reason": {"reason": "Process was followed: the macro says escalate."}},
            user_id=agent,
        )
    resolver = service.resolvers(task)
    lead = next((r for r in resolver if r == service.lead_of(task.sample.agent_id)), resolver[0])
    dispute_dm = demo._wait_for(
        lambda: next(
            (m for m in slack.messages(lead) if "disputes" in m.get("text", "")),
            None,
        )
    )
    if dispute_dm is None:
        demo.say("[yellow]The dispute never reached a resolver.[/yellow]")
        demo.result.ok = False
        return
    demo.record("qa dispute", f"{agent} disputed; {_name(slack, lead)} got:")
    demo.show(slack, lead, lines=8)
    slack.click_button(
        url,
        message_ts=dispute_dm["ts"],
        channel=lead,
        action_id=f"qa:resolve:{task.id}",
        user_id=_name(slack, lead),
    )
    if demo._wait_for(
        lambda: next(
            (v for v in slack.views if v["view"]["callback_id"] == "qa:resolve_modal"), None
        )
    ):
        slack.submit_view(
            url,
            callback_id="qa:resolve_modal",
            values={  # the scores as prefilled (Slack submits the initial options)
                **{k: v for k, v in values.items() if k.startswith("sc_") and "score" in v},
                "qa_outcome": {"outcome": "upheld"},
                "qa_note": {"note": "Fair, but the customer needed the refund link first."},
            },
            user_id=_name(slack, lead),
        )
    outcome = demo._wait_for(
        lambda: next(
            (m for m in slack.messages(task.agent_slack) if "dispute" in m.get("text", "")),
            None,
        )
    )
    demo.record(
        "qa outcome", "the agent was told: " + (outcome["text"] if outcome else "(nothing)")
    )

    # the other reviews, scored the quick way (the same service call the modal makes)
    rng = random.Random(7)  # noqa: S311 (demo data, not security)
    scored = 0
    for other in store.tasks(cycle_keys=[draw["cycle"]], state="open"):
        low = other.sample.stratum != "rest"
        card = {k: rng.choice((1, 2, 3) if low else (2, 3, 4, 4)) for k in COMPETENCY_KEYS}
        service.submit_score(
            other.reviewer, other.id, submission="demo", scores=card, hero=False, notes=None
        )
        scored += 1
    demo.record("qa others", f"the reviewers scored the other {scored} tickets")

    demo.step("The QA report (stratified score, 95% CI, competencies, reviewers)")
    report = service.report(cycle_key=draw["cycle"])
    for line in render_text(report).splitlines()[:24]:
        demo.console.print(f"    │ {line}", markup=False, emoji=False, highlight=False)
    png = report_chart(report)
    owner = service.owners()[0] if service.owners() else None
    if png and owner and service.slack is not None:
        notifier = getattr(service.slack, "notifier", None)
        channel = service.slack._target(owner) if hasattr(service.slack, "_target") else owner
        if notifier is not None:
            notifier.upload_file(channel, png, f"qa-{draw['cycle']}.png", f"QA {draw['cycle']}")
            demo.record("qa chart", f"the chart went to the QA owner {_name(slack, owner)}'s DM")
