"""Each sandbox response has the keys and JSON types of the real Zendesk recordings."""

from __future__ import annotations

from typing import Any

from zendesk_support import Client, load_fixture

# Keys a real record shows with one type in the fixture but which Zendesk also sends as null.
NULLABLE = {"photo", "ticket_restriction", "role_type"}


def jtype(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def types_by_key(records: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for rec in records:
        for key, value in rec.items():
            out.setdefault(key, set()).add(jtype(value))
    return out


def assert_same_shape(
    ours: list[dict[str, Any]], real: list[dict[str, Any]], extra_ok: set[str] = frozenset()
) -> None:  # type: ignore[assignment]
    assert ours, "no records to compare"
    expected = types_by_key(real)
    for rec in ours:
        missing = set(expected) - set(rec)
        assert not missing, f"keys missing: {sorted(missing)}"
        unexpected = set(rec) - set(expected) - extra_ok
        assert not unexpected, f"keys Zendesk does not send: {sorted(unexpected)}"
        for key, allowed in expected.items():
            got = jtype(rec[key])
            if allowed == {"null"}:
                continue
            ok = allowed | ({"null"} if key in NULLABLE else set())
            assert got in ok, f"{key}: {got} not in {sorted(ok)} ({rec[key]!r})"
            # Nested objects (via, photo, the minutes pairs) keep their keys too.
            if got == "object" and key != "satisfaction_rating":
                real_nested = next((r[key] for r in real if isinstance(r.get(key), dict)), None)
                if real_nested:
                    assert set(rec[key]) == set(real_nested), (
                        f"{key}: {sorted(rec[key])} != {sorted(real_nested)}"
                    )


def test_export_page_matches_recorded_tickets_and_envelope(shared_client: Client) -> None:
    real = load_fixture("incremental_tickets_cursor_page.json")
    page = shared_client.get("/api/v2/incremental/tickets/cursor.json", start_time=0).json()
    assert set(page) == set(real)
    for key in ("after_url", "after_cursor", "end_of_stream"):
        assert jtype(page[key]) == jtype(real[key])
    assert_same_shape(page["tickets"], real["tickets"])
    assert len(page["tickets"]) == 1000


def test_sideloads_have_user_group_organization_and_metric_shapes(shared_client: Client) -> None:
    page = shared_client.get(
        "/api/v2/incremental/tickets/cursor.json",
        start_time=0,
        per_page=200,
        include="users,groups,organizations,metric_sets",
    ).json()
    assert_same_shape(
        page["tickets"],
        load_fixture("incremental_tickets_cursor_page.json")["tickets"],
        {"metric_set"},
    )
    assert_same_shape(page["users"], load_fixture("incremental_users_page.json")["users"])
    assert_same_shape(page["groups"], load_fixture("groups_page.json")["groups"])
    assert_same_shape(
        page["organizations"], load_fixture("organizations_page.json")["organizations"]
    )
    metric_fixture = load_fixture("ticket_metric_airbyte.json")["ticket_metric"]
    metric_fixture.pop("generated_timestamp")  # hand-added by Airbyte (see SOURCES.md)
    assert_same_shape(
        [t["metric_set"] for t in page["tickets"]],
        [metric_fixture, load_fixture("ticket_metric.json")["ticket_metric"]],
    )


def test_list_endpoints_match_recorded_pages(shared_client: Client) -> None:
    for path, name, key in (
        ("/api/v2/groups.json", "groups_page.json", "groups"),
        ("/api/v2/organizations.json", "organizations_page.json", "organizations"),
    ):
        real = load_fixture(name)
        ours = shared_client.get(path, **{"page[size]": 100}).json()
        assert set(ours) == set(real)
        assert set(ours["meta"]) == set(real["meta"])
        assert set(ours["links"]) == set(real["links"])
        assert_same_shape(ours[key], real[key])


def test_satisfaction_ratings_match_recorded_records(shared_client: Client) -> None:
    real = load_fixture("satisfaction_ratings_page.json")
    ours = shared_client.get("/api/v2/satisfaction_ratings.json").json()
    assert set(ours) == set(real)  # offset envelope when no page[...] is given
    records = real["satisfaction_ratings"] + load_fixture(
        "satisfaction_ratings_records_airbyte.json"
    )
    # reason, reason_code, reason_id are documented and sent when reasons are enabled.
    assert_same_shape(ours["satisfaction_ratings"], records, {"reason", "reason_code", "reason_id"})
    bad = shared_client.get(
        "/api/v2/satisfaction_ratings", score="bad", **{"page[size]": 100}
    ).json()
    assert bad["satisfaction_ratings"]
    for rating in bad["satisfaction_ratings"]:
        assert rating["score"] == "bad"
        assert (
            isinstance(rating["reason"], str)
            and isinstance(rating["reason_code"], int)
            and isinstance(rating["reason_id"], int)
        )


def test_single_records_and_metrics(shared_client: Client, shared_sandbox: Any) -> None:
    tid = next(t.id for t in shared_sandbox.state.tickets.values() if t.status == "solved")
    metric = shared_client.get(f"/api/v2/tickets/{tid}/metrics.json").json()
    assert set(metric) == {"ticket_metric"}
    assert_same_shape(
        [metric["ticket_metric"]],
        [load_fixture("ticket_metric.json")["ticket_metric"]],
        {"custom_status_updated_at"},
    )
    ticket = shared_client.get(f"/api/v2/tickets/{tid}.json").json()["ticket"]
    assert_same_shape([ticket], load_fixture("incremental_tickets_cursor_page.json")["tickets"])
    me = shared_client.get("/api/v2/users/me.json").json()["user"]
    assert me["role"] == "admin"
    assert_same_shape([me], load_fixture("incremental_users_page.json")["users"])


def test_not_found_and_unauthorized_bodies(shared_client: Client, shared_sandbox: Any) -> None:
    real = load_fixture("error_record_not_found_404.json")
    for path in (
        "/api/v2/tickets/99999999.json",
        "/api/v2/users/1.json",
        "/api/v2/tickets/99999999/metrics.json",
    ):
        resp = shared_client.get(path)
        assert resp.status_code == 404
        assert resp.json() == real
    resp = shared_client.session.get(
        shared_sandbox.base_url + "/api/v2/users/me.json", auth=("admin@example.com/token", "wrong")
    )
    assert resp.status_code == 401
    assert resp.json() == {"error": "Couldn't authenticate you"}
    plain = shared_client.session.get(
        shared_sandbox.base_url + "/api/v2/users/me.json",
        auth=(shared_sandbox.email, shared_sandbox.token),
    )
    assert plain.status_code == 401  # password form of the credentials is not the API-token form


def test_users_pages_show_many_and_offset_pagination(
    shared_client: Client, shared_sandbox: Any
) -> None:
    seen: list[int] = []
    params: dict[str, Any] = {"page[size]": 100}
    while True:
        page = shared_client.get("/api/v2/users.json", **params).json()
        seen += [u["id"] for u in page["users"]]
        if not page["meta"]["has_more"]:
            break
        assert page["links"]["next"].startswith(shared_sandbox.base_url)
        params = {"page[size]": 100, "page[after]": page["meta"]["after_cursor"]}
    assert seen == sorted(shared_sandbox.state.users)
    agents = shared_client.get("/api/v2/users.json", role="agent", per_page=100).json()
    assert {u["role"] for u in agents["users"]} == {"agent"}
    assert agents["count"] == len(shared_sandbox.state.agent_ids)
    ids = [*seen[:3], 12345]
    many = shared_client.get("/api/v2/users/show_many.json", ids=",".join(map(str, ids))).json()
    assert [u["id"] for u in many["users"]] == seen[:3]
    second = shared_client.get("/api/v2/satisfaction_ratings.json", page=2, per_page=50).json()
    assert second["previous_page"] and len(second["satisfaction_ratings"]) == 50
    assert shared_client.get("/api/v2/users.json", **{"page[size]": 101}).status_code == 400
    assert shared_client.get("/api/v2/satisfaction_ratings", score="great").status_code == 400
