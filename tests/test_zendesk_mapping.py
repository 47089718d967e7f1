"""The recorded Zendesk pages parse into the rows the store expects."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest

from deskbot.adapters.zendesk.mapping import (
    MalformedPage,
    map_group,
    map_organization,
    map_rating,
    map_ticket_metric,
    map_user,
    parse_rating_page,
    parse_ticket_page,
)
from zendesk_fake import fixture

SYNCED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_cursor_export_page_with_deleted_ticket_and_cursor_at_end_of_stream() -> None:
    body = fixture("incremental_tickets_cursor_page.json")
    page = parse_ticket_page(body, SYNCED)
    assert len(page.records.tickets) == 87
    assert page.end_of_stream is True
    # Zendesk sends a cursor even at end_of_stream: the next run resumes there.
    assert page.after_cursor == "MTcwNzI3MTc0MS4wfHw0MDQ1fA=="
    assert page.max_generated_timestamp == max(t["generated_timestamp"] for t in body["tickets"])
    deleted = [t for t in page.records.tickets if t["is_deleted"]]
    assert [(t["id"], t["status"]) for t in deleted] == [(4034, "deleted")]
    first = page.records.tickets[0]
    assert first["id"] == 28
    assert first["channel"] == "api"
    assert first["created_at"] == datetime(2023, 9, 18, 15, 57, 42, tzinfo=UTC)
    assert first["organization_id"] == 6130869157658
    assert json.loads(first["raw"]) == body["tickets"][0]
    assert page.records.users == page.records.ticket_metrics == []


def test_midstream_and_time_based_pages() -> None:
    mid = parse_ticket_page(fixture("incremental_tickets_cursor_page_midstream.json"), SYNCED)
    assert (mid.end_of_stream, mid.after_cursor) == (False, "MTY5NTA1MjY2My4wfHwyOHw=")
    timed = parse_ticket_page(fixture("incremental_tickets_time_page.json"), SYNCED)
    assert len(timed.records.tickets) == 7
    assert (timed.after_cursor, timed.end_time, timed.end_of_stream) == (None, 1695052664, False)


def test_tags_become_rows_and_metric_set_is_read_inline_or_sideloaded() -> None:
    body = copy.deepcopy(fixture("incremental_tickets_cursor_page.json"))
    metric = fixture("ticket_metric.json")["ticket_metric"]
    t0, t1 = body["tickets"][0], body["tickets"][1]
    t0["tags"] = ["vip", "hooray", "vip"]
    t0["metric_set"] = {**metric, "ticket_id": t0["id"]}
    body["metric_sets"] = [{**metric, "id": 99, "ticket_id": t1["id"], "replies": 4}]
    page = parse_ticket_page(body, SYNCED)
    by_ticket = {m["ticket_id"]: m for m in page.records.ticket_metrics}
    assert by_ticket[t0["id"]]["replies"] == 1
    assert by_ticket[t0["id"]]["reply_time_calendar"] == 0
    assert by_ticket[t1["id"]]["replies"] == 4
    assert page.records.tickets[0]["tags"] == "vip hooray"
    assert [r for r in page.records.ticket_tags if r["ticket_id"] == t0["id"]] == [
        {"ticket_id": t0["id"], "tag": "vip"},
        {"ticket_id": t0["id"], "tag": "hooray"},
    ]


@pytest.mark.parametrize("name", ["ticket_metric.json", "ticket_metric_airbyte.json"])
def test_ticket_metric_fixtures(name: str) -> None:
    metric = fixture(name)["ticket_metric"]
    row = map_ticket_metric(metric)
    assert row["ticket_id"] == metric["ticket_id"]
    assert row["metric_id"] == metric["id"]
    assert row["solved_at"] is None
    assert row["replies"] == metric["replies"]
    assert row["reopens"] == 0
    assert row["full_resolution_calendar"] is None
    assert row["updated_at"] == datetime.fromisoformat(metric["updated_at"])


def test_sideloads_users_groups_organizations() -> None:
    body = copy.deepcopy(fixture("incremental_tickets_cursor_page_midstream.json"))
    body["users"] = (
        fixture("incremental_users_page.json")["users"]
        + fixture("incremental_users_time_page.json")["users"]
    )
    body["groups"] = fixture("groups_page.json")["groups"]
    body["organizations"] = fixture("organizations_page.json")["organizations"]
    page = parse_ticket_page(body, SYNCED)
    assert len(page.records.users) == 7
    assert {u["role"] for u in page.records.users} == {"end-user"}
    inactive = [u for u in page.records.users if not u["active"]]
    assert len(inactive) == 6 and all(u["email"] is None for u in inactive)
    assert len(page.records.groups) == len(body["groups"])
    assert any("\U0001f3af" in g["name"] for g in page.records.groups)
    assert page.records.organizations[0]["name"].startswith("Z3n Tests")
    assert map_group(body["groups"][0])["deleted"] is False
    assert map_organization(body["organizations"][0])["id"] == 6130869157658
    assert map_user(body["users"][0])["email"] == "customer@example.com"


def test_satisfaction_ratings_page_and_airbyte_records() -> None:
    page = parse_rating_page(fixture("satisfaction_ratings_page.json"), SYNCED)
    assert len(page.records.ratings) == 65
    assert page.next_page is None
    good = [r for r in page.records.ratings if r["score"] == "good"]
    assert [(r["id"], r["comment"], r["assignee_id"], r["group_id"]) for r in good] == [
        (20001907, "Satisfaction!", 20014182, 20001662)
    ]
    for record in fixture("satisfaction_ratings_records_airbyte.json"):
        row = map_rating(record, SYNCED)
        assert row["id"] == record["id"] and row["id"] > 10**12
        assert (row["assignee_id"], row["group_id"], row["score"]) == (None, None, "offered")


def test_rating_reason_and_cursor_envelope() -> None:
    rating = {
        **fixture("satisfaction_ratings_records_airbyte.json")[0],
        "score": "bad",
        "reason": "The issue took too long to resolve",
        "reason_code": 6,
    }
    body = {
        "satisfaction_ratings": [rating],
        "meta": {"has_more": True, "after_cursor": "xyz"},
        "links": {"next": "https://x/api/v2/satisfaction_ratings.json?page[after]=xyz"},
    }
    page = parse_rating_page(body, SYNCED)
    assert page.next_page == "after:xyz"
    assert (page.records.ratings[0]["reason"], page.records.ratings[0]["reason_code"]) == (
        "The issue took too long to resolve",
        6,
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.pop("tickets"), "tickets is missing"),
        (lambda b: b.update(tickets={}), "tickets should be a list"),
        (lambda b: b.update(end_of_stream="yes"), "end_of_stream"),
        (lambda b: b["tickets"][3].pop("generated_timestamp"), "tickets[3].generated_timestamp"),
        (lambda b: b["tickets"][2].update(id="28"), "tickets[2].id should be an integer"),
        (lambda b: b["tickets"][1].update(created_at="yesterday"), "tickets[1].created_at"),
        (lambda b: b["tickets"][0].update(via=[]), "tickets[0].via should be an object"),
        (lambda b: b.update(end_of_stream=False, after_cursor=None), "after_cursor"),
    ],
)
def test_malformed_ticket_pages_name_the_place(mutate: object, message: str) -> None:
    body = copy.deepcopy(fixture("incremental_tickets_cursor_page.json"))
    mutate(body)  # type: ignore[operator]
    with pytest.raises(MalformedPage, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_ticket_page(body, SYNCED)
