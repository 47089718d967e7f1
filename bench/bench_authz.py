"""What the security doors cost per Slack request (no network: the checks themselves).

    PYTHONPATH=src python bench/bench_authz.py [--n 20000]

Times, over the recorded block_actions payload (``tests/fixtures/slack``) signed with a fresh
timestamp: door 1+2 ``RequestVerifier.check`` (signature + timestamp on the raw bytes, decode,
shape); the hostile extremes it must refuse cheaply (1 MB of brackets, a 900 kB string); door 4
``RequestCheck.reason`` with a registered action and no DB check; and ``roster_directory``
plus ``actor`` (the role lookup every command and click does, from a 200-agent YAML roster).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import platform
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from deskbot.adapters.slack.authz_checks import RequestCheck
from deskbot.adapters.slack.authz_guard import Rejected, RequestVerifier
from deskbot.adapters.slack.interactions import InteractionRegistry
from deskbot.log import configure_logging
from deskbot.services.roster_directory import roster_directory
from deskbot.settings import Settings
from deskbot.testing import FakeClock

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "slack"


def _sign(body: bytes, ts: str) -> str:
    return (
        "v0="
        + hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    )


def _time(label: str, n: int, fn: Callable[[], object]) -> None:
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    per = (time.perf_counter() - start) / n
    print(f"| {label} | {n:,} | {per * 1e6:,.1f} µs |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    n = parser.parse_args().n
    configure_logging("error", "json")  # every refusal logs a line; keep the table readable
    clock = FakeClock()
    verifier = RequestVerifier(SECRET, clock)
    ts = str(int(clock.now().timestamp()))
    payload = json.loads((FIXTURE / "block_actions.json").read_text())
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": _sign(body, ts),
    }
    # the largest hostile bodies under the 1 MB cap (each bracket is 3 bytes percent-encoded)
    brackets = b"payload=" + urllib.parse.quote("[" * 160_000 + "]" * 160_000).encode()
    big = urllib.parse.urlencode({"payload": json.dumps({"type": "x", "s": "a" * 900_000})})
    big_body = big.encode()

    def refused(raw: bytes) -> Callable[[], object]:
        sig = {**headers, "x-slack-signature": _sign(raw, ts)}

        def run() -> object:
            try:
                verifier.check(sig, raw)
            except Rejected as exc:
                return exc.status
            raise AssertionError("not refused")

        return run

    registry = InteractionRegistry()
    registry.on_action("a", lambda _i: None)
    check = RequestCheck(registry, lambda: "/deskbot")
    settings = Settings.model_validate(
        {
            "zendesk": {"subdomain": "acme"},
            "roles": {"admins": ["UADMIN01"], "leads": ["ULEAD001"]},
            "roster": {
                "agents": [
                    {
                        "zendesk_user_id": 1000 + i,
                        "slack_user": f"UAGENT{i:03d}",
                        "lead": "ULEAD001",
                    }
                    for i in range(200)
                ]
            },
        }
    )
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, {platform.system()}")
    print("| check | runs | per request |")
    print("|---|---:|---:|")
    _time(
        "door 1+2: verify + parse a genuine block_actions (2.1 kB)",
        n,
        lambda: verifier.check(headers, body),
    )
    _time("door 1: refuse a bad signature", n, refused_signature(verifier, headers, body))
    _time(
        "door 1: refuse a forged 960 kB body",
        max(n // 20, 100),
        refused_signature(verifier, headers, brackets),
    )
    _time("door 2: refuse 960 kB of nested brackets (signed)", max(n // 200, 20), refused(brackets))
    _time("door 2: refuse a 900 kB string (signed)", max(n // 200, 20), refused(big_body))
    _time("door 4: RequestCheck on a registered action", n, lambda: check.reason(payload))
    _time(
        "roles: roster_directory(200 agents).actor()",
        max(n // 20, 100),
        lambda: roster_directory(settings).actor("UAGENT150"),
    )


def refused_signature(
    verifier: RequestVerifier, headers: dict[str, str], body: bytes
) -> Callable[[], object]:
    bad = {**headers, "x-slack-signature": "v0=" + "0" * 64}

    def run() -> object:
        try:
            verifier.check(bad, body)
        except Rejected as exc:
            return exc.status
        raise AssertionError("not refused")

    return run


if __name__ == "__main__":
    main()
