"""Module-level loggers follow the configuration applied after they were created."""

from __future__ import annotations

import pytest

from deskbot.log import configure_logging, get_logger


def test_logger_created_before_configure_respects_the_level(
    capsys: pytest.CaptureFixture[str],
) -> None:
    early = get_logger("deskbot.early")  # as a module-level `log = get_logger(__name__)`
    configure_logging("warning", "json")
    early.info("hidden.event")
    early.warning("shown.event")
    err = capsys.readouterr().err
    assert "hidden.event" not in err
    assert '"shown.event"' in err and '"logger": "deskbot.early"' in err
    configure_logging("info", "console")
