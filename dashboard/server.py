"""Start the Streamlit server on the dashboard app (what ``predlog dashboard`` runs)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

from dashboard.settings import DashboardSettings

APP = Path(__file__).with_name("app.py")
"""The app's main script."""


def streamlit_argv(settings: DashboardSettings) -> list[str]:
    """``streamlit run dashboard/app.py``: headless, no usage stats, no file watcher.

    Run as ``python -m dashboard``, Streamlit's command line after the app's imports.
    """
    return [
        sys.executable, "-m", "dashboard", "run", str(APP),
        "--server.headless=true",
        "--server.fileWatcherType=none",
        "--server.runOnSave=false",
        "--browser.gatherUsageStats=false",
        "--global.developmentMode=false",
        "--client.toolbarMode=minimal",  # no Deploy button nor developer menu for viewers
        f"--server.address={settings.host}",
        f"--server.port={settings.port}",
    ]  # fmt: skip


def streamlit_env(settings: DashboardSettings) -> dict[str, str]:
    """The environment of the server: the settings travel as env vars, not argv.

    A store URL may hold a password, which ``ps`` would show if it were an argument.
    """
    return {
        **os.environ,
        **settings.to_env(),
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }


def serve(settings: DashboardSettings) -> NoReturn:
    """Replace this process with the Streamlit server, so signals reach it directly."""
    argv = streamlit_argv(settings)
    os.execve(argv[0], argv, streamlit_env(settings))  # noqa: S606 - our own interpreter
