"""Time windows and filters: what every dashboard query is asked about."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PRESETS: dict[str, timedelta] = {
    "15 min": timedelta(minutes=15),
    "1 h": timedelta(hours=1),
    "24 h": timedelta(hours=24),
    "7 days": timedelta(days=7),
}
"""The window choices of the sidebar, besides "custom"."""

BUCKET_LADDER: tuple[int, ...] = (60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86400)
"""Bucket widths (seconds) a chart may use; rollups are per minute, so 60 is the finest."""

MAX_POINTS = 200
"""A chart gets at most about this many time buckets."""


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time range [start, end) in UTC, and the chart bucket width in seconds."""

    start: datetime
    end: datetime
    bucket_seconds: int

    @property
    def minutes(self) -> float:
        """Length of the window in minutes."""
        return (self.end - self.start).total_seconds() / 60


@dataclass(frozen=True, slots=True)
class Filters:
    """Model and version filters; None means all."""

    model: str | None = None
    version: str | None = None


def bucket_for(span: timedelta) -> int:
    """The finest bucket width that keeps a chart of ``span`` under ``MAX_POINTS`` points."""
    seconds = span.total_seconds()
    for width in BUCKET_LADDER:
        if seconds / width <= MAX_POINTS:
            return width
    return BUCKET_LADDER[-1]


def floor_minute(moment: datetime) -> datetime:
    """The start of the minute that holds ``moment``."""
    return moment.replace(second=0, microsecond=0)


def preset_window(label: str, now: datetime | None = None) -> Window:
    """The window ``label`` (a key of PRESETS) ending with the current minute.

    The end is the end of the current minute, so the window only changes once a
    minute and cached results can be reused in between.
    """
    span = PRESETS[label]
    now = now or datetime.now(UTC)
    end = floor_minute(now.astimezone(UTC)) + timedelta(minutes=1)
    return Window(end - span, end, bucket_for(span))


def custom_window(start: datetime, end: datetime) -> Window:
    """A window between two moments (naive ones are taken as UTC); raises if empty."""
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    if end <= start:
        raise ValueError("the end of the window must be after its start")
    return Window(start.astimezone(UTC), end.astimezone(UTC), bucket_for(end - start))
