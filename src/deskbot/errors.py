"""The few exception types deskbot raises on purpose.

Every error a person can cause (a bad config, an unknown command, a missing credential) is a
``DeskbotError`` whose message says what is wrong, where, and what to do. The CLI prints it
without a traceback and exits non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass


class DeskbotError(Exception):
    """Base class: a failure with a message written for the person who has to fix it."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a configuration file: where it is, and what to do about it."""

    path: str  # dotted key path, e.g. "zendesk.rate_limits.account_per_minute"
    message: str
    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based

    def __str__(self) -> str:
        where = self.file or "<config>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        key = self.path or "(top level)"
        return f"{where}: {key}: {self.message}"


class ConfigError(DeskbotError):
    """The configuration is invalid; ``issues`` lists every problem found, not only the first."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        plural = "s" if len(issues) != 1 else ""
        lines = [f"invalid configuration ({len(issues)} problem{plural}):"]
        lines += [f"  {issue}" for issue in issues]
        super().__init__("\n".join(lines))


class MissingSecretError(DeskbotError):
    """A credential the current command needs is not in the environment."""


class StoreError(DeskbotError):
    """The database cannot be reached or is not in the expected shape."""


class ZendeskError(DeskbotError):
    """Zendesk answered in a way deskbot cannot use (after retries)."""


class SlackError(DeskbotError):
    """Slack refused a request in a way retries cannot fix."""


class Interrupted(DeskbotError):
    """Shutdown was requested while waiting; the work done so far is committed."""


class SyncConflict(DeskbotError):
    """Another sync of the same stream committed a page meanwhile; this one stops."""
