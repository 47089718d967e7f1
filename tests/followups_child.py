"""A follow-up run in its own process (for the kill -9 test): real bootstrap, real adapters
against the parent's HTTP fakes, a file-backed ledger. Usage: CONFIG LEDGER_PATH"""

from __future__ import annotations

import sys
from pathlib import Path

from deskbot import bootstrap
from deskbot.ports import SystemClock
from followups_support import FileLedger


def main() -> None:
    settings = bootstrap.load(sys.argv[1])
    database = bootstrap.open_database(settings)
    summary = bootstrap.run_followups(
        settings, database, SystemClock(), ledger=FileLedger(Path(sys.argv[2]))
    )
    print(summary["opened"], summary["steps_done"])


if __name__ == "__main__":
    main()
