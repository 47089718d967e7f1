"""Injected faults: seeded and reproducible, deterministic rules, counted."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
import requests
from zendesk_support import Client

from deskbot.sandbox.zendesk import ZendeskSandbox


def _statuses(sb: ZendeskSandbox, n: int) -> list[int]:
    client = Client(sb)
    return [client.get("/api/v2/groups.json").status_code for _ in range(n)]


def test_random_faults_are_reproducible_from_the_seed(
    make_sandbox: Callable[..., ZendeskSandbox],
) -> None:
    runs = []
    for _ in range(2):
        sb = make_sandbox(tickets=50)
        sb.faults.inject(error_rate=0.3)
        runs.append(_statuses(sb, 60))
    assert runs[0] == runs[1]
    assert {s for s in runs[0] if s != 200} <= {500, 502, 503, 504}
    assert 5 < sum(s != 200 for s in runs[0]) < 35
    other = make_sandbox(tickets=50, seed=8)
    other.faults.inject(error_rate=0.3)
    assert _statuses(other, 60) != runs[0]


def test_fail_next_hits_only_the_given_path_prefix(sandbox: ZendeskSandbox, client: Client) -> None:
    sandbox.faults.inject(fail_next=2, status=503, path_prefix="/api/v2/incremental")
    assert client.get("/api/v2/groups.json").status_code == 200
    assert [
        client.get("/api/v2/incremental/tickets/cursor.json", start_time=0, per_page=1).status_code
        for _ in range(3)
    ] == [503, 503, 200]
    assert sandbox.counters["faults"] == 2
    assert sandbox.faults.rules() == []  # spent rules are dropped


def test_burst_of_429s_with_retry_after(sandbox: ZendeskSandbox, client: Client) -> None:
    sandbox.faults.inject(burst_429=3, retry_after=7)
    got = [client.get("/api/v2/users/me.json") for _ in range(4)]
    assert [r.status_code for r in got] == [429, 429, 429, 200]
    assert got[0].headers["Retry-After"] == "7"
    assert sandbox.counters["rate_limited"] == 3


def test_malformed_bodies_are_truncated_json(sandbox: ZendeskSandbox, client: Client) -> None:
    sandbox.faults.inject(malformed_rate=1.0, path_prefix="/api/v2/groups")
    resp = client.get("/api/v2/groups.json")
    assert resp.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(resp.content)
    assert client.get("/api/v2/users/me.json").json()["user"]


def test_a_write_can_be_applied_and_still_answered_with_an_error(
    sandbox: ZendeskSandbox, client: Client
) -> None:
    tid = next(t.id for t in sandbox.state.tickets.values() if t.status == "open")
    sandbox.faults.inject(fail_next=1, status=502, path_prefix="/api/v2/tickets", after_apply=True)
    resp = client.put(f"/api/v2/tickets/{tid}.json", {"ticket": {"additional_tags": ["once"]}})
    assert resp.status_code == 502
    assert "once" in sandbox.state.tickets[tid].tags
    assert [w["ticket_id"] for w in sandbox.writes] == [tid]


def test_faults_over_http_control_endpoint(sandbox: ZendeskSandbox, client: Client) -> None:
    resp = requests.post(
        sandbox.base_url + "/_sandbox/faults", json={"fail_next": 1, "status": 500}, timeout=10
    )
    assert resp.status_code == 200 and resp.json()["rules"][0]["kind"] == "fail_next"
    assert client.get("/api/v2/groups.json").status_code == 500
    bad = requests.post(sandbox.base_url + "/_sandbox/faults", json={"error_rate": 2}, timeout=10)
    assert bad.status_code == 400 and "error_rate" in bad.json()["description"]
    counters = requests.get(sandbox.base_url + "/_sandbox/counters", timeout=10).json()
    assert counters["faults"] == 1 and counters["by_status"]["500"] == 1


def test_latency_is_added_through_the_injected_sleep(
    make_sandbox: Callable[..., ZendeskSandbox],
) -> None:
    slept: list[float] = []
    sb = make_sandbox(tickets=50, sleep=slept.append)
    sb.faults.inject(latency_rate=0.5, latency_seconds=2.5, path_prefix="/api/v2/users")
    client = Client(sb)
    for _ in range(20):
        assert client.get("/api/v2/users/me.json").status_code == 200
    client.get("/api/v2/groups.json")
    assert 3 <= len(slept) <= 17 and set(slept) == {2.5}


def test_a_fail_next_429_counts_as_rate_limited(sandbox: ZendeskSandbox, client: Client) -> None:
    sandbox.faults.inject(fail_next=1, status=429)
    resp = client.get("/api/v2/groups.json")
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "1"
    assert sandbox.counters["rate_limited"] == 1 and sandbox.counters["faults"] == 1
