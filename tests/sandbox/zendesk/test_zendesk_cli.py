"""``deskbot sandbox zendesk`` serves until SIGTERM and prints how to reach it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

SRC = str(Path(__file__).resolve().parents[3] / "src")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.mark.slow
def test_cli_serves_and_stops_on_sigterm() -> None:
    args = ["sandbox", "zendesk", "--port", "0", "--tickets", "80", "--seed", "3"]
    args += ["--start", "2026-11-02T09:00:00+00:00", "--time-scale", "60"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "deskbot", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("Zendesk sandbox listening on http://127.0.0.1:"), first
        base = first.split()[-1]
        lines = [proc.stdout.readline() for _ in range(2)]
        email = lines[0].split()[-1]
        token = lines[1].split()[-1]
        me = requests.get(
            f"{base}/api/v2/users/me.json", auth=(f"{email}/token", token), timeout=10
        )
        assert me.status_code == 200 and me.json()["user"]["email"] == email
        counters = requests.get(f"{base}/_sandbox/counters", timeout=10).json()
        assert counters["requests"] == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_refuses_a_start_without_timezone() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deskbot", "sandbox", "zendesk", "--start", "2026-11-02T09:00"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "timezone" in result.stderr
