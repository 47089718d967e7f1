"""Pure transforms: Zendesk JSON → rows for the store's tables (and page envelopes).

Every function here takes parsed JSON and returns plain dicts keyed by column name; nothing
does I/O. A page is validated and mapped *completely* before anything is written, so a page
with a missing key or a wrong type raises ``MalformedPage`` (naming the exact place) and
leaves the database untouched.

Conventions:
- times become timezone-aware UTC ``datetime``: the store's datetime columns are sqlmodel's
  ``UTCDateTime``, which refuses a naive datetime on write; Zendesk sends ISO 8601 ``Z`` (a
  time without an offset is read as UTC);
- each record keeps its raw JSON (``raw``) beside the typed columns;
- rows are de-duplicated by key within a page (PostgreSQL refuses to upsert one key twice in a
  statement); the last occurrence wins, which is the newest in export order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from deskbot.domain.sync import PageRecords, RatingPage, Row, TicketPage


class MalformedPage(ValueError):
    """A page whose shape is not what the API documents (missing keys, wrong types)."""


def _where(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _get(obj: Mapping[str, Any], key: str, path: str) -> Any:
    try:
        return obj[key]
    except KeyError:
        raise MalformedPage(f"{_where(path, key)} is missing") from None


def _int(value: Any, where: str, optional: bool = True) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedPage(f"{where} should be an integer, got {type(value).__name__}")
    return value


def _req_int(value: Any, where: str) -> int:
    out = _int(value, where, optional=False)
    assert out is not None
    return out


def _str(value: Any, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise MalformedPage(f"{where} should be a string, got {type(value).__name__}")


def _bool(value: Any, where: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise MalformedPage(f"{where} should be true or false, got {type(value).__name__}")
    return value


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise MalformedPage(f"{where} should be an object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedPage(f"{where} should be a list, got {type(value).__name__}")
    return value


def parse_time(value: Any, where: str) -> datetime | None:
    """ISO 8601 (``2023-09-18T15:57:42Z``) → aware UTC; None stays None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedPage(f"{where} should be an ISO 8601 time, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedPage(f"{where} is not an ISO 8601 time: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _req_time(value: Any, where: str) -> datetime:
    out = parse_time(value, where)
    if out is None:
        raise MalformedPage(f"{where} is null; a time is required")
    return out


def epoch(when: datetime) -> int:
    """Aware (or naive UTC) datetime → epoch seconds."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


def raw_json(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def _dedupe(rows: Iterable[Row], key: tuple[str, ...] = ("id",)) -> list[Row]:
    out: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        k = tuple(row[c] for c in key)
        out.pop(k, None)  # re-insert so the order follows the last occurrence
        out[k] = row
    return list(out.values())


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


def map_ticket(ticket: Any, synced_at: datetime, path: str = "ticket") -> tuple[Row, list[Row]]:
    """A ticket → (``tickets`` row, ``ticket_tags`` rows)."""
    t = _obj(ticket, path)
    ticket_id = _req_int(_get(t, "id", path), _where(path, "id"))
    status = _str(_get(t, "status", path), _where(path, "status")) or ""
    via = t.get("via")
    channel = None
    if via is not None:
        channel = _str(_obj(via, _where(path, "via")).get("channel"), _where(path, "via.channel"))
    tags_value = t.get("tags") or []
    tags: list[str] = []
    for i, tag in enumerate(_list(tags_value, _where(path, "tags"))):
        if not isinstance(tag, str):
            raise MalformedPage(f"{path}.tags[{i}] should be a string")
        if tag not in tags:
            tags.append(tag)
    row: Row = {
        "id": ticket_id,
        "created_at": _req_time(_get(t, "created_at", path), _where(path, "created_at")),
        "updated_at": _req_time(_get(t, "updated_at", path), _where(path, "updated_at")),
        "generated_timestamp": _req_int(
            _get(t, "generated_timestamp", path), _where(path, "generated_timestamp")
        ),
        "status": status,
        "is_deleted": status == "deleted",
        "priority": _str(t.get("priority"), _where(path, "priority")),
        "type": _str(t.get("type"), _where(path, "type")),
        "subject": _str(t.get("subject"), _where(path, "subject")),
        "channel": channel,
        "requester_id": _int(t.get("requester_id"), _where(path, "requester_id")),
        "submitter_id": _int(t.get("submitter_id"), _where(path, "submitter_id")),
        "assignee_id": _int(t.get("assignee_id"), _where(path, "assignee_id")),
        "group_id": _int(t.get("group_id"), _where(path, "group_id")),
        "organization_id": _int(t.get("organization_id"), _where(path, "organization_id")),
        "brand_id": _int(t.get("brand_id"), _where(path, "brand_id")),
        "tags": " ".join(tags),
        "raw": raw_json(t),
        "synced_at": synced_at,
    }
    return row, [{"ticket_id": ticket_id, "tag": tag} for tag in tags]


def _minutes(m: Mapping[str, Any], key: str, kind: str, path: str) -> int | None:
    value = m.get(key)
    if value is None:
        return None
    inner = _obj(value, _where(path, key))
    return _int(inner.get(kind), f"{path}.{key}.{kind}")


def map_ticket_metric(metric: Any, path: str = "metric_set", ticket_id: int | None = None) -> Row:
    """A metric set (sideload, ``ticket.metric_set`` or ``/ticket_metrics/{id}``) → row."""
    m = _obj(metric, path)
    tid = _int(m.get("ticket_id"), _where(path, "ticket_id"))
    if tid is None:
        tid = ticket_id
    if tid is None:
        raise MalformedPage(f"{path}.ticket_id is missing")
    return {
        "ticket_id": tid,
        "metric_id": _int(m.get("id"), _where(path, "id")),
        "solved_at": parse_time(m.get("solved_at"), _where(path, "solved_at")),
        "assignee_updated_at": parse_time(
            m.get("assignee_updated_at"), _where(path, "assignee_updated_at")
        ),
        "reply_time_calendar": _minutes(m, "reply_time_in_minutes", "calendar", path),
        "reply_time_business": _minutes(m, "reply_time_in_minutes", "business", path),
        "full_resolution_calendar": _minutes(
            m, "full_resolution_time_in_minutes", "calendar", path
        ),
        "full_resolution_business": _minutes(
            m, "full_resolution_time_in_minutes", "business", path
        ),
        "replies": _int(m.get("replies"), _where(path, "replies")),
        "reopens": _int(m.get("reopens"), _where(path, "reopens")),
        "updated_at": parse_time(m.get("updated_at"), _where(path, "updated_at")),
        "raw": raw_json(m),
    }


def map_rating_change(
    ticket: Mapping[str, Any], path: str, synced_at: datetime | None = None
) -> Row | None:
    """The rating embedded in a ticket (``satisfaction_rating``), as a change to apply.

    Zendesk bumps the ticket when its customer rates or changes the rating, so the ticket
    export sees the change even when the ratings window has moved on (or, with the clocks in
    disagreement, never covered it). The sync store applies it like a ratings page would: a
    stored rating whose score, comment or reason differ gets them, ``updated_at`` (the
    ticket's) and a ``raw`` with the new values; a good/bad rating not stored yet is created
    from the ticket (``assignee_id``/``group_id`` the ticket's at that moment) until the
    ratings endpoint brings its own row.
    """
    value = ticket.get("satisfaction_rating")
    if not isinstance(value, dict) or value.get("id") is None or not value.get("score"):
        return None
    where = _where(path, "satisfaction_rating")
    changed_at = parse_time(ticket.get("updated_at"), _where(path, "updated_at"))
    return {
        "rating_id": _req_int(value.get("id"), _where(where, "id")),
        "score": _str(value.get("score"), _where(where, "score")),
        "comment": _str(value.get("comment"), _where(where, "comment")),
        "reason": _str(value.get("reason"), _where(where, "reason")),
        "ticket_id": _int(ticket.get("id"), _where(path, "id")),
        "assignee_id": _int(ticket.get("assignee_id"), _where(path, "assignee_id")),
        "group_id": _int(ticket.get("group_id"), _where(path, "group_id")),
        "requester_id": _int(ticket.get("requester_id"), _where(path, "requester_id")),
        "changed_at": changed_at,
        "embedded": dict(value),
        "synced_at": synced_at,
    }


def map_user(user: Any, path: str = "user") -> Row:
    u = _obj(user, path)
    return {
        "id": _req_int(_get(u, "id", path), _where(path, "id")),
        "name": _str(u.get("name"), _where(path, "name")),
        "email": _str(u.get("email"), _where(path, "email")),
        "role": _str(u.get("role"), _where(path, "role")),
        "active": _bool(u.get("active"), _where(path, "active"), True),
        "suspended": _bool(u.get("suspended"), _where(path, "suspended"), False),
        "organization_id": _int(u.get("organization_id"), _where(path, "organization_id")),
        "default_group_id": _int(u.get("default_group_id"), _where(path, "default_group_id")),
        "updated_at": parse_time(u.get("updated_at"), _where(path, "updated_at")),
        "raw": raw_json(u),
    }


def map_group(group: Any, path: str = "group") -> Row:
    g = _obj(group, path)
    return {
        "id": _req_int(_get(g, "id", path), _where(path, "id")),
        "name": _str(g.get("name"), _where(path, "name")) or "",
        "deleted": _bool(g.get("deleted"), _where(path, "deleted"), False),
        "updated_at": parse_time(g.get("updated_at"), _where(path, "updated_at")),
        "raw": raw_json(g),
    }


def map_organization(org: Any, path: str = "organization") -> Row:
    o = _obj(org, path)
    return {
        "id": _req_int(_get(o, "id", path), _where(path, "id")),
        "name": _str(o.get("name"), _where(path, "name")) or "",
        "updated_at": parse_time(o.get("updated_at"), _where(path, "updated_at")),
        "raw": raw_json(o),
    }


def map_rating(rating: Any, synced_at: datetime, path: str = "satisfaction_rating") -> Row:
    """A CSAT rating → row. ``assignee_id``/``group_id`` are the rating's own (at rating time)."""
    r = _obj(rating, path)
    score = _str(_get(r, "score", path), _where(path, "score"))
    if not score:
        raise MalformedPage(f"{path}.score is empty")
    return {
        "id": _req_int(_get(r, "id", path), _where(path, "id")),
        "ticket_id": _int(r.get("ticket_id"), _where(path, "ticket_id")),
        "score": score,
        "assignee_id": _int(r.get("assignee_id"), _where(path, "assignee_id")),
        "group_id": _int(r.get("group_id"), _where(path, "group_id")),
        "requester_id": _int(r.get("requester_id"), _where(path, "requester_id")),
        "comment": _str(r.get("comment"), _where(path, "comment")),
        "reason": _str(r.get("reason"), _where(path, "reason")),
        "reason_code": _int(r.get("reason_code"), _where(path, "reason_code")),
        "created_at": _req_time(_get(r, "created_at", path), _where(path, "created_at")),
        "updated_at": _req_time(_get(r, "updated_at", path), _where(path, "updated_at")),
        "raw": raw_json(r),
        "synced_at": synced_at,
        "source": "legacy",
        "attribution": "rating_time",
    }


def _sideload(
    body: Mapping[str, Any], key: str, mapper: Any, row_key: tuple[str, ...] = ("id",)
) -> list[Row]:
    value = body.get(key)
    if value is None:
        return []
    return _dedupe(
        (mapper(item, f"{key}[{i}]") for i, item in enumerate(_list(value, key))), row_key
    )


# --------------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------------


def parse_ticket_page(body: Any, synced_at: datetime) -> TicketPage:
    """A cursor-export page (``tickets`` + optional sideloads) → ``TicketPage``.

    Accepts the metric set both as ``ticket.metric_set`` (what ``include=metric_sets`` returns
    per ticket) and as a top-level ``metric_sets`` array matched by ``ticket_id``. Stores
    ``after_cursor`` even at ``end_of_stream`` (Zendesk sends one; the next run resumes there).
    """
    page = _obj(body, "page")
    items = _list(_get(page, "tickets", ""), "tickets")
    end_of_stream = _get(page, "end_of_stream", "")
    if not isinstance(end_of_stream, bool):
        raise MalformedPage("end_of_stream should be true or false")
    after_cursor = _str(page.get("after_cursor"), "after_cursor")
    # A time-based export page (``next_page`` + ``end_time``) continues at ``end_time``.
    end_time = _int(page.get("end_time"), "end_time")
    if not end_of_stream and not after_cursor and end_time is None:
        raise MalformedPage("after_cursor is missing although end_of_stream is false")
    records = PageRecords()
    tickets: list[Row] = []
    tags_by_ticket: dict[int, list[Row]] = {}
    metrics: list[Row] = []
    changes: list[Row] = []
    max_ts: int | None = None
    for i, item in enumerate(items):
        path = f"tickets[{i}]"
        row, tags = map_ticket(item, synced_at, path)
        tickets.append(row)
        tags_by_ticket[row["id"]] = tags  # a repeated ticket: its last version's tags
        ts = row["generated_timestamp"]
        max_ts = ts if max_ts is None or ts > max_ts else max_ts
        change = map_rating_change(item, path, synced_at)
        if change is not None:
            changes.append(change)
        inline = item.get("metric_set")
        if inline is not None:
            metrics.append(map_ticket_metric(inline, f"{path}.metric_set", row["id"]))
    metrics.extend(_sideload(page, "metric_sets", map_ticket_metric, ("ticket_id",)))
    records.tickets = _dedupe(tickets)
    records.ticket_tags = [tag for tags in tags_by_ticket.values() for tag in tags]
    records.ticket_metrics = _dedupe(metrics, ("ticket_id",))
    records.rating_changes = _dedupe(changes, ("rating_id",))
    records.users = _sideload(page, "users", map_user)
    records.groups = _sideload(page, "groups", map_group)
    records.organizations = _sideload(page, "organizations", map_organization)
    return TicketPage(records, after_cursor, end_of_stream, max_ts, end_time)


AFTER_PREFIX = "after:"
URL_PREFIX = "url:"


def parse_rating_page(body: Any, synced_at: datetime) -> RatingPage:
    """A ``/satisfaction_ratings`` page → ``RatingPage``.

    Both envelopes Zendesk uses are accepted: cursor pagination (``meta.has_more`` /
    ``meta.after_cursor``) and the older offset style (``next_page`` URL, ``null`` at the end).
    ``next_page`` on the result is ``after:<cursor>`` or ``url:<url>``, or None at the end.
    """
    page = _obj(body, "page")
    items = _list(_get(page, "satisfaction_ratings", ""), "satisfaction_ratings")
    next_page: str | None = None
    meta = page.get("meta")
    if meta is not None:
        meta = _obj(meta, "meta")
        has_more = _bool(meta.get("has_more"), "meta.has_more", False)
        if has_more:
            after = _str(meta.get("after_cursor"), "meta.after_cursor")
            if not after:
                raise MalformedPage("meta.after_cursor is missing although meta.has_more is true")
            next_page = AFTER_PREFIX + after
    else:
        url = _str(page.get("next_page"), "next_page")
        if url:
            next_page = URL_PREFIX + url
    ratings = [
        map_rating(item, synced_at, f"satisfaction_ratings[{i}]") for i, item in enumerate(items)
    ]
    max_updated = max((epoch(r["updated_at"]) for r in ratings), default=None)
    return RatingPage(PageRecords(ratings=_dedupe(ratings)), next_page, max_updated)
