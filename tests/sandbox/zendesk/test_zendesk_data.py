"""The seeded data: reproducible, realistic, consistent metric sets; activity from advance()."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import orjson
import pytest
import requests
from zendesk_support import START, Client

from deskbot.sandbox.zendesk import State, ZendeskSandbox
from deskbot.testing import FakeClock


def _page_bytes(sb: ZendeskSandbox) -> bytes:
    resp = Client(sb).get(
        "/api/v2/incremental/tickets/cursor.json",
        start_time=0,
        include="users,groups,organizations,metric_sets",
    )
    return resp.content.replace(sb.base_url.encode(), b"BASE")


def test_same_seed_same_data_byte_for_byte(make_sandbox: Callable[..., ZendeskSandbox]) -> None:
    a, b = make_sandbox(), make_sandbox()
    assert a.state.fingerprint() == b.state.fingerprint()
    assert _page_bytes(a) == _page_bytes(b)
    a.advance(minutes=60)
    b.advance(minutes=60)
    assert a.state.fingerprint() == b.state.fingerprint()
    assert make_sandbox(seed=8).state.fingerprint() != a.state.fingerprint()


def test_realistic_mix(shared_sandbox: ZendeskSandbox) -> None:
    st = shared_sandbox.state
    statuses = Counter(t.status for t in st.tickets.values())
    assert set(statuses) == {"new", "open", "pending", "hold", "solved", "closed", "deleted"}
    assert Counter(t.channel for t in st.tickets.values()).keys() == {
        "web",
        "email",
        "api",
        "chat",
        "voice",
    }
    tags = Counter(tag for t in st.tickets.values() for tag in t.tags)
    assert all(tags[x] > 0 for x in ("hooray", "lost_cause", "high_complexity", "billing", "vip"))
    scores = Counter(r.score for r in st.ratings.values())
    assert scores["good"] and scores["bad"] and scores["offered"]
    assert any(r.comment for r in st.ratings.values() if r.score == "bad")
    assert any(st.tickets[r.ticket_id].status == "closed" for r in st.ratings.values())
    assert any(u.suspended for u in st.users.values() if u.role == "agent")
    assert any(not n.isascii() for n in (u.name for u in st.users.values()))
    assert any("🎯" in g.name for g in st.groups.values())
    assert len({o.name for o in st.organizations.values()}) == len(st.organizations)
    window = (
        st.now - max(t.created for t in st.tickets.values()),
        st.now - min(t.created for t in st.tickets.values()),
    )
    assert (
        window[0] < 3600
        and timedelta(days=20).total_seconds() < window[1] < timedelta(days=60).total_seconds()
    )


def test_metric_sets_are_null_until_the_event_happens(shared_sandbox: ZendeskSandbox) -> None:
    st = shared_sandbox.state
    base = "http://x"
    for t in st.tickets.values():
        m = st.metric_json(t, base)
        if t.status in ("solved", "closed"):
            assert m["solved_at"] is not None
            assert m["full_resolution_time_in_minutes"]["calendar"] is not None
            assert (
                m["full_resolution_time_in_minutes"]["calendar"]
                >= m["first_resolution_time_in_minutes"]["calendar"]
            )
            assert m["agent_wait_time_in_minutes"]["calendar"] is not None
        else:
            assert m["solved_at"] is None
            assert m["full_resolution_time_in_minutes"] == {"calendar": None, "business": None}
        if m["replies"] == 0:
            assert m["reply_time_in_minutes"] == {"calendar": None, "business": None}
        else:
            cal = m["reply_time_in_minutes"]["calendar"]
            assert cal is not None and 0 <= m["reply_time_in_minutes"]["business"] <= cal
        assert m["latest_comment_added_at"] >= m["created_at"]
        assert (m["reopens"] > 0) <= (t.first_solved_at is not None)


def test_advance_generates_every_kind_of_activity(
    make_sandbox: Callable[..., ZendeskSandbox],
) -> None:
    sb = make_sandbox(tickets=2000)
    before = sb.now
    seen: Counter[str] = Counter()
    # Activity keeps the account's historical pace (~50 tickets a day here): give it 3 days.
    for _ in range(72):
        seen.update(sb.advance(minutes=60))
    assert sb.now == before + timedelta(hours=72)
    assert {"new", "reply", "solve", "rate", "flip", "reopen", "close", "delete", "system"} <= set(
        seen
    )
    flipped = [
        r
        for r in sb.state.ratings.values()
        if r.score == "good" and r.updated > r.created and r.reason_code is None
    ]
    assert flipped
    with pytest.raises(ValueError, match="backwards"):
        sb.advance(minutes=-1)


def test_http_advance_moves_the_clock(sandbox: ZendeskSandbox) -> None:
    resp = requests.post(
        sandbox.base_url + "/_sandbox/advance", json={"minutes": 30}, timeout=10
    ).json()
    assert resp["now"] == (START + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert sum(resp["events"].values()) > 0


def test_generation_is_fast_enough_for_benchmarks() -> None:
    started = time.perf_counter()
    st = State(3, 20_000, int(START.timestamp()))
    elapsed = time.perf_counter() - started
    assert len(st.tickets) == 20_000
    assert elapsed < 10, f"20k tickets took {elapsed:.1f}s"
    page = [st.tickets[i] for i in range(1, 1001)]
    started = time.perf_counter()
    orjson.dumps(
        {"tickets": [st.ticket_json(t, "b") | {"metric_set": st.metric_json(t, "b")} for t in page]}
    )
    assert time.perf_counter() - started < 1.0


def test_bad_construction_arguments(make_sandbox: Callable[..., ZendeskSandbox]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ZendeskSandbox(start=START.replace(tzinfo=None))
    with pytest.raises(ValueError, match="metric_sets_shape"):
        ZendeskSandbox(tickets=10, start=START, metric_sets_shape="nested")
    with pytest.raises(ValueError, match="tickets"):
        State(1, -1, 0)


def test_live_clock_follows_the_time_scale(
    make_sandbox: Callable[..., ZendeskSandbox], clock: FakeClock
) -> None:
    sb = make_sandbox(live_clock=True, time_scale=60.0)
    tickets = len(sb.state.tickets)
    clock.advance(30)  # 30 real seconds at 60x: half an hour of sandbox time
    assert sb.now == START + timedelta(minutes=30)
    Client(sb).get("/api/v2/users/me.json")
    assert len(sb.state.tickets) > tickets
