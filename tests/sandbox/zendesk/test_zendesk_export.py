"""The cursor-based incremental ticket export: completeness, ordering, the export lag, sideloads."""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Callable

from zendesk_support import Client

from deskbot.sandbox.zendesk import ZendeskSandbox


def _exportable(sb: ZendeskSandbox) -> set[int]:
    now = sb.state.now
    return {t.id for t in sb.state.tickets.values() if t.generated <= now - 60}


def test_full_export_returns_every_ticket_exactly_once_in_order(
    sandbox: ZendeskSandbox, client: Client
) -> None:
    sandbox.advance(minutes=30)
    tickets, pages = client.export_all(per_page=100)
    ids = [t["id"] for t in tickets]
    assert len(ids) == len(set(ids))
    assert set(ids) == _exportable(sandbox)
    keys = [(t["generated_timestamp"], t["id"]) for t in tickets]
    assert keys == sorted(keys)
    assert len(pages) > 2
    assert all(not p["end_of_stream"] for p in pages[:-1])
    # Zendesk keeps a cursor at the end of the stream (see the recorded fixture).
    assert pages[-1]["after_cursor"] and pages[-1]["after_url"]
    assert base64.b64decode(pages[-1]["after_cursor"]).decode().endswith(f"||{tickets[-1]['id']}|")
    statuses = Counter(t["status"] for t in tickets)
    assert statuses["deleted"] >= 1
    assert {"new", "open", "pending", "solved", "closed"} <= set(statuses)
    # updated_at older than generated_timestamp: system changes bump only the latter.
    stale = [t for t in tickets if t["updated_at"] < _iso(t["generated_timestamp"])]
    assert stale


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def test_block_of_more_than_a_page_sharing_one_timestamp_pages_correctly(
    make_sandbox: Callable[..., ZendeskSandbox],
) -> None:
    sandbox = make_sandbox(tickets=2500)
    client = Client(sandbox)
    touched = sandbox.system_touch(1500)
    assert len(touched) == 1500
    block_ts = sandbox.state.tickets[touched[0]].generated
    assert all(sandbox.state.tickets[i].generated == block_ts for i in touched)
    sandbox.advance(minutes=2)
    tickets, pages = client.export_all(start_time=block_ts, per_page=1000)
    block = [t["id"] for t in tickets if t["generated_timestamp"] == block_ts]
    assert sorted(block) == sorted(touched)  # all 1500, none twice
    assert len(block) == len(set(block))
    first_page_block = [t for t in pages[0]["tickets"] if t["generated_timestamp"] == block_ts]
    assert len(first_page_block) == 1000  # the block really is split across pages
    assert all(t["generated_timestamp"] >= block_ts for t in tickets)


def test_last_minute_is_not_exported_until_it_is_a_minute_old(
    sandbox: ZendeskSandbox, client: Client
) -> None:
    tid = next(t.id for t in sandbox.state.tickets.values() if t.status == "open")
    _, pages = client.export_all()
    cursor = pages[-1]["after_cursor"]
    assert (
        client.put(
            f"/api/v2/tickets/{tid}.json", {"ticket": {"additional_tags": ["fresh"]}}
        ).status_code
        == 200
    )
    assert sandbox.state.tickets[tid].generated == sandbox.state.now
    page = client.get("/api/v2/incremental/tickets/cursor.json", cursor=cursor).json()
    assert tid not in [t["id"] for t in page["tickets"]]
    assert page["end_of_stream"] is True
    sandbox.advance(seconds=61)
    page = client.get("/api/v2/incremental/tickets/cursor.json", cursor=cursor).json()
    again = [t for t in page["tickets"] if t["id"] == tid]
    assert len(again) == 1 and "fresh" in again[0]["tags"]


def test_resuming_from_the_end_cursor_returns_only_changed_tickets(
    sandbox: ZendeskSandbox, client: Client
) -> None:
    _, pages = client.export_all()
    before = {t.id: t.generated for t in sandbox.state.tickets.values()}
    events = sandbox.advance(minutes=120)
    assert events.get("new", 0) > 0
    page = client.get(
        "/api/v2/incremental/tickets/cursor.json", cursor=pages[-1]["after_cursor"]
    ).json()
    got = {t["id"] for t in page["tickets"]}
    expected = {
        t.id
        for t in sandbox.state.tickets.values()
        if before.get(t.id) != t.generated and t.generated <= sandbox.state.now - 60
    }
    assert got == expected and got


def test_sideloads_cover_every_referenced_record(
    shared_client: Client, shared_sandbox: ZendeskSandbox
) -> None:
    page = shared_client.get(
        "/api/v2/incremental/tickets/cursor.json",
        start_time=0,
        per_page=300,
        include="users,groups,organizations,metric_sets",
    ).json()
    users = {u["id"] for u in page["users"]}
    for t in page["tickets"]:
        assert {t["requester_id"], t["submitter_id"]} <= users
        assert t["assignee_id"] is None or t["assignee_id"] in users
        assert t["metric_set"]["ticket_id"] == t["id"]
    assert {t["group_id"] for t in page["tickets"]} - {None} == {g["id"] for g in page["groups"]}
    assert {t["organization_id"] for t in page["tickets"]} - {None} == {
        o["id"] for o in page["organizations"]
    }
    assert "include=users%2Cgroups%2Corganizations%2Cmetric_sets" in page["after_url"]
    only = shared_client.get(
        "/api/v2/incremental/tickets/cursor.json", start_time=0, per_page=5, include="groups"
    ).json()
    assert "users" not in only and "groups" in only and "metric_set" not in only["tickets"][0]


def test_metric_sets_can_come_as_a_top_level_array(
    make_sandbox: Callable[..., ZendeskSandbox],
) -> None:
    sb = make_sandbox(metric_sets_shape="sideload")
    page = (
        Client(sb)
        .get("/api/v2/incremental/tickets/cursor.json", start_time=0, include="metric_sets")
        .json()
    )
    assert "metric_set" not in page["tickets"][0]
    assert [m["ticket_id"] for m in page["metric_sets"]] == [t["id"] for t in page["tickets"]]


def test_bad_parameters_are_refused_clearly(client: Client) -> None:
    for params in (
        {},
        {"start_time": 0, "cursor": "x"},
        {"start_time": "yesterday"},
        {"cursor": "!!"},
        {"start_time": 0, "per_page": 1001},
    ):
        resp = client.get("/api/v2/incremental/tickets/cursor.json", **params)
        assert resp.status_code == 400, params
        assert resp.json()["description"]
