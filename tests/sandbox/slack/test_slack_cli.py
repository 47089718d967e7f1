"""``deskbot sandbox slack`` runs the server, prints how to reach it, and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from slack_sdk import WebClient

SRC = Path(__file__).resolve().parents[3] / "src"


@pytest.mark.slow
def test_cli_serves_until_sigterm_and_writes_transcripts(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "deskbot",
            "--log-format",
            "json",
            "sandbox",
            "slack",
            "--port",
            "0",
            "--out",
            str(out),
            "--seed",
            "4",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        info: dict[str, str] = {}
        while "signing_secret" not in info:
            line = proc.stdout.readline()
            assert line, f"sandbox exited early: {proc.stderr.read() if proc.stderr else ''}"
            key, _, value = line.partition(": ")
            info[key] = value.strip()
        client = WebClient(token=info["bot_token"], base_url=info["base_url"])
        assert client.auth_test()["ok"]
        client.chat_postMessage(channel="#shoutouts", text="Hero of the week: Priya")
        assert len(info["signing_secret"]) == 32
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert "Hero of the week: Priya" in stdout  # the live transcript
    assert "stopped; 1 transcript(s)" in stdout
    assert "Hero of the week: Priya" in (out / "transcript" / "shoutouts.md").read_text()
