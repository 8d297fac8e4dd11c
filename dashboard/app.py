"""The dashboard's main script: ``streamlit run dashboard/app.py -- --store URL``.

It draws the navigation and the sidebar, checks that the store can be read, and runs
the chosen page (``dashboard/views/``). ``predlog dashboard`` starts it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from dashboard import cache, formatting
from dashboard.context import remember
from dashboard.settings import DashboardSettings
from dashboard.sidebar import sidebar

# (script relative to this file, title, icon); the first is the default page. No bare string
# below the module docstring: Streamlit's "magic" would draw it on the page.
PAGES = (
    ("views/overview.py", "Overview", ":material/monitoring:"),
    ("views/models.py", "Models", ":material/deployed_code:"),
    ("views/versions.py", "Versions", ":material/call_split:"),
    ("views/outliers.py", "Outliers", ":material/scatter_plot:"),
    ("views/drift.py", "Drift", ":material/ssid_chart:"),
    ("views/quality.py", "Quality", ":material/fact_check:"),
    ("views/requests.py", "Requests", ":material/manage_search:"),
)

# Pages that have something to show before the first request (the registry).
WITHOUT_REQUESTS = frozenset({"Models"})


def settings_from_argv(argv: list[str]) -> DashboardSettings:
    """Settings from the environment, overridden by ``--store``/``--models`` after ``--``.

    Only when this file is the script being run (``streamlit run`` puts it in argv[0]):
    under a test runner argv belongs to the runner.
    """
    if not argv or Path(argv[0]).resolve() != Path(__file__).resolve():
        return DashboardSettings()
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--store")
    parser.add_argument("--models")
    known, _ = parser.parse_known_args(argv[1:])
    overrides = {"store_url": known.store, "models_dir": known.models}
    return DashboardSettings(**{key: value for key, value in overrides.items() if value})


def store_ready(settings: DashboardSettings, *, requests_needed: bool = True) -> bool:
    """Show why the store cannot be shown, if it cannot; True when it can.

    A store without requests can be shown by a page that does not need them.
    """
    status = cache.store_status(settings.store_url)
    url = formatting.safe_url(settings.store_url)
    if status.state == "unreachable":
        st.error(
            f"Cannot read the log store at `{url}`: {status.detail}. "
            "Check `--store` / `PREDLOG_STORE_URL` and that the database is running."
        )
    elif status.state == "no_schema":
        st.error(
            f"The store at `{url}` has no predlog schema ({status.detail}). "
            f"Create it with `predlog db upgrade --store {url}` (or start the sidecar)."
        )
    elif status.state == "empty" and requests_needed:
        st.info(
            f"The store at `{url}` holds no requests yet. Send some to the api "
            "(or run `predlog load`) and they will show here."
        )
    return status.state == "ok" or (status.state == "empty" and not requests_needed)


def main() -> None:
    """Draw one run of the app."""
    settings = settings_from_argv(sys.argv)
    st.set_page_config(page_title="predlog", page_icon=":material/monitoring:", layout="wide")
    pages = [
        st.Page(path, title=title, icon=icon, default=index == 0)
        for index, (path, title, icon) in enumerate(PAGES)
    ]
    page = st.navigation(pages)
    # getattr: imported outside `streamlit run` (bare mode), the page object has no title.
    needed = getattr(page, "title", "") not in WITHOUT_REQUESTS
    if not store_ready(settings, requests_needed=needed):
        return
    try:
        selection = sidebar(settings)
    except SQLAlchemyError as error:  # the store went away since the status check
        url = formatting.safe_url(settings.store_url)
        st.error(f"The store at `{url}` failed: {formatting.error_text(error)}")
        return
    remember(selection)
    page.run()


main()
