"""A conservative, import-free check for the common cron expressions.

Loading the settings validates every schedule. APScheduler is the authority on what a cron
expression means, but importing it costs ~0.1 s, which every short command (``deskbot health``
runs as the container's health check) would pay just to read its configuration.

``plainly_valid(expr)`` answers True only for a strict subset of the five-field syntax that
APScheduler's ``CronTrigger.from_crontab`` is known to accept (numbers in range, ``*``,
``*/n``, ``a-b``, ``a-b/n``, comma lists, and day-of-week names ``mon``..``sun``). Anything else
— month names, ``last``, ``5th fri``, odd spacing — answers False and the caller asks
APScheduler. A test compares this with APScheduler on thousands of generated expressions.
"""

from __future__ import annotations

import re

# (low, high) per field, in from_crontab's order: minute hour day month day_of_week.
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_DAY_NAMES = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_ITEM = re.compile(r"^(?:(\*)|([0-9a-z]{1,3})(?:-([0-9a-z]{1,3}))?)(?:/([0-9]{1,2}))?$")


def _value(token: str, field: int) -> int | None:
    if token.isdigit():
        value = int(token)
    elif field == 4 and token in _DAY_NAMES:
        value = _DAY_NAMES[token]
    else:
        return None
    low, high = _BOUNDS[field]
    return value if low <= value <= high else None


def _plain_item(item: str, field: int) -> bool:
    match = _ITEM.match(item)
    if match is None:
        return False
    star, first, last, step = match.groups()
    low, high = _BOUNDS[field]
    if star:
        start, end = low, high
    else:
        start_value = _value(first, field)
        end_value = start_value if last is None else _value(last, field)
        if start_value is None or end_value is None or end_value < start_value:
            return False
        if step is not None and last is None:
            return False  # "5/10": APScheduler reads it differently from cron; let it decide
        start, end = start_value, end_value
    if step is not None:
        n = int(step)
        if n < 1 or n > end - start:
            return False
    return True


def plainly_valid(expr: str) -> bool:
    """True when ``expr`` is certainly a valid crontab for APScheduler; False = ask it."""
    fields = expr.split(" ")
    if len(fields) != 5:
        return False
    return all(item and _plain_item(item, i) for i, f in enumerate(fields) for item in f.split(","))
