"""Altair (Vega-Lite) charts built from the query results; drawing only, no data access."""

from __future__ import annotations

import math
from collections.abc import Mapping

import altair as alt
import pandas as pd

from dashboard import formatting

HEIGHT = 300
WHEN = alt.Tooltip("time:T", title="time (UTC)", timeUnit="utcyearmonthdatehoursminutes")
SERIES = "series"
"""Column holding each line's legend label in the long-form frames."""


def _time(times: pd.Series) -> alt.X:
    """The time axis, in UTC (the dashboard's times), 24-hour clock; dates when over a day."""
    span = times.max() - times.min() if len(times) else pd.Timedelta(0)
    label = "%b %d %H:%M" if span > pd.Timedelta(days=1) else "%H:%M"
    return alt.X(
        "time:T",
        title=None,
        scale=alt.Scale(type="utc"),
        axis=alt.Axis(labelExpr=f"utcFormat(datum.value, '{label}')", labelOverlap=True),
    )


def _labelled(series: pd.DataFrame) -> pd.DataFrame:
    """``series`` with a ``series`` column: the version label (``model/version``)."""
    frame = series.copy()
    frame[SERIES] = [
        formatting.model_label(str(model), str(version))
        for model, version in zip(frame["model"], frame["version"], strict=True)
    ]
    return frame


def _legend(labels: list[str]) -> alt.Color:
    return alt.Color(f"{SERIES}:N", title=None, sort=labels, legend=alt.Legend(orient="top"))


def lines(
    frame: pd.DataFrame,
    columns: Mapping[str, str],
    title: str,
    y_title: str,
    *,
    percent: bool = False,
) -> alt.Chart:
    """One line per column (name -> legend label) over ``frame['time']``; gaps where NaN."""
    labels = list(columns.values())
    long = frame[["time", *columns]].rename(columns=dict(columns))
    long = long.melt(id_vars="time", value_vars=labels, var_name=SERIES, value_name="value")
    axis = alt.Axis(format=percent_format(long["value"])) if percent else alt.Axis()
    value_format = ".1%" if percent else ",.2f"
    chart: alt.Chart = (
        alt.Chart(long, title=title, height=HEIGHT)
        .mark_line(point=alt.OverlayMarkDef(size=12))
        .encode(
            x=_time(long["time"]),
            y=alt.Y("value:Q", title=y_title, axis=axis, scale=alt.Scale(zero=True)),
            color=_legend(labels),
            tooltip=[
                WHEN,
                alt.Tooltip(f"{SERIES}:N", title="series"),
                alt.Tooltip("value:Q", title=y_title, format=value_format),
            ],
        )
    )
    return chart


def percent_format(values: pd.Series) -> str:
    """A d3 percent format with the decimals the data needs: 0.05% does not read as 0%.

    As many decimals as put two significant digits on the largest value (at most 3), zeros
    trimmed (``~``), so ticks of a 0.4% error rate read 0.1%, 0.2%, ..."""
    top = float(values.abs().max()) if len(values) else 0.0
    if not top > 0 or top >= 0.1:  # NaN, 0 or at least 10%: whole percent
        return ".0%"
    decimals = min(3, max(1, 1 - math.floor(math.log10(top * 100))))
    return f".{decimals}~%"


def version_share(series: pd.DataFrame) -> alt.Chart:
    """Stacked areas: each version's share of the traffic per bucket."""
    frame = _labelled(series)[["time", SERIES, "share", "requests"]]
    labels = sorted(set(frame[SERIES]))
    chart: alt.Chart = (
        alt.Chart(frame, title="Traffic share per version", height=HEIGHT)
        .mark_area()
        .encode(
            x=_time(frame["time"]),
            y=alt.Y(
                "share:Q", title="share of requests", stack="zero",
                axis=alt.Axis(format=".0%"), scale=alt.Scale(domain=[0, 1]),
            ),
            color=_legend(labels),
            order=alt.Order(f"{SERIES}:N"),
            tooltip=[
                WHEN,
                alt.Tooltip(f"{SERIES}:N", title="version"),
                alt.Tooltip("share:Q", format=".1%"),
                alt.Tooltip("requests:Q"),
            ],
        )
    )  # fmt: skip
    return chart


def version_calls(series: pd.DataFrame) -> alt.Chart:
    """Requests per bucket, one line per version."""
    frame = _labelled(series)[["time", SERIES, "requests"]]
    labels = sorted(set(frame[SERIES]))
    chart: alt.Chart = (
        alt.Chart(frame, title="Requests per bucket and version", height=HEIGHT)
        .mark_line(point=alt.OverlayMarkDef(size=20))
        .encode(
            x=_time(frame["time"]),
            y=alt.Y("requests:Q", title="requests"),
            color=_legend(labels),
            tooltip=[
                WHEN,
                alt.Tooltip(f"{SERIES}:N", title="version"),
                alt.Tooltip("requests:Q"),
            ],
        )
    )
    return chart


def version_metric(
    series: pd.DataFrame, column: str, title: str, y_title: str, *, percent: bool = False
) -> alt.Chart:
    """One line per version of ``series[column]`` over time; gaps where a version had no
    requests (NaN)."""
    frame = _labelled(series)[["time", SERIES, column]]
    labels = sorted(set(frame[SERIES]))
    axis = alt.Axis(format=percent_format(frame[column])) if percent else alt.Axis()
    chart: alt.Chart = (
        alt.Chart(frame, title=title, height=HEIGHT)
        .mark_line(point=alt.OverlayMarkDef(size=12))
        .encode(
            x=_time(frame["time"]),
            y=alt.Y(f"{column}:Q", title=y_title, axis=axis, scale=alt.Scale(zero=True)),
            color=_legend(labels),
            tooltip=[
                WHEN,
                alt.Tooltip(f"{SERIES}:N", title="version"),
                alt.Tooltip(f"{column}:Q", title=y_title, format=".2%" if percent else ",.2f"),
            ],
        )
    )
    return chart


SPARK_HEIGHT = 150
"""A traffic curve's height in pixels, axes included (Streamlit fits the whole chart to it)."""


def traffic_curve(series: pd.DataFrame) -> alt.Chart:
    """A small area of one version's requests per minute over ``series['time']``."""
    frame = series[["time", "requests", "per_minute"]]
    chart: alt.Chart = (
        alt.Chart(frame, height=SPARK_HEIGHT)
        .mark_area(line=True, opacity=0.35)
        .encode(
            x=_time(frame["time"]),
            y=alt.Y(
                "per_minute:Q", title="req/min", scale=alt.Scale(zero=True),
                axis=alt.Axis(tickCount=3),
            ),
            tooltip=[
                WHEN,
                alt.Tooltip("per_minute:Q", title="requests/min", format=",.1f"),
                alt.Tooltip("requests:Q", title="requests in bucket"),
            ],
        )
    )  # fmt: skip
    return chart


def score_distribution(histogram: pd.DataFrame, thresholds: Mapping[str, float]) -> alt.LayerChart:
    """Rows per outlier-score bucket, stacked bars per version; a dashed rule per threshold."""
    bars = _labelled(histogram)[["low", "high", SERIES, "rows"]]
    scored = bars.groupby(SERIES)["rows"].transform("sum") > 0
    bars = bars[scored]  # e.g. requests that reached no model: never scored
    labels = sorted(set(bars[SERIES]))
    rules = pd.DataFrame(
        [
            {
                "threshold": value,
                "label": f"threshold {value:g} ("
                + ", ".join(name for name, v in thresholds.items() if v == value)
                + ")",
                "offset": 4 + 14 * index,  # pixels from the top: labels must not overlap
            }
            for index, value in enumerate(sorted(set(thresholds.values())))
        ],
        columns=["threshold", "label", "offset"],
    )
    score = alt.Scale(domain=[0, 1])
    layer_bars = (
        alt.Chart(bars)
        .mark_bar()
        .encode(
            x=alt.X("low:Q", bin="binned", title="outlier score", scale=score),
            x2="high:Q",
            y=alt.Y("rows:Q", title="rows", stack="zero"),
            color=_legend(labels),
            tooltip=[
                alt.Tooltip(f"{SERIES}:N", title="version"),
                alt.Tooltip("low:Q", title="score from", format=".2f"),
                alt.Tooltip("high:Q", title="score to", format=".2f"),
                alt.Tooltip("rows:Q"),
            ],
        )
    )
    layer_rules = (
        alt.Chart(rules)
        .mark_rule(color="red", strokeDash=[6, 4], strokeWidth=2)
        .encode(x=alt.X("threshold:Q", scale=score), tooltip=[alt.Tooltip("label:N", title=None)])
    )
    layer_text = (
        alt.Chart(rules)
        .mark_text(color="red", align="left", baseline="top", dx=4)
        .encode(
            x=alt.X("threshold:Q", scale=score),
            y=alt.Y("offset:Q", scale=None, axis=None),
            text="label:N",
        )
    )
    # The labels' y is in pixels from the top (scale None), not in rows: independent of
    # the bars' scale, or a shared one puts every label near the axis, on top of each other.
    chart: alt.LayerChart = alt.LayerChart(
        layer=[layer_bars, layer_rules, layer_text],
        title="Outlier score distribution (rows)",
        height=HEIGHT,
    ).resolve_scale(y="independent")
    return chart
