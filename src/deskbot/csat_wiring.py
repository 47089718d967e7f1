"""Composition for CSAT (beside bootstrap.py, kept out of it so merges stay small): builds
``CsatSync`` and the digests' "CSAT not available" reader from the settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deskbot.domain.csat_survey import ScoreRule
from deskbot.ports import Clock, StopEvent
from deskbot.services.csat_sync import CsatSync, csat_unavailable
from deskbot.settings import Settings


def csat_sync(
    settings: Settings,
    database: Any,
    client: Any,
    clock: Clock,
    start_time: int,
    stop_event: StopEvent | None = None,
) -> CsatSync:
    from deskbot.adapters.db.csat_store import SqlCsatStore
    from deskbot.adapters.db.sync_store import SqlSyncStore
    from deskbot.adapters.zendesk.survey_responses import SurveyResponsesSource

    mapping = settings.zendesk.csat_mapping
    return CsatSync(
        SurveyResponsesSource(client),
        SqlCsatStore(database),
        SqlSyncStore(database),
        clock,
        mode=settings.zendesk.csat,
        rule=ScoreRule(
            neutral=mapping.neutral,
            use_rating_category=mapping.use_rating_category,
            default_scale=mapping.default_scale,
        ),
        overlap_minutes=settings.sync.ratings_overlap_minutes,
        start_time=start_time,
        stop_event=stop_event,
    )


def csat_unavailable_reader(database: Any) -> Callable[[], str | None]:
    """For the digests: the short reason CSAT cannot be read, or None."""
    from deskbot.adapters.db.csat_store import SqlCsatStore

    store = SqlCsatStore(database)
    return lambda: csat_unavailable(store, short=True)
