"""Durations and points in time as people type them: "250ms", "10m", "7d", or an ISO timestamp.

One grammar for every duration predlog reads (``predlog load --duration``, ``predlog query
--since``). Standard library only: the client image, which has only the load generator's
dependencies, imports it too.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str | float) -> float:
    """Seconds in ``"250ms"``, ``"90s"``, ``"10m"``, ``"2h"``, ``"7d"``, ``"1w"`` or a number.

    A bare number is seconds; units are case-insensitive. ValueError if it is none of these.
    """
    if isinstance(text, int | float):
        return float(text)
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 250ms, 60s, 5m, 2h, 7d)")
    return float(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()]


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """A UTC datetime: an ISO 8601 timestamp (naive means UTC), or ``now`` minus a duration."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        pass
    else:
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise ValueError(
            f"expected a duration like 10m, 2h, 7d or an ISO timestamp, not {text!r}"
        ) from None
    return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
