"""Ticket writes: updates, safe_update conflicts, closed tickets, follow-ups, the write log."""

from __future__ import annotations

import pytest
import requests
from zendesk_support import Client

from deskbot.sandbox.zendesk import ZendeskSandbox


def _ticket(sb: ZendeskSandbox, status: str, **attrs: object) -> int:
    return next(
        t.id
        for t in sb.state.tickets.values()
        if t.status == status and all(getattr(t, k) == v for k, v in attrs.items())
    )


def test_update_applies_comment_tags_assignment_and_status(
    sandbox: ZendeskSandbox, client: Client
) -> None:
    tid = _ticket(sandbox, "new", first_reply_at=None)
    before = client.get(f"/api/v2/tickets/{tid}/metrics.json").json()["ticket_metric"]
    assert before["reply_time_in_minutes"] == {"calendar": None, "business": None}
    group = next(iter(sandbox.state.groups.values()))
    agent = group.agent_ids[0]
    sandbox.advance(minutes=90)
    body = {
        "ticket": {
            "comment": {"body": "Hello from deskbot 👋", "public": True},
            "additional_tags": ["hooray", "deskbot"],
            "remove_tags": ["vip"],
            "assignee_id": agent,
            "group_id": group.id,
            "status": "pending",
        }
    }
    resp = client.put(f"/api/v2/tickets/{tid}.json", body)
    assert resp.status_code == 200
    ticket = resp.json()["ticket"]
    assert {"hooray", "deskbot"} <= set(ticket["tags"]) and "vip" not in ticket["tags"]
    assert (
        ticket["assignee_id"] == agent
        and ticket["group_id"] == group.id
        and ticket["status"] == "pending"
    )
    assert ticket["updated_at"] > before["updated_at"]
    assert resp.json()["audit"]["events"]
    after = client.get(f"/api/v2/tickets/{tid}/metrics.json").json()["ticket_metric"]
    assert after["replies"] == before["replies"] + 1
    assert after["reply_time_in_minutes"]["calendar"] >= 90
    comments = client.get(f"/api/v2/tickets/{tid}/comments.json").json()["comments"]
    assert comments[-1]["body"] == "Hello from deskbot 👋" and comments[-1]["public"] is True


def test_internal_note_is_private_and_is_not_a_reply(
    sandbox: ZendeskSandbox, client: Client
) -> None:
    tid = _ticket(sandbox, "open")
    replies = sandbox.state.tickets[tid].replies
    resp = client.put(
        f"/api/v2/tickets/{tid}.json", {"ticket": {"comment": {"body": "note", "public": False}}}
    )
    assert resp.status_code == 200
    assert sandbox.state.tickets[tid].replies == replies
    last = client.get(f"/api/v2/tickets/{tid}/comments.json", **{"page[size]": 100}).json()[
        "comments"
    ][-1]
    assert last["body"] == "note" and last["public"] is False


def test_safe_update_with_a_stale_stamp_conflicts(sandbox: ZendeskSandbox, client: Client) -> None:
    tid = _ticket(sandbox, "open")
    stamp = client.get(f"/api/v2/tickets/{tid}.json").json()["ticket"]["updated_at"]
    sandbox.advance(minutes=5)
    ok = client.put(
        f"/api/v2/tickets/{tid}.json",
        {"ticket": {"tags": ["a"], "safe_update": True, "updated_stamp": stamp}},
    )
    assert ok.status_code == 200
    stale = client.put(
        f"/api/v2/tickets/{tid}.json",
        {"ticket": {"tags": ["b"], "safe_update": True, "updated_stamp": stamp}},
    )
    assert stale.status_code == 409
    assert stale.json()["error"] == "UpdateConflict"
    assert sandbox.state.tickets[tid].tags == ["a"]
    assert len(sandbox.writes) == 1


def test_closed_tickets_cannot_be_updated_but_can_be_followed_up(
    sandbox: ZendeskSandbox, client: Client
) -> None:
    closed = _ticket(sandbox, "closed")
    resp = client.put(f"/api/v2/tickets/{closed}.json", {"ticket": {"additional_tags": ["x"]}})
    assert resp.status_code == 422
    assert resp.json()["error"] == "RecordInvalid"
    assert "closed" in resp.json()["details"]["status"][0]["description"]
    assert sandbox.writes == []

    follow = client.post(
        "/api/v2/tickets.json",
        {"ticket": {"via_followup_source_id": closed, "comment": {"body": "Following up"}}},
    )
    assert follow.status_code == 201
    new = follow.json()["ticket"]
    source = sandbox.state.tickets[closed]
    assert (
        new["via"]["source"]["rel"] == "follow_up"
        and new["via"]["source"]["from"]["ticket_id"] == closed
    )
    assert new["requester_id"] == source.requester_id
    assert new["description"] == "Following up"
    assert source.followup_ids == [new["id"]]
    assert sandbox.writes[-1]["method"] == "POST" and sandbox.writes[-1]["ticket_id"] == new["id"]

    open_id = _ticket(sandbox, "open")
    refused = client.post(
        "/api/v2/tickets.json",
        {"ticket": {"via_followup_source_id": open_id, "comment": {"body": "x"}}},
    )
    assert refused.status_code == 422
    assert "via_followup_source_id" in refused.json()["details"]


def test_unknown_tickets_and_bad_bodies(sandbox: ZendeskSandbox, client: Client) -> None:
    resp = client.put("/api/v2/tickets/99999999.json", {"ticket": {"tags": []}})
    assert resp.status_code == 404 and resp.json() == {
        "error": "RecordNotFound",
        "description": "Not found",
    }
    tid = _ticket(sandbox, "open")
    bad = client.session.put(
        f"{sandbox.base_url}/api/v2/tickets/{tid}.json", data=b"{not json", timeout=10
    )
    assert bad.status_code == 400 and "JSON" in bad.json()["description"]
    wrong = client.put(f"/api/v2/tickets/{tid}.json", {"ticket": {"status": "sleeping"}})
    assert wrong.status_code == 422
    assert (
        client.put(
            f"/api/v2/tickets/{tid}.json",
            {"ticket": {"assignee_id": sandbox.state.end_user_ids[0]}},
        ).status_code
        == 422
    )
    assert sandbox.writes == []


def test_write_log_and_the_written_ticket_comes_back_in_the_next_export(
    sandbox: ZendeskSandbox, client: Client
) -> None:
    _, pages = client.export_all()
    cursor = pages[-1]["after_cursor"]
    tid = _ticket(sandbox, "open")
    body = {"ticket": {"comment": {"body": "Ping", "public": True}}}
    assert client.put(f"/api/v2/tickets/{tid}.json", body).status_code == 200
    log = sandbox.writes
    assert log == [
        {
            "method": "PUT",
            "path": f"/api/v2/tickets/{tid}.json",
            "body": body,
            "time": log[0]["time"],
            "ticket_id": tid,
        }
    ]
    assert requests.get(sandbox.base_url + "/_sandbox/writes", timeout=10).json()["writes"] == log
    requests.post(
        sandbox.base_url + "/_sandbox/advance", json={"minutes": 2}, timeout=10
    ).raise_for_status()
    page = client.get("/api/v2/incremental/tickets/cursor.json", cursor=cursor).json()
    assert tid in [t["id"] for t in page["tickets"]]


def test_rating_keeps_the_assignee_and_group_of_rating_time(
    sandbox: ZendeskSandbox, client: Client
) -> None:
    rating = next(
        r
        for r in sandbox.state.ratings.values()
        if sandbox.state.tickets[r.ticket_id].status == "solved"
    )
    t = sandbox.state.tickets[rating.ticket_id]
    other = next(a for a in sandbox.state.agent_ids if a != rating.assignee_id)
    group = next(g for g in sandbox.state.groups if g != rating.group_id)
    assert (
        client.put(
            f"/api/v2/tickets/{t.id}.json", {"ticket": {"assignee_id": other, "group_id": group}}
        ).status_code
        == 200
    )
    got = next(r for r in _all_ratings(client) if r["id"] == rating.id)
    assert (got["assignee_id"], got["group_id"]) == (rating.assignee_id, rating.group_id)
    assert client.get(f"/api/v2/tickets/{t.id}.json").json()["ticket"]["assignee_id"] == other


def _all_ratings(client: Client) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    params: dict[str, object] = {"page[size]": 100}
    while True:
        page = client.get("/api/v2/satisfaction_ratings.json", **params).json()
        out += page["satisfaction_ratings"]
        if not page["meta"]["has_more"]:
            return out
        params = {"page[size]": 100, "page[after]": page["meta"]["after_cursor"]}


def test_two_writes_in_one_second_still_make_the_first_stamp_stale(
    sandbox: ZendeskSandbox, client: Client
) -> None:
    tid = _ticket(sandbox, "open")
    path = f"/api/v2/tickets/{tid}.json"
    stamp = client.get(path).json()["ticket"]["updated_at"]
    first = client.put(
        path, {"ticket": {"tags": ["a"], "safe_update": True, "updated_stamp": stamp}}
    )
    assert first.status_code == 200
    second = client.put(
        path, {"ticket": {"tags": ["b"], "safe_update": True, "updated_stamp": stamp}}
    )
    assert second.status_code == 409
    fresh = first.json()["ticket"]["updated_at"]
    third = client.put(
        path, {"ticket": {"tags": ["c"], "safe_update": True, "updated_stamp": fresh}}
    )
    assert third.status_code == 200


def test_tickets_are_found_by_the_external_id_they_were_created_with(
    sandbox: ZendeskSandbox, client: Client
) -> None:
    closed = _ticket(sandbox, "closed")
    marker = "deskbot-followup-123-1"
    assert client.get(f"/api/v2/tickets.json?external_id={marker}").json()["tickets"] == []
    created = client.post(
        "/api/v2/tickets.json",
        {
            "ticket": {
                "via_followup_source_id": closed,
                "external_id": marker,
                "comment": {"body": "Following up on your rating"},
            }
        },
    ).json()["ticket"]
    assert created["external_id"] == marker
    found = client.get(f"/api/v2/tickets.json?external_id={marker}").json()
    assert [t["id"] for t in found["tickets"]] == [created["id"]]
    assert found["count"] == 1
    other = client.get("/api/v2/tickets.json?external_id=someone-else").json()
    assert other["tickets"] == []
    assert client.get("/api/v2/tickets.json").status_code == 400


def test_a_customer_rating_now_is_exported_with_the_agent_at_rating_time(
    sandbox: ZendeskSandbox, client: Client
) -> None:
    solved = _ticket(sandbox, "solved")
    ticket = sandbox.state.tickets[solved]
    agent = ticket.assignee_id
    rating_id = sandbox.rate(solved, "bad", comment="Still broken")
    rating = sandbox.state.ratings[rating_id]
    assert (rating.score, rating.comment, rating.assignee_id) == ("bad", "Still broken", agent)
    assert rating.reason_code is not None
    assert ticket.generated >= int(sandbox.now.timestamp())
    with pytest.raises(ValueError, match="not solved"):
        sandbox.rate(_ticket(sandbox, "open"), "bad")
    with pytest.raises(ValueError, match="score"):
        sandbox.rate(solved, "meh")
