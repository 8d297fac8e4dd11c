"""Quality page: feedback (ground truth) against the answers, per model version over time."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import cache, charts, qualitycharts
from dashboard import formatting as fmt
from dashboard.context import PageContext, run_page, window_caption
from dashboard.queries.quality import DELAY_LABELS, QualityStats
from dashboard.queries.rollup import timeline

NO_FEEDBACK = (
    "No feedback for the predictions of this window. Send the truth when it is known: "
    '`POST /feedback` with `{"job_id": ..., "label": "virginica"}` (a regressor: `"value"`), '
    "or a list of them; `predlog load --feedback-fraction 0.2` does it for a test load."
)

# Per-version columns as shown (comments, not docstrings: Streamlit's magic would draw them).
COLUMNS = {
    "model": "Model",
    "version": "Version",
    "kind": "Kind",
    "rows": "Predictions",
    "feedback": "Feedback",
    "unusable": "Unusable",
    "share": "With feedback",
    "accuracy": "Accuracy",
    "mae": "MAE",
    "rmse": "RMSE",
    "bias": "Bias",
    "mean_delay_s": "Mean delay s",
    "max_delay_s": "Max delay s",
}
MEASURES = ("accuracy", "mae", "rmse", "bias")
CLASS_COLUMNS = {
    "label": "Label",
    "support": "True",
    "predicted": "Predicted",
    "precision": "Precision",
    "recall": "Recall",
}


def duration(seconds: float) -> str:
    """A delay as it reads: 42 s, 12.5 min, 3.2 h, 2.1 d."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def wide(data: QualityStats, column: str, ctx: PageContext) -> tuple[pd.DataFrame, list[str]]:
    """``column`` per bucket, one column per version label, on the window's timeline."""
    series = data.series.dropna(subset=[column])
    labels = [
        fmt.model_label(m, v) for m, v in zip(series["model"], series["version"], strict=True)
    ]
    frame = series.assign(label=labels).pivot_table(
        index="time", columns="label", values=column, aggfunc="first"
    )
    frame = frame.reindex(timeline(ctx.window)).reset_index()
    return frame, sorted(set(labels))


def _unmatched(data: QualityStats) -> None:
    if data.unmatched:
        oldest = fmt.moment(data.unmatched_oldest) if data.unmatched_oldest else "-"
        st.caption(
            f"{data.unmatched:,} feedback item(s) received in this window match no stored "
            f"prediction (the oldest at {oldest}): a wrong job_id, or a prediction still on "
            "its way. `predlog query --unmatched` lists them."
        )


def render(ctx: PageContext) -> None:
    """Draw the Quality page."""
    st.title("Quality")
    st.caption(window_caption(ctx.window) + " (by prediction time)")
    data = cache.quality(ctx.url, ctx.window, ctx.filters)
    if data.feedback == 0:
        st.info(NO_FEEDBACK)
        if data.unmatched:
            st.metric("Unmatched feedback", fmt.count(data.unmatched))
        _unmatched(data)
        return
    versions = data.versions
    rows = int(versions["rows"].sum())
    row = st.columns(4)
    row[0].metric("Feedback joined", fmt.count(data.feedback))
    row[1].metric("With feedback", fmt.rate(data.feedback / rows if rows else None))
    delay = (versions["mean_delay_s"] * (versions["feedback"] + versions["unusable"])).sum()
    row[2].metric("Mean delay", duration(delay / data.feedback))
    row[3].metric("Unmatched feedback", fmt.count(data.unmatched))
    _unmatched(data)

    percent = st.column_config.NumberColumn(format="percent")
    number = st.column_config.NumberColumn(format="%.4g")
    # A measure no version has (MAE of classifiers only, say) is left out.
    shown = versions.drop(columns=[c for c in MEASURES if versions[c].isna().all()])
    st.dataframe(
        shown.rename(columns=COLUMNS),
        hide_index=True,
        key="quality_versions",
        column_config={
            "With feedback": percent, "Accuracy": percent, "MAE": number, "RMSE": number,
            "Bias": number, "Mean delay s": number, "Max delay s": number,
        },
    )  # fmt: skip
    if (versions["unusable"] > 0).any():
        st.caption(
            "Unusable: feedback joined to its prediction but not comparable with it (a value "
            "for a classifier, a label for a regressor, a row the request did not have, or a "
            "failed request)."
        )

    charts_drawn = []
    if (versions["kind"] == "classifier").any():
        frame, labels = wide(data, "accuracy", ctx)
        accuracy = charts.lines(frame, {k: k for k in labels}, "Accuracy", "accuracy", percent=True)
        charts_drawn.append(("accuracy", accuracy))
    if (versions["kind"] == "regressor").any():
        frame, labels = wide(data, "rmse", ctx)
        rmse = charts.lines(frame, {k: k for k in labels}, "RMSE", "root mean squared error")
        charts_drawn.append(("rmse", rmse))
    frame, labels = wide(data, "share", ctx)
    share = charts.lines(
        frame, {k: k for k in labels}, "Predictions with feedback", "share", percent=True
    )
    charts_drawn.append(("share", share))
    for start in range(0, len(charts_drawn), 2):
        columns = st.columns(2)
        for column, (key, chart) in zip(columns, charts_drawn[start : start + 2], strict=False):
            column.altair_chart(chart, key=key, width="stretch")

    for (model, version), cells in data.confusion.groupby(["model", "version"]):
        label = fmt.model_label(str(model), str(version))
        st.subheader(label)
        first, second = st.columns([1, 1])
        first.altair_chart(
            qualitycharts.confusion_matrix(cells, "Confusion matrix"),
            key=f"confusion-{label}",
            width="content",
            height="content",
        )
        classes = data.classes[
            (data.classes["model"] == model) & (data.classes["version"] == version)
        ]
        second.dataframe(
            classes[list(CLASS_COLUMNS)].rename(columns=CLASS_COLUMNS),
            hide_index=True,
            key=f"classes-{label}",
            column_config={"Precision": percent, "Recall": percent},
        )

    delays = data.delays.copy()  # every bucket, so that the bars read as a histogram
    delays["series"] = [
        fmt.model_label(m, v) for m, v in zip(delays["model"], delays["version"], strict=True)
    ]
    st.altair_chart(
        qualitycharts.delay_bars(delays, list(DELAY_LABELS)), key="delays", width="stretch"
    )


if __name__ == "__main__":
    run_page(render)
