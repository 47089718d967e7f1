"""A secret substituted into the wrong key is never printed, logged or posted; loaded secrets
are redacted from every log line by exact match; the key-name rule spares innocent keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from deskbot.adapters.db.store import Database
from deskbot.daemon import Daemon
from deskbot.errors import ConfigError
from deskbot.log import REDACTED, forget_secrets, is_secret_key, redact_text, register_secret
from deskbot.settings import parse_settings
from deskbot.testing import FakeClock, RecordingNotifier

ROOT = Path(__file__).resolve().parents[2]

# Plausible shapes: a Zendesk API token (40 mixed-case letters and digits), a Slack signing
# secret (32 hex digits), a bot token.
ZENDESK_TOKEN = "Zk3QvT9mWp2LxR8sNb4YcH7jDf6GaE1uKo5iVe0W"
SIGNING_SECRET = "5d1c0a9e8b7f6a5d4c3b2a1f0e9d8c7b"
BOT_TOKEN = "xoxb-1111-2222-ShapedLikeABotToken"

WRONG_KEYS = {
    "timezone": "timezone: ${DESKBOT_ZENDESK_API_TOKEN}\n",
    "channel": "slack:\n  channels:\n    alerts: ${DESKBOT_ZENDESK_API_TOKEN}\n",
    "cron": "schedules:\n  sync: ${DESKBOT_ZENDESK_API_TOKEN}\n",
    "integer": "sync:\n  page_size: ${DESKBOT_ZENDESK_API_TOKEN}\n",
    "user list": "roles:\n  admins: [${DESKBOT_ZENDESK_API_TOKEN}]\n",
    "embedded": "timezone: Europe/${DESKBOT_ZENDESK_API_TOKEN}\n",
    "subdomain": "zendesk:\n  subdomain: ${DESKBOT_ZENDESK_API_TOKEN}\n",
}


def _config(body: str) -> str:
    text = "zendesk:\n  subdomain: acme\n" + body
    if body.startswith("zendesk:"):
        text = body
    return text


@pytest.fixture
def secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DESKBOT_ZENDESK_API_TOKEN", ZENDESK_TOKEN)
    monkeypatch.setenv("DESKBOT_SLACK_SIGNING_SECRET", SIGNING_SECRET)
    yield
    forget_secrets()


@pytest.mark.parametrize("where", list(WRONG_KEYS))
def test_a_secret_in_the_wrong_key_is_never_echoed(secrets_in_env: None, where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(_config(WRONG_KEYS[where]), "deskbot.yaml")
    message = str(caught.value)
    assert ZENDESK_TOKEN not in message
    assert ZENDESK_TOKEN[:12] not in message  # not even a prefix
    assert "deskbot.yaml:" in message  # still says where


def test_a_value_from_a_harmless_variable_is_still_not_echoed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_CHANNEL", "not a channel")
    with pytest.raises(ConfigError) as caught:
        parse_settings(_config("slack:\n  channels:\n    alerts: ${MY_CHANNEL}\n"))
    assert "not a channel" not in str(caught.value)
    assert "comes from an environment variable" in str(caught.value)


@pytest.mark.parametrize("secret", [ZENDESK_TOKEN, BOT_TOKEN, SIGNING_SECRET])
def test_a_secret_typed_literally_into_the_wrong_key_is_not_echoed(
    secrets_in_env: None, secret: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(_config(f"slack:\n  channels:\n    alerts: {secret}\n"))
    assert secret not in str(caught.value)
    assert "slack.channels.alerts" in str(caught.value)


def test_a_literal_typo_is_still_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(_config("timezone: Europe/Berlinn\n"))
    assert "Europe/Berlinn" in str(caught.value)  # typed in the file, so helpful to repeat


def test_config_check_never_prints_it(secrets_in_env: None, tmp_path: Path) -> None:
    path = tmp_path / "deskbot.yaml"
    path.write_text(_config(WRONG_KEYS["channel"]), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    env.pop("DESKBOT_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-m", "deskbot", "config", "check", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "slack.channels.alerts" in done.stdout + done.stderr
    assert ZENDESK_TOKEN not in done.stdout + done.stderr


def test_a_rejected_reload_never_logs_or_posts_it(
    secrets_in_env: None, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from deskbot import bootstrap
    from deskbot.adapters.db.job_ledger import SqlJobLedger
    from deskbot.log import configure_logging

    configure_logging("info", "json")
    path = tmp_path / "deskbot.yaml"
    path.write_text(_config('slack:\n  channels:\n    admin: "#deskbot-admin"\n'), "utf-8")
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    db.upgrade()
    notifier = RecordingNotifier()
    daemon = Daemon(
        config_path=path,
        settings=bootstrap.load(path),
        database=db,
        ledger=SqlJobLedger(db),
        notifier=notifier,
        table=[],
        clock=FakeClock(),
        heartbeat=False,
    )
    path.write_text(
        _config(
            'slack:\n  channels:\n    admin: "#deskbot-admin"\n'
            "    alerts: ${DESKBOT_ZENDESK_API_TOKEN}\n"
        ),
        "utf-8",
    )
    result = daemon.reload_config()
    db.dispose()
    assert not result.ok
    captured = capfd.readouterr()
    assert "config.invalid" in captured.err
    everything = captured.out + captured.err + result.message + json.dumps(notifier.posts)
    assert notifier.posts  # the admins were told
    assert ZENDESK_TOKEN not in everything


def test_loaded_secrets_are_redacted_by_exact_match(secrets_in_env: None) -> None:
    parse_settings(_config(""))  # loads DESKBOT_ZENDESK_API_TOKEN / _SIGNING_SECRET
    text = f"upstream said: bad credentials {ZENDESK_TOKEN}/{SIGNING_SECRET}!"
    out = redact_text(text)
    assert ZENDESK_TOKEN not in out and SIGNING_SECRET not in out
    assert out.count(REDACTED) == 2


def test_a_registered_secret_of_any_shape_is_redacted() -> None:
    try:
        register_secret("correct horse battery staple")
        assert redact_text("pw=correct horse battery staple;") == f"pw={REDACTED};"
        register_secret("abc")  # too short to redact safely: ignored
        assert redact_text("abc") == "abc"
    finally:
        forget_secrets()


@pytest.mark.parametrize(
    "value",
    [ZENDESK_TOKEN, SIGNING_SECRET, BOT_TOKEN, "xapp-1-A111-222-abc", "v0=" + "ab" * 32],
)
def test_credential_shapes_are_redacted_wherever_they_appear(value: str) -> None:
    assert value not in redact_text(f"error: {value} rejected")


@pytest.mark.parametrize("text", ["ticket 4711 solved by agent 7", "build 1a2b3c4d", "W111"])
def test_ordinary_text_is_kept(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("author", False),
        ("author_id", False),
        ("passenger", False),
        ("tokenizer", False),
        ("signatures_count", False),
        ("api_token", True),
        ("bot_token", True),
        ("password", True),
        ("signing_secret", True),
        ("Authorization", True),
        ("X-Slack-Signature", True),
        ("apiKey", True),
        ("auth", True),
        ("cookie", True),
    ],
)
def test_the_key_name_rule_matches_whole_words(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret
