"""Details of the charts and the server that a viewer sees: tick precision, label overlap,
no developer toolbar."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard import charts
from dashboard.server import streamlit_argv
from dashboard.settings import DashboardSettings


@pytest.mark.parametrize(
    ("top", "format_"),
    [(0.0, ".0%"), (0.0004, ".3~%"), (0.004, ".2~%"), (0.03, ".1~%"), (0.25, ".0%")],
)
def test_percent_ticks_have_the_precision_of_the_data(top: float, format_: str) -> None:
    assert charts.percent_format(pd.Series([0.0, top, float("nan")])) == format_


def test_an_error_rate_under_one_percent_reads_in_tenths() -> None:
    times = pd.date_range("2026-12-02", periods=3, freq="min", tz="UTC")
    frame = pd.DataFrame({"time": times, "error_rate": [0.0, 0.004, 0.002]})
    spec = charts.lines(frame, {"error_rate": "errors"}, "Error rate", "share", percent=True)
    assert spec.to_dict()["encoding"]["y"]["axis"]["format"] == ".2~%"


def test_threshold_labels_are_placed_in_pixels_not_on_the_rows_scale() -> None:
    histogram = pd.DataFrame(
        {"model": ["iris", "iris"], "version": ["1", "2"], "low": [0.5, 0.5], "high": [0.55, 0.55],
         "rows": [900, 40]}
    )  # fmt: skip
    spec = charts.score_distribution(histogram, {"iris/1": 0.5, "iris/2": 0.52}).to_dict()
    assert spec["resolve"]["scale"]["y"] == "independent"
    text = spec["layer"][2]
    assert text["encoding"]["y"]["scale"] is None
    offsets = sorted(row["offset"] for row in spec["datasets"][text["data"]["name"]])
    assert offsets[1] - offsets[0] >= 12  # a line of 11-pixel text apart


def test_viewers_get_no_deploy_button_nor_developer_menu() -> None:
    assert "--client.toolbarMode=minimal" in streamlit_argv(DashboardSettings())
