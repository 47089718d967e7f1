"""Module-level loggers follow the configuration applied after they were created."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from deskbot.log import configure_logging, get_logger


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.reset_defaults()  # configure_logging bound the captured stderr: unbind it
    root.handlers[:] = handlers
    root.setLevel(level)


def test_logger_created_before_configure_respects_the_level(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    early = get_logger("deskbot.early")  # as a module-level `log = get_logger(__name__)`
    configure_logging("warning", "json")
    early.info("hidden.event")
    early.bind(step=2).warning("shown.event")
    err = capsys.readouterr().err
    assert "hidden.event" not in err
    assert '"shown.event"' in err and '"logger": "deskbot.early"' in err and '"step": 2' in err
