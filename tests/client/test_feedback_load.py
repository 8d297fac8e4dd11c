"""Feedback of a known accuracy, sent by ``predlog load`` through the real api, sidecar and
store, shows as that accuracy on the Quality page."""

from __future__ import annotations

import math
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from dashboard.queries.quality import quality
from dashboard.window import Filters, custom_window
from sidecar.store.engine import make_engine
from sidecar.store.schema import feedback, quality_rollups
from tests.client.test_load_live_api import PREDLOG, live_api  # noqa: F401 (a fixture)
from tests.dashboard.apptest import metrics, start
from tests.support import wait_for

pytestmark = pytest.mark.slow

ACCURACY = 0.8
COUNT = 1000
FRACTION = 0.5


def joined(store: str) -> tuple[int, int]:
    """(feedback rows stored, feedback compared or found unusable in quality_rollups)."""
    engine = make_engine(store, readonly=True)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(feedback)).scalar_one()
            counted = conn.execute(
                select(
                    func.coalesce(
                        func.sum(quality_rollups.c.matched + quality_rollups.c.unusable), 0
                    )
                )
            ).scalar_one()
    finally:
        engine.dispose()
    return int(rows), int(counted)


def test_feedback_with_known_accuracy_shows_that_accuracy(
    live_api: tuple[str, str],  # noqa: F811 (the fixture)
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    url, store = live_api
    started = datetime.now(UTC)
    out = subprocess.run(
        [
            *PREDLOG, "load", "--url", url, "--rate", "250", "--count", str(COUNT),
            "--feedback-fraction", str(FRACTION), "--feedback-accuracy", str(ACCURACY),
            "--seed", "3", "--no-progress", "--json",
        ],
        capture_output=True, check=True, timeout=180,
    )  # fmt: skip
    summary = orjson.loads(out.stdout)
    assert summary["answered"] == COUNT
    sent = summary["feedback"]
    assert sent["accepted"] == sent["items"] > 0
    assert sent["failed"] == 0
    # Every feedback item reaches the store and joins its prediction.
    wait_for(lambda: joined(store) == (sent["items"], sent["items"]), timeout=60)

    window = custom_window(started - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1))
    engine = make_engine(store, readonly=True)
    try:
        stats = quality(engine, window, Filters())
    finally:
        engine.dispose()
    versions = stats.versions
    assert set(versions["kind"]) == {"classifier"}
    assert int(versions["feedback"].sum()) == sent["items"]
    assert int(versions["unusable"].sum()) == 0
    assert stats.unmatched == 0
    right = int(stats.confusion.query("truth == predicted")["count"].sum())
    assert right == sent["right"]  # the store's count is exactly what was sent right
    measured = right / sent["items"]
    error = math.sqrt(ACCURACY * (1 - ACCURACY) / sent["items"])
    assert abs(measured - ACCURACY) < 4 * error, f"{measured:.1%} right, sent at {ACCURACY:.0%}"
    share = int(versions["feedback"].sum()) / int(versions["rows"].sum())
    assert abs(share - FRACTION) < 4 * math.sqrt(FRACTION * (1 - FRACTION) / COUNT)

    # The Quality page says the same.
    at = start(store, monkeypatch, tmp_path)
    at.switch_page("views/quality.py").run()
    assert not at.exception, at.exception
    assert metrics(at)["Feedback joined"] == f"{sent['items']:,}"
    table = at.dataframe[0].value
    shown = (table["Accuracy"] * table["Feedback"]).sum() / table["Feedback"].sum()
    assert shown == pytest.approx(measured)
