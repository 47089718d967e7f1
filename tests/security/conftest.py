"""One running app for the whole security suite (module scope): starting it per case would
cost more than the cases. Each case resets the follow-ups it may touch (``Env.reset``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from security_env import Env, start

from deskbot.adapters.db.store import Database
from deskbot.log import configure_logging
from deskbot.testing import FakeClock
from slack_helpers import fake_slack_api


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    configure_logging("info", "json")
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('security') / 'deskbot.sqlite'}")
    database.upgrade()
    with fake_slack_api() as api:
        running = start(database, FakeClock(), api)
        try:
            yield running
        finally:
            running.handle.stop()
            database.dispose()


@pytest.fixture(autouse=True)
def _fresh(env: Env) -> None:
    env.reset()
