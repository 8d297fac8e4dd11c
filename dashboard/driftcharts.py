"""The Drift page's Altair charts: live vs reference histograms, statistics over time."""

from __future__ import annotations

import altair as alt
import pandas as pd

from dashboard.charts import HEIGHT, WHEN, _time

SMALL = 220
"""Height of the per-feature charts."""


def histogram(bins: pd.DataFrame, title: str) -> alt.Chart:
    """One feature's bins: the training reference as outlined bars, live traffic filled."""
    long = bins.melt(
        id_vars=["low", "high"], value_vars=["reference", "live"], var_name="data",
        value_name="share",
    )  # fmt: skip
    chart: alt.Chart = (
        alt.Chart(long, title=title, height=SMALL)
        .mark_bar(opacity=0.55, stroke="black", strokeWidth=0.5)
        .encode(
            x=alt.X("low:Q", bin="binned", title=None),
            x2="high:Q",
            y=alt.Y("share:Q", title="share of values", stack=None, axis=alt.Axis(format=".0%")),
            color=alt.Color(
                "data:N", title=None, sort=["reference", "live"],
                scale=alt.Scale(domain=["reference", "live"], range=["#9e9e9e", "#e4572e"]),
                legend=alt.Legend(orient="top"),
            ),
            tooltip=[
                alt.Tooltip("data:N"),
                alt.Tooltip("low:Q", title="from", format=",.3g"),
                alt.Tooltip("high:Q", title="to", format=",.3g"),
                alt.Tooltip("share:Q", format=".1%"),
            ],
        )
    )  # fmt: skip
    return chart


def statistic(series: pd.DataFrame, column: str, title: str, threshold: float) -> alt.LayerChart:
    """One statistic per bucket (a line per feature) and its threshold as a dashed rule."""
    frame = series[["time", "name", column]].dropna()
    lines = (
        alt.Chart(frame)
        .mark_line(point=alt.OverlayMarkDef(size=14))
        .encode(
            x=_time(frame["time"]),
            y=alt.Y(f"{column}:Q", title=column, scale=alt.Scale(zero=True)),
            color=alt.Color("name:N", title=None, legend=alt.Legend(orient="top")),
            tooltip=[
                WHEN,
                alt.Tooltip("name:N", title="feature"),
                alt.Tooltip(f"{column}:Q", format=".3f"),
            ],
        )
    )
    rule = (
        alt.Chart(pd.DataFrame({"threshold": [threshold]}))
        .mark_rule(color="red", strokeDash=[6, 4])
        .encode(y="threshold:Q", tooltip=[alt.Tooltip("threshold:Q", title="threshold")])
    )
    return alt.LayerChart(layer=[lines, rule], title=title, height=HEIGHT)


def shares(prediction: pd.DataFrame, title: str) -> alt.Chart:
    """The prediction's distribution per bucket: stacked shares per class (or value bin)."""
    order = prediction.drop_duplicates("column").sort_values("column")["label"].tolist()
    chart: alt.Chart = (
        alt.Chart(prediction, title=title, height=HEIGHT)
        .mark_area()
        .encode(
            x=_time(prediction["time"]),
            y=alt.Y(
                "share:Q", title="share of predictions", stack="zero",
                axis=alt.Axis(format=".0%"), scale=alt.Scale(domain=[0, 1]),
            ),
            color=alt.Color("label:N", title=None, sort=order, legend=alt.Legend(orient="top")),
            order=alt.Order("column:Q"),
            tooltip=[WHEN, alt.Tooltip("label:N"), alt.Tooltip("share:Q", format=".1%"), "rows:Q"],
        )
    )  # fmt: skip
    return chart
