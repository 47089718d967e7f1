"""zenpy, unmodified, talks to the sandbox through BaseUrlSession (configuration only)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import responses
from zenpy import Zenpy

from deskbot.adapters.zendesk.session import BaseUrlSession
from deskbot.sandbox.zendesk import ZendeskSandbox


def _zenpy(sb: ZendeskSandbox) -> Zenpy:
    return Zenpy(
        subdomain="acme",
        email=sb.email,
        token=sb.token,
        session=BaseUrlSession(sb.base_url, "acme"),
    )


def test_zenpy_pages_the_cursor_export_with_sideloads(shared_sandbox: ZendeskSandbox) -> None:
    zenpy = _zenpy(shared_sandbox)
    before = shared_sandbox.counters["by_kind"].get("incremental_tickets", 0)
    ids = [t.id for t in zenpy.tickets.incremental(start_time=0, include=["users", "metric_sets"])]
    now = shared_sandbox.state.now
    assert len(ids) == len(set(ids))
    assert set(ids) == {
        t.id for t in shared_sandbox.state.tickets.values() if t.generated <= now - 60
    }
    assert (
        shared_sandbox.counters["by_kind"]["incremental_tickets"] - before == 2
    )  # 2000 tickets, 1000 a page


def test_zenpy_reads_ratings_users_groups_and_single_records(
    shared_sandbox: ZendeskSandbox,
) -> None:
    zenpy = _zenpy(shared_sandbox)
    state = shared_sandbox.state
    ratings = list(zenpy.satisfaction_ratings())
    assert len(ratings) == len(state.ratings) > 100  # more than one cursor page
    bad = list(zenpy.satisfaction_ratings(score="bad"))
    assert bad and {r.score for r in bad} == {"bad"}
    since = shared_sandbox.now - timedelta(days=3)
    recent = list(zenpy.satisfaction_ratings(start_time=since))
    assert {r.id for r in recent} == {
        r.id for r in state.ratings.values() if r.updated >= since.timestamp()
    }
    assert len(list(zenpy.users())) == len(state.users)
    assert {g.name for g in zenpy.groups()} == {g.name for g in state.groups.values()}
    assert len(list(zenpy.organizations())) == len(state.organizations)
    assert zenpy.users.me().email == shared_sandbox.email
    tid = next(t.id for t in state.tickets.values() if t.status == "solved")
    assert zenpy.tickets(id=tid).id == tid
    assert zenpy.tickets.metrics(ticket=tid).ticket_id == tid
    comments = list(zenpy.tickets.comments(ticket=tid))
    assert comments[0].body and comments[0].author_id == state.tickets[tid].requester_id


def test_zenpy_updates_a_ticket(sandbox: ZendeskSandbox) -> None:
    zenpy = _zenpy(sandbox)
    tid = next(t.id for t in sandbox.state.tickets.values() if t.status == "open")
    ticket = zenpy.tickets(id=tid)
    ticket.tags.extend(["hooray"])
    zenpy.tickets.update(ticket)
    assert "hooray" in sandbox.state.tickets[tid].tags
    assert sandbox.writes[-1]["ticket_id"] == tid


@responses.activate
def test_base_url_session_rewrites_only_the_zendesk_prefix() -> None:
    # responses answers only registered URLs: an answer proves where the request went.
    responses.get("http://127.0.0.1:9/api/v2/users/me.json", json={"user": {"id": 1}})
    responses.get("http://127.0.0.1:9/other", json={"other": True})
    session = BaseUrlSession("http://127.0.0.1:9/", "acme")
    resp = session.get("https://acme.zendesk.com/api/v2/users/me.json")
    assert resp.json() == {"user": {"id": 1}}
    # mapped back so zenpy recognises its own response
    assert resp.url == "https://acme.zendesk.com/api/v2/users/me.json"
    assert resp.request.url == "https://acme.zendesk.com/api/v2/users/me.json"
    # ... on a copy: the request as sent still says where it went.
    assert responses.calls[0].request.url == "http://127.0.0.1:9/api/v2/users/me.json"
    assert session.get("http://127.0.0.1:9/other").json() == {"other": True}  # passes through
    with pytest.raises(responses.ConnectionError):  # another subdomain is not rewritten
        session.get("https://other.zendesk.com/api/v2/users/me.json")


def test_base_url_session_refuses_a_base_url_without_scheme() -> None:
    with pytest.raises(ValueError, match="http"):
        BaseUrlSession("127.0.0.1:9", "acme")
