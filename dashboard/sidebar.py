"""The sidebar: time window, model and version filters, auto-refresh."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import streamlit as st

from dashboard import cache, formatting
from dashboard.context import Selection
from dashboard.settings import DashboardSettings
from dashboard.window import PRESETS, Filters, custom_window, preset_window

CUSTOM = "Custom"
ALL = "All"
DEFAULT_WINDOW = "1 h"


def _keep_valid(key: str, options: list[Any]) -> None:
    """Forget a widget's value that the new options no longer offer (e.g. after a window change)."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]


def sidebar(settings: DashboardSettings) -> Selection:
    """Draw the sidebar and return what it selects."""
    with st.sidebar:
        labels = [*PRESETS, CUSTOM]
        label = st.selectbox(
            "Time window", labels, index=labels.index(DEFAULT_WINDOW), key="window"
        )
        custom: tuple[datetime, datetime] | None = None
        if label == CUSTOM:
            custom = _custom_range()
            if custom is None:
                label = DEFAULT_WINDOW
        window = custom_window(*custom) if custom else preset_window(label)
        choices = cache.choices(settings.store_url, window)

        models = [ALL, *choices.models]
        _keep_valid("model", models)
        model = st.selectbox(
            "Model",
            models,
            key="model",
            format_func=lambda m: m if m == ALL else formatting.model_label(m),
        )
        versions = [ALL, *(choices.versions_of(model) if model != ALL else [])]
        _keep_valid("version", versions)
        version = st.selectbox(
            "Version", versions, key="version", disabled=model == ALL,
            help="Pick a model first." if model == ALL else None,
        )  # fmt: skip
        auto = st.toggle(
            "Auto-refresh", key="auto_refresh",
            help=f"Redraw the page every {settings.refresh_seconds} s.",
        )  # fmt: skip
        st.caption(f"Store: `{formatting.safe_url(settings.store_url)}` (read-only)")
    filters = Filters(
        model=None if model == ALL else model,
        version=None if ALL in (model, version) else version,
    )
    return Selection(settings, label, custom, filters, auto)


def _custom_range() -> tuple[datetime, datetime] | None:
    today = datetime.now(UTC)
    start_day = st.date_input(
        "From (UTC)", value=(today - timedelta(days=1)).date(), key="from_day"
    )
    start_at = st.time_input("From time", value=time(0, 0), key="from_time")
    end_day = st.date_input("To (UTC)", value=today.date(), key="to_day")
    end_at = st.time_input("To time", value=time(23, 59), key="to_time")
    start = datetime.combine(start_day, start_at, tzinfo=UTC)
    end = datetime.combine(end_day, end_at, tzinfo=UTC)
    if end <= start:
        st.error("The end of the custom window must be after its start.")
        return None
    return start, end
