"""Is the schema already current? Answered without importing alembic.

Every command opens the store with ``Database.upgrade()``; importing alembic and loading its
script directory costs ~0.2 s of each short command's start although the schema is almost
always current. ``current_head()`` reads the revision files as text (``revision = "…"`` and
``down_revision = "…"``) and returns the single head, or None when anything is unusual
(several heads, a file it cannot read, a merge revision) — then alembic decides, as before.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

VERSIONS = Path(__file__).parent / "migrations" / "versions"
_REVISION = re.compile(r'^revision\s*(?::\s*str\s*)?=\s*["\']([^"\']+)["\']\s*$', re.M)
_DOWN = re.compile(r'^down_revision\s*(?::[^=]+)?=\s*(None|["\']([^"\']+)["\'])\s*$', re.M)


@cache
def current_head() -> str | None:
    """The single head of the shipped revisions (read once per process)."""
    return scan_head(VERSIONS)


def scan_head(versions: Path) -> str | None:
    revisions: set[str] = set()
    parents: set[str] = set()
    try:
        files = sorted(versions.glob("*.py"))
        for path in files:
            source = path.read_text(encoding="utf-8")
            rev = _REVISION.findall(source)
            down = _DOWN.findall(source)
            if len(rev) != 1 or len(down) != 1:
                return None
            revisions.add(rev[0])
            if down[0][1]:
                parents.add(down[0][1])
    except OSError:
        return None
    heads = revisions - parents
    return next(iter(heads)) if len(heads) == 1 and len(files) == len(revisions) else None


def at_head(conn: Connection) -> bool:
    """True when the database's single alembic revision is the scripts' single head."""
    head = current_head()
    if head is None:
        return False
    try:
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except SQLAlchemyError:
        return False
    return len(rows) == 1 and rows[0][0] == head
