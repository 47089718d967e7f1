"""Slow work after the acknowledgement: a small bounded thread pool that logs failures.

Listeners acknowledge first and hand anything that may take time (a report, a Web API call) to
``BackgroundWork``; the answer then goes out through ``respond``. ``wait_idle`` lets tests and
shutdown wait for queued work without sleeping.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from deskbot.log import get_logger

log = get_logger(__name__)


class BackgroundWork:
    def __init__(self, max_workers: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="slack-work")
        self._pending = 0
        self._idle = threading.Condition()
        self.failures = 0

    def submit(self, name: str, func: Callable[[], None]) -> Future[None]:
        """Run ``func`` soon; an exception is logged with an error id, never raised here."""
        with self._idle:
            self._pending += 1
        return self._pool.submit(self._run, name, func)

    def _run(self, name: str, func: Callable[[], None]) -> None:
        try:
            func()
        except Exception:
            self.failures += 1
            log.exception("slack.work.failed", work=name, error_id=uuid.uuid4().hex[:8])
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no work is queued or running; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    @property
    def pending(self) -> int:
        with self._idle:
            return self._pending

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
