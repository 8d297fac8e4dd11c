"""Versions page: traffic share per version over time; latency, errors, outliers per version;
shadow versions' agreement with their primaries."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import cache, charts
from dashboard.context import PageContext, run_page, window_caption
from dashboard.queries.shadow import COMPARED
from dashboard.views.overview import NO_DATA

# Summary columns as shown (comments, not docstrings: Streamlit's magic would draw them).
COLUMNS = {
    "model": "Model",
    "version": "Version",
    "requests": "Requests",
    "share": "Share",
    "errors": "Errors",
    "error_rate": "Error rate",
    "outlier_requests": "Outliers",
    "outlier_rate": "Outlier rate",
    "p50_ms": "p50 ms",
    "p95_ms": "p95 ms",
    "p99_ms": "p99 ms",
    "mean_ms": "Mean ms",
}

SHADOW_COLUMNS = {
    "model": "Model",
    "shadow_version": "Shadow version",
    "primary_version": "Primary version",
    "compared": "Requests compared",
    "rows": "Rows",
    "agreement": "Agreement",
    "mean_abs_diff": "Mean |diff|",
    "shadow_errors": "Shadow errors",
    "shadow_p50_ms": "Shadow p50 ms",
}


def summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The per-version summary with readable headers; '' model shown as '(no model)'."""
    table = summary.rename(columns=COLUMNS)
    table["Model"] = table["Model"].replace("", "(no model)")
    return table


def render(ctx: PageContext) -> None:
    """Draw the Versions page."""
    st.title("Versions")
    st.caption(window_caption(ctx.window))
    data = cache.versions(ctx.url, ctx.window, ctx.filters)
    if data.summary.empty:
        st.info(NO_DATA)
        return
    percent = st.column_config.NumberColumn(format="percent")
    millis = st.column_config.NumberColumn(format="%.1f")
    st.dataframe(
        summary_table(data.summary),
        hide_index=True,
        key="versions_summary",
        column_config={
            "Share": percent, "Error rate": percent, "Outlier rate": percent,
            "p50 ms": millis, "p95 ms": millis, "p99 ms": millis, "Mean ms": millis,
        },
    )  # fmt: skip
    left, right = st.columns(2)
    left.altair_chart(charts.version_share(data.series), key="share", width="stretch")
    right.altair_chart(charts.version_calls(data.series), key="calls", width="stretch")
    latency, errors, outliers = st.columns(3)
    latency.altair_chart(
        charts.version_metric(data.series, "p95_ms", "p95 latency per version", "ms"),
        key="version_p95",
        width="stretch",
    )
    errors.altair_chart(
        charts.version_metric(
            data.series, "error_rate", "Error rate per version", "errors", percent=True
        ),
        key="version_errors",
        width="stretch",
    )
    outliers.altair_chart(
        charts.version_metric(
            data.series, "outlier_rate", "Outlier rate per version", "outliers", percent=True
        ),
        key="version_outliers",
        width="stretch",
    )
    shadows = cache.shadow_agreement(ctx.url, ctx.window, ctx.filters)
    if not shadows.empty:
        st.subheader("Shadow agreement")
        st.caption(
            "Each shadow version's answers to copies of its model's requests, against the "
            "answer the caller got (same label; a regressor within 5%), over the newest "
            f"{COMPARED:,} shadow records of the window. Shadow calls are not in the counts above."
        )
        st.dataframe(
            shadows.rename(columns=SHADOW_COLUMNS),
            hide_index=True,
            key="shadow_agreement",
            column_config={
                "Agreement": percent,
                "Mean |diff|": st.column_config.NumberColumn(format="%.4g"),
                "Shadow p50 ms": millis,
            },
        )


if __name__ == "__main__":
    run_page(render)
