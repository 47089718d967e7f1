"""CSAT source detection edge cases (services/csat_sync.py), with small in-memory fakes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
import structlog

from deskbot.domain.sync import StreamState
from deskbot.errors import ZendeskError
from deskbot.services.csat_sync import CSAT_SOURCE, CsatSync, csat_unavailable
from deskbot.testing import FakeClock


@dataclass(frozen=True)
class Probe:
    status: int
    has_data: bool = False
    detail: str = ""

    @property
    def available(self) -> bool:
        return self.status == 200


@dataclass
class Source:
    survey: Probe
    legacy: Probe
    asked: list[str] = field(default_factory=list)

    def probe_survey(self) -> Probe:
        self.asked.append("survey")
        return self.survey

    def probe_legacy(self) -> Probe:
        self.asked.append("legacy")
        return self.legacy

    def page(self, **_: Any) -> Any:
        raise AssertionError("not used")

    def for_tickets(self, ticket_ids: Sequence[int]) -> list[Any]:
        return []

    def show(self, response_id: str) -> Any:
        raise ZendeskError("show failed")


@dataclass
class Store:
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str | None] = field(default_factory=dict)

    def source(self, stream: str) -> dict[str, Any] | None:
        return self.sources.get(stream)

    def record_source(
        self, stream: str, value: dict[str, Any], error: str | None, at: datetime
    ) -> None:
        self.sources[stream] = value
        self.errors[stream] = error

    def state(self, stream: str) -> StreamState:
        return StreamState(stream)


def sync(source: Source, store: Store, mode: Any = "auto") -> CsatSync:
    return CsatSync(source, store, store, FakeClock(), mode=mode)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("survey", "legacy", "expected", "asked"),
    [
        (Probe(200, True), Probe(200, True), "survey_responses", ["survey"]),
        (Probe(200), Probe(200, True), "legacy", ["survey", "legacy"]),
        (Probe(200), Probe(403), "survey_responses", ["survey", "legacy"]),
        (Probe(404), Probe(200), "legacy", ["survey", "legacy"]),
        (Probe(403, detail="Access to the resource is forbidden"), Probe(403), "none", None),
        (Probe(403), Probe(404), "none", None),
    ],
)
def test_auto_detection(
    survey: Probe, legacy: Probe, expected: str, asked: list[str] | None
) -> None:
    source, store = Source(survey, legacy), Store()
    with structlog.testing.capture_logs() as logs:
        found = sync(source, store).detect()
        sync(source, store).detect()  # a second pass: same outcome, not logged again
    assert found.source == expected
    assert store.sources[CSAT_SOURCE]["source"] == expected
    assert [e["event"] for e in logs].count("csat.source") == 1
    if asked is not None:
        assert source.asked[: len(asked)] == asked
    if expected == "none":
        reason = csat_unavailable(store)  # type: ignore[arg-type]
        assert reason is not None and "HTTP 403" in reason and "admin's API token" in reason
        assert csat_unavailable(store, short=True).startswith("neither CSAT source answers")  # type: ignore[arg-type, union-attr]
        assert store.errors[CSAT_SOURCE].startswith("CSAT not available")  # type: ignore[union-attr]
    else:
        assert csat_unavailable(store) is None  # type: ignore[arg-type]


def test_both_404_fails_the_stream_and_says_csat_is_not_available() -> None:
    store = Store()
    with pytest.raises(ZendeskError, match=r"check zendesk\.subdomain"):
        sync(Source(Probe(404), Probe(404)), store).detect()
    assert store.sources[CSAT_SOURCE]["source"] == "none"


def test_401_is_a_credentials_problem_not_missing_csat() -> None:
    store = Store()
    with pytest.raises(ZendeskError, match="DESKBOT_ZENDESK_API_TOKEN"):
        sync(Source(Probe(401), Probe(401)), store).detect()
    assert CSAT_SOURCE not in store.sources


def test_fixed_modes_probe_only_their_endpoint() -> None:
    source, store = Source(Probe(403), Probe(200)), Store()
    assert sync(source, store, "legacy").detect().source == "legacy"
    assert source.asked == ["legacy"]
    source = Source(Probe(403), Probe(200))
    found = sync(source, Store(), "survey_responses").detect()
    assert found.source == "none" and "admin's API token" in found.reason
    assert source.asked == ["survey"]


def test_an_unknown_scale_does_not_stop_the_stream() -> None:
    csat = sync(Source(Probe(200, True), Probe(403)), Store())
    doc = {
        "id": "01JB0000000000000000000001",
        "subject_zrns": ["zen:ticket:5"],
        "survey": {"id": "s", "version": 1},
        "answers": [
            {
                "type": "rating_scale",
                "rating": 2,
                "rating_category": "good",
                "question": {"type": "rating_scale_emoji"},
            }
        ],
    }
    [(mapped, _)] = csat._map([doc])  # the show call fails: category still maps it
    assert mapped.score == "good" and mapped.rating == 2
