"""`predlog dashboard` in a real Streamlit server, every page opened in headless Chromium."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from sidecar.store.engine import make_engine
from sidecar.store.writer import StoreWriter
from tests.dashboard import quality_records, records, registry
from tests.dashboard.conftest import fill
from tests.support import free_port, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
]  # fmt: skip

PAGES = [
    # (url path, title, Altair (Vega-Lite) charts on the page)
    ("", "Overview", 4),
    ("models", "Models", 2),
    ("versions", "Versions", 2),
    ("outliers", "Outliers", 2),
    ("quality", "Quality", 4),  # accuracy, share with feedback, a confusion matrix, delays
    ("requests", "Requests", 0),
]

CHART_DRAWN = ".vega-embed svg.marks, .vega-embed canvas.marks"
"""A chart Vega has rendered (the marks element inside vega-embed's container)."""


def healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture
def dashboard_url(tmp_path: Path) -> Iterator[str]:
    """`predlog dashboard` on a free port over an SQLite store holding the known records."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    known = fill(url, time.time())
    engine = make_engine(url)
    StoreWriter(engine).write([], feedback=quality_records.feedback_for(known))
    engine.dispose()
    registry.fill_registry(url)
    models_dir = tmp_path / "models"
    records.write_manifest(models_dir)
    with serve_dashboard(url, models_dir, tmp_path / "dashboard.log") as base:
        yield base


@contextlib.contextmanager
def serve_dashboard(url: str, models_dir: Path, log_path: Path) -> Iterator[str]:
    """`predlog dashboard` on a free port over the store at ``url``; its base URL."""
    port = free_port()
    log = log_path.open("wb")
    command = [
        sys.executable, "-m", "predlog", "dashboard", "--host", "127.0.0.1", "--port", str(port),
        "--store", url, "--models", str(models_dir),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: healthy(base) or process.poll() is not None, timeout=60, interval=0.2)
        assert process.poll() is None, log_path.read_text()
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def screenshots(request: pytest.FixtureRequest) -> Path:
    path = Path(request.config.rootpath) / "test-output" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def open_page(page: Page, base: str, path: str, title: str, charts: int) -> float:
    """Load a page and wait until it has drawn; seconds it took."""
    started = time.monotonic()
    page.goto(f"{base}/{path}")
    page.get_by_role("heading", name=title, level=1).wait_for(timeout=60_000)
    if charts:  # vega-embed draws each chart into an <svg> or a <canvas>
        page.wait_for_function(
            f"document.querySelectorAll('{CHART_DRAWN}').length >= {charts}", timeout=60_000
        )
    else:
        page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=60_000)
    return time.monotonic() - started


def test_every_page_renders_in_chromium(dashboard_url: str, screenshots: Path) -> None:
    timings: dict[str, float] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            for path, title, charts in PAGES:
                timings[title] = open_page(page, dashboard_url, path, title, charts)
                assert page.locator("[data-testid='stException']").count() == 0
                if title == "Overview":
                    # Retried until the rerun settles: metrics can redraw after the charts.
                    expect(page.get_by_test_id("stMetricValue")).to_contain_text(
                        ["47", "14.9%"], timeout=30_000
                    )
                if title == "Quality":
                    expect(page.get_by_test_id("stMetricValue")).to_contain_text(
                        ["10"], timeout=30_000
                    )
                    expect(page.get_by_test_id("stHeading")).to_contain_text(
                        ["Quality", "iris/1"], timeout=30_000
                    )
                    page.set_viewport_size({"width": 1400, "height": 2600})
                    page.wait_for_function(
                        "!document.querySelector('[data-stale=\"true\"]')", timeout=60_000
                    )
                if title == "Models":
                    expect(page.get_by_test_id("stHeading")).to_contain_text(
                        ["Models", "churn", "iris", "Workers"], timeout=30_000
                    )
                    expect(page.get_by_test_id("stCode")).to_have_count(
                        len(registry.VERSIONS), timeout=30_000
                    )
                    # the failed version's deploy log, opened: its error in the table
                    failed = page.locator(".st-key-card-iris-3")
                    failed.get_by_text("Deploy log").click()
                    expect(failed.get_by_test_id("stDataFrame")).to_be_visible(timeout=30_000)
                    # a long page: Streamlit scrolls inside, not the page
                    page.set_viewport_size({"width": 1400, "height": 3300})
                    page.wait_for_function(
                        "!document.querySelector('[data-stale=\"true\"]')", timeout=60_000
                    )
                page.screenshot(path=screenshots / f"{title.lower()}.png", full_page=True)
                page.set_viewport_size({"width": 1400, "height": 1100})
            # a lookup on the Requests page (the last one opened)
            lookup = page.get_by_label("Look up a job_id or request id", exact=True)
            lookup.fill(records.LOOKUP_REQUEST)
            lookup.press("Enter")
            page.get_by_text(f"job_id {records.LOOKUP_JOB}").wait_for(timeout=60_000)
            page.locator("[data-testid='stJson']").wait_for(state="attached", timeout=60_000)
            page.get_by_role("heading", name="Recent requests").wait_for(timeout=60_000)
            page.wait_for_function(  # the rerun is over: Streamlit marks stale elements
                "!document.querySelector('[data-stale=\"true\"]')", timeout=60_000
            )
            assert page.locator("[data-testid='stException']").count() == 0
            page.screenshot(path=screenshots / "request-lookup.png", full_page=True)
            # the Overview again, with the server and the browser warm
            timings["Overview (warm)"] = open_page(page, dashboard_url, "", "Overview", 4)
        finally:
            browser.close()
    (screenshots / "timings.json").write_text(json.dumps(timings, indent=2))
    print(f"\nscreenshots in {screenshots}; seconds to render: {json.dumps(timings)}")
