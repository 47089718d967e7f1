"""Configuration: valid example, every key documented, precise errors for bad input."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from deskbot.errors import ConfigError, MissingSecretError
from deskbot.settings import (
    SECRET_ENV,
    Settings,
    _first_model,
    load_settings,
    parse_settings,
    secret_status,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "deskbot.example.yaml"
MINIMAL = "zendesk:\n  subdomain: acme\n"


@pytest.fixture(autouse=True)
def _no_secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in SECRET_ENV.values():
        monkeypatch.delenv(var, raising=False)


def issues_of(text: str) -> list[Any]:
    with pytest.raises(ConfigError) as info:
        parse_settings(text, "deskbot.yaml")
    return info.value.issues


def test_example_file_is_valid() -> None:
    settings = load_settings(EXAMPLE)
    assert settings.timezone == "Europe/Berlin"
    assert settings.zendesk.account_limit_per_minute == 400
    assert settings.zendesk.incremental_limit_per_minute == 10
    assert [d.name for d in settings.digests] == ["leads-daily", "leads-weekly"]


def _key_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    paths = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        paths.append(path)
        sub = _first_model(field.annotation)
        if sub is not None:
            paths += _key_paths(sub, path + ".")
    return paths


def test_example_documents_every_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    missing = []
    for path in _key_paths(Settings):
        key = path.rsplit(".", 1)[-1]
        # Secrets are documented as commented-out references; every other key is set.
        pattern = (
            rf"^\s*(- )?(# )?{re.escape(key)}:"
            if path in SECRET_ENV
            else (rf"^\s*(- )?{re.escape(key)}:")
        )
        if not re.search(pattern, text, re.MULTILINE):
            missing.append(path)
    assert missing == []


def test_minimal_file_gets_defaults() -> None:
    settings = parse_settings(MINIMAL)
    assert settings.database_url == "sqlite:///data/deskbot.sqlite"
    assert settings.slack.mode == "socket"
    assert settings.schedules.sync == "*/5 * * * *"


def test_unknown_key_suggests_the_right_one_with_line_and_column() -> None:
    (issue,) = issues_of("zendesk:\n  subdomain: acme\n  plann: team\n")
    assert issue.path == "zendesk.plann"
    assert (issue.line, issue.column) == (3, 3)
    assert "did you mean 'plan'?" in issue.message
    assert str(issue).startswith("deskbot.yaml:3:3: zendesk.plann: unknown key")


def test_unknown_top_level_section_suggests() -> None:
    (issue,) = issues_of(MINIMAL + "shoutout:\n  enabled: true\n")
    assert issue.path == "shoutout"
    assert issue.line == 3
    assert "did you mean 'shoutouts'?" in issue.message


def test_wrong_type_names_path_line_and_value() -> None:
    (issue,) = issues_of(MINIMAL + "sync:\n  page_size: lots\n")
    assert issue.path == "sync.page_size"
    assert (issue.line, issue.column) == (4, 14)
    assert "'lots'" in issue.message


def test_out_of_range_value() -> None:
    (issue,) = issues_of(MINIMAL + "sync:\n  page_size: 5000\n")
    assert issue.path == "sync.page_size"
    assert "1000" in issue.message


def test_errors_inside_lists_name_the_index() -> None:
    text = MINIMAL + (
        "digests:\n"
        "  - name: ok\n    channel: '#leads'\n    schedule: '0 9 * * *'\n"
        "  - name: bad\n    channel: '#leads'\n    schedule: 'at nine'\n"
    )
    (issue,) = issues_of(text)
    assert issue.path == "digests[1].schedule"
    assert issue.line == 9
    assert "cron" in issue.message


def test_missing_environment_variable_is_named() -> None:
    (issue,) = issues_of("zendesk:\n  subdomain: acme\n  api_token: ${ACME_ZD_TOKEN_UNSET}\n")
    assert issue.path == "zendesk.api_token"
    assert issue.line == 3
    assert "ACME_ZD_TOKEN_UNSET is not set" in issue.message


def test_every_problem_is_reported_at_once() -> None:
    text = (
        "zendesk:\n  subdomian: acme\n  max_retries: many\n  email: ${UNSET_MAIL_VAR}\n"
        "timezone: Mars/Olympus\n"
    )
    paths = {issue.path for issue in issues_of(text)}
    assert {"zendesk.subdomian", "zendesk.max_retries", "zendesk.email", "timezone"} <= paths
    assert "zendesk.subdomain" in paths  # the required key that the typo left missing


def test_literal_secret_in_file_is_rejected() -> None:
    (issue,) = issues_of(MINIMAL + "slack:\n  bot_token: xoxb-123-456\n")
    assert issue.path == "slack.bot_token"
    assert "must not be written" in issue.message
    assert "xoxb-123-456" not in str(issue)


def test_secrets_come_from_default_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKBOT_ZENDESK_EMAIL", "bot@example.com")
    monkeypatch.setenv("DESKBOT_ZENDESK_API_TOKEN", "s3cr3t-value")
    settings = parse_settings(MINIMAL)
    assert settings.zendesk.require_credentials() == ("bot@example.com", "s3cr3t-value")
    assert "s3cr3t-value" not in repr(settings)


def test_secret_referenced_from_another_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SLACK_BOT", "xoxb-from-my-var")
    settings = parse_settings(MINIMAL + "slack:\n  bot_token: ${MY_SLACK_BOT}\n")
    assert settings.slack.require_bot_token() == "xoxb-from-my-var"


def test_missing_secret_error_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESKBOT_ZENDESK_EMAIL", "bot@example.com")
    settings = parse_settings(MINIMAL)
    with pytest.raises(MissingSecretError, match="DESKBOT_ZENDESK_API_TOKEN"):
        settings.zendesk.require_credentials()


def test_env_default_syntax(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = parse_settings("zendesk:\n  subdomain: ${ZD_SUB_UNSET:-acme}\n")
    assert settings.zendesk.subdomain == "acme"


def test_duplicate_key_is_an_error() -> None:
    (issue,) = issues_of("zendesk:\n  subdomain: a\n  subdomain: b\n")
    assert issue.path == "zendesk.subdomain"
    assert issue.line == 3
    assert "twice" in issue.message


def test_invalid_yaml_points_at_the_line() -> None:
    (issue,) = issues_of("zendesk:\n  subdomain: [acme\n")
    assert issue.line is not None
    assert "not valid YAML" in issue.message


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a\n- b\n"])
def test_empty_or_non_mapping_file(text: str) -> None:
    (issue,) = issues_of(text)
    assert "empty" in issue.message or "mapping" in issue.message


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"deskbot\.example\.yaml"):
        load_settings(tmp_path / "nope.yaml")


def test_plan_and_addon_set_rate_limits() -> None:
    s = parse_settings("zendesk:\n  subdomain: a\n  plan: enterprise\n  high_volume_addon: true\n")
    assert (s.zendesk.account_limit_per_minute, s.zendesk.incremental_limit_per_minute) == (700, 30)
    s = parse_settings("zendesk:\n  subdomain: a\n  rate_limits:\n    account_per_minute: 120\n")
    assert s.zendesk.account_limit_per_minute == 120


def test_postgres_url_is_normalised_to_psycopg() -> None:
    s = parse_settings(MINIMAL + "storage:\n  url: postgresql://bot@db:5432/deskbot\n")
    assert s.database_url == "postgresql+psycopg://bot@db:5432/deskbot"


def test_followup_rule_group_assignment_needs_group_id() -> None:
    text = MINIMAL + (
        "followups:\n  rules:\n    - name: r\n      actions:\n        assign_to: group\n"
    )
    (issue,) = issues_of(text)
    assert issue.path == "followups.rules[0].actions"
    assert "assign_group_id" in issue.message


def test_each_loaded_configuration_names_its_own_secret_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hot reload loads a new file while the old settings are still in use: a missing secret in
    either names the variable that file references, not the one loaded last."""
    monkeypatch.setenv("OLD_ZD_MAIL", "bot@example.com")
    monkeypatch.setenv("NEW_ZD_MAIL", "bot@example.com")
    old = parse_settings(
        "zendesk:\n  subdomain: a\n  email: ${OLD_ZD_MAIL}\n  api_token: ${OLD_ZD_TOKEN:-}\n"
    )
    new = parse_settings(
        "zendesk:\n  subdomain: a\n  email: ${NEW_ZD_MAIL}\n  api_token: ${NEW_ZD_TOKEN:-}\n"
    )
    with pytest.raises(MissingSecretError, match="OLD_ZD_TOKEN"):
        old.zendesk.require_credentials()
    with pytest.raises(MissingSecretError, match="NEW_ZD_TOKEN"):
        new.zendesk.require_credentials()
    assert secret_status(old)["zendesk.api_token"][0] == "OLD_ZD_TOKEN"
