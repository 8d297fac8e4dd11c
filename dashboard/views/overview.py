"""Overview page: calls per minute, error rate, latency percentiles and outlier rate over time."""

from __future__ import annotations

import streamlit as st

from dashboard import cache, charts
from dashboard import formatting as fmt
from dashboard.context import PageContext, run_page, window_caption

NO_DATA = "No requests in this window. Pick a longer time window or other filters."


def render(ctx: PageContext) -> None:
    """Draw the Overview page."""
    st.title("Overview")
    st.caption(window_caption(ctx.window))
    data = cache.overview(ctx.url, ctx.window, ctx.filters)
    totals = data.totals
    if totals.requests == 0:
        st.info(NO_DATA)
        return
    row = st.columns(4)
    row[0].metric("Requests", fmt.count(totals.requests))
    row[1].metric("Calls per minute", fmt.per_minute(totals.calls_per_minute))
    row[2].metric("Error rate", fmt.rate(totals.error_rate))
    row[3].metric("Outlier rate", fmt.rate(totals.outlier_rate))
    row = st.columns(4)
    row[0].metric("p50 latency", fmt.ms(totals.p50_ms))
    row[1].metric("p95 latency", fmt.ms(totals.p95_ms))
    row[2].metric("p99 latency", fmt.ms(totals.p99_ms))
    row[3].metric("Mean latency", fmt.ms(totals.latency_mean_ms))
    lost = cache.integrity(ctx.url, ctx.window)
    row = st.columns(4)
    row[0].metric("Errors", fmt.count(totals.errors))
    row[1].metric("Outlier requests", fmt.count(totals.outlier_requests))
    row[2].metric(
        "Dead letters", fmt.count(lost.dead_letters),
        help="Records received in this window that failed validation (all models).",
    )  # fmt: skip
    row[3].metric(
        "Lost records", fmt.count(lost.lost_records),
        help="Gaps in the api processes' sequence numbers, for processes active in this window.",
    )  # fmt: skip

    series = data.series
    left, right = st.columns(2)
    left.altair_chart(
        charts.lines(series, {"calls_per_minute": "calls/min"}, "Calls per minute", "calls/min"),
        key="calls",
        width="stretch",
    )
    right.altair_chart(
        charts.lines(series, {"p50_ms": "p50", "p95_ms": "p95", "p99_ms": "p99"}, "Latency", "ms"),
        key="latency",
        width="stretch",
    )
    left.altair_chart(
        charts.lines(series, {"error_rate": "errors"}, "Error rate", "share", percent=True),
        key="errors",
        width="stretch",
    )
    right.altair_chart(
        charts.lines(series, {"outlier_rate": "outliers"}, "Outlier rate", "share", percent=True),
        key="outliers",
        width="stretch",
    )
    with st.expander("Data per bucket"):
        st.dataframe(series, hide_index=True, key="overview_series")


if __name__ == "__main__":
    run_page(render)
