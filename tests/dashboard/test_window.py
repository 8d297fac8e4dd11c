"""Time windows, settings and the server command line of the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dashboard import formatting
from dashboard.app import settings_from_argv
from dashboard.server import APP, streamlit_argv, streamlit_env
from dashboard.settings import DashboardSettings
from dashboard.window import bucket_for, custom_window, preset_window

NOW = datetime(2026, 3, 1, 12, 34, 56, 789, tzinfo=UTC)


@pytest.mark.parametrize(
    ("label", "span", "bucket"),
    [("15 min", timedelta(minutes=15), 60), ("1 h", timedelta(hours=1), 60),
     ("24 h", timedelta(hours=24), 600), ("7 days", timedelta(days=7), 3600)],
)  # fmt: skip
def test_preset_windows_end_with_the_current_minute(
    label: str, span: timedelta, bucket: int
) -> None:
    window = preset_window(label, NOW)
    assert window.end == datetime(2026, 3, 1, 12, 35, tzinfo=UTC)
    assert window.end - window.start == span
    assert window.bucket_seconds == bucket
    # the same minute gives the same window: cached results are reused within it
    assert preset_window(label, NOW.replace(second=1)) == window


def test_custom_window() -> None:
    window = custom_window(datetime(2026, 1, 1), datetime(2026, 1, 31))
    assert window.start.tzinfo is UTC
    assert window.bucket_seconds == 6 * 3600  # 120 points
    with pytest.raises(ValueError, match="after its start"):
        custom_window(NOW, NOW)
    assert bucket_for(timedelta(days=400)) == 86400


def test_store_url_from_argv_only_under_streamlit_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREDLOG_STORE_URL", "sqlite:///from-env.db")
    assert settings_from_argv(["pytest", "--store", "x"]).store_url == "sqlite:///from-env.db"
    argv = [str(APP), "--store", "sqlite:///from-argv.db", "--models", "m"]
    settings = settings_from_argv(argv)
    assert settings.store_url == "sqlite:///from-argv.db"
    assert settings.models_dir == Path("m")


def test_server_runs_streamlit_headless_with_settings_in_env() -> None:
    settings = DashboardSettings(
        host="127.0.0.2", port=9999, store_url="postgresql://u:pw@h/db", refresh_seconds=3
    )
    argv = streamlit_argv(settings)
    assert argv[1:5] == ["-m", "dashboard", "run", str(APP)]
    for flag in ("--server.headless=true", "--browser.gatherUsageStats=false",
                 "--server.fileWatcherType=none", "--server.address=127.0.0.2",
                 "--server.port=9999"):  # fmt: skip
        assert flag in argv
    assert not any("pw" in part for part in argv)  # the password stays out of `ps`
    env = streamlit_env(settings)
    assert env["PREDLOG_STORE_URL"] == "postgresql://u:pw@h/db"
    assert env["PREDLOG_DASHBOARD_REFRESH_SECONDS"] == "3"
    assert formatting.safe_url(settings.store_url) == "postgresql://u:***@h/db"
