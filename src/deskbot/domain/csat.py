"""Bad-CSAT follow-ups: the pure rules.

Everything here is a function of its arguments: which ratings changed and how, which rule
applies to a ticket, what a follow-up must do (an ordered plan of steps with stable
idempotency keys), how the customer is named in Slack, when a burst collapses into one
message, and when an unclaimed follow-up is reminded or escalated. The service
(``deskbot.services.followups``) feeds it facts read from the store and executes the plan.
"""

from __future__ import annotations

import hashlib
import string
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from deskbot.domain.links import ticket_url
from deskbot.settings import AgentEntry, FollowupRule, FollowupSettings

GOOD = "good"
BAD = "bad"

# Ledger kinds, one per kind of side effect.
KIND_TICKET = "followup_ticket"  # the Zendesk write: note + tags + assignment, or a follow-up
KIND_ALERT = "followup_alert"  # the Slack alert (or its thread reply in a burst)
KIND_BURST = "followup_burst"  # the one summary message of a burst
KIND_CLOSED = "followup_closed"  # "the rating turned good again" in the alert's thread
KIND_REMINDER = "followup_reminder"
KIND_ESCALATION = "followup_escalation"
KINDS = (KIND_TICKET, KIND_BURST, KIND_ALERT, KIND_CLOSED, KIND_REMINDER, KIND_ESCALATION)


class FollowupState(StrEnum):
    OPEN = "open"  # bad, nobody has claimed it
    CLAIMED = "claimed"  # someone owns it
    HANDLED = "handled"  # the owner closed the loop with the customer
    CLOSED = "closed"  # the rating turned good again (or was withdrawn)


ACTIVE_STATES = (FollowupState.OPEN, FollowupState.CLAIMED)


def normalise_score(score: str | None) -> str | None:
    """``bad_with_comment`` → ``bad``; ``good_with_comment`` → ``good``; others as given."""
    if score is None:
        return None
    score = score.strip().lower()
    for base in (GOOD, BAD):
        if score == base or score.startswith(base + "_"):
            return base
    return score


class Transition(StrEnum):
    NONE = "none"
    NEWLY_BAD = "newly_bad"  # first seen bad (new rating, or offered → bad)
    GOOD_TO_BAD = "good_to_bad"
    BAD_TO_GOOD = "bad_to_good"  # closes the follow-up
    WITHDRAWN = "withdrawn"  # bad → offered/unoffered: nothing left to follow up; closes it

    @property
    def opens(self) -> bool:
        return self in (Transition.NEWLY_BAD, Transition.GOOD_TO_BAD)

    @property
    def closes(self) -> bool:
        return self in (Transition.BAD_TO_GOOD, Transition.WITHDRAWN)


def transition(previous: str | None, current: str | None) -> Transition:
    """How a rating moved between the last score deskbot acted on and the synced one."""
    before, now = normalise_score(previous), normalise_score(current)
    if now == BAD:
        if before == BAD:
            return Transition.NONE
        return Transition.GOOD_TO_BAD if before == GOOD else Transition.NEWLY_BAD
    if before == BAD:
        return Transition.BAD_TO_GOOD if now == GOOD else Transition.WITHDRAWN
    return Transition.NONE


# --------------------------------------------------------------------------------------------
# Facts and rules
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RatingFacts:
    """What the store knows about one rating and its ticket (read after a sync)."""

    rating_id: int
    score: str
    created_at: datetime
    updated_at: datetime
    ticket_id: int | None = None
    comment: str | None = None
    reason: str | None = None
    assignee_id: int | None = None  # at rating time
    group_id: int | None = None  # at rating time
    requester_id: int | None = None
    # The ticket as last synced (None when the ticket is not in the store yet).
    ticket_status: str | None = None
    ticket_subject: str | None = None
    ticket_group_id: int | None = None
    ticket_brand_id: int | None = None
    ticket_organization_id: int | None = None
    ticket_tags: frozenset[str] = frozenset()
    requester_name: str | None = None
    organization_name: str | None = None
    agent_name: str | None = None


def match_rule(rules: Sequence[FollowupRule], facts: RatingFacts) -> FollowupRule | None:
    """The first rule whose match accepts the rating, or None.

    Each non-empty criterion must hold (a ticket matches a list when it has any of its values);
    an empty match accepts every rating. The group is the one at rating time when known.
    """
    group = facts.group_id if facts.group_id is not None else facts.ticket_group_id
    for rule in rules:
        m = rule.match
        if m.groups and group not in m.groups:
            continue
        if m.brands and facts.ticket_brand_id not in m.brands:
            continue
        if m.organizations and facts.ticket_organization_id not in m.organizations:
            continue
        if m.tags and not facts.ticket_tags.intersection(m.tags):
            continue
        return rule
    return None


def display_requester(mode: str, name: str | None, organization: str | None) -> str:
    """How the customer is named in Slack: first name, organisation, or nobody in particular."""
    if mode == "first_name":
        first = (name or "").strip().split(" ")[0]
        # An e-mail address used as a name is never shown.
        if first and "@" not in first:
            return first
    elif mode == "organization" and organization and organization.strip():
        return organization.strip()
    return "a customer"


@dataclass(frozen=True)
class Owner:
    """Who owns a follow-up: the Slack user to mention, the Zendesk assignee/group to set."""

    slack_user: str | None
    assignee_id: int | None
    group_id: int | None


def agent_entry(roster: Sequence[AgentEntry], zendesk_user_id: int | None) -> AgentEntry | None:
    if zendesk_user_id is None:
        return None
    return next((a for a in roster if a.zendesk_user_id == zendesk_user_id), None)


def resolve_owner(rule: FollowupRule, roster: Sequence[AgentEntry], facts: RatingFacts) -> Owner:
    """The owner per the rule: the lead of the agent *at rating time*, a group, or nobody.

    A lead is a Slack user; the ticket can only be reassigned to them when the roster also
    lists the lead as a Zendesk agent (their ``slack_user``).
    """
    actions = rule.actions
    agent = agent_entry(roster, facts.assignee_id)
    lead = agent.lead if agent else None
    if actions.assign_to == "lead":
        lead_agent = next((a for a in roster if lead and a.slack_user == lead), None)
        return Owner(
            slack_user=lead or actions.mention,
            assignee_id=lead_agent.zendesk_user_id if lead_agent else None,
            group_id=None,
        )
    if actions.assign_to == "group":
        return Owner(
            slack_user=lead or actions.mention, assignee_id=None, group_id=actions.assign_group_id
        )
    return Owner(slack_user=lead or actions.mention, assignee_id=None, group_id=None)


class _KeepUnknown(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_note(template: str, values: Mapping[str, object]) -> str:
    """Fill ``{reason}``, ``{comment}``, ``{agent}``, ``{ticket_id}``; unknown fields stay."""
    formatter = string.Formatter()
    out: list[str] = []
    safe = _KeepUnknown({k: "" if v is None else str(v) for k, v in values.items()})
    try:
        for literal, name, _spec, _conv in formatter.parse(template):
            out.append(literal)
            if name is not None:
                out.append(safe[name] if name in safe else "{" + name + "}")
    except ValueError:  # unbalanced braces: use the text as written
        return template
    return "".join(out)


def marker(rating_id: int, generation: int) -> str:
    """Hidden in every note and follow-up ticket deskbot writes, so a repeat can see it."""
    return f"[deskbot:followup:{rating_id}:{generation}]"


def followup_external_id(rating_id: int, generation: int) -> str:
    return f"deskbot-followup-{rating_id}-{generation}"


def step_key(rating_id: int, generation: int, step: str) -> str:
    return f"followup:{rating_id}:{generation}:{step}"


def claim_value(rating_id: int, generation: int) -> str:
    """The value carried by the Claim / Handled buttons."""
    return f"{rating_id}:{generation}"


def parse_claim_value(value: str) -> tuple[int, int]:
    try:
        rating, generation = value.split(":")
        return int(rating), int(generation)
    except ValueError as exc:
        raise ValueError(f"follow-up button value {value!r} is not 'rating_id:generation'") from exc


# --------------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    key: str
    kind: str
    subject: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlanContext:
    """What a plan needs besides the rating: settings and where links point."""

    settings: FollowupSettings
    roster: Sequence[AgentEntry]
    ticket_url_base: str  # e.g. https://acme.zendesk.com
    default_channel: str | None  # slack.channels.alerts


def build_plan(
    facts: RatingFacts,
    rule: FollowupRule,
    generation: int,
    ctx: PlanContext,
    burst_key: str | None = None,
) -> list[Step]:
    """The ordered steps a newly bad rating needs; each with a stable idempotency key."""
    actions = rule.actions
    owner = resolve_owner(rule, ctx.roster, facts)
    agent = agent_entry(ctx.roster, facts.assignee_id)
    subject = f"rating:{facts.rating_id}"
    steps: list[Step] = []
    mark = marker(facts.rating_id, generation)
    note = None
    if actions.internal_note:
        body = render_note(
            actions.internal_note,
            {
                "reason": facts.reason or "(none given)",
                "comment": facts.comment or "(no comment)",
                "agent": facts.agent_name or (facts.assignee_id or "unassigned"),
                "ticket_id": facts.ticket_id,
            },
        )
        note = f"{body}\n\n{mark}"
    wants_zendesk = (
        bool(note or actions.add_tags or owner.assignee_id or owner.group_id)
        or actions.followup_ticket_when_closed
    )
    if facts.ticket_id is not None and wants_zendesk:
        steps.append(
            Step(
                key=step_key(facts.rating_id, generation, "ticket"),
                kind=KIND_TICKET,
                subject=subject,
                payload={
                    "rating_id": facts.rating_id,
                    "generation": generation,
                    "ticket_id": facts.ticket_id,
                    "marker": mark,
                    "note": note,
                    "tags": list(actions.add_tags),
                    "assignee_id": owner.assignee_id,
                    "group_id": owner.group_id,
                    "followup_when_closed": actions.followup_ticket_when_closed,
                    "external_id": followup_external_id(facts.rating_id, generation),
                    "subject": facts.ticket_subject,
                    "requester_id": facts.requester_id,
                },
            )
        )
    channel = actions.slack_channel or ctx.default_channel
    if channel:
        steps.append(
            Step(
                key=step_key(facts.rating_id, generation, "alert"),
                kind=KIND_ALERT,
                subject=subject,
                payload={
                    "rating_id": facts.rating_id,
                    "generation": generation,
                    "channel": channel,
                    "burst_key": burst_key,
                    "alert": {
                        "rating_id": facts.rating_id,
                        "generation": generation,
                        "ticket_id": facts.ticket_id,
                        "ticket_url": ticket_url(ctx.ticket_url_base, facts.ticket_id),
                        "subject": facts.ticket_subject,
                        "requester": display_requester(
                            ctx.settings.requester_display,
                            facts.requester_name,
                            facts.organization_name,
                        ),
                        "agent_name": facts.agent_name,
                        "agent_slack": agent.slack_user if agent else None,
                        "comment": facts.comment,
                        "reason": facts.reason,
                        "owner": owner.slack_user,
                        "mention": actions.mention,
                        "rule": rule.name,
                        "rated_at": facts.updated_at.isoformat(),
                    },
                },
            )
        )
    return steps


# --------------------------------------------------------------------------------------------
# Bursts, reminders, escalation
# --------------------------------------------------------------------------------------------


def collapses(count: int, threshold: int) -> bool:
    """More bad ratings than the threshold in one run collapse into one summary message."""
    return count > threshold


def burst_key(channel: str, members: Iterable[tuple[int, int]]) -> str:
    """A stable key for one burst: the channel and the (rating, generation) pairs in it."""
    digest = hashlib.sha256(",".join(f"{r}:{g}" for r, g in sorted(members)).encode()).hexdigest()[
        :16
    ]
    return f"followup:burst:{channel}:{digest}"


def collapse_bursts(
    plans: Sequence[Sequence[Step]], threshold: int
) -> tuple[list[list[Step]], list[Step]]:
    """Per channel, more alerts than ``threshold`` in one run become one summary message
    (a ``KIND_BURST`` step) with each alert as a reply in its thread (``burst_key`` set).

    Returns the plans (alerts marked) and the summary steps, which must run before the alerts.
    """
    by_channel: dict[str, list[Step]] = defaultdict(list)
    for steps in plans:
        for step in steps:
            if step.kind == KIND_ALERT:
                by_channel[step.payload["channel"]].append(step)
    summaries: list[Step] = []
    key_of: dict[str, str] = {}
    for channel, alerts in by_channel.items():
        if not collapses(len(alerts), threshold):
            continue
        members = [(a.payload["rating_id"], a.payload["generation"]) for a in alerts]
        key_of[channel] = burst_key(channel, members)
        summaries.append(
            Step(
                key=key_of[channel],
                kind=KIND_BURST,
                subject=f"burst:{channel}",
                payload={
                    "channel": channel,
                    "count": len(alerts),
                    "tickets": [a.payload["alert"]["ticket_id"] for a in alerts],
                },
            )
        )
    marked = [
        [
            replace(s, payload={**s.payload, "burst_key": key_of[s.payload["channel"]]})
            if s.kind == KIND_ALERT and s.payload["channel"] in key_of
            else s
            for s in steps
        ]
        for steps in plans
    ]
    return marked, summaries


def reminder_due(opened_at: datetime, settings: FollowupSettings) -> datetime:
    return opened_at + timedelta(hours=settings.remind_after_hours)


def escalation_due(opened_at: datetime, settings: FollowupSettings) -> datetime:
    return opened_at + timedelta(hours=settings.escalate_after_hours)


class Nudge(StrEnum):
    REMIND = "reminder"
    ESCALATE = "escalation"


def nudges_due(
    state: str,
    opened_at: datetime | None,
    reminded_at: datetime | None,
    escalated_at: datetime | None,
    now: datetime,
    settings: FollowupSettings,
) -> list[Nudge]:
    """What an unclaimed follow-up is owed now: one reminder, then one escalation."""
    if state != FollowupState.OPEN or opened_at is None:
        return []
    due: list[Nudge] = []
    if reminded_at is None and now >= reminder_due(opened_at, settings):
        due.append(Nudge.REMIND)
    if (
        escalated_at is None
        and settings.escalation_channel is not None
        and now >= escalation_due(opened_at, settings)
    ):
        due.append(Nudge.ESCALATE)
    return due
