"""Helpers shared by the Zendesk sandbox tests (imported as a plain module)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from deskbot.sandbox.zendesk import ZendeskSandbox

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_REPO = Path(__file__).resolve().parents[3]
# Recorded Zendesk payloads, copied into the repository (see SOURCES.md there).
_FIXTURE_DIRS = [_REPO / "tests" / "fixtures" / "zendesk"]


def load_fixture(name: str) -> Any:
    for folder in _FIXTURE_DIRS:
        if (folder / name).exists():
            return json.loads((folder / name).read_text(encoding="utf-8"))
    raise FileNotFoundError(
        f"recorded fixture {name} not found in {[str(d) for d in _FIXTURE_DIRS]}"
    )


class Client:
    """requests with the sandbox's credentials."""

    def __init__(self, sb: ZendeskSandbox) -> None:
        self.sb = sb
        self.session = requests.Session()
        self.session.auth = (f"{sb.email}/token", sb.token)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.sb.base_url + path, params=params, timeout=30)

    def put(self, path: str, body: Any) -> requests.Response:
        return self.session.put(self.sb.base_url + path, json=body, timeout=30)

    def post(self, path: str, body: Any) -> requests.Response:
        return self.session.post(self.sb.base_url + path, json=body, timeout=30)

    def export_all(
        self, start_time: int = 0, **params: Any
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Follow the cursor export to end_of_stream: (tickets, pages)."""
        pages = [
            self.get(
                "/api/v2/incremental/tickets/cursor.json", start_time=start_time, **params
            ).json()
        ]
        while not pages[-1]["end_of_stream"]:
            pages.append(
                self.get(
                    "/api/v2/incremental/tickets/cursor.json",
                    cursor=pages[-1]["after_cursor"],
                    **params,
                ).json()
            )
            assert len(pages) < 10_000
        return [t for p in pages for t in p["tickets"]], pages
