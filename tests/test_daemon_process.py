"""``deskbot run`` as a real process: SIGHUP reloads, SIGTERM stops a running job within 10 s.

The blocking job is a plugin registered through the ``deskbot.jobs`` entry-point group, from a
package that exists only on this test's ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from deskbot.adapters.db.job_ledger import SqlJobLedger
from deskbot.adapters.db.store import Database

SRC = Path(__file__).resolve().parents[1] / "src"

PLUGIN = """
from deskbot.jobs import JobSpec


def block_until_stopped(ctx):
    ctx.stop.wait()       # a job honours shutdown ...
    ctx.check_stop()      # ... by returning early: recorded as abandoned
    return {"finished": True}


SPEC = JobSpec("blocker", schedule=lambda s: "0 0 1 1 *", run=block_until_stopped)
"""

CONFIG = """\
data_dir: {data}
zendesk:
  subdomain: acme
slack:
  enabled: false
followups:
  enabled: false
schedules:
  db_maintenance: "{maintenance}"
daemon:
  health:
    port: 0
"""


class Lines:
    """The process's stderr, line by line, waited on without sleeping."""

    def __init__(self, stream: object) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.queue.put(line)

    def drain(self) -> None:
        while not self.queue.empty():
            self.seen.append(self.queue.get())

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.queue.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} not logged; got:\n{''.join(self.seen)}")


@pytest.mark.slow
def test_sighup_reloads_and_sigterm_stops_a_running_job_within_10_seconds(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "deskbot_test_blocker.py").write_text(PLUGIN, encoding="utf-8")
    dist = site / "deskbot_test_blocker-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: deskbot-test-blocker\nVersion: 1.0\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        "[deskbot.jobs]\nblocker = deskbot_test_blocker:SPEC\n", encoding="utf-8"
    )
    config = tmp_path / "deskbot.yaml"
    data = tmp_path / "data"
    config.write_text(CONFIG.format(data=data, maintenance="17 3 * * *"), encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(site)])
    env.pop("DESKBOT_CONFIG", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deskbot",
            "--log-format",
            "json",
            "-c",
            str(config),
            "run",
            "--now",
            "blocker",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = Lines(proc.stderr)
        lines.wait_for('"job.started"')
        config.write_text(CONFIG.format(data=data, maintenance="45 4 * * *"), encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        reloaded = lines.wait_for('"config.reloaded"')
        assert '"reason": "SIGHUP"' in reloaded
        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            lines.drain()
            raise AssertionError("deskbot run did not stop:\n" + "".join(lines.seen)) from None
        took = time.monotonic() - stopped_at
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0
    assert took < 10, f"stopping took {took:.1f} s"
    database = Database(f"sqlite:///{data / 'deskbot.sqlite'}")
    [run] = SqlJobLedger(database).recent_runs("blocker")
    database.dispose()
    assert run.outcome == "abandoned"
    assert run.finished_at is not None
    assert "shutting down" in (run.error or "")
