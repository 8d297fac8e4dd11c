"""Points in time as people type them (``predlog query --since``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from predlog.timespec import parse_duration, parse_when


def test_parse_when() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert parse_when("10m", now) == now - timedelta(minutes=10)
    assert parse_when("2h", now) == now - timedelta(hours=2)
    assert parse_when("7d", now) == now - timedelta(days=7)
    assert parse_when("90s", now) == now - timedelta(seconds=90)
    assert parse_when("2026-11-23T10:00:00") == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert parse_when("2026-11-23T10:00:00+02:00") == datetime(2026, 11, 23, 8, tzinfo=UTC)
    assert parse_when("2026-11-23T10:00:00Z") == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert parse_duration("yesterday") is None
    with pytest.raises(ValueError, match="duration"):
        parse_when("yesterday")
