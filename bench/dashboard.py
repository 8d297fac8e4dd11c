"""Dashboard benchmark: each page's queries on a big store, SQLite and PostgreSQL.

Fills a store with N records over D days (bench.fill_store; default 10 million over 30
days), keeps it under var/bench/ (SQLite) or in the database ``predlog_bench``
(PostgreSQL) and reuses it while the parameters match, then times the query functions
each page calls (uncached, as on a cache miss) for the 24 h and 7 day windows ending at
the newest record (the Drift page also over the 30 days). Target: every page under 1 s.

    python -m bench.dashboard --records 1000000        # or PREDLOG_BENCH_DASHBOARD_RECORDS
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, func, select

from bench.fill_store import fill
from dashboard import queries
from dashboard.queries.quality import quality
from dashboard.settings import DashboardSettings
from dashboard.window import Filters, Window, custom_window, preset_window
from sidecar.store.engine import make_engine
from sidecar.store.schema import feature_rollups, predictions, rollups

TARGET_SECONDS = 1.0
PRESET_WINDOWS = ("24 h", "7 days")
WINDOWS = (*PRESET_WINDOWS, "30 days")
"""Every page for the sidebar's presets; the Drift page over the whole month too."""
PG_ADMIN = os.environ.get("PREDLOG_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DATABASE = "predlog_bench"


@dataclass(frozen=True)
class Probe:
    """Keys the Requests page looks up: one job_id and one request id that exist."""

    job_id: str
    request_id: str


@dataclass(frozen=True)
class Params:
    """What a filled store holds; a store is reused only with the same parameters."""

    records: int
    days: int
    seed: int
    end: str = ""


def _sidebar(engine: Engine, window: Window) -> None:
    queries.store_status(engine)
    queries.choices(engine, window)


def overview_page(engine: Engine, window: Window, probe: Probe, filters: Filters) -> None:
    """What the Overview page queries (the sidebar included)."""
    _sidebar(engine, window)
    queries.overview(engine, window, filters)
    queries.integrity(engine, window)


def models_page(engine: Engine, window: Window, probe: Probe, filters: Filters) -> None:
    """What the Models page queries: the registry (small) and each version's traffic."""
    _sidebar(engine, window)
    queries.model_registry(engine, filters)
    queries.deploy_log(engine, filters)
    queries.version_traffic(engine, window, filters)


def versions_page(engine: Engine, window: Window, probe: Probe, filters: Filters) -> None:
    """What the Versions page queries."""
    _sidebar(engine, window)
    queries.versions(engine, window, filters)


def outliers_page(engine: Engine, window: Window, probe: Probe, filters: Filters) -> None:
    """What the Outliers page queries."""
    _sidebar(engine, window)
    queries.outliers(engine, window, filters)
    queries.latest_outliers(engine, window, filters, limit=100)


def drift_page(engine: Engine, window: Window, probe: Probe, filters: Filters) -> None:
    """What the Drift page queries (histogram rollups, references, outlier rates)."""
    _sidebar(engine, window)
    queries.drift(engine, window, filters, DashboardSettings().drift_rule)


def quality_page(engine: Engine, window: Window, probe: Probe, filters: Filters) -> None:
    """What the Quality page queries: the quality and traffic rollups, the unmatched count."""
    _sidebar(engine, window)
    quality(engine, window, filters)


def requests_page(engine: Engine, window: Window, probe: Probe, filters: Filters) -> None:
    """What the Requests page queries, with a job_id and a request id looked up."""
    _sidebar(engine, window)
    queries.find_requests(engine, probe.job_id)
    queries.find_requests(engine, probe.request_id)
    queries.recent_requests(engine, window, filters, limit=100)


def requests_filtered(engine: Engine, window: Window, probe: Probe, filters: Filters) -> None:
    """The Requests page with every filter set: a rare status of one version, outliers only."""
    _sidebar(engine, window)
    queries.recent_requests(
        engine, window, Filters("iris", "2"), status=503, outlier=False, limit=100
    )


PAGES: dict[str, tuple[Callable[..., None], Filters]] = {
    "Overview": (overview_page, Filters()),
    "Overview iris/2": (overview_page, Filters("iris", "2")),
    "Models": (models_page, Filters()),
    "Versions": (versions_page, Filters()),
    "Outliers": (outliers_page, Filters()),
    "Quality": (quality_page, Filters()),
    "Quality iris/2": (quality_page, Filters("iris", "2")),
    "Drift": (drift_page, Filters()),
    "Drift iris/2": (drift_page, Filters("iris", "2")),
    "Requests": (requests_page, Filters()),
    "Requests filtered": (requests_filtered, Filters()),
}


def _sqlite_url(directory: Path, params: Params) -> str:
    return f"sqlite:///{directory / f'dashboard-{params.records}-{params.days}d.db'}"


def _pg_url() -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{PG_DATABASE}"


def _marker(directory: Path, kind: str) -> Path:
    return directory / f"dashboard-{kind}.json"


def _holds(url: str, params: Params) -> bool:
    """Whether the store at ``url`` holds a complete fill (its rollups count every record)."""
    engine = make_engine(url, readonly=True)
    try:
        with engine.connect() as conn:
            total = conn.execute(select(func.sum(rollups.c.requests))).scalar()
            # a store filled before the fill kept feature histograms: fill it again
            histograms = conn.execute(select(feature_rollups.c.rows).limit(1)).first()
        return int(total or 0) == params.records and histograms is not None
    except Exception:  # a missing file or database: fill it
        return False
    finally:
        engine.dispose()


def prepare(kind: str, directory: Path, params: Params) -> tuple[str, Params, float | None]:
    """A filled store of ``kind``: reused if its marker matches, else filled now."""
    url = _sqlite_url(directory, params) if kind == "sqlite" else _pg_url()
    marker = _marker(directory, kind)
    if marker.exists():
        saved = Params(**json.loads(marker.read_text()))
        same = (saved.records, saved.days, saved.seed) == (params.records, params.days, params.seed)
        if same and _holds(url, saved):
            print(f"{kind}: reusing {params.records:,} records filled up to {saved.end}")
            return url, saved, None
    marker.unlink(missing_ok=True)
    if kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(str(url.removeprefix("sqlite:///")) + suffix).unlink(missing_ok=True)
    else:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    print(f"{kind}: filling {params.records:,} records over {params.days} days ...", flush=True)
    engine = make_engine(url)
    try:
        stats = fill(engine, params.records, params.days, seed=params.seed)
    finally:
        engine.dispose()
    print(f"{kind}: filled in {stats.seconds:.0f} s ({stats.rollup_rows:,} rollup rows)")
    filled = Params(params.records, params.days, params.seed, stats.end.isoformat())
    marker.write_text(json.dumps(asdict(filled)))
    return url, filled, stats.seconds


def _probe(engine: Engine) -> Probe:
    with engine.connect() as conn:
        middle = conn.execute(select(func.max(predictions.c.id))).scalar_one() // 2
        job_id = conn.execute(
            select(predictions.c.job_id).where(predictions.c.id >= middle).limit(1)
        ).scalar_one()
        request_id = conn.execute(
            select(predictions.c.request_id)
            .where(predictions.c.id >= middle, predictions.c.request_id.is_not(None))
            .limit(1)
        ).scalar_one()
    return Probe(job_id, request_id)


def time_pages(engine: Engine, end: datetime, repeat: int) -> dict[str, dict[str, float]]:
    """Seconds per page and window: the first (cold) run and the median of the rest."""
    probe = _probe(engine)
    figures: dict[str, dict[str, float]] = {}
    for label in WINDOWS:
        if label in PRESET_WINDOWS:
            window = preset_window(label, now=end)
        else:  # the whole fill: 30 days up to its newest record
            window = custom_window(end - timedelta(days=30), end + timedelta(minutes=1))
        pages = PAGES if label in PRESET_WINDOWS else {"Drift": PAGES["Drift"]}
        for page, (run, filters) in pages.items():
            runs = []
            for _ in range(repeat):
                started = time.perf_counter()
                run(engine, window, probe, filters)
                runs.append(time.perf_counter() - started)
            figures[f"{page} [{label}]"] = {
                "first_s": round(runs[0], 4),
                "median_s": round(statistics.median(runs[1:] or runs), 4),
            }
    return figures


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Fill (or reuse) the stores, time every page's queries, print and return the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__)
    default_records = int(os.environ.get("PREDLOG_BENCH_DASHBOARD_RECORDS", "10000000"))
    parser.add_argument("--records", type=int, default=default_records)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=4, help="runs per page (first is cold)")
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--dir", type=Path, default=Path("var/bench"))
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    params = Params(args.records, args.days, args.seed)
    results: dict[str, Any] = {"records": args.records, "days": args.days, "stores": {}}
    for kind in args.stores.split(","):
        url, filled, fill_seconds = prepare(kind, args.dir, params)
        engine = make_engine(url, readonly=True)
        try:
            pages = time_pages(engine, datetime.fromisoformat(filled.end), args.repeat)
        finally:
            engine.dispose()
        worst = max(figure["median_s"] for figure in pages.values())
        results["stores"][kind] = {
            "fill_seconds": fill_seconds,
            "pages": pages,
            "worst_median_s": worst,
            "under_target": worst < TARGET_SECONDS,
        }
    _print(results)
    return results


def _print(results: dict[str, Any]) -> None:
    print(f"\ndashboard queries, {results['records']:,} records over {results['days']} days "
          f"(seconds: first run / median of the rest; target < {TARGET_SECONDS:g} s)")  # fmt: skip
    stores = list(results["stores"])
    print(f"{'page [window]':32}" + "".join(f"{kind:>24}" for kind in stores))
    for page in results["stores"][stores[0]]["pages"]:
        cells = []
        for kind in stores:
            figure = results["stores"][kind]["pages"][page]
            cells.append(f"{figure['first_s']:>10.3f} / {figure['median_s']:<10.3f}")
        print(f"{page:32}" + "".join(f"{cell:>24}" for cell in cells))
    for kind in stores:
        store = results["stores"][kind]
        verdict = "under" if store["under_target"] else "OVER"
        print(f"{kind}: worst median {store['worst_median_s']:.3f} s, {verdict} target")


if __name__ == "__main__":
    main()
