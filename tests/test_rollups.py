"""Per-day rollups (issue 19): every answer equals the direct SQL, and the sync keeps them true.

The reference is ``SqlKpiSource(rollups=False)``: the queries over the tickets that were
independently recomputed. A seeded random help desk is written through the sync's own write
path (``SqlSyncStore.write_records``) in pages, then changed the way Zendesk changes tickets
(reassigned, regrouped, solved, reopened, deleted, re-tagged, ratings flipped); the rollups it
maintained must equal a rebuild (``SqlRollups.check``), and random windows — through both DST
switches, in timezones with 30- and 45-minute offsets — scopes (team, group, agent, both) and
"now" positions must give identical figures, medians and p90s included.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from deskbot.adapters.db.kpi import SqlKpiSource
from deskbot.adapters.db.perf_kpi import SqlHeadlines
from deskbot.adapters.db.rollups import DAYS, STATE, SqlRollups
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.sync_store import SqlSyncStore
from deskbot.domain.metrics import Scope, Window, buckets
from deskbot.domain.rollups import Histogram, distinct_values, pack
from deskbot.domain.sync import PageRecords
from kpi_dataset import metric, rating, ticket

AGENTS = [300, 301, 302, 303, 304, 305]
GROUPS = [30, 31, 32]
FIRST = datetime(2026, 3, 10, tzinfo=UTC)
DAYS_SPAN = 240  # through both 2026 switches (29 March / 25 October in Europe)
TAGS = ["vip", "bug", "billing", "hooray"]
STATUSES = ["new", "open", "pending", "hold", "solved", "closed"]


def _ticket(rng: random.Random, tid: int) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    created = FIRST + timedelta(seconds=rng.randrange(DAYS_SPAN * 86400))
    agent = rng.choice([*AGENTS, None])
    group = rng.choice([*GROUPS, None])
    solved = None
    if rng.random() < 0.75:
        solved = created + timedelta(
            minutes=rng.choice([0, rng.randrange(1, 90), rng.randrange(1, 9000)])
        )
    if rng.random() < 0.03 and solved is not None:
        solved = created - timedelta(
            minutes=rng.randrange(1, 3000)
        )  # odd data: solved before created
    status = rng.choice(["solved", "closed"]) if solved else rng.choice(STATUSES[:4])
    if solved is not None and rng.random() < 0.1:
        status = rng.choice(["open", "pending"])  # reopened after the solve
    deleted = rng.random() < 0.03
    row = ticket(
        tid,
        created,
        "deleted" if deleted else status,
        deleted=deleted,
        assignee=agent,
        group=group,
        requester=7000 + rng.randrange(60) if rng.random() < 0.95 else None,
        org=rng.choice([None, None, 900, 901, 902]),
        channel=rng.choice(["email", "web", "chat", None, "unknown"]),
    )
    reply = rng.choice([None, rng.randrange(0, 15), rng.randrange(0, 2000)])
    res = rng.choice([None, rng.randrange(0, 30), rng.randrange(0, 20000)])
    m = metric(
        tid,
        solved,
        reply=reply,
        reply_b=None if reply is None else reply // 2,
        res=res,
        res_b=None if res is None else res // 3,
        replies=rng.choice([None, 0, 1, 1, 2, 3, 9]),
        reopens=rng.choice([None, 0, 0, 1, 2]),
    )
    tags = rng.sample(TAGS, rng.choice([0, 0, 1, 2]))
    return row, m, tags


SCORES = ["good", "bad", "bad", "offered", "unoffered", "good_with_comment", "bad_with_comment"]


def _rating(rng: random.Random, rid: int, tid: int, when: datetime) -> dict[str, Any]:
    return rating(
        rid,
        tid if rng.random() < 0.97 else 90_000 + tid,  # a few rate tickets that are not synced
        rng.choice(SCORES),
        when + timedelta(hours=rng.randrange(0, 96)),
        assignee=rng.choice([*AGENTS, None]),
        group=rng.choice([*GROUPS, None]),
        requester=rng.choice([None, *range(7000, 7012)]),
    )


def _page(
    tickets: list[tuple[dict[str, Any], dict[str, Any], list[str]]], ratings: list[dict[str, Any]]
) -> PageRecords:
    return PageRecords(
        tickets=[t for t, _, _ in tickets],
        ticket_metrics=[m for _, m, _ in tickets],
        ticket_tags=[{"ticket_id": t["id"], "tag": tag} for t, _, tags in tickets for tag in tags],
        ratings=ratings,
    )


def sync_help_desk(db: Database, seed: int = 7, n: int = 1200) -> None:
    """Write a help desk through the sync's write path, then change it page by page."""
    rng = random.Random(seed)
    store = SqlSyncStore(db)
    data = {tid: _ticket(rng, tid) for tid in range(1, n + 1)}
    ratings: dict[int, dict[str, Any]] = {}
    for tid, (row, _, _) in data.items():
        if rng.random() < 0.4:
            ratings[tid] = _rating(rng, 50_000 + tid, tid, row["created_at"])
    ids = list(data)
    for start in range(0, n, 250):
        page = [data[t] for t in ids[start : start + 250]]
        with db.engine.begin() as conn:
            store.write_records(
                conn, _page(page, [ratings[t] for t in ids[start : start + 250] if t in ratings])
            )
    # Zendesk changes tickets: a few pages of updates to earlier tickets.
    for _ in range(4):
        changed = rng.sample(ids, 150)
        page = []
        for tid in changed:
            row, m, tags = data[tid]
            row, m = dict(row), dict(m)
            roll = rng.random()
            if roll < 0.2:
                row["assignee_id"] = rng.choice([*AGENTS, None])
            elif roll < 0.35:
                row["group_id"] = rng.choice([*GROUPS, None])
            elif roll < 0.55:  # solved (again), later
                m["solved_at"] = row["created_at"] + timedelta(minutes=rng.randrange(1, 20000))
                m["reply_time_calendar"] = rng.randrange(0, 500)
                row["status"] = "solved"
            elif roll < 0.65:  # reopened
                row["status"] = "open"
            elif roll < 0.72:
                row["is_deleted"], row["status"] = True, "deleted"
            elif roll < 0.85:
                tags = rng.sample(TAGS, rng.choice([0, 1, 3]))
            elif roll < 0.92:
                row["organization_id"] = rng.choice([None, 900, 903])
            else:
                row["channel"] = rng.choice(["email", "voice", None])
            data[tid] = (row, m, tags)
            page.append(data[tid])
        flipped = []
        for tid in rng.sample(sorted(ratings), 60):
            r = dict(ratings[tid])
            r["score"] = rng.choice(["good", "bad", "offered"])
            if rng.random() < 0.3:
                r["assignee_id"] = rng.choice([*AGENTS, None])
            ratings[tid] = r
            flipped.append(r)
        with db.engine.begin() as conn:
            store.write_records(conn, _page(page, flipped))


def _random_window(rng: random.Random, tz: str) -> Window:
    start = date(2026, 3, 5) + timedelta(days=rng.randrange(0, DAYS_SPAN))
    return Window(start, start + timedelta(days=rng.choice([1, 2, 7, 7, 30, 90, 200])), tz)


def _random_scope(rng: random.Random) -> Scope:
    roll = rng.random()
    if roll < 0.35:
        return Scope()
    if roll < 0.55:
        return Scope(group_id=rng.choice(GROUPS))
    if roll < 0.8:
        return Scope(agent_id=rng.choice(AGENTS))
    if roll < 0.95:
        return Scope(group_id=rng.choice(GROUPS), agent_id=rng.choice(AGENTS))
    return Scope(agent_id=999)  # nobody


TIMEZONES = ["Europe/Berlin", "America/New_York", "UTC", "Asia/Kathmandu", "Australia/Lord_Howe"]


@pytest.fixture
def help_desk(db: Database) -> Database:
    SqlRollups(db).rebuild("Europe/Berlin")  # built on the empty copy: the sync maintains them
    sync_help_desk(db)
    return db


def test_the_sync_keeps_the_rollups_equal_to_a_rebuild(help_desk: Database) -> None:
    rollups = SqlRollups(help_desk)
    result = rollups.check()
    assert result.ok, result.problems
    assert result.cells > 500 and result.labels > 500


def test_every_answer_equals_the_direct_sql(help_desk: Database) -> None:
    rng = random.Random(19)
    fast, direct = SqlKpiSource(help_desk), SqlKpiSource(help_desk, rollups=False)
    rollups = SqlRollups(help_desk)
    compared = 0
    for tz in TIMEZONES:
        assert rollups.ensure(tz) is (tz != "Europe/Berlin")
        assert rollups.check().ok
        for _ in range(12):
            window, scope = _random_window(rng, tz), _random_scope(rng)
            now = rng.choice([window.end + timedelta(days=3), window.end - timedelta(hours=5)])
            assert fast.window_stats(window, scope, now) == direct.window_stats(window, scope, now)
            assert fast.agent_stats(window, scope) == direct.agent_stats(window, scope)
            assert fast.team_tag_counts(window, scope, TAGS[:3]) == direct.team_tag_counts(
                window, scope, TAGS[:3]
            )
            assert fast.frt_sample(window, scope) == direct.frt_sample(window, scope)
            limit = rng.choice([1, 3, 5, 50])
            assert fast.customers_in_need(window, scope, limit) == direct.customers_in_need(
                window, scope, limit
            )
            unit = rng.choice(["day", "week"])
            bs = buckets(window.last_day, rng.choice([1, 4, 9]), unit, tz)  # type: ignore[arg-type]
            assert fast.series(bs, scope) == direct.series(bs, scope)
            compared += 1
    assert compared == 60


def test_dst_days_are_whole_local_days(help_desk: Database) -> None:
    """The two switch days (23 and 25 hours in Berlin) and their neighbours, one by one."""
    fast, direct = SqlKpiSource(help_desk), SqlKpiSource(help_desk, rollups=False)
    now = datetime(2027, 1, 1, tzinfo=UTC)
    for switch in (date(2026, 3, 29), date(2026, 10, 25)):
        for offset in (-1, 0, 1):
            day = switch + timedelta(days=offset)
            window = Window(day, day + timedelta(days=1), "Europe/Berlin")
            for scope in (Scope(), Scope(group_id=31), Scope(agent_id=302)):
                assert fast.window_stats(window, scope, now) == direct.window_stats(
                    window, scope, now
                )


def test_headlines_for_slack_come_from_the_rollups_too(help_desk: Database) -> None:
    rng = random.Random(3)
    fast, direct = SqlHeadlines(help_desk), SqlHeadlines(help_desk, rollups=False)
    for _ in range(10):
        window, scope = _random_window(rng, "Europe/Berlin"), _random_scope(rng)
        assert fast.headline(window, scope, agents=True) == direct.headline(
            window, scope, agents=True
        )


def test_another_timezone_reads_the_tickets_until_rebuilt(help_desk: Database) -> None:
    rollups = SqlRollups(help_desk)
    window = Window(date(2026, 6, 1), date(2026, 7, 1), "America/New_York")
    now = datetime(2027, 1, 1, tzinfo=UTC)
    fast, direct = SqlKpiSource(help_desk), SqlKpiSource(help_desk, rollups=False)
    # built for Berlin: a New York window is answered from the tickets, still right
    assert not fast.uses_rollups(window)
    assert fast.window_stats(window, Scope(), now) == direct.window_stats(window, Scope(), now)
    assert rollups.ensure("America/New_York") is True
    assert fast.uses_rollups(window)
    assert rollups.ensure("America/New_York") is False
    assert fast.window_stats(window, Scope(), now) == direct.window_stats(window, Scope(), now)


def test_check_names_a_damaged_cell_and_a_rebuild_repairs_it(help_desk: Database) -> None:
    rollups = SqlRollups(help_desk)
    with help_desk.engine.begin() as conn:
        row = conn.execute(
            select(DAYS.c.day, DAYS.c.group_id, DAYS.c.assignee_id).where(DAYS.c.solved > 0)
        ).first()
        assert row is not None
        conn.execute(
            update(DAYS)
            .where(DAYS.c.day == row.day, DAYS.c.group_id == row.group_id)
            .where(DAYS.c.assignee_id == row.assignee_id)
            .values(solved=DAYS.c.solved + 1, frt=pack({123_456: 7}))
        )
    result = rollups.check()
    assert not result.ok, "the damage went unnoticed"
    assert any(row.day.isoformat() in p and "solved" in p and "frt" in p for p in result.problems)
    rollups.rebuild("Europe/Berlin")
    assert rollups.check().ok


def test_an_empty_state_means_direct_reads_and_writers_leave_the_cells_alone(db: Database) -> None:
    """After the migration nothing is built: pages are written without touching the cells and
    reports read the tickets; the first ``ensure`` builds everything."""
    sync_help_desk(db, n=300)
    with db.engine.connect() as conn:
        assert conn.execute(select(STATE.c.status)).scalar_one() == "empty"
        assert conn.execute(select(DAYS.c.day)).first() is None
    window = Window(date(2026, 3, 1), date(2026, 11, 1), "UTC")
    fast, direct = SqlKpiSource(db), SqlKpiSource(db, rollups=False)
    now = datetime(2027, 1, 1, tzinfo=UTC)
    assert not fast.uses_rollups(window)
    assert SqlRollups(db).ensure("UTC") is True
    assert fast.uses_rollups(window)
    assert fast.window_stats(window, Scope(), now) == direct.window_stats(window, Scope(), now)
    assert fast.agent_stats(window, Scope()) == direct.agent_stats(window, Scope())


def test_histogram_percentiles_match_the_sorted_list() -> None:
    from deskbot.domain.metrics import percentile_sorted

    rng = random.Random(5)
    for _ in range(200):
        values = [
            rng.choice([rng.randrange(0, 20), rng.randrange(0, 10**7)])
            for _ in range(rng.randrange(1, 60))
        ]
        parts: list[dict[int, int]] = [{} for _ in range(3)]
        for v in values:
            part = parts[rng.randrange(3)]
            part[v] = part.get(v, 0) + 1
        hist = Histogram(pack(p) for p in parts)
        ordered = sorted(values)
        for q in (0.0, 0.1, 0.5, 0.9, 1.0):
            assert hist.percentile(q) == percentile_sorted(ordered, q)
        assert hist.expanded() == ordered
        assert distinct_values(pack(p) for p in parts) == len(set(values))
    assert Histogram([]).percentile(0.5) is None


def test_db_check_verifies_repairs_and_follows_the_timezone(tmp_path: Path) -> None:
    """``deskbot db check``: not built → a note; built → verified; a damaged cell → named,
    exit 1; ``--repair`` → rebuilt; another configured timezone → rebuilt in it."""
    import json
    import os
    import subprocess
    import sys

    DESKBOT = [sys.executable, "-m", "deskbot", "--log-level", "warning"]
    url = f"sqlite:///{tmp_path / 'deskbot.sqlite'}"
    database = Database(url)
    database.upgrade()
    sync_help_desk(database, n=200)
    config = tmp_path / "deskbot.yaml"

    def check(tz: str, *args: str) -> subprocess.CompletedProcess[str]:
        config.write_text(
            f"timezone: {tz}\ndata_dir: {tmp_path}\nzendesk:\n  subdomain: example\n"
            f"storage:\n  url: {url}\n",
            encoding="utf-8",
        )
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
        env.pop("DESKBOT_CONFIG", None)
        return subprocess.run(
            [*DESKBOT, "--config", str(config), "db", "check", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    first = check("Europe/Berlin")
    assert first.returncode == 0, first.stderr
    assert "not built yet" in first.stdout
    built = check("Europe/Berlin", "--repair")
    assert built.returncode == 0 and "rebuilt;" in built.stdout, built.stdout + built.stderr
    with database.engine.begin() as conn:
        conn.execute(update(DAYS).where(DAYS.c.group_id == 31).values(bad=DAYS.c.bad + 1))
    damaged = check("Europe/Berlin")
    assert damaged.returncode == 1
    assert "group 31" in damaged.stdout and ": bad" in damaged.stdout
    assert "--repair" in damaged.stdout
    assert check("Europe/Berlin", "--repair").returncode == 0
    moved = check("Asia/Tokyo")
    assert moved.returncode == 0 and "configured timezone is Asia/Tokyo" in moved.stdout
    repaired = json.loads(check("Asia/Tokyo", "--repair", "--json").stdout)
    assert repaired["ok"] and repaired["repaired"] and repaired["timezone"] == "Asia/Tokyo"
    database.dispose()


class _CountingRollups(SqlRollups):
    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self.rebuilds: list[str] = []

    def rebuild(self, tz: str, *, reason: str = "asked") -> None:
        self.rebuilds.append(reason)
        super().rebuild(tz, reason=reason)


def test_the_sync_builds_them_keeps_them_and_rebuilds_after_a_full_resync(
    db: Database, clock: Any
) -> None:
    from deskbot.services.sync import SyncService
    from zendesk_fake import FakeZendesk, InMemorySource, make_rating, make_ticket

    now = int(clock.now().timestamp())
    fake = FakeZendesk(
        [make_ticket(i, now - i * 3600, assignee_id=4200 + i % 3) for i in range(1, 40)],
        [make_rating(i, i, now - i * 3000, "good" if i % 3 else "bad") for i in range(1, 25)],
    )
    rollups = _CountingRollups(db)
    service = SyncService(
        InMemorySource(fake), SqlSyncStore(db), clock, rollups=rollups, timezone="Europe/Berlin"
    )
    service.run()
    assert rollups.rebuilds == ["not built yet"]  # built once, on the empty copy
    assert rollups.check().ok and rollups.check().cells > 0
    # A rating flips on a ticket and a ticket is reassigned: the pages keep the cells true.
    clock.advance(hours=2)
    later = int(clock.now().timestamp()) - 60
    bad = {"id": 4, "score": "bad", "comment": "Still broken", "reason": None}
    fake.tickets.append(make_ticket(4, later, satisfaction_rating=bad, assignee_id=4299))
    service.run()
    assert rollups.rebuilds == ["not built yet"]
    assert rollups.check().ok
    service.run(full=True)
    assert rollups.rebuilds == ["not built yet", "full resync"]
    service.timezone = "America/New_York"  # the configured timezone changed
    service.run()
    assert rollups.rebuilds[-1] == "timezone changed"
    state = rollups.state()
    assert state is not None and state.timezone == "America/New_York"
    assert rollups.check().ok


def test_a_page_that_fails_half_way_leaves_rows_and_rollups_as_they_were(
    help_desk: Database,
) -> None:
    """The cells change in the page's transaction: a page whose last write fails (here a
    rating without a score) changes neither the tickets nor the cells."""
    from deskbot.domain.sync import StreamState

    rng = random.Random(23)
    store = SqlSyncStore(help_desk)
    before = SqlRollups(help_desk).check()
    with help_desk.engine.connect() as conn:
        cells = conn.execute(select(DAYS).order_by(DAYS.c.day, DAYS.c.group_id)).all()
    page = [_ticket(rng, tid) for tid in range(5000, 5040)]
    broken = _rating(rng, 99_999, 5000, datetime(2026, 6, 1, tzinfo=UTC))
    broken["score"] = None
    with pytest.raises(Exception, match=r"(?i)null|not-null|constraint"):
        store.apply_page(_page(page, [broken]), StreamState("tickets", pages_total=1))
    with help_desk.engine.connect() as conn:
        assert conn.execute(select(DAYS).order_by(DAYS.c.day, DAYS.c.group_id)).all() == cells
    assert before.ok and SqlRollups(help_desk).check().ok


def test_two_writers_at_once_keep_every_cell(help_desk: Database) -> None:
    """Two replicas' pages at the same moment (a ticket page and a ratings page touching the
    same days): the state row serialises rollup writers, so no share is lost or doubled."""
    import threading

    rng = random.Random(31)
    store = SqlSyncStore(help_desk)
    tickets = [_ticket(rng, tid) for tid in range(6000, 6300)]
    ratings = [
        _rating(rng, 70_000 + i, rng.randrange(1, 1200), datetime(2026, 7, 1, tzinfo=UTC))
        for i in range(300)
    ]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def write(records: PageRecords) -> None:
        try:
            start.wait()
            for i in range(0, 300, 30):
                part = PageRecords(
                    tickets=records.tickets[i : i + 30],
                    ticket_metrics=records.ticket_metrics[i : i + 30],
                    ratings=records.ratings[i : i + 30],
                )
                with help_desk.engine.begin() as conn:
                    store.write_records(conn, part)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(_page(tickets, []),)),
        threading.Thread(target=write, args=(PageRecords(ratings=ratings),)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    result = SqlRollups(help_desk).check()
    assert result.ok, result.problems


def test_day_of_agrees_with_zoneinfo_even_for_odd_historical_offsets() -> None:
    """The quarter-hour cache never puts an instant on the wrong local day, including zones
    whose midnight once fell at odd minutes (Monrovia's -0:44:30) and half-hour DST."""
    from zoneinfo import ZoneInfo

    from deskbot.domain.rollups import DayOf

    rng = random.Random(8)
    for tz in ("Europe/Berlin", "Asia/Kathmandu", "Australia/Lord_Howe", "Africa/Monrovia"):
        day_of, zone = DayOf(tz), ZoneInfo(tz)
        for _ in range(3000):
            seconds = rng.randrange(0, 125 * 365 * 86400)
            instant = datetime(1905, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
            assert day_of(instant) == instant.astimezone(zone).date(), (tz, instant)


def test_a_rebuild_computes_again_when_a_page_lands_meanwhile(
    help_desk: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rebuild computes without blocking writers; a page committed between its reading
    and its swap is noticed (the state row's ``writes``) and the cells computed again."""
    from deskbot.adapters.db import rollups as module

    real = module.compute_all
    calls: list[int] = []
    rng = random.Random(41)

    def compute_then_a_page_lands(conn: Any, tz: str) -> Any:
        out = real(conn, tz)
        calls.append(1)
        if len(calls) == 1:  # another replica's sync page, right after the first reading
            with help_desk.engine.begin() as other:
                SqlSyncStore(help_desk).write_records(
                    other, _page([_ticket(rng, t) for t in range(8000, 8050)], [])
                )
        return out

    monkeypatch.setattr(module, "compute_all", compute_then_a_page_lands)
    SqlRollups(help_desk).rebuild("Europe/Berlin")
    assert len(calls) == 2  # the first computation was thrown away
    monkeypatch.setattr(module, "compute_all", real)
    result = SqlRollups(help_desk).check()
    assert result.ok, result.problems
