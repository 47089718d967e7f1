"""Seeded, realistic Zendesk data for the sandbox: generation, mutation and JSON rendering.

Everything is derived from one seed and one start time, so the same ``(seed, tickets, start)``
gives the same data byte for byte. Tickets are stored compactly (``__slots__`` objects holding
the lifecycle timestamps as epoch seconds); their JSON, metric sets and comments are rendered on
demand, so 400k tickets fit in a few hundred MB and generate in seconds.

Times are integer epoch seconds throughout. ``State.now`` is the sandbox clock.
"""

from __future__ import annotations

import bisect
import gc
import hashlib
import itertools
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

MINUTE = 60
HOUR = 3600
DAY = 86400

# Zendesk closes solved tickets automatically after a while (up to 28 days; 4 is the common
# setting). The sandbox closes them after this many seconds.
CLOSE_AFTER = 4 * DAY
# How far back the seeded history reaches from the sandbox clock.
HISTORY = 42 * DAY

_ID_BASE_USER = 9_100_000_000_000
_ID_BASE_GROUP = 9_200_000_000_000
_ID_BASE_ORG = 9_300_000_000_000
_ID_BASE_METRIC = 9_400_000_000_000
_ID_BASE_RATING = 9_500_000_000_000
_ID_BASE_COMMENT = 9_600_000_000_000
_ID_BASE_AUDIT = 9_700_000_000_000
_ID_BASE_REASON = 9_800_000_000_000
_CUSTOM_STATUS_ID = 9_900_000_000_001
_TICKET_FORM_ID = 9_900_000_000_002
_BRAND_ID = 9_900_000_000_003

STATUSES = ("new", "open", "pending", "hold", "solved", "closed", "deleted")
CHANNELS = ("web", "email", "api", "chat", "voice")
_CHANNEL_WEIGHTS = (30, 40, 10, 15, 5)
PRIORITIES = (None, "low", "normal", "high", "urgent")
_PRIORITY_WEIGHTS = (25, 15, 40, 15, 5)
TYPES = (None, "question", "incident", "problem", "task")
_TYPE_WEIGHTS = (30, 35, 20, 5, 10)
TEAM_TAGS = (
    "hooray",
    "lost_cause",
    "high_complexity",
    "billing",
    "vip",
    "bug",
    "refund",
    "onboarding",
)

GROUP_NAMES = (
    ("🎯 Tier 1", "First line: every new ticket lands here"),
    ("Tier 2 — Escalations", "Harder cases handed over from Tier 1"),
    ("Billing 💳", "Invoices, refunds, VAT"),
    ("Tier 3 ⚙️ Engineering", "Bugs confirmed by support"),
    ("VIP 🌟 Concierge", "Accounts with a dedicated agent"),
    ("Ünïcode Support ✨", "Non-English speaking customers"),
)
_FIRST = (
    "Zoë",
    "Søren",
    "Aiko",
    "José",
    "Łukasz",
    "Chloé",
    "Ngozi",
    "Björn",
    "María",
    "Dmitrij",
    "Fatima",
    "Jürgen",
    "Siobhán",
    "Nguyễn",
    "Wei",
    "Анна",
    "Amélie",
    "Ólafur",
    "Priya",
    "Kwame",
    "Émile",
    "Hana",
    "Mateusz",
    "Lucía",
    "Yusuf",
    "Ingrid",
    "Tomás",
    "Aroha",
    "Daniel",
    "Sarah",
)
_LAST = (
    "Müller",
    "O'Connor",
    "García",
    "Østergaard",
    "Kowalski",
    "Nakamura",
    "Dubois",
    "Smith",
    "Ferreira",
    "Çelik",
    "Novák",
    "王",
    "Петрова",
    "Ó Briain",
    "Nguyen",
    "Johansson",
    "Okafor",
    "Rossi",
    "Schäfer",
    "Lindqvist",
    "Tanaka",
    "Martín",
    "Kim",
    "Hernández",
    "Brown",
)
_ORG_WORDS = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Nakatomi",
    "Wonka",
    "Aperture",
    "Vandelay",
    "Duff",
    "Gringotts",
    "Zürich Re",
    "Ærø Fisk",
    "Café Noël",
    "Kōbō",
    "Łódź Tech",
    "Straße & Co",
)
_ORG_SUFFIX = ("GmbH", "Ltd", "Inc.", "SARL", "AB", "K.K.", "S.A.", "LLC")
_SUBJECTS = (
    "Can't log in to my account",
    "Refund for order #{n}",
    "Invoice {n} shows the wrong VAT rate",
    "App crashes on startup 📱",
    "Question about pricing for {n} seats",
    "Export to CSV is broken",
    "Password reset e-mail never arrives",
    "Über-urgent: production is down 🔥",
    "Cannot upload attachments larger than {n} MB",
    "Please change our billing address",
    "Feature request: dark mode 🌙",
    "Webhook deliveries failing with 502",
    "Données manquantes dans le rapport",
    "Wie kann ich mein Abo kündigen?",
    "SSO login loops forever",
    "Charged twice this month",
)
_DESCRIPTIONS = (
    "Hi, since this morning {what}. Could you have a look? Thanks!",
    "Hello support, {what}. This is blocking our whole team.",
    "Bonjour, {what}. Merci d'avance.",
    "Hey — {what}. Screenshot attached. Cheers",
    "Dear team, {what}. Regards",
)
_WHAT = (
    "nothing happens when I press the button",
    "the page shows an error 500",
    "our invoices are missing",
    "the mobile app keeps logging me out",
    "the numbers in the dashboard look wrong",
    "I never received the confirmation e-mail",
)
_AGENT_REPLIES = (
    "Thanks for reaching out! I've looked into this and {fix}.",
    "Hi, sorry for the trouble. {fix_cap} — could you confirm it works now?",
    "Merci ! {fix_cap}. Let me know if anything else comes up.",
    "I've escalated this to our engineers; {fix}.",
)
_FIXES = (
    "reset your session",
    "issued the refund",
    "corrected the invoice",
    "cleared the stuck job",
    "updated your billing details",
    "enabled the feature on your account",
)
_REQUESTER_REPLIES = (
    "Thanks, that worked!",
    "Still not working, sorry 😕",
    "Any update on this?",
    "Danke, alles gut jetzt.",
    "It happened again this morning.",
)
_INTERNAL_NOTES = (
    "Checked the logs: looks like the known sync issue.",
    "Customer is on the legacy plan, careful with the refund.",
    "Pinged engineering in #support-escalations.",
)
_GOOD_COMMENTS = ("Thanks, super quick!", "Great help 🙏", "Merci beaucoup !", "Perfect, thank you")
_BAD_COMMENTS = (
    "Nobody answered for days",
    "Problem is not solved",
    "The answer did not help at all 😠",
    "Had to explain everything three times",
)
# Zendesk's default bad-rating reason codes.
BAD_REASONS = (
    (5, "The issue took too long to resolve"),
    (6, "The issue was not resolved"),
    (7, "The agent's knowledge is unsatisfactory"),
    (8, "The agent's attitude was unsatisfactory"),
    (100, "Some other reason"),
)

SCORES = (
    "offered",
    "unoffered",
    "received",
    "received_with_comment",
    "received_without_comment",
    "good",
    "good_with_comment",
    "good_without_comment",
    "bad",
    "bad_with_comment",
    "bad_without_comment",
)


@lru_cache(maxsize=65536)
def iso(ts: int | None) -> str | None:
    """Epoch seconds -> Zendesk's ``2023-09-18T15:57:42Z`` (None stays None)."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _minutes(a: int | None, b: int | None) -> int | None:
    if a is None or b is None:
        return None
    return max(0, (b - a) // MINUTE)


class Ticket:
    """One ticket and the lifecycle facts its metric set and comments are derived from."""

    __slots__ = (
        "assigned_at",
        "assignee_id",
        "assignee_stations",
        "assignee_updated_at",
        "biz_pct",
        "channel",
        "created",
        "desc_i",
        "extra_comments",
        "first_reply_at",
        "first_solved_at",
        "followup_ids",
        "followup_source",
        "generated",
        "group_id",
        "group_stations",
        "hold_min",
        "id",
        "initially_assigned_at",
        "latest_comment_at",
        "organization_id",
        "pending_min",
        "priority",
        "rating_id",
        "removed_comments",
        "reopens",
        "replies",
        "requester_id",
        "requester_updated_at",
        "solved_at",
        "status",
        "status_updated_at",
        "subject",
        "submitter_id",
        "tags",
        "type",
        "updated",
    )

    def __init__(self, ticket_id: int, created: int) -> None:
        self.id = ticket_id
        self.created = created
        self.updated = created
        self.generated = created
        self.status = "new"
        self.priority: str | None = None
        self.type: str | None = None
        self.channel = "web"
        self.subject = ""
        self.desc_i = 0
        self.requester_id = 0
        self.submitter_id = 0
        self.assignee_id: int | None = None
        self.group_id: int | None = None
        self.organization_id: int | None = None
        self.tags: list[str] = []
        self.followup_source: int | None = None
        self.followup_ids: list[int] = []
        self.rating_id: int | None = None
        self.assigned_at: int | None = None
        self.initially_assigned_at: int | None = None
        self.first_reply_at: int | None = None
        self.first_solved_at: int | None = None
        self.solved_at: int | None = None
        self.latest_comment_at = created
        self.status_updated_at = created
        self.requester_updated_at = created
        self.assignee_updated_at: int | None = None
        self.replies = 0
        self.reopens = 0
        self.group_stations = 0
        self.assignee_stations = 0
        self.pending_min = 0
        self.hold_min = 0
        self.biz_pct = 40
        self.extra_comments: list[Comment] | None = None
        self.removed_comments = 0


@dataclass(slots=True)
class Comment:
    id: int
    author_id: int
    body: str
    public: bool
    created: int
    channel: str = "web"


@dataclass(slots=True)
class User:
    id: int
    name: str
    email: str
    role: str  # end-user | agent | admin
    created: int
    updated: int
    organization_id: int | None = None
    default_group_id: int | None = None
    suspended: bool = False
    time_zone: str = "Europe/Berlin"
    iana_time_zone: str = "Europe/Berlin"
    locale: str = "en-US"
    tags: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Group:
    id: int
    name: str
    description: str
    created: int
    updated: int
    default: bool = False
    agent_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Organization:
    id: int
    name: str
    domain: str
    created: int
    updated: int
    group_id: int | None = None
    tags: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Rating:
    """A satisfaction rating. assignee/group are frozen at rating time (as Zendesk does)."""

    id: int
    ticket_id: int
    requester_id: int
    assignee_id: int | None
    group_id: int | None
    score: str  # offered | good | bad
    created: int
    updated: int
    comment: str | None = None
    reason_code: int | None = None


@dataclass(slots=True)
class WriteError(Exception):
    """A write the API refuses: HTTP status and Zendesk's JSON body."""

    status: int
    body: dict[str, Any]


def _rr(rng: random.Random, a: int, b: int | None = None) -> int:
    """``randrange`` for the hot paths: a seeded integer in [a, b) (or [0, a))."""
    if b is None:
        return int(rng.random() * a)
    return a + int(rng.random() * (b - a))


def _pick(rng: random.Random, seq: tuple[Any, ...], weights: tuple[int, ...]) -> Any:
    return rng.choices(seq, cum_weights=_cumulative(weights))[0]


@lru_cache(maxsize=32)
def _cumulative(weights: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(itertools.accumulate(weights))


class State:
    """The authoritative sandbox data. Not thread-safe on its own: the server holds a lock."""

    def __init__(self, seed: int, tickets: int, now: int) -> None:
        if tickets < 0:
            raise ValueError(f"tickets must be >= 0, got {tickets}")
        self.seed = seed
        self.now = now
        self.rng = random.Random(seed)
        self.csat_enabled = True  # False: an account without CSAT (no ratings on tickets)
        self.tickets: dict[int, Ticket] = {}
        # Integrations tag the tickets they create (deskbot: its follow-ups) with an external id.
        self.external_ids: dict[int, str] = {}
        self.users: dict[int, User] = {}
        self.groups: dict[int, Group] = {}
        self.organizations: dict[int, Organization] = {}
        self.ratings: dict[int, Rating] = {}
        self.rating_ids: list[int] = []  # sorted
        self.user_ids: list[int] = []  # sorted
        # (generated_timestamp, id) of every ticket, sorted: the export's order.
        self.export_index: list[tuple[int, int]] = []
        self.end_user_ids: list[int] = []
        self.agent_ids: list[int] = []
        self.admin_id = 0
        self.next_ticket_id = 1
        self.next_rating_id = _ID_BASE_RATING + 1
        self.next_comment_id = _ID_BASE_COMMENT + 1
        self.next_audit_id = _ID_BASE_AUDIT + 1
        # The build allocates millions of small objects and no cycles: the cyclic collector
        # would only rescan them over and over (it made 400k tickets several times slower).
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._build(tickets)
        finally:
            if was_enabled:
                gc.enable()

    # ---------------------------------------------------------------- generation

    def _build(self, n_tickets: int) -> None:
        rng = self.rng
        now = self.now
        t0 = now - HISTORY - 90 * DAY  # accounts and people exist before the tickets
        for gi, (name, desc) in enumerate(GROUP_NAMES):
            gid = _ID_BASE_GROUP + 1000 + gi * 7919
            created = t0 + gi * DAY
            self.groups[gid] = Group(gid, name, desc, created, created + _rr(rng, DAY), gi == 0)
        group_ids = list(self.groups)

        n_orgs = max(5, min(2000, n_tickets // 400))
        for oi in range(n_orgs):
            oid = _ID_BASE_ORG + 1000 + oi * 37
            base = _ORG_WORDS[oi % len(_ORG_WORDS)]
            suffix = _ORG_SUFFIX[(oi + oi // len(_ORG_WORDS)) % len(_ORG_SUFFIX)]
            name = f"{base} {suffix}"  # unique for the first words x suffixes organizations
            if oi >= len(_ORG_WORDS) * len(_ORG_SUFFIX):
                name = f"{name} {oi}"
            created = t0 + _rr(rng, 30 * DAY)
            self.organizations[oid] = Organization(
                oid,
                name,
                f"org{oi}.example.com",
                created,
                created + _rr(rng, 20 * DAY),
                group_ids[-2] if oi % 9 == 0 else None,
                ["vip"] if oi % 9 == 0 else [],
            )
        org_ids = list(self.organizations)

        uid = _ID_BASE_USER + 1000
        admin = User(uid, "Ada Sandbox-Admin", "admin@example.com", "admin", t0, t0 + DAY)
        self.users[uid] = admin
        self.admin_id = uid
        uid += 1
        self.users[uid] = User(uid, "Ørjan Owner", "owner@example.com", "admin", t0, t0)
        n_agents = max(8, min(300, n_tickets // 150))
        for ai in range(n_agents):
            uid += 13
            gid = group_ids[ai % len(group_ids)]
            name = f"{_FIRST[(ai * 7) % len(_FIRST)]} {_LAST[(ai * 3) % len(_LAST)]}"
            created = t0 + _rr(rng, 60 * DAY)
            agent = User(
                uid,
                name,
                f"agent{ai}@example.com",
                "agent",
                created,
                created + _rr(rng, 30 * DAY),
                default_group_id=gid,
                suspended=(ai % 17 == 5),
            )
            self.users[uid] = agent
            self.agent_ids.append(uid)
            self.groups[gid].agent_ids.append(uid)
            # Some agents work in two groups.
            if ai % 3 == 0:
                self.groups[group_ids[(ai + 1) % len(group_ids)]].agent_ids.append(uid)
        n_end = max(30, min(50_000, n_tickets // 4))
        zones = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "Europe/Paris", "UTC")
        for ei in range(n_end):
            uid += 7
            created = t0 + _rr(rng, HISTORY + 90 * DAY - DAY)
            zone = zones[ei % len(zones)]
            self.users[uid] = User(
                uid,
                f"{_FIRST[_rr(rng, len(_FIRST))]} {_LAST[_rr(rng, len(_LAST))]}",
                f"customer{ei}@example.com",
                "end-user",
                created,
                created + _rr(rng, DAY),
                organization_id=org_ids[_rr(rng, len(org_ids))] if ei % 4 else None,
                time_zone=zone,
                iana_time_zone=zone,
                locale=("en-US", "de", "fr", "ja")[ei % 4],
            )
            self.end_user_ids.append(uid)
        self.user_ids = sorted(self.users)

        # Tickets: creation times spread over the history, ids in creation order.
        lo, hi = now - HISTORY, now - 2 * MINUTE
        created_times = sorted(_rr(rng, lo, hi) for _ in range(n_tickets))
        for created in created_times:
            t = self._new_ticket(created)
            self._live_history(t)
        self.export_index = sorted((t.generated, t.id) for t in self.tickets.values())

    def _new_ticket(self, created: int, requester_id: int | None = None) -> Ticket:
        rng = self.rng
        tid = self.next_ticket_id
        self.next_ticket_id += 1
        t = Ticket(tid, created)
        t.channel = _pick(rng, CHANNELS, _CHANNEL_WEIGHTS)
        t.priority = _pick(rng, PRIORITIES, _PRIORITY_WEIGHTS)
        t.type = _pick(rng, TYPES, _TYPE_WEIGHTS)
        t.subject = _SUBJECTS[_rr(rng, len(_SUBJECTS))].replace("{n}", str(_rr(rng, 2, 99999)))
        t.desc_i = _rr(rng, 1 << 16)
        req = requester_id or self.end_user_ids[int(len(self.end_user_ids) * rng.random() ** 1.6)]
        t.requester_id = req
        t.submitter_id = (
            req if t.channel != "voice" else self.agent_ids[_rr(rng, len(self.agent_ids))]
        )
        t.organization_id = self.users[req].organization_id
        t.biz_pct = _rr(rng, 25, 70)
        tags = [t.channel]
        for tag in TEAM_TAGS:
            if rng.random() < 0.07:
                tags.append(tag)
        if (
            t.organization_id
            and "vip" in self.organizations[t.organization_id].tags
            and "vip" not in tags
        ):
            tags.append("vip")
        t.tags = sorted(tags)
        self.tickets[tid] = t
        return t

    def _live_history(self, t: Ticket) -> None:  # noqa: PLR0912, PLR0915 (one seeded story)
        """Play a seeded lifecycle for a generated ticket up to the sandbox clock."""
        rng = self.rng
        now = self.now - 2 * MINUTE
        age = now - t.created
        # Almost everything older than a few days got at least a reply.
        if rng.random() < (0.1 if age < HOUR else 0.02):
            if rng.random() < 0.3:
                self._assign(t, t.created + _rr(rng, 1, 600))
            self._finish_history(t)
            return
        first = t.created + int(rng.expovariate(1 / (6 * HOUR))) + 60
        if first >= now:
            self._finish_history(t)
            return
        self._assign(t, min(first, t.created + _rr(rng, 30, 7200)))
        self._agent_reply(t, first, public=True)
        t.status = "open"
        t.status_updated_at = first
        # Conversation rounds until solved or the clock runs out; about half the tickets are
        # solved with the first reply (one-touch), as on a typical help desk.
        cursor = first
        rounds = int(rng.expovariate(0.7))
        for _ in range(rounds):
            if rng.random() < 0.1:
                self._reassign(t, min(now, cursor + _rr(rng, 60, 3600)))
            wait = int(rng.expovariate(1 / (10 * HOUR))) + 120
            if cursor + wait >= now:
                t.status = rng.choice(("pending", "open", "hold"))
                break
            t.pending_min += wait // MINUTE
            cursor += wait
            self._requester_reply(t, cursor)
            reply = cursor + int(rng.expovariate(1 / (3 * HOUR))) + 60
            if reply >= now:
                t.status = "open"
                break
            self._agent_reply(t, reply, public=True)
            cursor = reply
        else:
            solve = cursor + _rr(rng, 60, 2 * DAY)
            if solve < now:
                self._solve(t, solve)
                if rng.random() < 0.08:  # requester writes back: reopen, then solve again
                    back = solve + _rr(rng, HOUR, 2 * DAY)
                    if back < now:
                        self._requester_reply(t, back)
                        self._reopen(t, back)
                        again = back + _rr(rng, HOUR, DAY)
                        if again < now:
                            self._agent_reply(t, again, public=True)
                            self._solve(t, again)
                if t.status == "solved":
                    self._maybe_rate(t, now)
                    if t.solved_at is not None and t.solved_at + CLOSE_AFTER < now:
                        self._close(t, t.solved_at + CLOSE_AFTER)
            else:
                t.status = "pending"
        if t.status == "hold":
            t.hold_min += _rr(rng, 10, 600)
        if t.status not in ("solved", "closed") and rng.random() < 0.05:
            self._internal_note(t, min(now, t.latest_comment_at + _rr(rng, 60, 3 * HOUR)))
        if rng.random() < 0.004:
            t.status = "deleted"
            t.updated = min(now, t.updated + _rr(rng, 60, DAY))
            t.status_updated_at = t.updated
        self._finish_history(t)

    def _finish_history(self, t: Ticket) -> None:
        rng = self.rng
        t.generated = t.updated
        # Zendesk bumps generated_timestamp for system changes without touching updated_at.
        room = self.now - 2 * MINUTE - t.updated
        if rng.random() < 0.08 and room > MINUTE:
            t.generated = t.updated + _rr(rng, MINUTE, min(room, 3 * DAY))

    # ---------------------------------------------------------------- lifecycle steps

    def _touch(self, t: Ticket, when: int) -> None:
        when = max(when, t.updated)
        t.updated = when
        t.generated = max(t.generated, when)

    def _assign(self, t: Ticket, when: int) -> None:
        rng = self.rng
        gid = list(self.groups)[
            min(len(self.groups) - 1, int(rng.random() ** 2 * len(self.groups)))
        ]
        if "billing" in t.tags:
            gid = next(g.id for g in self.groups.values() if g.name.startswith("Billing"))
        agents = self.groups[gid].agent_ids
        t.group_id = gid
        t.assignee_id = agents[_rr(rng, len(agents))] if agents else None
        t.group_stations += 1
        t.assignee_stations += 1
        t.initially_assigned_at = t.initially_assigned_at or when
        t.assigned_at = when
        t.assignee_updated_at = when
        self._touch(t, when)

    def _reassign(self, t: Ticket, when: int) -> None:
        old_group = t.group_id
        self._assign(t, when)
        if t.group_id == old_group:
            t.group_stations -= 1

    def _agent_reply(self, t: Ticket, when: int, public: bool) -> None:
        if public:
            t.replies += 1
            if t.first_reply_at is None:
                t.first_reply_at = when
        t.latest_comment_at = when
        t.assignee_updated_at = when
        self._touch(t, when)

    def _requester_reply(self, t: Ticket, when: int) -> None:
        t.latest_comment_at = when
        t.requester_updated_at = when
        self._touch(t, when)

    def _internal_note(self, t: Ticket, when: int) -> None:
        note = Comment(
            self._comment_id(),
            t.assignee_id or self.admin_id,
            _INTERNAL_NOTES[_rr(self.rng, len(_INTERNAL_NOTES))],
            False,
            when,
        )
        self._add_comment(t, note)

    def _add_comment(self, t: Ticket, comment: Comment) -> None:
        if t.extra_comments is None:
            t.extra_comments = []
        t.extra_comments.append(comment)
        t.latest_comment_at = max(t.latest_comment_at, comment.created)
        self._touch(t, comment.created)

    def _comment_id(self) -> int:
        cid = self.next_comment_id
        self.next_comment_id += 1
        return cid

    def _solve(self, t: Ticket, when: int) -> None:
        t.status = "solved"
        t.solved_at = when
        t.first_solved_at = t.first_solved_at or when
        t.status_updated_at = when
        if t.assignee_id is None:
            self._assign(t, when)
        self._touch(t, when)

    def _reopen(self, t: Ticket, when: int) -> None:
        t.status = "open"
        t.reopens += 1
        t.solved_at = None
        t.status_updated_at = when
        self._touch(t, when)

    def _close(self, t: Ticket, when: int) -> None:
        t.status = "closed"
        t.status_updated_at = when
        self._touch(t, when)

    def _maybe_rate(self, t: Ticket, limit: int) -> None:
        rng = self.rng
        assert t.solved_at is not None
        if rng.random() > 0.65:
            return
        offered = t.solved_at + _rr(rng, 60, 2 * HOUR)
        if offered >= limit:
            return
        rating = self._offer(t, offered)
        if rng.random() < 0.55:
            answered = offered + int(rng.expovariate(1 / (8 * HOUR))) + 60
            if answered < limit:
                self._receive(rating, t, answered, good=rng.random() < 0.78)
                if rating.score == "bad" and rng.random() < 0.15:
                    flip = answered + _rr(rng, HOUR, 3 * DAY)
                    if flip < limit:
                        self._receive(rating, t, flip, good=True)

    def customer_rates(
        self, ticket_id: int, good: bool, comment: str | None = None, reason_code: int | None = None
    ) -> Rating:
        """The requester rates (or re-rates) a solved or closed ticket now, as Zendesk records
        it: assignee and group are frozen at the first rating; the ticket is exported again."""
        t = self.tickets.get(ticket_id)
        if t is None or t.status not in ("solved", "closed") or t.solved_at is None:
            raise ValueError(f"ticket {ticket_id} is not solved, so it cannot be rated")
        old_generated = t.generated
        existing = self.ratings.get(t.rating_id) if t.rating_id else None
        rating = existing or self._offer(t, self.now)
        self._receive(rating, t, self.now, good=good)
        rating.comment = comment
        if not good:
            rating.reason_code = reason_code or BAD_REASONS[0][0]
        self.reindex(t, old_generated)
        return rating

    def _offer(self, t: Ticket, when: int) -> Rating:
        rid = self.next_rating_id
        self.next_rating_id += 17
        rating = Rating(rid, t.id, t.requester_id, t.assignee_id, t.group_id, "offered", when, when)
        self.ratings[rid] = rating
        self.rating_ids.append(rid)  # ids only grow: stays sorted
        t.rating_id = rid
        self._touch(t, when)
        return rating

    def _receive(self, rating: Rating, t: Ticket, when: int, good: bool) -> None:
        rng = self.rng
        if rating.score == "offered":
            # Zendesk records the assignee and group at the time the requester rates; a later
            # change of mind (bad -> good) or reassignment does not move them.
            rating.assignee_id, rating.group_id = t.assignee_id, t.group_id
        rating.score = "good" if good else "bad"
        rating.updated = when
        if rng.random() < 0.45:
            pool = _GOOD_COMMENTS if good else _BAD_COMMENTS
            rating.comment = pool[_rr(rng, len(pool))]
        else:
            rating.comment = None
        rating.reason_code = None if good else BAD_REASONS[_rr(rng, len(BAD_REASONS))][0]
        self._touch(t, when)

    # ---------------------------------------------------------------- index upkeep

    def reindex(self, t: Ticket, old_generated: int) -> None:
        """Move a ticket in the export order after its generated_timestamp changed."""
        if old_generated == t.generated:
            return
        key = (old_generated, t.id)
        i = bisect.bisect_left(self.export_index, key)
        if i < len(self.export_index) and self.export_index[i] == key:
            del self.export_index[i]
        bisect.insort(self.export_index, (t.generated, t.id))

    def _index_new(self, t: Ticket) -> None:
        bisect.insort(self.export_index, (t.generated, t.id))

    # ---------------------------------------------------------------- activity (advance)

    def advance(self, seconds: int) -> dict[str, int]:
        """Move the clock and generate the activity of that span. Returns counts per event kind."""
        if seconds < 0:
            raise ValueError(f"cannot move the sandbox clock backwards ({seconds} s)")
        rng = self.rng
        start, end = self.now, self.now + seconds
        # About as busy as the seeded history, and at least a little busy.
        # New activity keeps the pace of the generated history (a busier account, more activity).
        span_rate = max(0.01, len(self.tickets) / max(1, HISTORY // MINUTE))
        n_new = _poisson(rng, span_rate * seconds / MINUTE)
        n_other = _poisson(rng, span_rate * 3 * seconds / MINUTE)
        events: list[tuple[int, int, str]] = []
        for i in range(n_new):
            events.append((_rr(rng, start, end) if end > start else end, i, "new"))
        kinds = (
            "reply",
            "requester",
            "solve",
            "rate",
            "flip",
            "reopen",
            "close",
            "delete",
            "system",
        )
        weights = (30, 15, 20, 14, 3, 4, 8, 2, 4)
        for i in range(n_other):
            when = _rr(rng, start, end) if end > start else end
            events.append((when, n_new + i, rng.choices(kinds, weights)[0]))
        events.sort()
        done: dict[str, int] = {}
        for when, _, kind in events:
            self.now = max(self.now, when)
            if self._event(kind, when):
                done[kind] = done.get(kind, 0) + 1
        self.now = end
        return done

    def _recent_ticket(self, statuses: tuple[str, ...]) -> Ticket | None:
        rng = self.rng
        if not self.tickets:
            return None
        top = self.next_ticket_id - 1
        window = max(50, len(self.tickets) // 5)
        for _ in range(12):
            t = self.tickets.get(top - int(rng.random() ** 1.5 * window))
            if t is not None and t.status in statuses:
                return t
        return None

    def _event(self, kind: str, when: int) -> bool:  # noqa: PLR0912, PLR0915 (one branch per kind)
        rng = self.rng
        if kind == "new":
            t = self._new_ticket(when)
            t.generated = when
            self._index_new(t)
            return True
        target: Ticket | None
        if kind in ("reply", "solve"):
            target = self._recent_ticket(("new", "open", "pending", "hold"))
        elif kind == "requester":
            target = self._recent_ticket(("pending", "open", "solved"))
        elif kind in ("rate",):
            target = self._recent_ticket(("solved", "closed"))
        elif kind == "flip":
            bad = [r for r in self._recent_ratings() if r.score == "bad"]
            if not bad:
                return False
            rating = bad[_rr(rng, len(bad))]
            target = self.tickets.get(rating.ticket_id)
        elif kind in {"reopen", "close"}:
            target = self._recent_ticket(("solved",))
        elif kind == "delete":
            target = self._recent_ticket(("new", "open", "pending", "solved"))
        else:
            target = self._recent_ticket(STATUSES[:-1])
        if target is None:
            return False
        t = target
        old = t.generated
        if kind == "reply":
            if t.assignee_id is None:
                self._assign(t, when)
            self._agent_reply(t, when, public=True)
            t.status = rng.choice(("pending", "pending", "open"))
            t.status_updated_at = when
        elif kind == "requester":
            self._requester_reply(t, when)
            if t.status == "solved":
                self._reopen(t, when)
            elif t.status == "pending":
                t.pending_min += max(0, (when - t.status_updated_at) // MINUTE)
                t.status = "open"
                t.status_updated_at = when
        elif kind == "solve":
            if t.first_reply_at is None:
                if t.assignee_id is None:
                    self._assign(t, when)
                self._agent_reply(t, when, public=True)
            self._solve(t, when)
        elif kind == "rate":
            current = self.ratings.get(t.rating_id) if t.rating_id else None
            if current is None:
                self._offer(t, when)
            elif current.score == "offered":
                self._receive(current, t, when, good=rng.random() < 0.75)
            else:
                return False
        elif kind == "flip":
            flipped = self.ratings.get(t.rating_id) if t.rating_id else None
            if flipped is None:
                return False
            self._receive(flipped, t, when, good=True)
        elif kind == "reopen":
            self._requester_reply(t, when)
            self._reopen(t, when)
        elif kind == "close":
            self._close(t, when)
        elif kind == "delete":
            t.status = "deleted"
            t.status_updated_at = when
            self._touch(t, when)
        else:  # a system change: generated_timestamp moves, updated_at does not
            t.generated = max(t.generated, when)
        self.reindex(t, old)
        return True

    def _recent_ratings(self) -> list[Rating]:
        return [self.ratings[rid] for rid in self.rating_ids[-200:]]

    def system_touch(self, count: int, when: int | None = None) -> list[int]:
        """Bump generated_timestamp of ``count`` tickets to one second, like a Zendesk bulk
        system change (e.g. an organization merge). Their updated_at does not change."""
        when = self.now if when is None else when
        ids = [tid for _, tid in self.export_index[:count]]
        for tid in ids:
            t = self.tickets[tid]
            old = t.generated
            t.generated = max(t.generated, when)
            self.reindex(t, old)
        return ids

    # ---------------------------------------------------------------- writes (API)

    def update_ticket(
        self, tid: int, body: dict[str, Any], author_id: int
    ) -> tuple[Ticket, list[dict[str, Any]]]:
        """Apply a ``PUT /tickets/{id}`` payload. Raises WriteError for refused updates."""
        t = self.tickets.get(tid)
        if t is None or t.status == "deleted":
            raise WriteError(404, {"error": "RecordNotFound", "description": "Not found"})
        data = body.get("ticket")
        if not isinstance(data, dict):
            raise WriteError(400, _invalid("ticket", 'Request body must be {"ticket": {...}}'))
        if t.status == "closed":
            raise WriteError(422, _invalid("status", "Status: closed prevents ticket update"))
        if data.get("safe_update") and data.get("updated_stamp") != iso(t.updated):
            raise WriteError(
                409,
                {
                    "error": "UpdateConflict",
                    "description": "Safe Update prevented the update due to outdated ticket"
                    " data. Please fetch the latest ticket data and try again.",
                },
            )
        self._validate_update(data)
        # Every write moves updated_at, even two in one second of a paused clock, so a
        # safe_update stamp read before a write is always stale after it.
        when = max(self.now, t.updated + 1)
        old = t.generated
        events: list[dict[str, Any]] = []
        self._apply_comment(t, data.get("comment"), author_id, when, events)
        self._apply_tags(t, data, events)
        for key in ("group_id", "assignee_id"):
            if key in data and data[key] != getattr(t, key):
                events.append(_change(key, data[key], getattr(t, key)))
                setattr(t, key, data[key])
                if key == "group_id":
                    t.group_stations += 1
                else:
                    t.assignee_stations += 1
                    t.assignee_updated_at = t.assigned_at = when
                    t.initially_assigned_at = t.initially_assigned_at or when
        status = data.get("status")
        if status is not None and status != t.status:
            events.append(_change("status", status, t.status))
            self._apply_status(t, status, when)
        if "priority" in data:
            t.priority = data["priority"]
        self._touch(t, when)
        self.reindex(t, old)
        return t, events

    def _apply_comment(
        self, t: Ticket, comment: Any, author_id: int, when: int, events: list[dict[str, Any]]
    ) -> None:
        if not isinstance(comment, dict):
            return
        text = str(comment.get("body") or comment.get("html_body") or "")
        if not text:
            return
        public = bool(comment.get("public", True))
        author = int(comment.get("author_id") or author_id)
        c = Comment(self._comment_id(), author, text, public, when, "api")
        self._add_comment(t, c)
        user = self.users.get(author)
        is_agent = user is not None and user.role != "end-user"
        if is_agent and public:
            t.replies += 1
            t.first_reply_at = t.first_reply_at or when
            t.assignee_updated_at = when
        elif not is_agent:
            t.requester_updated_at = when
        events.append({"type": "Comment", "id": c.id, "public": public, "author_id": author})

    @staticmethod
    def _apply_tags(t: Ticket, data: dict[str, Any], events: list[dict[str, Any]]) -> None:
        tags = list(t.tags)
        if "tags" in data:
            tags = list(dict.fromkeys(str(x) for x in data["tags"]))
        tags += [str(x) for x in data.get("additional_tags") or [] if str(x) not in tags]
        remove = {str(x) for x in data.get("remove_tags") or []}
        tags = sorted(x for x in tags if x not in remove)
        if tags != t.tags:
            events.append(_change("tags", tags, t.tags))
            t.tags = tags

    def _apply_status(self, t: Ticket, status: str, when: int) -> None:
        if status == "solved":
            self._solve(t, when)
        elif t.status == "solved":
            self._reopen(t, when)
            t.status = status
        else:
            waited = max(0, (when - t.status_updated_at) // MINUTE)
            if t.status == "pending":
                t.pending_min += waited
            elif t.status == "hold":
                t.hold_min += waited
            t.status = status
            t.status_updated_at = when

    def _validate_update(self, data: dict[str, Any]) -> None:
        status = data.get("status")
        if status is not None and status not in (
            "new",
            "open",
            "pending",
            "hold",
            "solved",
            "closed",
        ):
            raise WriteError(422, _invalid("status", f"Status: {status!r} is not a valid status"))
        for key in ("tags", "additional_tags", "remove_tags"):
            if key in data and not isinstance(data[key], list):
                raise WriteError(422, _invalid(key, f"{key} must be a list of strings"))
        if data.get("assignee_id") is not None:
            user = self.users.get(data["assignee_id"])
            if user is None or user.role == "end-user":
                raise WriteError(
                    422, _invalid("assignee_id", "Assignee is not an agent of this account")
                )
        if data.get("group_id") is not None and data["group_id"] not in self.groups:
            raise WriteError(422, _invalid("group_id", "Group is invalid"))

    def _remember_external_id(self, t: Ticket, external_id: Any) -> None:
        if external_id is not None:
            self.external_ids[t.id] = str(external_id)

    def tickets_by_external_id(self, external_id: str) -> list[Ticket]:
        """Live tickets carrying ``external_id`` (what ``GET /tickets?external_id=`` lists)."""
        return [
            self.tickets[tid]
            for tid, value in sorted(self.external_ids.items())
            if value == external_id and self.tickets[tid].status != "deleted"
        ]

    def _first_comment(
        self, comment: dict[str, Any], text: str, requester: int, when: int
    ) -> Comment:
        """As in Zendesk, a created ticket's first comment is the requester's unless the payload
        names its author (``comment.author_id``)."""
        author = comment.get("author_id") or requester
        if author not in self.users:
            raise WriteError(
                422, _invalid("comment.author_id", "Author is not a user of this account")
            )
        public = bool(comment.get("public", True))
        return Comment(self._comment_id(), int(author), text, public, when, "api")

    def create_ticket(self, body: dict[str, Any], author_id: int) -> Ticket:
        """Apply a ``POST /tickets`` payload (a follow-up when ``via_followup_source_id``)."""
        data = body.get("ticket")
        if not isinstance(data, dict):
            raise WriteError(400, _invalid("ticket", 'Request body must be {"ticket": {...}}'))
        source_id = data.get("via_followup_source_id")
        source = None
        if source_id is not None:
            source = self.tickets.get(int(source_id))
            if source is None or source.status == "deleted":
                raise WriteError(404, {"error": "RecordNotFound", "description": "Not found"})
            if source.status != "closed":
                raise WriteError(
                    422,
                    _invalid("via_followup_source_id", "Follow-up source ticket must be closed"),
                )
        comment = data.get("comment") or {}
        text = str(comment.get("body") or data.get("description") or "").strip()
        if not text:
            raise WriteError(422, _invalid("description", "Description: cannot be blank"))
        self._validate_update(
            {k: data[k] for k in ("status", "tags", "assignee_id", "group_id") if k in data}
        )
        requester = data.get("requester_id") or (source.requester_id if source else author_id)
        if requester not in self.users:
            raise WriteError(
                422, _invalid("requester_id", "Requester is not a user of this account")
            )
        when = self.now
        t = self._new_ticket(when, requester_id=requester)
        t.channel = "api"
        t.subject = str(data.get("subject") or (f"Re: {source.subject}" if source else text[:60]))
        t.submitter_id = author_id
        self._remember_external_id(t, data.get("external_id"))
        if data.get("tags") is not None:
            t.tags = sorted(dict.fromkeys(str(x) for x in data["tags"]))
        elif source is not None:
            t.tags = list(source.tags)
        if data.get("priority") is not None:
            t.priority = data["priority"]
        t.group_id = data.get("group_id", source.group_id if source else None)
        t.assignee_id = data.get("assignee_id", source.assignee_id if source else None)
        if t.assignee_id is not None:
            t.assigned_at = t.initially_assigned_at = when
            t.assignee_stations = 1
        if t.group_id is not None:
            t.group_stations = 1
        t.status = data.get("status") or ("open" if t.assignee_id else "new")
        t.extra_comments = [self._first_comment(comment, text, requester, when)]
        t.removed_comments = 1  # the generated description is replaced by this comment
        t.generated = when
        if source is not None:
            t.followup_source = source.id
            old = source.generated
            source.followup_ids.append(t.id)
            source.generated = max(source.generated, when)  # a system change on the source
            self.reindex(source, old)
        self._index_new(t)
        return t

    # ---------------------------------------------------------------- rendering

    def ticket_json(self, t: Ticket, base: str) -> dict[str, Any]:
        rating: dict[str, Any] | None = None
        if t.rating_id is not None and self.csat_enabled:
            r = self.ratings[t.rating_id]
            if r.score == "offered":
                rating = {"score": "offered"}
            else:
                rating = {
                    "id": r.id,
                    "score": r.score,
                    "comment": r.comment,
                    "reason": _reason(r)[0],
                    "reason_id": _reason(r)[2],
                }
        via: dict[str, Any]
        if t.followup_source is not None:
            src = self.tickets[t.followup_source]
            via = {
                "channel": "api",
                "source": {
                    "from": {"ticket_id": src.id, "subject": src.subject, "channel": "api"},
                    "to": {},
                    "rel": "follow_up",
                },
            }
        else:
            via = {"channel": t.channel, "source": {"from": {}, "to": {}, "rel": None}}
        description = self._description(t)
        return {
            "url": f"{base}/api/v2/tickets/{t.id}.json",
            "id": t.id,
            "external_id": self.external_ids.get(t.id),
            "via": via,
            "created_at": iso(t.created),
            "updated_at": iso(t.updated),
            "type": t.type,
            "subject": t.subject,
            "raw_subject": t.subject,
            "description": description,
            "priority": t.priority,
            "status": t.status,
            "recipient": "support@sandbox.example.com" if t.channel == "email" else None,
            "requester_id": t.requester_id,
            "submitter_id": t.submitter_id,
            "assignee_id": t.assignee_id,
            "organization_id": t.organization_id,
            "group_id": t.group_id,
            "collaborator_ids": [],
            "follower_ids": [],
            "email_cc_ids": [],
            "forum_topic_id": None,
            "problem_id": None,
            "has_incidents": False,
            "is_public": True,
            "due_at": None,
            "tags": list(t.tags),
            "custom_fields": [],
            "satisfaction_rating": rating,
            "sharing_agreement_ids": [],
            "custom_status_id": _CUSTOM_STATUS_ID,
            "fields": [],
            "followup_ids": list(t.followup_ids),
            "ticket_form_id": _TICKET_FORM_ID,
            "brand_id": _BRAND_ID,
            "allow_channelback": False,
            "allow_attachments": True,
            "from_messaging_channel": t.channel == "chat",
            "generated_timestamp": t.generated,
        }

    def _description(self, t: Ticket) -> str:
        if t.removed_comments and t.extra_comments:
            return t.extra_comments[0].body
        i = t.desc_i
        return _DESCRIPTIONS[i % len(_DESCRIPTIONS)].replace("{what}", _WHAT[(i // 7) % len(_WHAT)])

    def metric_json(self, t: Ticket, base: str) -> dict[str, Any]:
        mid = _ID_BASE_METRIC + t.id
        solved = t.status in ("solved", "closed")
        full = _minutes(t.created, t.solved_at) if solved else None
        first_res = _minutes(t.created, t.first_solved_at)
        reply = _minutes(t.created, t.first_reply_at)
        pct = t.biz_pct
        agent_wait = t.pending_min if solved else None
        requester_wait = (full - t.pending_min) if (solved and full is not None) else None
        return {
            "url": f"{base}/api/v2/ticket_metrics/{mid}.json",
            "id": mid,
            "ticket_id": t.id,
            "created_at": iso(t.created),
            "updated_at": iso(t.updated),
            "group_stations": t.group_stations,
            "assignee_stations": t.assignee_stations,
            "reopens": t.reopens,
            "replies": t.replies,
            "assignee_updated_at": iso(t.assignee_updated_at),
            "requester_updated_at": iso(t.requester_updated_at),
            "status_updated_at": iso(t.status_updated_at),
            "initially_assigned_at": iso(t.initially_assigned_at),
            "assigned_at": iso(t.assigned_at),
            "solved_at": iso(t.solved_at) if solved else None,
            "latest_comment_added_at": iso(t.latest_comment_at),
            "reply_time_in_minutes": _bc(reply, pct),
            "first_resolution_time_in_minutes": _bc(first_res, pct),
            "full_resolution_time_in_minutes": _bc(full, pct),
            "agent_wait_time_in_minutes": _bc(agent_wait, pct),
            "requester_wait_time_in_minutes": _bc(
                max(0, requester_wait) if requester_wait is not None else None, pct
            ),
            "on_hold_time_in_minutes": _bc(t.hold_min, pct),
            "custom_status_updated_at": iso(t.status_updated_at),
        }

    def comments(self, t: Ticket) -> list[Comment]:
        """The ticket's comments: the seeded conversation, then those added since."""
        out: list[Comment] = []
        if not t.removed_comments:
            rng = random.Random(self.seed * 1_000_003 + t.id)
            # Seeded comments get ids below those of comments added later (which count up
            # from _ID_BASE_COMMENT), so ordering by id keeps them first.
            base_id = _ID_BASE_COMMENT - 1_000_000_000_000 + t.id * 1000
            out.append(
                Comment(base_id, t.requester_id, self._description(t), True, t.created, t.channel)
            )
            extra_agent = [
                c
                for c in t.extra_comments or []
                if c.public
                and self.users.get(c.author_id) is not None
                and self.users[c.author_id].role != "end-user"
            ]
            seeded_replies = min(499, max(0, t.replies - len(extra_agent)))
            if seeded_replies and t.first_reply_at is not None:
                end = t.latest_comment_at
                extra_times = [c.created for c in t.extra_comments or []]
                if extra_times:
                    end = min(end, *extra_times)
                end = max(end, t.first_reply_at)
                step = (end - t.first_reply_at) // max(1, 2 * seeded_replies - 1)
                for k in range(seeded_replies):
                    when = t.first_reply_at + 2 * k * step
                    fix = _FIXES[_rr(rng, len(_FIXES))]
                    text = _AGENT_REPLIES[_rr(rng, len(_AGENT_REPLIES))].format(
                        fix=fix, fix_cap=fix[0].upper() + fix[1:]
                    )
                    out.append(
                        Comment(
                            base_id + 1 + 2 * k,
                            t.assignee_id or self.admin_id,
                            text,
                            True,
                            when,
                            "web",
                        )
                    )
                    if k < seeded_replies - 1:
                        text = _REQUESTER_REPLIES[_rr(rng, len(_REQUESTER_REPLIES))]
                        out.append(
                            Comment(
                                base_id + 2 + 2 * k,
                                t.requester_id,
                                text,
                                True,
                                when + step,
                                t.channel,
                            )
                        )
        out.extend(t.extra_comments or [])
        return out

    def comment_json(self, c: Comment, t: Ticket) -> dict[str, Any]:
        html = '<div class="zd-comment"><p>' + _html_escape(c.body) + "</p></div>"
        return {
            "id": c.id,
            "type": "Comment",
            "author_id": c.author_id,
            "body": c.body,
            "html_body": html,
            "plain_body": c.body,
            "public": c.public,
            "attachments": [],
            "audit_id": c.id + (_ID_BASE_AUDIT - _ID_BASE_COMMENT),
            "via": {"channel": c.channel, "source": {"from": {}, "to": {}, "rel": None}},
            "metadata": {"system": {}, "custom": {}},
            "created_at": iso(c.created),
        }

    def user_json(self, u: User, base: str) -> dict[str, Any]:
        photo: dict[str, Any] | None = None
        if u.role != "end-user":
            pid = u.id + 77
            photos = f"{base}/system/photos"
            photo = {
                "url": f"{base}/api/v2/attachments/{pid}.json",
                "id": pid,
                "file_name": f"profile_image_{u.id}.png",
                "content_url": f"{base}/system/photos/{pid}/profile_image_{u.id}.png",
                "mapped_content_url": f"{base}/system/photos/{pid}/profile_image_{u.id}.png",
                "content_type": "image/png",
                "size": 10157,
                "width": 80,
                "height": 80,
                "inline": False,
                "deleted": False,
                "thumbnails": [
                    {
                        "url": f"{base}/api/v2/attachments/{pid + 1}.json",
                        "id": pid + 1,
                        "file_name": f"profile_image_{u.id}_thumb.png",
                        "content_url": f"{photos}/{pid}/profile_image_{u.id}_thumb.png",
                        "mapped_content_url": f"{photos}/{pid}/profile_image_{u.id}_thumb.png",
                        "content_type": "image/png",
                        "size": 2330,
                        "width": 32,
                        "height": 32,
                        "inline": False,
                        "deleted": False,
                    }
                ],
            }
        agent = u.role != "end-user"
        return {
            "id": u.id,
            "url": f"{base}/api/v2/users/{u.id}.json",
            "name": u.name,
            "email": u.email,
            "created_at": iso(u.created),
            "updated_at": iso(u.updated),
            "time_zone": u.time_zone,
            "iana_time_zone": u.iana_time_zone,
            "phone": None,
            "shared_phone_number": None,
            "photo": photo,
            "locale_id": 1,
            "locale": u.locale,
            "organization_id": u.organization_id,
            "role": u.role,
            "verified": agent,
            "external_id": None,
            "tags": list(u.tags),
            "alias": None,
            "active": True,
            "shared": False,
            "shared_agent": False,
            "last_login_at": iso(u.updated) if agent else None,
            "two_factor_auth_enabled": None,
            "signature": None,
            "details": None,
            "notes": None,
            "role_type": None if u.role == "end-user" else (4 if u.role == "admin" else 0),
            "custom_role_id": None,
            "moderator": agent,
            "ticket_restriction": "requested" if not agent else None,
            "only_private_comments": False,
            "restricted_agent": not agent,
            "suspended": u.suspended,
            "default_group_id": u.default_group_id,
            "report_csv": u.role == "admin",
            "user_fields": {},
        }

    def group_json(self, g: Group, base: str) -> dict[str, Any]:
        return {
            "url": f"{base}/api/v2/groups/{g.id}.json",
            "id": g.id,
            "is_public": True,
            "name": g.name,
            "description": g.description,
            "default": g.default,
            "deleted": False,
            "created_at": iso(g.created),
            "updated_at": iso(g.updated),
        }

    def organization_json(self, o: Organization, base: str) -> dict[str, Any]:
        return {
            "url": f"{base}/api/v2/organizations/{o.id}.json",
            "id": o.id,
            "name": o.name,
            "shared_tickets": False,
            "shared_comments": False,
            "external_id": None,
            "created_at": iso(o.created),
            "updated_at": iso(o.updated),
            "domain_names": [o.domain],
            "details": None,
            "notes": None,
            "group_id": o.group_id,
            "tags": list(o.tags),
            "organization_fields": {},
        }

    def rating_json(self, r: Rating, base: str) -> dict[str, Any]:
        reason, code, reason_id = _reason(r)
        return {
            "url": f"{base}/api/v2/satisfaction_ratings/{r.id}.json",
            "id": r.id,
            "assignee_id": r.assignee_id,
            "group_id": r.group_id,
            "requester_id": r.requester_id,
            "ticket_id": r.ticket_id,
            "score": r.score,
            "created_at": iso(r.created),
            "updated_at": iso(r.updated),
            "comment": r.comment,
            "reason": reason,
            "reason_code": code,
            "reason_id": reason_id,
        }

    # ---------------------------------------------------------------- queries

    def export_after(
        self, after: tuple[int, int], limit_generated: int, count: int
    ) -> tuple[list[Ticket], bool]:
        """Tickets ordered by (generated_timestamp, id) strictly after ``after`` and with
        generated_timestamp < ``limit_generated``; at most ``count``. Also says whether more
        such tickets remain."""
        idx = self.export_index
        i = bisect.bisect_right(idx, after)
        out: list[Ticket] = []
        n = len(idx)
        while i < n and len(out) < count:
            gen, tid = idx[i]
            if gen >= limit_generated:
                return out, False
            out.append(self.tickets[tid])
            i += 1
        more = i < n and idx[i][0] < limit_generated
        return out, more

    def ratings_matching(
        self, score: str | None, start: int | None, end: int | None, after_id: int, limit: int
    ) -> tuple[list[Rating], bool]:
        ids = self.rating_ids
        i = bisect.bisect_right(ids, after_id)
        out: list[Rating] = []
        for rid in ids[i:]:
            r = self.ratings[rid]
            if start is not None and r.updated < start:
                continue
            if end is not None and r.updated > end:
                continue
            if score is not None and not _score_matches(r, score):
                continue
            if len(out) == limit:
                return out, True
            out.append(r)
        return out, False

    def ticket_ids_without_rating(self) -> Iterator[int]:
        return (tid for tid, t in self.tickets.items() if t.rating_id is None)

    def fingerprint(self) -> str:
        """A digest of the whole state (tests check reproducibility with it)."""
        h = hashlib.sha256()
        for t in self.tickets.values():
            h.update(
                repr(
                    [
                        getattr(t, s) if s != "extra_comments" else len(t.extra_comments or [])
                        for s in Ticket.__slots__
                    ]
                ).encode()
            )
        for coll in (self.users, self.groups, self.organizations, self.ratings):
            for obj in coll.values():
                h.update(repr(obj).encode())
        return h.hexdigest()


def _bc(calendar: int | None, pct: int) -> dict[str, int | None]:
    if calendar is None:
        return {"calendar": None, "business": None}
    return {"calendar": calendar, "business": calendar * pct // 100}


def _reason(r: Rating) -> tuple[str | None, int | None, int | None]:
    if r.score == "bad" and r.reason_code is not None:
        text = dict(BAD_REASONS)[r.reason_code]
        return text, r.reason_code, _ID_BASE_REASON + r.reason_code
    if r.score == "offered":
        return None, None, None
    return "No reason provided", 0, _ID_BASE_REASON


def _score_matches(r: Rating, score: str) -> bool:
    received = r.score in ("good", "bad")
    has_comment = bool(r.comment)
    if score == "offered":
        return r.score == "offered"
    if score == "unoffered":
        return False  # unoffered tickets carry no rating record
    base, _, suffix = score.partition("_")
    ok = received if base == "received" else r.score == base
    if suffix == "with_comment":
        ok = ok and has_comment
    elif suffix == "without_comment":
        ok = ok and not has_comment
    return ok


def _change(field_name: str, value: Any, previous: Any) -> dict[str, Any]:
    return {"type": "Change", "field_name": field_name, "value": value, "previous_value": previous}


def _invalid(field_name: str, message: str) -> dict[str, Any]:
    return {
        "error": "RecordInvalid",
        "description": "Record validation errors",
        "details": {field_name: [{"description": message, "error": "InvalidValue"}]},
    }


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _poisson(rng: random.Random, mean: float) -> int:
    """Seeded Poisson sample (normal approximation for large means)."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, mean**0.5)))
    limit, k, p = pow(2.718281828459045, -mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def unique(values: Iterable[int | None]) -> list[int]:
    """Distinct non-null ids in first-seen order."""
    return [v for v in dict.fromkeys(values) if v is not None]
