"""The process's Prometheus metrics: one registry that any module may increment.

``prometheus_client`` (the reference client, no dependencies) renders the text exposition format
for ``/metrics``; it handles label escaping, types and HELP lines that a hand-written registry
would have to get right. deskbot uses its own ``REGISTRY`` rather than the library's global one
so that only deskbot's series (plus the process collector) are exposed.

Usage from another module::

    from deskbot import metrics_registry as metrics
    metrics.SYNC_ROWS.labels(stream="tickets").inc(len(page))
    metrics.ZENDESK_RATE_LIMITED.inc()
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

CONTENT_TYPE = CONTENT_TYPE_LATEST

# -- the daemon's job runner ------------------------------------------------------------------
JOB_RUNS = Counter(
    "deskbot_job_runs",
    "Job runs finished by this process, by outcome (ok, failed, abandoned).",
    ["job", "outcome"],
    registry=REGISTRY,
)
JOB_SKIPPED = Counter(
    "deskbot_job_skipped",
    "Triggers this process did not run because another replica (or run) already held them.",
    ["job"],
    registry=REGISTRY,
)
JOB_FAILING = Gauge(
    "deskbot_job_consecutive_failures",
    "Consecutive failed runs of each job (0 when the last run succeeded).",
    ["job"],
    registry=REGISTRY,
)
JOB_LAST_SUCCESS = Gauge(
    "deskbot_job_last_success_timestamp_seconds",
    "Unix time of each job's last successful run (any replica, as of start; then this one).",
    ["job"],
    registry=REGISTRY,
)
JOB_DURATION = Gauge(
    "deskbot_job_last_duration_seconds",
    "Duration of each job's last finished run in this process.",
    ["job"],
    registry=REGISTRY,
)

# -- sync, Zendesk and Slack (incremented by their modules) -----------------------------------
SYNC_ROWS = Counter(
    "deskbot_sync_rows", "Records written by the sync, per stream.", ["stream"], registry=REGISTRY
)
SYNC_LAG = Gauge(
    "deskbot_sync_lag_seconds",
    "How far each stream's position is behind now.",
    ["stream"],
    registry=REGISTRY,
)
ZENDESK_CLOCK_SKEW = Gauge(
    "deskbot_zendesk_clock_skew_seconds",
    "Zendesk's clock minus this host's, from the last response's Date header.",
    registry=REGISTRY,
)
ZENDESK_RATE_LIMITED = Counter(
    "deskbot_zendesk_rate_limited",
    "HTTP 429 answers received from Zendesk.",
    registry=REGISTRY,
)
SLACK_POSTS = Counter(
    "deskbot_slack_posts",
    "Messages posted to Slack, by outcome (ok, error).",
    ["outcome"],
    registry=REGISTRY,
)
CONFIG_RELOADS = Counter(
    "deskbot_config_reloads",
    "Configuration reloads, by outcome (applied, rejected).",
    ["outcome"],
    registry=REGISTRY,
)


def render() -> bytes:
    """The registry in Prometheus text format."""
    return generate_latest(REGISTRY)
