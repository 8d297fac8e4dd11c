"""Plotly figures built from the query results; drawing only, no data access."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from dashboard import formatting

LAYOUT = {
    "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
    "height": 300,
    "hovermode": "x unified",
}


def lines(
    frame: pd.DataFrame,
    columns: Mapping[str, str],
    title: str,
    y_title: str,
    *,
    percent: bool = False,
) -> go.Figure:
    """One line per column (name -> legend label) over ``frame['time']``."""
    figure = go.Figure()
    for column, label in columns.items():
        figure.add_trace(
            go.Scatter(
                x=frame["time"], y=frame[column], name=label, mode="lines", connectgaps=False
            )
        )
    figure.update_layout(title=title, yaxis_title=y_title, **LAYOUT)
    if percent:
        figure.update_yaxes(tickformat=".0%", rangemode="tozero")
    else:
        figure.update_yaxes(rangemode="tozero")
    return figure


def version_share(series: pd.DataFrame) -> go.Figure:
    """Stacked areas: each version's share of the traffic per bucket."""
    figure = go.Figure()
    for (model, version), part in series.groupby(["model", "version"], sort=True):
        figure.add_trace(
            go.Scatter(
                x=part["time"], y=part["share"],
                name=formatting.model_label(str(model), str(version)),
                mode="lines", stackgroup="share",
            )
        )  # fmt: skip
    figure.update_layout(
        title="Traffic share per version", yaxis_title="share of requests",
        **LAYOUT,
    )  # fmt: skip
    figure.update_yaxes(tickformat=".0%", range=[0, 1])
    return figure


def version_calls(series: pd.DataFrame) -> go.Figure:
    """Requests per bucket, one line per version."""
    figure = go.Figure()
    for (model, version), part in series.groupby(["model", "version"], sort=True):
        figure.add_trace(
            go.Scatter(
                x=part["time"], y=part["requests"],
                name=formatting.model_label(str(model), str(version)),
                mode="lines+markers",
            )
        )  # fmt: skip
    figure.update_layout(
        title="Requests per bucket and version", yaxis_title="requests", **LAYOUT,
    )  # fmt: skip
    return figure


def score_distribution(histogram: pd.DataFrame, thresholds: Mapping[str, float]) -> go.Figure:
    """Rows per outlier-score bucket, one bar series per version; a dashed line per threshold."""
    figure = go.Figure()
    for (model, version), part in histogram.groupby(["model", "version"], sort=True):
        if not part["rows"].any():
            continue  # e.g. requests that reached no model: never scored
        figure.add_trace(
            go.Bar(
                x=(part["low"] + part["high"]) / 2, y=part["rows"],
                width=part["high"] - part["low"],
                name=formatting.model_label(str(model), str(version)),
            )
        )  # fmt: skip
    top = float(histogram.groupby("low")["rows"].sum().max()) if len(histogram) else 1.0
    for threshold in sorted(set(thresholds.values())):
        names = ", ".join(label for label, value in thresholds.items() if value == threshold)
        figure.add_trace(
            go.Scatter(
                x=[threshold, threshold], y=[0, top], mode="lines",
                line={"dash": "dash", "color": "red"}, name=f"threshold {threshold:g} ({names})",
            )
        )  # fmt: skip
    figure.update_layout(
        title="Outlier score distribution (rows)", barmode="stack", xaxis_title="outlier score",
        yaxis_title="rows", **LAYOUT,
    )  # fmt: skip
    figure.update_xaxes(range=[0, 1])
    return figure
