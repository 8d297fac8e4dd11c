"""The dashboard under streamlit's AppTest: the app started on a store, and what its pages show
(metrics, Altair charts and their data), for the page tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

import dashboard

APP = Path(dashboard.__file__).with_name("app.py")


def start(url: str, monkeypatch: pytest.MonkeyPatch, models_dir: Path | None = None) -> AppTest:
    monkeypatch.setenv("PREDLOG_STORE_URL", url)
    monkeypatch.setenv("PREDLOG_MODELS_DIR", str(models_dir or "/nonexistent"))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def charts(at: AppTest) -> list[Any]:
    """The page's Altair (Vega-Lite) charts, as AppTest holds them (no typed wrapper)."""
    return list(at.get("vega_lite_chart"))


def chart_data(chart: Any) -> list[pd.DataFrame]:
    """A chart's datasets: Streamlit moves each layer's data into the proto as Arrow bytes."""
    return [
        dataframe_util.convert_arrow_bytes_to_pandas_df(dataset.data.data)
        for dataset in chart.proto.datasets
    ]
