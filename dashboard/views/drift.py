"""Drift page: per version and feature, live inputs against the training reference (PSI, KS
or Wasserstein per bucket, flagged over the thresholds), the prediction's distribution and
the outlier rate beside them."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import cache, charts, driftcharts
from dashboard import formatting as fmt
from dashboard.context import PageContext, run_page, window_caption
from dashboard.queries.drift import VersionDrift
from sidecar.store.drift import Rule

NO_HISTOGRAMS = (
    "No feature histograms in this window. The sidecar keeps them for versions whose bundle "
    "manifest it can read (the registry in the store, or PREDLOG_MODELS_DIR)."
)

# Feature table columns as shown.
COLUMNS = {
    "name": "Feature",
    "drift": "Drift",
    "rows": "Values",
    "psi": "PSI",
    "ks_p": "KS p-value",
    "wasserstein": "Wasserstein (std)",
    "test": "Test",
    "time": "Bucket (UTC)",
    "overall_psi": "PSI, whole window",
}


TABLE_FORMATS = {
    COLUMNS["psi"]: st.column_config.NumberColumn(format="%.3f"),
    COLUMNS["ks_p"]: st.column_config.NumberColumn(format="%.2e"),
    COLUMNS["wasserstein"]: st.column_config.NumberColumn(format="%.3f"),
    COLUMNS["overall_psi"]: st.column_config.NumberColumn(format="%.3f"),
    COLUMNS["time"]: st.column_config.DatetimeColumn(format="HH:mm"),
}


def rule_caption(rule: Rule) -> str:
    """What flags drift, in words."""
    test = {
        "auto": "KS test for references of up to 1,000 rows, else the Wasserstein distance",
        "psi": "PSI",
        "ks": "KS test",
        "wasserstein": "Wasserstein distance",
    }[rule.test]
    return (
        f"Drift by {test}: PSI >= {rule.psi:g}, KS p < {rule.ks_p_value:g}, Wasserstein >= "
        f"{rule.wasserstein:g} std; buckets under {rule.min_rows} values are not judged."
    )


def feature_table(version: VersionDrift) -> pd.DataFrame:
    """The features' latest judged bucket, as shown."""
    table = version.features[list(COLUMNS)].copy()
    table["drift"] = [
        "drift" if d is True else ("-" if d is None else "ok") for d in table["drift"]
    ]
    return table.rename(columns=COLUMNS)


def render_version(version: VersionDrift, rule: Rule) -> None:
    """One version's section."""
    label = fmt.model_label(version.model, version.version)
    st.subheader(label)
    flagged = version.flagged
    row = st.columns(4)
    row[0].metric("Features drifting", f"{len(flagged)} of {len(version.features)}")
    row[1].metric("Drifting", ", ".join(flagged) or "none")
    latest = version.prediction_series.dropna(subset=["psi"]).tail(1)
    row[2].metric(
        "Prediction PSI (latest)", "-" if latest.empty else f"{latest['psi'].iloc[0]:.3f}"
    )
    outliers = version.outliers
    total = outliers["rows"].sum()
    row[3].metric(
        "Outlier rate", fmt.rate(outliers["outlier_rows"].sum() / total if total else None)
    )
    st.dataframe(
        feature_table(version), hide_index=True, key=f"drift_table_{label}",
        column_config=TABLE_FORMATS,
    )  # fmt: skip

    names = version.features["name"].tolist()
    first = names.index(flagged[0]) if flagged else 0  # the first drifting feature, shown
    chosen = st.selectbox("Feature", names, index=first, key=f"drift_feature_{label}")
    left, right = st.columns(2)
    bins = version.histograms[version.histograms["name"] == chosen]
    left.altair_chart(
        driftcharts.histogram(bins, f"{chosen}: live vs training reference"),
        key=f"drift_hist_{label}",
        width="stretch",
    )
    right.altair_chart(
        driftcharts.statistic(version.series, "psi", "PSI per bucket", rule.psi),
        key=f"drift_psi_{label}",
        width="stretch",
    )
    left, right = st.columns(2)
    if not version.prediction.empty:
        left.altair_chart(
            driftcharts.shares(version.prediction, "Prediction distribution"),
            key=f"drift_pred_{label}",
            width="stretch",
        )
        left.caption("Prediction PSI is against the window's first full bucket.")
    if not outliers.empty:
        right.altair_chart(
            charts.lines(
                outliers, {"outlier_rate": "outlier rows"}, "Outlier rate", "share", percent=True
            ),
            key=f"drift_outliers_{label}",
            width="stretch",
        )


def render(ctx: PageContext) -> None:
    """Draw the Drift page."""
    st.title("Drift")
    st.caption(window_caption(ctx.window))
    rule = ctx.settings.drift_rule
    report = cache.drift(ctx.url, ctx.window, ctx.filters, rule)
    if not report.versions:
        st.info(NO_HISTOGRAMS)
        return
    st.caption(rule_caption(rule))
    for version in report.versions:
        render_version(version, rule)


if __name__ == "__main__":
    run_page(render)
