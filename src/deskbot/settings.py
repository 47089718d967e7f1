"""Typed, validated configuration loaded from YAML.

``load_settings(path)`` reads the file, substitutes ``${VAR}`` / ``${VAR:-default}`` from the
environment, validates everything with pydantic, and raises ``ConfigError`` listing *every*
problem with its key path, file line and column, and a hint ("did you mean …").

Secrets (Zendesk e-mail and API token, Slack tokens and signing secret) never live in the file.
By default they are read from the environment variables in ``SECRET_ENV``; a file may point a
secret at another variable with ``${NAME}``, but a literal secret in the file is an error.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from deskbot.errors import ConfigError, ConfigIssue, MissingSecretError
from deskbot.log import redact_text, register_secret

# --------------------------------------------------------------------------------------------
# Field types
# --------------------------------------------------------------------------------------------


def _check_cron(value: str) -> str:
    from deskbot.domain.perf_cron import plainly_valid

    if plainly_valid(value):  # common forms: no APScheduler import for short commands
        return value
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as exc:
        raise ValueError(
            f"not a valid cron expression ({exc}); use five fields, e.g. '*/5 * * * *' "
            "or '0 9 * * mon-fri'"
        ) from exc
    return value


Cron = Annotated[str, AfterValidator(_check_cron)]

_SLACK_CHANNEL = re.compile(r"^(#[a-z0-9][a-z0-9._-]{0,79}|[CGD][A-Z0-9]{2,})$")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")


def _check_channel(value: str) -> str:
    if not _SLACK_CHANNEL.match(value):
        raise ValueError(
            f"{value!r} is not a Slack channel; use '#name' (lower case) or a channel ID like "
            "'C0123ABCD'"
        )
    return value


def _check_user(value: str) -> str:
    if not _SLACK_USER.match(value):
        raise ValueError(f"{value!r} is not a Slack user ID; use an ID like 'U0123ABCD'")
    return value


SlackChannel = Annotated[str, AfterValidator(_check_channel)]
SlackUser = Annotated[str, AfterValidator(_check_user)]


class Section(BaseModel):
    """Base for every section: unknown keys are errors, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------

# Zendesk's account-wide API budget by plan (requests per minute).
PLAN_ACCOUNT_LIMITS: dict[str, int] = {
    "team": 200,
    "growth": 400,
    "professional": 400,
    "enterprise": 700,
    "enterprise_plus": 2500,
}
INCREMENTAL_EXPORT_LIMIT = 10
INCREMENTAL_EXPORT_LIMIT_HIGH_VOLUME = 30


class ZendeskRateLimits(Section):
    account_per_minute: int | None = Field(default=None, ge=1, le=100_000)
    incremental_per_minute: int | None = Field(default=None, ge=1, le=10_000)
    # Share of each budget deskbot may use; leaves room for other integrations on the account.
    utilisation: float = Field(default=1.0, gt=0.0, le=1.0)


class CsatMapping(Section):
    """How a CSAT survey response's rating becomes good / bad (docs/SYNC.md, "CSAT sources")."""

    # Trust the answer's own ``rating_category`` (bad / neutral / good) when Zendesk sends one.
    use_rating_category: bool = True
    # What a neutral rating (the middle of an odd scale, e.g. 3 of 5) counts as.
    neutral: Literal["bad", "good", "ignore"] = "ignore"
    # The scale assumed when neither the question's options nor a category tell it.
    default_scale: int = Field(default=5, ge=2, le=10)


class SecretSection(Section):
    """A section holding secrets; remembers which environment variable each was read from, so a
    missing secret's error names the variable this configuration actually uses."""

    _secret_vars: dict[str, str] = PrivateAttr(default_factory=dict)

    def _require(self, value: SecretStr | None, path: str) -> str:
        if value is None or not value.get_secret_value():
            var = self._secret_vars.get(path, SECRET_ENV.get(path, "?"))
            key = path.rsplit(".", maxsplit=1)[-1]
            raise MissingSecretError(
                f"{path} is needed here but environment variable {var} is not set; "
                f"export {var}=... (or reference another variable with {key}: "
                "${NAME} in the config file)"
            )
        return value.get_secret_value()


class ZendeskSettings(SecretSection):
    subdomain: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    base_url: str | None = None
    email: SecretStr | None = None
    api_token: SecretStr | None = None
    plan: Literal["team", "growth", "professional", "enterprise", "enterprise_plus"] = (
        "professional"
    )
    high_volume_addon: bool = False
    rate_limits: ZendeskRateLimits = ZendeskRateLimits()
    request_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    max_retries: int = Field(default=6, ge=0, le=20)
    # Share of the account-wide budget deskbot may use at most (others share the rest).
    budget_share: float = Field(default=0.5, gt=0.0, le=1.0)
    # Which CSAT the account uses: auto-detect, legacy satisfaction ratings, or survey responses.
    csat: Literal["auto", "legacy", "survey_responses"] = "auto"
    csat_mapping: CsatMapping = CsatMapping()

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL such as 'http://127.0.0.1:8081'")
        return value.rstrip("/") if value else value

    @property
    def api_root(self) -> str:
        """Base URL of the account, without ``/api/v2``."""
        return self.base_url or f"https://{self.subdomain}.zendesk.com"

    @property
    def account_limit_per_minute(self) -> int:
        return self.rate_limits.account_per_minute or PLAN_ACCOUNT_LIMITS[self.plan]

    @property
    def incremental_limit_per_minute(self) -> int:
        if self.rate_limits.incremental_per_minute:
            return self.rate_limits.incremental_per_minute
        if self.high_volume_addon:
            return INCREMENTAL_EXPORT_LIMIT_HIGH_VOLUME
        return INCREMENTAL_EXPORT_LIMIT

    def require_credentials(self) -> tuple[str, str]:
        """(email, api token), or a clear error naming the missing environment variable."""
        return (
            self._require(self.email, "zendesk.email"),
            self._require(self.api_token, "zendesk.api_token"),
        )


class SlackHttpSettings(Section):
    host: str = "0.0.0.0"  # noqa: S104  # the HTTP mode listens for Slack behind a load balancer
    port: int = Field(default=3000, ge=0, le=65535)  # 0 picks a free port
    path: str = "/slack/events"


class SlackChannels(Section):
    digests: SlackChannel | None = None
    alerts: SlackChannel | None = None
    shoutouts: SlackChannel | None = None
    admin: SlackChannel | None = None


class SlackSettings(SecretSection):
    enabled: bool = True
    mode: Literal["socket", "http"] = "socket"
    bot_token: SecretStr | None = None
    app_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    base_url: str | None = None
    command: str = Field(default="/deskbot", pattern=r"^/[a-z0-9_-]+$")
    http: SlackHttpSettings = SlackHttpSettings()
    channels: SlackChannels = SlackChannels()
    messages_per_second_per_channel: float = Field(default=1.0, gt=0, le=10)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL such as 'http://127.0.0.1:8082/api/'")
        if value is not None and not value.endswith("/"):
            value += "/"
        return value

    def require_bot_token(self) -> str:
        return self._require(self.bot_token, "slack.bot_token")

    def require_app_token(self) -> str:
        return self._require(self.app_token, "slack.app_token")

    def require_signing_secret(self) -> str:
        return self._require(self.signing_secret, "slack.signing_secret")


class StorageSettings(Section):
    # SQLAlchemy URL. Default: a SQLite file in data_dir. PostgreSQL: postgresql+psycopg://...
    url: str | None = None
    busy_timeout_ms: int = Field(default=10_000, ge=0, le=600_000)
    pool_size: int = Field(default=5, ge=1, le=100)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(sqlite|postgresql(\+psycopg)?)://", value):
            raise ValueError(
                "use 'sqlite:///path/to/deskbot.sqlite' or "
                "'postgresql+psycopg://user@host:5432/dbname'"
            )
        if value is not None and value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value


class SyncSettings(Section):
    # Where a first backfill starts (tickets and ratings). Default: the account's beginning.
    start_date: date | None = None
    page_size: int = Field(default=1000, ge=1, le=1000)
    # Ratings are re-read this far behind the last position so nothing at a boundary is missed.
    ratings_overlap_minutes: int = Field(default=15, ge=0, le=1440)


class Schedules(Section):
    sync: Cron | None = "*/5 * * * *"
    followups: Cron | None = "*/10 * * * *"
    shoutouts: Cron | None = "*/30 * * * *"
    hero_of_the_week: Cron | None = "0 16 * * fri"
    qa_cycle: Cron | None = "0 8 * * *"  # daily: draws once per cycle, reminds on time
    # A QA calibration session is started (monthly by default) ...
    qa_calibration_session: Cron | None = "0 9 1 * *"
    # ... and this pass sends its invitations, closes sessions that are complete or past their
    # deadline, and posts their results.
    qa_calibration: Cron | None = "*/15 * * * *"
    nps_round: Cron | None = "0 10 * * tue"
    # The NPS tick: sends due asks (paced), reminders, expiries, releases of closed rounds.
    nps_reminders: Cron | None = "*/15 * * * *"
    # Prune old job history; on SQLite also PRAGMA optimize and a WAL checkpoint.
    db_maintenance: Cron | None = "17 3 * * *"
    # Refresh the people directory (Zendesk agents ↔ Slack users, departments).
    people: Cron | None = "40 5 * * *"
    # The weekly staffing forecast post (see the ``forecast`` section).
    forecast: Cron | None = "0 7 * * mon"


class Roles(Section):
    admins: list[SlackUser] = []
    leads: list[SlackUser] = []


class Department(Section):
    name: str = Field(min_length=1)
    owner: SlackUser | None = None
    members: list[SlackUser] = []
    slack_usergroup: str | None = Field(default=None, pattern=r"^S[A-Z0-9]{2,}$")


class AgentEntry(Section):
    zendesk_user_id: int = Field(ge=1)
    slack_user: SlackUser | None = None
    lead: SlackUser | None = None  # the agent's team lead (owner of their bad-CSAT follow-ups)
    team: str | None = None


class Roster(Section):
    departments: list[Department] = []
    agents: list[AgentEntry] = []

    @model_validator(mode="after")
    def _unique_departments(self) -> Roster:
        names = [d.name for d in self.departments]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"department names must be unique; repeated: {', '.join(dupes)}")
        return self


class PeopleSettings(Section):
    """The people directory (``deskbot people``, docs/people.md)."""

    enabled: bool = True
    # Slack guests (is_restricted / is_ultra_restricted) count as people when true.
    include_guests: bool = False
    # Agents users.list did not match are looked up one by one (users.lookupByEmail), at most
    # this many per refresh (Tier 3: ~50 per minute).
    lookup_by_email: bool = True
    lookup_limit: int = Field(default=50, ge=0, le=1000)
    # users.list page size (Slack recommends at most 200).
    page_size: int = Field(default=200, ge=1, le=200)


class FollowupMatch(Section):
    groups: list[int] = []
    brands: list[int] = []
    tags: list[str] = []
    organizations: list[int] = []


class FollowupActions(Section):
    internal_note: str | None = (
        "Bad CSAT rating from the customer.\nReason: {reason}\nComment: {comment}"
    )
    add_tags: list[str] = ["csat_followup"]
    assign_to: Literal["lead", "group", "none"] = "none"
    assign_group_id: int | None = None
    followup_ticket_when_closed: bool = True
    slack_channel: SlackChannel | None = None
    mention: SlackUser | None = None

    @model_validator(mode="after")
    def _group_needs_id(self) -> FollowupActions:
        if self.assign_to == "group" and self.assign_group_id is None:
            raise ValueError("assign_to: group needs assign_group_id")
        return self


class FollowupRule(Section):
    name: str = Field(min_length=1)
    match: FollowupMatch = FollowupMatch()
    actions: FollowupActions = FollowupActions()


class FollowupSettings(Section):
    enabled: bool = True
    remind_after_hours: float = Field(default=4, gt=0, le=720)
    escalate_after_hours: float = Field(default=24, gt=0, le=2160)
    escalation_channel: SlackChannel | None = None
    # More bad ratings than this in one sync collapse into one summary message.
    burst_threshold: int = Field(default=10, ge=1, le=1000)
    ticket_updates_per_minute: int = Field(default=100, ge=1, le=10_000)
    requester_display: Literal["first_name", "organization", "anonymous"] = "first_name"
    # Ratings last changed longer ago than this are not followed up, so a first backfill of
    # old ratings does not flood the team with history.
    max_age_hours: float = Field(default=72, gt=0, le=8760)
    rules: list[FollowupRule] = [FollowupRule(name="default")]


class QaStrata(Section):
    bad_csat: int = Field(default=1, ge=0, le=50)
    reopened: int = Field(default=1, ge=0, le=50)
    long_resolution: int = Field(default=0, ge=0, le=50)
    many_replies: int = Field(default=0, ge=0, le=50)


class QaWeights(Section):
    comprehension: float = Field(default=1.0, ge=0)
    accuracy: float = Field(default=1.0, ge=0)
    judgment: float = Field(default=1.0, ge=0)
    communication: float = Field(default=1.0, ge=0)
    process_integrity: float = Field(default=1.0, ge=0)


class QaCalibrationSettings(Section):
    # Calibrators: qa.calibrators, or else the active members of this department.
    department: str | None = None
    # Who facilitates scheduled sessions (writes the lessons learned); default: the first
    # calibrator. Sessions a lead starts with /deskbot qa calibrate are facilitated by them.
    facilitator: SlackUser | None = None
    deadline_days: float = Field(default=7, gt=0, le=60)
    # A ticket x competency whose scores span more than this many points (0-4) is flagged.
    acceptable_variance: int = Field(default=1, ge=0, le=4)
    # Where results are posted; default slack.channels.digests.
    channel: SlackChannel | None = None
    # Random tickets come from those solved in the last this many days.
    lookback_days: int = Field(default=30, ge=1, le=365)
    bootstrap_draws: int = Field(default=1000, ge=100, le=10_000)


class QaSettings(Section):
    enabled: bool = True
    cycle: Literal["weekly", "monthly"] = "weekly"
    samples_per_agent: int = Field(default=5, ge=1, le=100)
    seed: int = 0
    strata: QaStrata = QaStrata()
    long_resolution_hours: float = Field(default=72, gt=0)
    many_replies: int = Field(default=6, ge=1)
    reviewers: list[SlackUser] = []
    calibrators: list[SlackUser] = []
    calibration_tickets: int = Field(default=3, ge=1, le=20)
    calibration: QaCalibrationSettings = QaCalibrationSettings()
    weights: QaWeights = QaWeights()
    # Reviewers may also come from a roster department (its members, minus nobody else).
    reviewers_department: str | None = Field(default=None, min_length=1)
    # QA owners: resolve disputes, get the overdue list, see every agent's results.
    owners: list[SlackUser] = []
    due_days: int = Field(default=7, ge=1, le=90)  # reviews due this many days after the cycle
    close_days: int = Field(default=14, ge=1, le=180)  # scoring and amending stop after this
    reminder_hours: float = Field(default=24, gt=0, le=720)  # remind this long before due
    name_reviewer: bool = True  # the agent's review DM names the reviewer
    digest_channel: SlackChannel | None = None  # the cycle-end team digest

    @field_validator("strata")
    @classmethod
    def _quotas_fit(cls, value: QaStrata, info: ValidationInfo) -> QaStrata:
        per_agent = info.data.get("samples_per_agent")
        total = value.bad_csat + value.reopened + value.long_resolution + value.many_replies
        if isinstance(per_agent, int) and total > per_agent:
            raise ValueError(
                f"the strata quotas add up to {total}, more than qa.samples_per_agent "
                f"({per_agent}); lower a quota or raise samples_per_agent"
            )
        return value

    @model_validator(mode="after")
    def _close_after_due(self) -> QaSettings:
        if self.close_days < self.due_days:
            raise ValueError(
                f"qa.close_days ({self.close_days}) must be at least qa.due_days ({self.due_days})"
            )
        return self


_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class NpsSettings(Section):
    enabled: bool = True
    question: str = "How likely are you to recommend working with {department} to a colleague?"
    cooldown_days: int = Field(default=30, ge=0, le=365)
    max_asks_per_person_per_quarter: int = Field(default=2, ge=1, le=50)
    per_round_cap: int = Field(default=20, ge=1, le=10_000)
    reminder_after_hours: float = Field(default=48, gt=0)
    expire_after_hours: float = Field(default=120, gt=0)
    anonymity_threshold: int = Field(default=5, ge=1, le=100)
    # Ties in "least recently asked first" are broken by a shuffle seeded with (seed, round).
    seed: int = 0
    # Asks and reminders arrive on working days outside quiet hours, in each respondent's own
    # time zone (HH:MM, 24 h; quiet hours may wrap midnight; equal times: no quiet hours).
    quiet_hours_start: str = Field(default="18:00", pattern=_HHMM)
    quiet_hours_end: str = Field(default="09:00", pattern=_HHMM)
    working_days: list[Weekday] = ["mon", "tue", "wed", "thu", "fri"]
    # Rate only this many departments per round (least asked-about first); null: all.
    departments_per_round: int | None = Field(default=None, ge=1, le=1000)
    # Only these departments are rated (names from the roster/directory); empty: all.
    departments: list[str] = []
    # Workspace-wide pace of survey DMs (Slack allows about one message per second).
    dms_per_minute: int = Field(default=50, ge=1, le=600)
    # Where released per-department summaries are also posted; null: owners' DMs only.
    report_channel: SlackChannel | None = None
    # Scheduled per-department summary DM to each department's owner; null: off.
    summary_schedule: Cron | None = "0 9 1 * *"

    @model_validator(mode="after")
    def _expiry_after_reminder(self) -> NpsSettings:
        if self.expire_after_hours <= self.reminder_after_hours:
            raise ValueError("expire_after_hours must be longer than reminder_after_hours")
        if not self.working_days:
            raise ValueError("working_days needs at least one day")
        return self


DigestSectionName = Literal[
    "headline", "workload", "customers_in_need", "team_tags", "charts", "followups"
]


class DigestSettings(Section):
    name: str = Field(min_length=1)
    channel: SlackChannel
    schedule: Cron
    period: Literal["daily", "weekly"] = "daily"
    group: str | None = None  # a Zendesk group name or id
    sections: list[DigestSectionName] = [
        "headline",
        "workload",
        "customers_in_need",
        "team_tags",
        "charts",
    ]


class WorkloadSettings(Section):
    # Every threshold is per day; reports scale it by the number of days in the window.
    # Exhaustion sets in somewhere between 25 and 75 public replies a day.
    daily_reply_threshold: int = Field(default=50, ge=1, le=1000)
    # "Blowing through tickets": many customers, very few replies each, very low reply time.
    fast_min_tickets: int = Field(default=15, ge=1)
    fast_max_replies_per_ticket: float = Field(default=1.2, gt=0)
    fast_max_median_reply_minutes: float = Field(default=5, gt=0)
    # "Overloaded with complex issues": many replies, few customers helped.
    complex_min_replies: int = Field(default=30, ge=1)
    complex_max_tickets: int = Field(default=5, ge=1)


class ShoutoutSettings(Section):
    enabled: bool = True
    channel: SlackChannel | None = None
    daily_cap: int = Field(default=3, ge=0, le=100)
    min_gap_days: int = Field(default=7, ge=0, le=365)
    customer_display: Literal["first_name", "organization", "anonymous"] = "first_name"
    hero_min_rated_tickets: int = Field(default=5, ge=1)


class ForecastChannel(Section):
    """How one ticket channel (Zendesk ``via.channel``) is staffed."""

    name: str = Field(min_length=1, max_length=64)
    # live: answered while the customer waits (chat, voice): Erlang C to a service level.
    # deferred: answered later (email, web form): workload within the first-reply target.
    kind: Literal["live", "deferred"]
    # Average handle time per ticket, minutes (Zendesk has none: measure or estimate it).
    handle_minutes: float = Field(gt=0, le=600)
    # live: share of contacts answered within answer_seconds (1.0 can never be met).
    service_level: float = Field(default=0.8, gt=0, le=1)
    answer_seconds: float = Field(default=60, ge=0, le=3600)
    max_occupancy: float = Field(default=0.85, gt=0, le=1)
    # deferred: every ticket gets its first reply within this many minutes.
    first_reply_minutes: float = Field(default=240, gt=0, le=10_080)
    target_occupancy: float = Field(default=0.85, gt=0, le=1)


class ForecastEvent(Section):
    """A known event (a launch, a price change) expected to change volume on some days."""

    name: str = Field(min_length=1)
    start: date
    end: date | None = None  # inclusive; default: the start day only
    # +0.3 = 30% more tickets than usual, -0.5 = half; applied to the listed channels (all: []).
    uplift: float = Field(gt=-1, le=20)
    channels: list[str] = []

    @model_validator(mode="after")
    def _ordered(self) -> ForecastEvent:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


def _default_forecast_channels() -> list[ForecastChannel]:
    return [
        ForecastChannel(name="email", kind="deferred", handle_minutes=8),
        ForecastChannel(name="web", kind="deferred", handle_minutes=8),
        ForecastChannel(name="chat", kind="live", handle_minutes=7),
        ForecastChannel(name="voice", kind="live", handle_minutes=6),
    ]


class ForecastSettings(Section):
    enabled: bool = True
    # Where the weekly forecast is posted; null = slack.channels.digests.
    channel: SlackChannel | None = None
    weeks: int = Field(default=2, ge=1, le=4)  # forecast horizon
    history_days: int = Field(default=730, ge=28, le=731)  # history read (two years at most)
    holdout_weeks: int = Field(default=2, ge=1, le=8)  # backtest: last weeks held out
    min_history_weeks: int = Field(default=4, ge=2, le=52)
    # Public holidays (python-holidays): ISO country code and optional subdivision.
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2,3}$")
    subdivision: str | None = None
    # Volume on a public holiday relative to a normal day, until the history shows its own.
    holiday_factor: float = Field(default=0.5, ge=0, le=5)
    # Share of paid time agents cannot take tickets (training, meetings, breaks, leave).
    shrinkage: float = Field(default=0.3, ge=0, lt=0.95)
    channels: list[ForecastChannel] = Field(default_factory=_default_forecast_channels)
    # Also forecast each of these Zendesk groups (name or id) on its own.
    groups: list[str] = []
    events: list[ForecastEvent] = []

    @model_validator(mode="after")
    def _check(self) -> ForecastSettings:
        names = [c.name for c in self.channels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"forecast channel names must be unique; repeated: {dupes}")
        if self.subdivision and not self.country:
            raise ValueError("subdivision needs a country")
        if self.country:
            import holidays

            try:
                holidays.country_holidays(self.country, subdiv=self.subdivision, years=2026)
            except NotImplementedError as exc:
                raise ValueError(
                    f"no public holidays known for {self.country!r}"
                    + (f" / {self.subdivision!r}" if self.subdivision else "")
                    + f" ({exc}); use an ISO code such as 'DE' with an optional subdivision "
                    "such as 'BY'"
                ) from exc
        return self

    def channel_config(self, name: str) -> ForecastChannel | None:
        return next((c for c in self.channels if c.name == name), None)


class HealthSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=0, le=65535)
    max_sync_age_minutes: int = Field(default=30, ge=1)


class DaemonSettings(Section):
    watch_config: bool = True
    misfire_grace_seconds: int = Field(default=300, ge=1)
    failure_alert_after: int = Field(default=3, ge=1)
    # A replica holding a job's trigger renews its lease while it works; if it dies, another
    # replica takes the trigger over once the lease has not been renewed for this long.
    lease_seconds: int = Field(default=120, ge=10, le=86_400)
    # Job run history older than this is pruned by the db_maintenance job.
    job_history_days: int = Field(default=30, ge=1, le=3650)
    health: HealthSettings = HealthSettings()


class LoggingSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class Settings(Section):
    timezone: str = "UTC"
    data_dir: Path = Path("data")
    zendesk: ZendeskSettings
    slack: SlackSettings = SlackSettings()
    storage: StorageSettings = StorageSettings()
    sync: SyncSettings = SyncSettings()
    schedules: Schedules = Schedules()
    roles: Roles = Roles()
    roster: Roster = Roster()
    people: PeopleSettings = PeopleSettings()
    followups: FollowupSettings = FollowupSettings()
    qa: QaSettings = QaSettings()
    nps: NpsSettings = NpsSettings()
    digests: list[DigestSettings] = []
    workload: WorkloadSettings = WorkloadSettings()
    team_tags: list[str] = Field(default=["hooray", "lost_cause", "high_complexity"], max_length=12)
    shoutouts: ShoutoutSettings = ShoutoutSettings()
    forecast: ForecastSettings = ForecastSettings()
    daemon: DaemonSettings = DaemonSettings()
    logging: LoggingSettings = LoggingSettings()
    # Line of each ``roles``/``roster`` entry in the file it was loaded from (for warnings that
    # name the entry, e.g. "roster.agents[3] (line 40)"); empty for settings built in code.
    _lines: dict[str, int] = PrivateAttr(default_factory=dict)

    def line_of(self, path: str) -> int | None:
        """The file line of a dotted key path such as ``roster.agents[2]``, when known."""
        return self._lines.get(path)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown timezone {value!r}; use an IANA name such as 'Europe/Berlin' or 'UTC'"
            ) from exc
        return value

    @model_validator(mode="after")
    def _qa_reviewers_resolve(self) -> Settings:
        name = self.qa.reviewers_department
        if name is None:
            return self
        dept = next((d for d in self.roster.departments if d.name == name), None)
        if dept is None:
            known = ", ".join(d.name for d in self.roster.departments) or "none"
            raise ValueError(
                f"qa.reviewers_department: no roster department named {name!r} (known: {known})"
            )
        if not dept.members and not dept.slack_usergroup:
            raise ValueError(
                f"qa.reviewers_department: department {name!r} has no members, so QA "
                "reviewers resolve to nobody"
            )
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def database_url(self) -> str:
        return self.storage.url or f"sqlite:///{self.data_dir / 'deskbot.sqlite'}"


# --------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------

SECRET_ENV: dict[str, str] = {
    "zendesk.email": "DESKBOT_ZENDESK_EMAIL",
    "zendesk.api_token": "DESKBOT_ZENDESK_API_TOKEN",
    "slack.bot_token": "DESKBOT_SLACK_BOT_TOKEN",
    "slack.app_token": "DESKBOT_SLACK_APP_TOKEN",
    "slack.signing_secret": "DESKBOT_SLACK_SIGNING_SECRET",
}


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------

Loc = tuple[str | int, ...]
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class _Mark:
    line: int
    column: int


class _Positions:
    """Line/column of every key and value in the YAML document, by key path."""

    def __init__(self) -> None:
        self.keys: dict[Loc, _Mark] = {}
        self.values: dict[Loc, _Mark] = {}
        self.duplicates: list[tuple[Loc, _Mark]] = []

    def walk(self, node: yaml.Node, loc: Loc = ()) -> None:
        self.values[loc] = _Mark(node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                child = (*loc, key)
                mark = _Mark(key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                if key in seen:
                    self.duplicates.append((child, mark))
                seen.add(key)
                self.keys[child] = mark
                self.walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.walk(item, (*loc, index))

    def find(self, loc: Loc, prefer_key: bool = False) -> _Mark | None:
        for end in range(len(loc), -1, -1):
            sub = loc[:end]
            table = (self.keys, self.values) if prefer_key else (self.values, self.keys)
            for positions in table:
                if sub in positions:
                    return positions[sub]
        return None


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The pydantic model class that validates the mapping at ``loc`` (for suggestions)."""
    model: type[BaseModel] | None = Settings
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if model is not None else None
        if field is None:
            return None
        annotation = field.annotation
        model = _first_model(annotation)
        if model is None:
            return None
    return model


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def _substitute_env(
    data: Any,
    loc: Loc,
    positions: _Positions,
    issues: list[ConfigIssue],
    file: str,
    referenced: set[str],
    from_env: set[str] | None = None,
) -> Any:
    """Replace ``${VAR}`` references; the values taken from the environment are added to
    ``from_env`` so that no error message ever repeats them."""
    if isinstance(data, dict):
        return {
            k: _substitute_env(v, (*loc, str(k)), positions, issues, file, referenced, from_env)
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [
            _substitute_env(v, (*loc, i), positions, issues, file, referenced, from_env)
            for i, v in enumerate(data)
        ]
    if isinstance(data, str) and "${" in data:
        referenced.add(_dotted(loc))

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            value = os.environ.get(name)
            if value is None or value == "":
                if default is not None:
                    return default
                mark = positions.find(loc)
                issues.append(
                    ConfigIssue(
                        _dotted(loc),
                        f"environment variable {name} is not set; export {name}=... "
                        "or give a default with ${" + name + ":-value}",
                        file,
                        mark.line if mark else None,
                        mark.column if mark else None,
                    )
                )
                return ""
            if from_env is not None:
                from_env.add(value)
            return value

        return _ENV_REF.sub(replace, data)
    return data


def _scrub(issue: ConfigIssue, from_env: set[str]) -> ConfigIssue:
    """An issue whose message contains no value taken from the environment, no value of a
    secret variable (even typed literally into the wrong key) and nothing shaped like a
    credential."""
    message = issue.message
    for value in sorted(from_env, key=len, reverse=True):
        message = message.replace(repr(value), "[value from the environment]")
        if len(value) >= 4:
            message = message.replace(value, "[value from the environment]")
    message = redact_text(message)
    return replace(issue, message=message) if message != issue.message else issue


def _pydantic_issues(
    exc: ValidationError,
    positions: _Positions,
    file: str,
    referenced: AbstractSet[str] = frozenset(),
) -> Iterator[ConfigIssue]:
    for err in exc.errors():
        loc: Loc = tuple(err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            model = _model_at(loc[:-1])
            choices = list(model.model_fields) if model else []
            close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else (f"known keys here: {', '.join(choices)}" if choices else "")
            )
            message = f"unknown key '{key}'" + (f"; {hint}" if hint else "")
            mark = positions.find(loc, prefer_key=True)
        elif kind == "missing":
            message = "required key is missing"
            mark = positions.find(loc[:-1], prefer_key=True)
        else:
            text = err["msg"].removeprefix("Value error, ")
            given = err.get("input")
            if _dotted(loc) in referenced:
                # The value came from an environment variable (perhaps a secret set in the
                # wrong key): say so, never what it is.
                text += " (the value comes from an environment variable and is not shown)"
            elif isinstance(given, str | int | float | bool) and kind not in ("value_error",):
                text += f" (got {given!r})"
            message = text
            mark = positions.find(loc)
        yield ConfigIssue(
            _dotted(loc), message, file, mark.line if mark else None, mark.column if mark else None
        )


# libyaml's safe loader when PyYAML was built with it: parsing the file twice in pure Python
# cost ~0.1 s of every command's start.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_settings(text: str, file: str = "<config>") -> Settings:
    """Validate configuration text. Raises ``ConfigError`` with every problem found."""
    issues: list[ConfigIssue] = []
    try:
        root = yaml.compose(text, Loader=_YAML_LOADER)
        data = yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506  # a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            [
                ConfigIssue(
                    "",
                    f"not valid YAML: {problem}",
                    file,
                    mark.line + 1 if mark else None,
                    mark.column + 1 if mark else None,
                )
            ]
        ) from exc
    if data is None:
        raise ConfigError(
            [ConfigIssue("", "the file is empty; start from config/deskbot.example.yaml", file)]
        )
    if not isinstance(data, dict):
        raise ConfigError(
            [ConfigIssue("", "the top level must be a mapping of sections (key: value)", file, 1)]
        )
    positions = _Positions()
    if root is not None:
        positions.walk(root)
    for loc, mark in positions.duplicates:
        issues.append(
            ConfigIssue(
                _dotted(loc),
                "key appears twice in the same section; keep one",
                file,
                mark.line,
                mark.column,
            )
        )
    referenced: set[str] = set()
    from_env: set[str] = set()
    raw_data = data
    data = _substitute_env(data, (), positions, issues, file, referenced, from_env)
    for path, default_var in SECRET_ENV.items():
        parts = path.split(".")
        section = data.get(parts[0])
        if isinstance(section, dict) and parts[1] in section and path not in referenced:
            mark = positions.find(tuple(parts), prefer_key=True)
            issues.append(
                ConfigIssue(
                    path,
                    "secrets must not be written in the config file; remove the value (it is "
                    f"read from {default_var}) or reference a variable: "
                    f"{parts[1]}: ${{MY_VARIABLE}}",
                    file,
                    mark.line if mark else None,
                    mark.column if mark else None,
                )
            )
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        issues.extend(_pydantic_issues(exc, positions, file, referenced))
    if issues or settings is None:
        secret_values = {os.environ[v] for v in SECRET_ENV.values() if os.environ.get(v)}
        issues = [_scrub(issue, from_env | secret_values) for issue in issues]
        raise ConfigError(sorted(issues, key=lambda i: (i.line or 0, i.column or 0)))
    loaded = _with_env_secrets(settings)
    register_secrets(loaded)
    for path, default_var in SECRET_ENV.items():
        section, key = path.split(".")
        raw = raw_data.get(section)
        refs = _ENV_REF.findall(raw.get(key, "")) if isinstance(raw, dict) else []
        holder: SecretSection = getattr(loaded, section)
        holder._secret_vars[path] = refs[0][0] if refs else default_var
    loaded._lines = {
        _dotted(loc): mark.line
        for loc, mark in positions.values.items()
        if loc and loc[0] in ("roles", "roster")
    }
    return loaded


def _with_env_secrets(settings: Settings) -> Settings:
    """Fill secrets not referenced in the file from their conventional environment variables."""
    updates: dict[str, dict[str, Any]] = {}
    for path, var in SECRET_ENV.items():
        section, key = path.split(".")
        current = getattr(getattr(settings, section), key)
        if current is None and os.environ.get(var):
            updates.setdefault(section, {})[key] = SecretStr(os.environ[var])
    if not updates:
        return settings
    changes = {
        section: getattr(settings, section).model_copy(update=fields)
        for section, fields in updates.items()
    }
    return settings.model_copy(update=changes)


def load_settings(path: Path | str) -> Settings:
    """Read and validate a YAML configuration file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            [
                ConfigIssue(
                    "",
                    "file not found; copy config/deskbot.example.yaml there, or pass "
                    "--config PATH (or set DESKBOT_CONFIG)",
                    str(path),
                )
            ]
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue("", f"cannot read the file: {exc}", str(path))]) from exc
    return parse_settings(text, str(path))


def register_secrets(settings: Settings) -> None:
    """Tell the log redactor every secret value these settings hold (exact-match redaction)."""
    for path in SECRET_ENV:
        section, key = path.split(".")
        value: SecretStr | None = getattr(getattr(settings, section), key)
        if value is not None:
            register_secret(value.get_secret_value())


def secret_status(settings: Settings) -> Mapping[str, tuple[str, bool]]:
    """For each secret: (environment variable it comes from, whether it is set)."""
    out: dict[str, tuple[str, bool]] = {}
    for path, default_var in SECRET_ENV.items():
        section, key = path.split(".")
        holder: SecretSection = getattr(settings, section)
        out[path] = (holder._secret_vars.get(path, default_var), getattr(holder, key) is not None)
    return out
