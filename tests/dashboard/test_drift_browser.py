"""The Drift page in a real `predlog dashboard`, in headless Chromium: drawn, the shifted
feature flagged, and no Deploy button nor developer menu for the viewer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.dashboard.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    open_page,
    screenshots,
    serve_dashboard,
)
from tests.dashboard.test_drift import SHIFTED, fill

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["screenshots"]  # the fixture, shared with the other browser test


@pytest.fixture
def drift_dashboard(tmp_path: Path, models_dir: Path) -> Iterator[str]:
    """`predlog dashboard` over an SQLite store holding the drifting traffic."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    fill(url, models_dir, time.time())
    with serve_dashboard(url, models_dir, tmp_path / "dashboard.log") as base:
        yield base


def test_the_drift_page_in_chromium(drift_dashboard: str, screenshots: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            seconds = open_page(page, drift_dashboard, "drift", "Drift", 4)
            assert page.locator("[data-testid='stException']").count() == 0
            expect(page.get_by_test_id("stMetricValue")).to_contain_text(
                ["1 of 4", SHIFTED], timeout=30_000
            )
            # client.toolbarMode=minimal: the viewer gets neither of Streamlit's own
            assert page.get_by_test_id("stAppDeployButton").count() == 0
            assert page.get_by_test_id("stMainMenu").count() == 0
            page.wait_for_function(
                "!document.querySelector('[data-stale=\"true\"]')", timeout=60_000
            )
            page.screenshot(path=screenshots / "drift.png", full_page=True)
        finally:
            browser.close()
    print(f"\nDrift page drawn in {seconds:.1f} s; screenshot in {screenshots / 'drift.png'}")
