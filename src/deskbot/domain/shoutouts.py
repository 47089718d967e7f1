"""Hero shout-outs: who gets celebrated, when, and how the customer is shown. Pure rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from deskbot.domain.metrics import AgentStats, local_midnight

ShoutoutKind = Literal["rating", "hero_of_the_week", "qa_hero", "nps_story"]
CustomerDisplay = Literal["first_name", "organization", "anonymous"]
ANONYMOUS = "a customer"


@dataclass(frozen=True)
class Praise:
    """A good rating with a comment (from the store)."""

    rating_id: int
    ticket_id: int | None
    agent_id: int | None
    agent_name: str | None
    comment: str
    customer_name: str | None
    organization_name: str | None
    created_at: datetime


@dataclass(frozen=True)
class Shoutout:
    kind: ShoutoutKind
    key: str  # the ledger key that makes it happen once
    title: str
    agent_id: int | None = None
    agent_name: str | None = None
    agent_slack_id: str | None = None
    quote: str | None = None
    attribution: str | None = None  # "Carla (customer)", "a customer", "Acme"
    ticket_id: int | None = None
    detail: str | None = None
    exempt_from_caps: bool = False


@dataclass(frozen=True)
class PastShoutout:
    agent_id: int | None
    at: datetime


def display_customer(mode: CustomerDisplay, name: str | None, organization: str | None) -> str:
    """How a customer is shown in public: first name, organisation, or anonymous."""
    if mode == "first_name" and name and name.strip():
        return name.strip().split()[0]
    if mode == "organization" and organization and organization.strip():
        return organization.strip()
    return ANONYMOUS


def quote(comment: str, limit: int = 600) -> str:
    """The customer's words, whitespace tidied and cut at ``limit`` characters."""
    text = " ".join(comment.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def rating_shoutout(
    praise: Praise, display: CustomerDisplay, slack_ids: dict[int, str]
) -> Shoutout:
    who = praise.agent_name or "the team"
    return Shoutout(
        kind="rating",
        key=f"shoutout:ticket:{praise.ticket_id}"
        if praise.ticket_id
        else (f"shoutout:rating:{praise.rating_id}"),
        title=f"Kudos to {who}!",
        agent_id=praise.agent_id,
        agent_name=praise.agent_name,
        agent_slack_id=slack_ids.get(praise.agent_id) if praise.agent_id else None,
        quote=quote(praise.comment),
        attribution=display_customer(display, praise.customer_name, praise.organization_name),
        ticket_id=praise.ticket_id,
    )


def select(
    candidates: Sequence[Shoutout],
    past: Sequence[PastShoutout],
    *,
    now: datetime,
    tz: ZoneInfo,
    daily_cap: int,
    min_gap_days: int,
) -> list[Shoutout]:
    """Candidates that may go out now, in order: at most ``daily_cap`` a local day (counting
    those already sent today), and never the same agent twice within ``min_gap_days``.
    Exempt shout-outs (the weekly hero) pass and do not use up the cap."""
    day_start = local_midnight(now.astimezone(tz).date(), tz)
    sent_today = sum(1 for p in past if day_start <= p.at <= now)
    gap_start = now - timedelta(days=min_gap_days)
    recent_agents = {p.agent_id for p in past if p.agent_id is not None and p.at > gap_start}
    chosen: list[Shoutout] = []
    for candidate in candidates:
        if candidate.exempt_from_caps:
            chosen.append(candidate)
            continue
        if sent_today >= daily_cap:
            continue
        if candidate.agent_id is not None and min_gap_days > 0:
            if candidate.agent_id in recent_agents:
                continue
            recent_agents.add(candidate.agent_id)
        chosen.append(candidate)
        sent_today += 1
    return chosen


def hero_of_the_week(agents: Sequence[AgentStats], min_rated: int) -> AgentStats | None:
    """Best CSAT among agents with at least ``min_rated`` ratings; ties go to the agent who
    solved more tickets, then more ratings, then the lower id (deterministic)."""
    eligible = [a for a in agents if a.good + a.bad >= min_rated and a.csat is not None]
    if not eligible:
        return None
    return min(
        eligible,
        key=lambda a: (-(a.csat or 0.0), -a.solved, -(a.good + a.bad), a.agent_id),
    )
