"""``Database.upgrade()`` on a current schema answers without alembic; otherwise alembic runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from deskbot.adapters.db.perf_migrations import at_head, current_head, scan_head
from deskbot.adapters.db.store import MIGRATIONS_DIR, Database

SRC = Path(__file__).resolve().parents[1] / "src"


def test_the_text_scan_finds_alembics_head() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert current_head() == ScriptDirectory.from_config(cfg).get_current_head()


def test_two_heads_or_an_odd_file_defer_to_alembic(tmp_path: Path) -> None:
    (tmp_path / "0001_a.py").write_text('revision = "0001"\ndown_revision = None\n')
    (tmp_path / "0002_b.py").write_text('revision = "0002"\ndown_revision = "0001"\n')
    assert scan_head(tmp_path) == "0002"
    (tmp_path / "0003_c.py").write_text('revision = "0003"\ndown_revision = "0001"\n')
    assert scan_head(tmp_path) is None  # two heads: not for the text scan to decide
    (tmp_path / "0003_c.py").write_text('revision = "0003"\ndown_revision = ("0001", "0002")\n')
    assert scan_head(tmp_path) is None  # a merge revision


def test_at_head_only_when_the_stamp_is_the_head(db: Database) -> None:
    with db.engine.connect() as conn:
        assert at_head(conn)
    with db.engine.begin() as conn:  # one revision behind: alembic's own downgrade
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "-1")
    with db.engine.connect() as conn:
        assert not at_head(conn)
    assert db.upgrade() == [current_head()]  # alembic applies the missing revision
    with db.engine.connect() as conn:
        assert at_head(conn)
    assert db.upgrade() == []


def test_a_fresh_database_is_migrated(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    with database.engine.connect() as conn:
        assert not at_head(conn)  # no alembic_version table yet
    assert database.upgrade()[0] == "0001"
    assert "satisfaction_ratings" in database.table_names()
    database.dispose()


def test_a_current_database_opens_without_importing_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'current.sqlite'}"
    Database(url).upgrade()
    code = (
        "import sys\nfrom deskbot.adapters.db.store import Database\n"
        f"assert Database({url!r}).upgrade() == []\n"
        "print('alembic' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert proc.stdout.strip() == "False", proc.stderr
