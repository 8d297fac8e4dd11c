"""The Quality page's charts: a confusion matrix and the feedback delays; drawing only."""

from __future__ import annotations

import altair as alt
import pandas as pd

from dashboard.charts import HEIGHT

CELL = 48
"""A confusion cell's size in pixels."""


def confusion_matrix(cells: pd.DataFrame, title: str) -> alt.LayerChart:
    """Counts per (true label, predicted label): a heat map with the count in each cell."""
    labels = sorted(set(cells["truth"]) | set(cells["predicted"]))
    grid = pd.MultiIndex.from_product([labels, labels], names=["truth", "predicted"])
    counts = cells.groupby(["truth", "predicted"])["count"].sum()
    frame = counts.reindex(grid, fill_value=0).reset_index()  # every cell, zeros too
    totals = frame.groupby("truth")["count"].transform("sum")
    frame["share"] = (frame["count"] / totals.where(totals > 0)).fillna(0.0)
    # A step per label, not a size: the matrix keeps square cells whatever its container.
    base = alt.Chart(frame, title=title, width=alt.Step(CELL), height=alt.Step(CELL)).encode(
        x=alt.X("predicted:N", title="predicted", sort=labels, axis=alt.Axis(labelAngle=-30)),
        y=alt.Y("truth:N", title="true label", sort=labels),
    )
    tooltip = [
        alt.Tooltip("truth:N", title="true"),
        alt.Tooltip("predicted:N"),
        alt.Tooltip("count:Q"),
        alt.Tooltip("share:Q", title="share of the true label", format=".1%"),
    ]
    heat = base.mark_rect().encode(
        color=alt.Color(
            "share:Q",
            title="share of true",
            scale=alt.Scale(scheme="blues", domain=[0, 1]),
            legend=alt.Legend(format=".0%"),
        ),
        tooltip=tooltip,
    )
    text = base.mark_text(baseline="middle").encode(
        text=alt.Text("count:Q"),
        color=alt.condition(alt.datum.share > 0.5, alt.value("white"), alt.value("black")),
    )
    chart: alt.LayerChart = heat + text
    return chart


def delay_bars(delays: pd.DataFrame, order: list[str]) -> alt.Chart:
    """Feedback per delay bucket (feedback time minus prediction time), bars per version."""
    chart: alt.Chart = (
        alt.Chart(delays, title="Feedback delay", height=HEIGHT)
        .mark_bar()
        .encode(
            x=alt.X(
                "delay:N",
                title="feedback time - prediction time",
                sort=order,
                axis=alt.Axis(labelAngle=0),
            ),
            xOffset=alt.XOffset("series:N"),
            y=alt.Y("count:Q", title="feedback"),
            color=alt.Color("series:N", title=None, legend=alt.Legend(orient="top")),
            tooltip=[
                alt.Tooltip("series:N", title="version"),
                alt.Tooltip("delay:N"),
                alt.Tooltip("count:Q"),
            ],
        )
    )
    return chart
