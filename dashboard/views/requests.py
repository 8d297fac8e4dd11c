"""Requests page: look up one request by job_id or request id; list recent requests by filter."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import cache
from dashboard import formatting as fmt
from dashboard.context import PageContext, run_page, window_caption

OUTLIER_CHOICES: dict[str, bool | None] = {"All": None, "Outliers only": True, "No outliers": False}

# Recent-request columns as shown.
RECENT_COLUMNS = {
    "event_time": "Time (UTC)",
    "job_id": "job_id",
    "request_id": "Request id",
    "endpoint": "Endpoint",
    "status": "Status",
    "model": "Model",
    "version": "Version",
    "routing": "Routing",
    "n_rows": "Rows",
    "is_outlier": "Outlier",
    "max_outlier_score": "Max score",
    "latency_ms": "Latency ms",
    "error": "Error",
}


def rows_table(record: dict[str, Any], features: tuple[str, ...]) -> pd.DataFrame:
    """One line per input row: the features, then what the model answered for it."""
    inputs: list[list[float]] = record.get("inputs") or []
    results: list[dict[str, Any]] = record.get("results") or []
    lines: list[dict[str, Any]] = []
    for index in range(max(len(inputs), len(results))):
        line: dict[str, Any] = {"row": index}
        values = inputs[index] if index < len(inputs) else []
        names = features if len(features) == len(values) else [f"x{i}" for i in range(len(values))]
        line.update(zip(names, values, strict=True))
        if index < len(results):
            result = results[index]
            line.update(
                label=result.get("label") or "",  # a regressor's rows have none
                prediction=", ".join(f"{p:.4f}" for p in result["prediction"]),
                outlier_score=result["outlier_score"],
                is_outlier=result["is_outlier"],
            )
        lines.append(line)
    return pd.DataFrame(lines)


def jsonable(record: dict[str, Any]) -> dict[str, Any]:
    """The stored row with timestamps as ISO text, for st.json."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in record.items()}


def show_record(ctx: PageContext, record: dict[str, Any], index: int) -> None:
    """Everything stored about one request."""
    st.subheader(f"job_id {record['job_id']}")
    row = st.columns(5)
    row[0].metric("Status", str(record["status"]))
    row[1].metric("Latency", fmt.ms(record["latency_ms"]))
    row[2].metric("Inference", fmt.ms(record["inference_ms"]))
    row[3].metric("Model", fmt.model_label(record["model"] or "", record["version"]))
    no_detector = bool(record["results"]) and record["max_outlier_score"] is None
    row[4].metric(
        "Outlier", "yes" if record["is_outlier"] else "none scored" if no_detector else "no"
    )
    if record.get("upstream_ms") is not None:  # a remote version: the upstream's share
        st.caption(f"Upstream call {fmt.ms(record['upstream_ms'])} of the inference time")
    if record["error"]:
        st.error(f"Error: {record['error']}")
    bundle = cache.bundles(str(ctx.settings.models_dir)).get(
        (record["model"] or "", record["version"] or "")
    )
    rows = rows_table(record, bundle.feature_names if bundle else ())
    if not rows.empty:
        st.dataframe(rows, hide_index=True, key=f"record_rows_{index}")
    with st.expander("The stored row (JSON)"):
        st.json(jsonable(record))


def render(ctx: PageContext) -> None:
    """Draw the Requests page."""
    st.title("Requests")
    key = st.text_input(
        "Look up a job_id or request id", key="lookup", placeholder="0190f1c2-…",
        help="A job_id (X-Job-Id) finds one request; a request id (X-Request-Id) all with it.",
    )  # fmt: skip
    if key.strip():
        found = cache.find_requests(ctx.url, key.strip())
        if not found:
            st.warning(f"No request with job_id or request id `{key.strip()}`.")
        for index, record in enumerate(found):
            show_record(ctx, record, index)
        st.divider()

    st.subheader("Recent requests")
    st.caption(window_caption(ctx.window, buckets=False) + "; model and version from the sidebar")
    choices = cache.choices(ctx.url, ctx.window)
    left, middle, right = st.columns(3)
    statuses: list[int | None] = [None, *choices.statuses]
    status = left.selectbox(
        "Status", statuses, key="status", format_func=lambda s: "All" if s is None else str(s)
    )
    outlier = middle.selectbox("Outlier flag", list(OUTLIER_CHOICES), key="outlier")
    limit = int(
        right.number_input("Show at most", 1, 10_000, ctx.settings.recent_limit, key="limit")
    )
    recent = cache.recent_requests(
        ctx.url, ctx.window, ctx.filters, status, OUTLIER_CHOICES[outlier], limit
    )
    if recent.empty:
        st.info("No requests in this window match these filters.")
        return
    st.dataframe(recent.rename(columns=RECENT_COLUMNS), hide_index=True, key="recent")


if __name__ == "__main__":
    run_page(render)
