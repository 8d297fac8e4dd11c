"""Outliers page: score distribution with thresholds, outlier rate over time, latest outliers."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from dashboard import cache, charts
from dashboard import formatting as fmt
from dashboard.context import PageContext, run_page, window_caption
from dashboard.views.overview import NO_DATA

# Latest-outlier columns as shown.
LATEST_COLUMNS = {
    "event_time": "Time (UTC)",
    "job_id": "job_id",
    "model": "Model",
    "version": "Version",
    "endpoint": "Endpoint",
    "status": "Status",
    "max_outlier_score": "Max score",
    "scores": "Scores",
    "inputs": "Inputs",
}


def thresholds(ctx: PageContext, histogram: pd.DataFrame) -> tuple[dict[str, float], list[str]]:
    """Threshold per version label (bundle manifest, else the default) and the labels defaulted."""
    bundles = cache.bundles(str(ctx.settings.models_dir))
    found: dict[str, float] = {}
    defaulted: list[str] = []
    for model, version in histogram[["model", "version"]].drop_duplicates().itertuples(index=False):
        if not model:
            continue  # requests that reached no model were not scored
        label = fmt.model_label(model, version)
        info = bundles.get((model, version))
        if info is None:
            defaulted.append(label)
        found[label] = info.outlier_threshold if info else ctx.settings.outlier_threshold
    return found, defaulted


def latest_table(latest: pd.DataFrame) -> pd.DataFrame:
    """Latest outliers with inputs and scores as compact JSON text."""
    table = latest[list(LATEST_COLUMNS)].copy()
    table["inputs"] = [json.dumps(rows) for rows in table["inputs"]]
    table["scores"] = [json.dumps([round(score, 4) for score in s]) for s in table["scores"]]
    return table.rename(columns=LATEST_COLUMNS)


def render(ctx: PageContext) -> None:
    """Draw the Outliers page."""
    st.title("Outliers")
    st.caption(window_caption(ctx.window))
    data = cache.outliers(ctx.url, ctx.window, ctx.filters)
    if data.requests == 0:
        st.info(NO_DATA)
        return
    row = st.columns(4)
    row[0].metric("Outlier requests", fmt.count(data.outlier_requests))
    row[1].metric("Outlier rate", fmt.rate(data.outlier_rate))
    row[2].metric("Rows scored", fmt.count(data.rows))
    row[3].metric("Outlier rows", fmt.count(data.outlier_rows))

    marks, defaulted = thresholds(ctx, data.histogram)
    left, right = st.columns(2)
    left.altair_chart(
        charts.score_distribution(data.histogram, marks), key="scores", width="stretch"
    )
    right.altair_chart(
        charts.lines(
            data.series, {"outlier_rate": "outlier rate"}, "Outlier rate", "share", percent=True
        ),
        key="rate",
        width="stretch",
    )
    if defaulted:
        left.caption(
            f"No bundle manifest under `{ctx.settings.models_dir}` for {', '.join(defaulted)}: "
            f"threshold {ctx.settings.outlier_threshold:g} marked (PREDLOG_OUTLIER_THRESHOLD)."
        )
    else:
        left.caption(f"Thresholds from the bundle manifests under `{ctx.settings.models_dir}`.")

    st.subheader("Latest outlier requests")
    latest = cache.latest_outliers(ctx.url, ctx.window, ctx.filters, ctx.settings.recent_limit)
    if latest.empty:
        st.info("No outlier requests in this window.")
        return
    st.dataframe(latest_table(latest), hide_index=True, key="latest_outliers")


if __name__ == "__main__":
    run_page(render)
