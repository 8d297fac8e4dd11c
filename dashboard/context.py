"""What the app shell hands to a page: settings and the sidebar's choices, per session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from dashboard import formatting
from dashboard.settings import DashboardSettings
from dashboard.window import Filters, Window, custom_window, preset_window

_KEY = "_predlog_selection"


@dataclass(frozen=True, slots=True)
class Selection:
    """The sidebar's choices; the window is computed from them at each (re)draw."""

    settings: DashboardSettings
    window_label: str
    custom: tuple[datetime, datetime] | None
    filters: Filters
    auto_refresh: bool

    def window(self) -> Window:
        """The window the choices mean right now."""
        if self.custom is not None:
            return custom_window(*self.custom)
        return preset_window(self.window_label)


@dataclass(frozen=True, slots=True)
class PageContext:
    """Everything a page draws from."""

    settings: DashboardSettings
    window: Window
    filters: Filters

    @property
    def url(self) -> str:
        """The store URL (the key of every cached query)."""
        return self.settings.store_url


def remember(selection: Selection) -> None:
    """Keep the sidebar's choices for the page about to run."""
    st.session_state[_KEY] = selection


def run_page(render: Callable[[PageContext], None]) -> None:
    """Draw a page (refreshed every few seconds if asked); store errors become a message."""
    selection: Selection | None = st.session_state.get(_KEY)
    if selection is None:
        st.error("Open the dashboard through its main script: `predlog dashboard`.")
        return

    def body() -> None:
        # The window is computed here, so that each auto-refresh moves it along.
        context = PageContext(selection.settings, selection.window(), selection.filters)
        try:
            render(context)
        except SQLAlchemyError as error:
            url = formatting.safe_url(selection.settings.store_url)
            st.error(f"The store at `{url}` failed: {formatting.error_text(error)}")

    if selection.auto_refresh:
        # Only the page body reruns on the timer; the sidebar keeps its state.
        st.fragment(run_every=selection.settings.refresh_seconds)(body)()
    else:
        body()


def window_caption(window: Window, *, buckets: bool = True) -> str:
    """'2026-11-23 16:23 to 17:23 UTC, 1-minute buckets'."""
    start = window.start.strftime("%Y-%m-%d %H:%M")
    same_day = window.start.date() == window.end.date()
    end = window.end.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M")
    width = window.bucket_seconds // 60
    unit = f"{width}-minute" if width < 60 else f"{width // 60}-hour"
    return f"{start} to {end} UTC" + (f", {unit} buckets" if buckets else "")
