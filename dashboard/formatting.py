"""How numbers read on the dashboard: one place, so pages and tests agree."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import make_url

MISSING = "-"
"""Shown where a figure has no value (no requests in the window)."""


def count(value: int) -> str:
    """An integer with thousands separators: 12,345."""
    return f"{value:,}"


def rate(value: float | None) -> str:
    """A fraction as a percentage with one decimal: 12.5%."""
    return MISSING if value is None else f"{value:.1%}"


def ms(value: float | None) -> str:
    """Milliseconds with one decimal: 12.3 ms."""
    return MISSING if value is None else f"{value:,.1f} ms"


def per_minute(value: float) -> str:
    """Calls per minute with one decimal: 4.2."""
    return f"{value:,.1f}"


def safe_url(url: str) -> str:
    """The store URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as given, it holds nothing to hide
        return url


def error_text(error: BaseException) -> str:
    """The first line of a database error, without SQLAlchemy's boilerplate (SQL, links)."""
    original = getattr(error, "orig", None)
    text = str(original if original is not None else error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def model_label(model: str, version: str | None = None) -> str:
    """'iris/2', or '(no model)' for requests that reached none."""
    if not model:
        return "(no model)"
    return model if version is None else f"{model}/{version}"


def moment(value: datetime) -> str:
    """A UTC time to the second: 2026-12-02 07:40:12 UTC."""
    return f"{value:%Y-%m-%d %H:%M:%S} UTC"


def ago(span: timedelta) -> str:
    """How long ago, roughly: 8 s ago, 5 min ago, 3 h ago, 2 d ago."""
    seconds = max(span.total_seconds(), 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"
