"""The import-free cron check never accepts what APScheduler rejects (it may defer to it)."""

from __future__ import annotations

import random

import pytest
from apscheduler.triggers.cron import CronTrigger

from deskbot.domain.perf_cron import plainly_valid
from deskbot.settings import _check_cron

TOKENS = [
    "*",
    "*/5",
    "*/0",
    "*/59",
    "*/60",
    "0",
    "1",
    "5",
    "7",
    "12",
    "13",
    "23",
    "24",
    "31",
    "32",
    "59",
    "60",
    "1-5",
    "5-1",
    "0-6",
    "0-7",
    "1-12",
    "mon",
    "sun",
    "mon-fri",
    "fri-mon",
    "sat-sun",
    "1-5/2",
    "1-5/4",
    "1-5/5",
    "5/10",
    "jan",
    "last",
    "x",
    "",
]


def apscheduler_accepts(expr: str) -> bool:
    try:
        CronTrigger.from_crontab(expr, timezone="UTC")
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    "expr",
    [
        "*/5 * * * *",
        "*/10 * * * *",
        "0 16 * * fri",
        "0 9 * * mon-fri",
        "17 3 * * *",
        "0 8 * * mon",
        "0 10 * * tue",
        "0,30 8-18 * * 0-4",
        "0 0 1 1-12/3 *",
    ],
)
def test_the_configured_forms_take_the_fast_path(expr: str) -> None:
    assert plainly_valid(expr)
    assert apscheduler_accepts(expr)


@pytest.mark.parametrize("expr", ["0 9 * * 7", "60 * * * *", "* * * *", "0 9 * * mon-"])
def test_invalid_forms_never_take_the_fast_path(expr: str) -> None:
    assert not plainly_valid(expr)


BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


def _token(rng: random.Random, field: int) -> str:
    low, high = BOUNDS[field]
    if rng.random() < 0.15:
        return rng.choice(TOKENS)
    a = rng.randint(low - 1, high + 1)
    b = rng.randint(low - 1, high + 1)
    step = rng.randint(0, high - low + 2)
    return rng.choice(
        [str(a), f"{a}-{b}", f"{a}-{b}/{step}", f"*/{step}", "*", f"{min(a, b)}-{max(a, b)}"]
    )


def test_fast_path_is_a_subset_of_apscheduler() -> None:
    rng = random.Random(19)
    fast = slow_valid = 0
    for _ in range(3000):
        expr = " ".join(
            ",".join(_token(rng, i) for _ in range(rng.choice((1, 1, 2)))) for i in range(5)
        )
        if plainly_valid(expr):
            fast += 1
            assert apscheduler_accepts(expr), expr
        elif apscheduler_accepts(expr):
            slow_valid += 1  # deferred to APScheduler: allowed, just slower
    assert fast > 100  # the comparison really exercised the fast path
    assert slow_valid < fast


def test_settings_still_reject_bad_cron_with_apscheduler_message() -> None:
    with pytest.raises(ValueError, match="not a valid cron expression"):
        _check_cron("0 9 * * funday")
    assert _check_cron("0 9 L * *") if apscheduler_accepts("0 9 L * *") else True
    assert _check_cron("0 9 * jan mon") == "0 9 * jan mon"  # deferred to APScheduler, valid
