"""Processes for the issue-13 tests (imported by nothing; run with ``python``).

``followups CONFIG``: one follow-up pass straight through ``bootstrap.run_followups`` (no job
mutex: as two replicas racing, or a CLI run beside the daemon before issue 13). Prints the
summary as JSON.
``hold URL JOB``: take ``JOB``'s job mutex, print ``held``, then sleep until killed.
"""

from __future__ import annotations

import json
import sys
import time

from deskbot import bootstrap
from deskbot.adapters.db.job_mutex import SqlJobMutex
from deskbot.adapters.db.store import Database
from deskbot.ports import SystemClock


def main() -> None:
    mode = sys.argv[1]
    if mode == "followups":
        settings = bootstrap.load(sys.argv[2])
        database = bootstrap.open_database(settings)
        print(json.dumps(bootstrap.run_followups(settings, database, SystemClock())))
    elif mode == "hold":
        database = Database(sys.argv[2])
        hold = SqlJobMutex(database).acquire(sys.argv[3], "victim", 600)
        print("held" if hold else "busy", flush=True)
        time.sleep(600)


if __name__ == "__main__":
    main()
