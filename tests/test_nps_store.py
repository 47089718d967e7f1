"""Anonymous by construction: no column, id, time or row order of ``nps_answers`` (or of what
waits for a release) links an answer to a person. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import inspect, select, text

from deskbot.adapters.db.nps_store import Sealer, SealError, SqlNpsStore
from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import NpsAnswer, NpsAsk, NpsReplyRoute, NpsSealed
from deskbot.services.nps import NewAsk
from deskbot.testing import FakeClock
from nps_support import SECRET

PEOPLE = [f"U{i:03d}" for i in range(8)]


def _round(db: Database, clock: FakeClock) -> tuple[SqlNpsStore, list[str]]:
    store = SqlNpsStore(db, Sealer(SECRET))
    now = clock.now()
    asks = [NewAsk(p, "Support", now, now + timedelta(days=5)) for p in PEOPLE]
    assert store.create_round("r1", "2026-Q4", now, now + timedelta(days=5), asks)
    by_person = {}
    for ask in store.asks("r1"):
        assert store.claim_send(ask, now)
        assert store.mark_sent(ask.id, now, f"D{ask.slack_user_id}", "1.0")
        by_person[ask.slack_user_id] = ask.id
    return store, [by_person[p] for p in PEOPLE]  # ask ids in PEOPLE's order


def test_answers_table_has_no_column_that_can_point_at_a_person(db: Database) -> None:
    columns = {c["name"]: c for c in inspect(db.engine).get_columns("nps_answers")}
    assert set(columns) == {
        "id",
        "department",
        "quarter",
        "round_id",
        "cell",
        "score",
        "comment",
        "may_share",
        "discussed",
    }
    # No timestamp of any kind, no foreign key, no autoincrementing id.
    assert not [n for n, c in columns.items() if "DATE" in str(c["type"]).upper()]
    assert not [n for n, c in columns.items() if "TIME" in str(c["type"]).upper()]
    assert inspect(db.engine).get_foreign_keys("nps_answers") == []
    assert "VARCHAR" in str(columns["id"]["type"]).upper()
    for table in ("nps_sealed", "nps_reply_routes"):
        names = {c["name"] for c in inspect(db.engine).get_columns(table)}
        assert not names & {"slack_user_id", "ask_id", "created_at", "answered_at", "user"}
    ask_columns = {c["name"] for c in inspect(db.engine).get_columns("nps_asks")}
    assert not ask_columns & {"score", "comment", "answer_id", "answered_at", "updated_at"}


def test_answers_are_written_only_at_release_in_shuffled_order_with_random_ids(
    db: Database, clock: FakeClock
) -> None:
    store, ids = _round(db, clock)
    # People answer in this order with distinct, recognisable scores.
    for score, (person, ask_id) in enumerate(zip(PEOPLE, ids, strict=True)):
        result, _box = store.record_answer(ask_id, person, score + 1, clock.now())
        assert result == "ok"
    with db.engine.connect() as conn:
        assert conn.execute(select(NpsAnswer.__table__)).all() == []  # type: ignore[attr-defined]
        boxes = [bytes(b) for b in conn.execute(select(NpsSealed.__table__.c.box)).scalars()]  # type: ignore[attr-defined]
    for box in boxes:  # sealed: no person, no score in clear
        assert not any(p.encode() in box for p in PEOPLE)
        assert b"score" not in box
    shuffled: list[list[object]] = []

    def shuffle(values: list[object]) -> None:
        values.reverse()  # a known permutation stands in for the random one
        shuffled.append(list(values))

    store._shuffle = shuffle
    [cell] = store.release_round("r1", threshold=5, now=clock.now())
    assert cell.released and (cell.promoters, cell.passives, cell.detractors) == (0, 2, 6)
    order = "rowid" if db.dialect == "sqlite" else "ctid"
    with db.engine.connect() as conn:
        physical = [
            r[0] for r in conn.execute(text(f"SELECT score FROM nps_answers ORDER BY {order}"))
        ]
        answer_ids = [r[0] for r in conn.execute(text("SELECT id FROM nps_answers"))]
        assert conn.execute(select(NpsSealed.__table__)).all() == []  # type: ignore[attr-defined]
        if db.dialect == "postgresql":
            xmins = {r[0] for r in conn.execute(text("SELECT xmin::text FROM nps_answers"))}
            ask_xmins = {r[0] for r in conn.execute(text("SELECT xmin::text FROM nps_asks"))}
            assert len(xmins) == 1  # one transaction wrote them all
            assert not xmins & ask_xmins
    # Physical order is the shuffle's, not the answering order (1..8).
    assert physical == list(range(8, 0, -1)) and physical != sorted(physical)
    assert shuffled and not set(answer_ids) & set(ids)
    assert len(set(answer_ids)) == 8 and all(len(i) == 32 for i in answer_ids)


def test_below_threshold_nothing_is_written_and_nothing_is_shown(
    db: Database, clock: FakeClock
) -> None:
    store, ids = _round(db, clock)
    for person, ask_id in list(zip(PEOPLE, ids, strict=True))[:2]:
        store.record_answer(ask_id, person, 0, clock.now())
    [cell] = store.release_round("r1", threshold=5, now=clock.now())
    assert not cell.released and cell.answered == 2 and cell.promoters == cell.detractors == 0
    with db.engine.connect() as conn:
        assert conn.execute(select(NpsAnswer.__table__)).all() == []  # type: ignore[attr-defined]
        held = conn.execute(select(NpsSealed.__table__.c.held_quarter)).scalars().all()  # type: ignore[attr-defined]
    assert held == ["2026-Q4", "2026-Q4"]
    assert store.release_round("r1", threshold=5, now=clock.now()) == []  # once only
    [pool] = store.release_pools("2026-Q4", threshold=5, now=clock.now())
    assert not pool.released
    with db.engine.connect() as conn:
        assert conn.execute(select(NpsSealed.__table__)).all() == []  # type: ignore[attr-defined]
        assert conn.execute(select(NpsAnswer.__table__)).all() == []  # type: ignore[attr-defined]


def test_reply_routes_need_the_key_and_never_hold_the_answer_id(
    db: Database, clock: FakeClock
) -> None:
    store, ids = _round(db, clock)
    boxes = {}
    for person, ask_id in zip(PEOPLE, ids, strict=True):
        _, boxes[person] = store.record_answer(ask_id, person, 9, clock.now())
    author = PEOPLE[3]
    box = boxes[author]
    assert box is not None
    assert store.add_comment(box, ids[3], author, "More docs please", True) == "ok"
    store.release_round("r1", threshold=5, now=clock.now())
    [answer] = [a for a in store.answers_in("Support", "round:r1") if a.comment]
    assert answer.comment == "More docs please" and answer.may_share
    assert store.reply_recipient(answer.id) == author
    with db.engine.connect() as conn:
        routes = conn.execute(select(NpsReplyRoute.__table__)).all()  # type: ignore[attr-defined]
    assert len(routes) == 1 and routes[0].id != answer.id and answer.id not in routes[0].id
    assert author.encode() not in bytes(routes[0].box)
    other = SqlNpsStore(db, Sealer("another-secret-entirely-0000"))
    assert other.reply_recipient(answer.id) is None  # the route id itself needs the key
    with pytest.raises(SealError):
        other.sealer.open(bytes(routes[0].box))


def test_first_click_wins_and_every_other_click_is_refused(db: Database, clock: FakeClock) -> None:
    store, ids = _round(db, clock)
    assert store.record_answer(ids[0], PEOPLE[1], 5, clock.now())[0] == "not_yours"
    assert store.record_answer(ids[0], PEOPLE[0], 5, clock.now())[0] == "ok"
    assert store.record_answer(ids[0], PEOPLE[0], 6, clock.now())[0] == "answered"
    later = clock.now() + timedelta(days=6)
    assert store.record_answer(ids[1], PEOPLE[1], 5, later)[0] == "expired"
    assert store.record_answer("missing", PEOPLE[1], 5, clock.now())[0] == "unknown"
    with db.engine.connect() as conn:
        answered = (
            conn.execute(
                select(NpsAsk.__table__.c.slack_user_id).where(NpsAsk.__table__.c.answered)  # type: ignore[attr-defined]
            )
            .scalars()
            .all()
        )
        assert answered == [PEOPLE[0]]
        assert len(conn.execute(select(NpsSealed.__table__)).all()) == 1  # type: ignore[attr-defined]
