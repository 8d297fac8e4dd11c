"""``python -m dashboard run dashboard/app.py ...``: the ``streamlit`` command, warmed up.

Streamlit imports a script's modules on the first visit, which makes the first page load
slow (pandas, altair and SQLAlchemy take seconds on a busy machine). Importing them here,
in the server process before it listens, moves that cost to start-up.
"""

from __future__ import annotations

import importlib

PRELOAD = (
    "pandas",
    "altair",
    "sqlalchemy",
    "dashboard.queries",
    "dashboard.charts",
    "dashboard.settings",
)
"""Modules the app needs that do not touch Streamlit's runtime (st.cache_* needs it up first)."""


def main() -> None:
    """Import the app's heavy dependencies, then run Streamlit's own command line."""
    for name in PRELOAD:
        importlib.import_module(name)
    from streamlit.web.cli import main as streamlit  # noqa: PLC0415 - after the preload, on purpose

    streamlit(prog_name="streamlit")


if __name__ == "__main__":
    main()
