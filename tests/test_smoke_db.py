from deskbot.adapters.db.store import Database, all_tables


def test_upgrade_creates_every_table(db: Database) -> None:
    assert set(all_tables()) <= set(db.table_names())
