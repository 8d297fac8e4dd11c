"""Models page: a card per registered version (state, traffic, address, deploy log); the admin
audit (who did what, when, from where, how it ended); workers. Read-only, like every page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import cache, charts, queries
from dashboard import formatting as fmt
from dashboard.context import PageContext, run_page, window_caption
from dashboard.window import Window

NO_MODELS = (
    "No models registered yet: `predlog run` imports var/models, "
    "`predlog models deploy` adds versions."
)
NO_REGISTRY = (
    "This store has no model registry tables (its schema predates them): "
    "`predlog db upgrade` adds them."
)
LOG_LIMIT = 50
AUDIT_LIMIT = 200
AUDIT_CAPTION = (
    "Every call of the admin API, allowed or refused, newest first: who (the key's user and "
    "id; none: no valid key), the call, from which address, and how it ended."
)
CARDS_PER_ROW = 2

# state -> (badge colour, icon); comments, not docstrings: Streamlit's magic would draw them.
BADGES = {
    "serving": ("green", ":material/check_circle:"),
    "shadow": ("violet", ":material/visibility:"),
    "deploying": ("blue", ":material/hourglass_top:"),
    "failed": ("red", ":material/error:"),
    "retired": ("gray", ":material/inventory_2:"),
}
LOG_COLUMNS = {"Detail": st.column_config.TextColumn(width="large")}
WORKER_STATUS = {"current": "on it", "behind": "⚠ behind by {behind}", "silent": "not seen lately"}


def badge(state: str) -> str:
    """The state as a coloured Markdown badge."""
    colour, icon = BADGES.get(state, ("gray", ":material/help:"))
    return f":{colour}-badge[{icon} {state}]"


def address(model: str, version: str) -> str:
    """How to call one version (pinned)."""
    return f"POST /predict?model={model}&version={version}"


def traffic_line(row: Any) -> str:
    """What part of its model's traffic a version gets."""
    if row.state == "serving":
        return f"**Weight {row.weight:g}**: {row.share:.0%} of {row.model}'s weighted traffic"
    if row.state == "shadow":
        return (
            f"**Shadow**: a copy of {row.shadow_fraction:.0%} of {row.model}'s requests; "
            "its answers are logged, never returned"
        )
    if row.state == "deploying":
        return "**Deploying**: being checked and loaded; no traffic yet"
    if row.state == "failed":
        return "**Failed**: did not load; it never serves"
    return "**Retired**: no longer served; kept for the record"


def event_table(events: pd.DataFrame) -> pd.DataFrame:
    """Deploy-log rows as shown: when, what, where (worker host/pid) or who, detail."""
    where = [
        f"{host}/{pid}" if isinstance(host, str) and host else (actor or "")
        for host, pid, actor in zip(events["host"], events["pid"], events["actor"], strict=True)
    ]
    return pd.DataFrame(
        {
            "At (UTC)": [f"{at:%m-%d %H:%M:%S}" for at in events["at"]],
            "Event": events["event"].tolist(),
            "Where / who": where,
            "Detail": events["detail"].fillna("").tolist(),
        }
    )


def audit_table(calls: pd.DataFrame) -> pd.DataFrame:
    """Audit rows as shown: when, who, key, from where, the call and on what, the outcome."""
    on = [
        "/".join(str(part) for part in (model, version) if isinstance(part, str))
        or (f"group {group}" if isinstance(group, str) else "")
        for model, version, group in zip(
            calls["model"], calls["version"], calls["group"], strict=True
        )
    ]
    return pd.DataFrame(
        {
            "At (UTC)": [f"{at:%m-%d %H:%M:%S}" for at in calls["at"]],
            "Who": [u if isinstance(u, str) else "(no valid key)" for u in calls["user"]],
            "Key": calls["key_id"].fillna("").tolist(),
            "From": calls["client"].tolist(),
            "Call": calls["action"].tolist(),
            "On": on,
            "Outcome": [
                f"{status} {'allowed' if status < 400 else 'refused'}" for status in calls["status"]
            ],
            "Detail": calls["detail"].fillna("").tolist(),
        }
    )


def audit_section(calls: pd.DataFrame) -> None:
    """The newest admin calls, on models and on groups and keys."""
    st.header("Admin calls", divider="gray")
    st.caption(AUDIT_CAPTION)
    if calls.empty:
        st.caption("No admin calls yet.")
        return
    refused = int((calls["status"] >= 400).sum())
    row = st.columns(3)
    row[0].metric("Calls shown", str(len(calls)))
    row[1].metric("Refused", str(refused))
    row[2].metric("Callers", str(calls["user"].nunique()))
    st.dataframe(audit_table(calls), hide_index=True, key="audit", column_config=LOG_COLUMNS)


def traffic_summary(requests: int, window: Window) -> str:
    """'30 requests in the window, 0.5 a minute'."""
    per_minute = fmt.per_minute(requests / window.minutes)
    return f"{fmt.count(requests)} requests in the window, {per_minute} a minute"


def card(row: Any, events: pd.DataFrame, series: pd.DataFrame, window: Window) -> None:
    """One version: state, traffic share, who made it when, address, traffic, deploy log."""
    st.markdown(f"#### {row.model} / {row.version} &nbsp; {badge(row.state)}")
    about = " · ".join(part for part in (row.task, row.description) if part)
    if about:
        st.caption(about)
    st.markdown(traffic_line(row))
    st.markdown(f"Created {fmt.moment(row.created_at)} by `{row.created_by}`")
    st.code(address(row.model, row.version), language="http")
    failed = events[events["event"] == "failed"]
    if not failed.empty:
        last = failed.iloc[0]  # the newest
        where = f" on {last['host']}/{last['pid']}" if isinstance(last["host"], str) else ""
        text = f"Failed to load{where}: {last['detail'] or 'no detail'}"
        if row.state == "failed":
            st.error(text, icon=":material/error:")
        else:
            st.warning(text, icon=":material/warning:")
    requests = int(series["requests"].sum())
    if requests:
        st.caption(traffic_summary(requests, window))
        st.altair_chart(
            charts.traffic_curve(series),
            key=f"traffic-{row.model}-{row.version}",
            width="stretch",
            height=charts.SPARK_HEIGHT,
        )
    else:
        st.caption("No requests in this window.")
    with st.expander(f"Deploy log ({len(events)} events)"):
        if events.empty:
            st.caption("No deploy-log events.")
        else:
            st.dataframe(
                event_table(events),
                hide_index=True,
                key=f"log-{row.model}-{row.version}",
                column_config=LOG_COLUMNS,
            )


def model_section(
    model: str,
    versions: pd.DataFrame,
    log: pd.DataFrame,
    ctx: PageContext,
    traffic: pd.DataFrame,
    calls: pd.DataFrame,
) -> None:
    """A model: its weighted address and its own log, then a card per version."""
    st.header(model, divider="gray")
    split = ", ".join(
        f"version {r.version} {r.share:.0%}" for r in versions.itertuples() if r.state == "serving"
    )
    count = f"{len(versions)} version{'s' if len(versions) != 1 else ''} registered"
    st.markdown(
        f"`POST /predict?model={model}` is split by weight: {split or 'no version serving'}. "
        f"{count}."
    )
    mine = log[log["model"] == model]
    # The model's own events (weights, rollbacks) and those of versions never registered
    # (an upload refused): no card shows them.
    own = mine["version"].isna() | ~mine["version"].isin(versions["version"])
    changes = mine[own]
    if not changes.empty:
        with st.expander(f"{model}: traffic changes and refused uploads ({len(changes)})"):
            table = event_table(changes)
            table.insert(1, "Version", changes["version"].fillna("").tolist())
            st.dataframe(table, hide_index=True, key=f"log-{model}", column_config=LOG_COLUMNS)
    theirs = calls[calls["model"] == model]
    if not theirs.empty:
        with st.expander(f"{model}: admin calls ({len(theirs)})"):
            st.dataframe(
                audit_table(theirs),
                hide_index=True,
                key=f"audit-{model}",
                column_config=LOG_COLUMNS,
            )
    rows = list(versions.itertuples())
    for start in range(0, len(rows), CARDS_PER_ROW):
        columns = st.columns(CARDS_PER_ROW)
        for column, row in zip(columns, rows[start : start + CARDS_PER_ROW], strict=False):
            with column.container(border=True, key=f"card-{model}-{row.version}"):
                events = mine[mine["version"] == row.version]
                series = queries.version_series(traffic, ctx.window, model, str(row.version))
                card(row, events, series, ctx.window)


def workers_section(registry: queries.ModelRegistry) -> None:
    """Each worker's generation against the registry's; laggards flagged."""
    st.header("Workers", divider="gray")
    workers = registry.workers
    now = datetime.now(UTC)
    states = registry.worker_states(now)
    live = [s for s in states if s != "silent"]
    behind = live.count("behind")
    row = st.columns(3)
    generation = registry.generation
    row[0].metric("Registry generation", "-" if generation is None else str(generation))
    row[1].metric("Workers on it", f"{live.count('current')} of {len(live)}")
    row[2].metric("Workers behind", str(behind))
    if workers.empty:
        st.caption("No api worker has reported yet.")
        return
    if behind:
        st.warning(
            f"{behind} of {len(live)} workers serve an older generation than the registry's "
            f"{generation}; they catch up within seconds unless a load fails there.",
            icon=":material/warning:",
        )
    table = pd.DataFrame(
        {
            "Host": workers["host"],
            "PID": workers["pid"],
            "Generation": workers["generation"],
            "Status": [
                WORKER_STATUS[s].format(behind=b)
                for s, b in zip(states, workers["behind"], strict=True)
            ],
            "Seen": [fmt.ago(now - seen) for seen in workers["seen_at"]],
            "Seen at (UTC)": [fmt.moment(seen) for seen in workers["seen_at"]],
            "Started (UTC)": [fmt.moment(at) for at in workers["started_at"]],
        }
    )
    silent = pd.Series([s == "silent" for s in states], index=table.index)
    st.dataframe(table[~silent], hide_index=True, key="workers")
    if silent.any():
        with st.expander(f"{int(silent.sum())} workers not seen for over a minute (stopped?)"):
            st.dataframe(table[silent], hide_index=True, key="silent_workers")


def render(ctx: PageContext) -> None:
    """Draw the Models page."""
    st.title("Models")
    st.caption(window_caption(ctx.window) + " (traffic curves)")
    registry = cache.model_registry(ctx.url, ctx.filters)
    if not registry.has_tables:
        st.info(NO_MODELS)
        st.caption(NO_REGISTRY)
        return
    calls = cache.audit(ctx.url, ctx.filters, AUDIT_LIMIT)
    if registry.versions.empty:
        st.info(NO_MODELS)
    else:
        traffic = cache.version_traffic(ctx.url, ctx.window, ctx.filters)
        log = cache.deploy_log(ctx.url, ctx.filters, LOG_LIMIT)
        for model, versions in registry.versions.groupby("model", sort=False):
            model_section(str(model), versions, log, ctx, traffic, calls)
    audit_section(calls)
    workers_section(registry)


if __name__ == "__main__":
    run_page(render)
