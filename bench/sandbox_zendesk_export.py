"""How fast the Zendesk sandbox generates data and serves the full cursor export.

Usage: PYTHONPATH=src python bench/sandbox_zendesk_export.py [TICKETS]
Prints generation time, peak RSS, and export throughput over HTTP (1000-ticket pages with
users, groups, organizations and metric_sets sideloaded).
"""

from __future__ import annotations

import resource
import sys
import time
from datetime import UTC, datetime

import requests

from deskbot.sandbox.zendesk import ZendeskSandbox


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    started = time.perf_counter()
    sb = ZendeskSandbox(
        seed=1,
        tickets=n,
        start=datetime(2026, 11, 2, 9, tzinfo=UTC),
        account_limit=10**9,
        incremental_limit=10**9,
    )
    generated = time.perf_counter() - started
    base = sb.start()
    session = requests.Session()
    session.auth = (f"{sb.email}/token", sb.token)
    url = f"{base}/api/v2/incremental/tickets/cursor.json"
    params: dict[str, str | int] = {
        "start_time": 0,
        "include": "users,groups,organizations,metric_sets",
    }
    pages = tickets = 0
    page_times: list[float] = []
    started = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        body = session.get(url, params=params, timeout=60).json()
        page_times.append(time.perf_counter() - t0)
        pages += 1
        tickets += len(body["tickets"])
        if body["end_of_stream"]:
            break
        params = {"cursor": body["after_cursor"], "include": params["include"]}
    export = time.perf_counter() - started
    sb.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    page_times.sort()
    print(f"tickets generated: {n} in {generated:.1f} s")
    print(f"peak RSS (server and client in one process): {rss:.0f} MB")
    print(f"export: {tickets} tickets, {pages} pages in {export:.1f} s")
    median = page_times[len(page_times) // 2] * 1000
    print(f"  {tickets / export:.0f} tickets/s; page median {median:.0f} ms")


if __name__ == "__main__":
    main()
