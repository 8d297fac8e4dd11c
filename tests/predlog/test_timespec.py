"""Durations and points in time as people type them (``predlog load --duration``, ``--since``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from predlog.timespec import parse_duration, parse_when


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("60s", 60), ("5m", 300), ("1h", 3600), ("250ms", 0.25), ("12", 12), ("1.5", 1.5),
        ("7d", 7 * 86400), ("1w", 604800), (" 90 S ", 90), ("2H", 7200), (3, 3), (0.5, 0.5),
    ],
)  # fmt: skip
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["five minutes", "yesterday", "5 mins", "-1s", "", "1y"])
def test_a_bad_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_parse_when() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert parse_when("10m", now) == now - timedelta(minutes=10)
    assert parse_when("2h", now) == now - timedelta(hours=2)
    assert parse_when("7d", now) == now - timedelta(days=7)
    assert parse_when("90s", now) == now - timedelta(seconds=90)
    assert parse_when("30", now) == now - timedelta(seconds=30)
    assert parse_when("2026-11-23T10:00:00") == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert parse_when("2026-11-23T10:00:00+02:00") == datetime(2026, 11, 23, 8, tzinfo=UTC)
    assert parse_when("2026-11-23T10:00:00Z") == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert parse_when("20261123") == datetime(2026, 11, 23, tzinfo=UTC)  # ISO, not seconds
    with pytest.raises(ValueError, match="duration"):
        parse_when("yesterday")
