"""Pruning one day of predictions while the sidecar's writer goes on writing.

``python -m bench.prune [--rows 1000000] [--stores sqlite,postgresql]``. Each store is
filled (``bench.fill_store``) with ``--rows`` requests in one UTC day 40 days ago; then a
writer thread inserts fresh records at 2,000 a second (``StoreWriter``, a batch every
0.1 s) for a few seconds alone, and on while ``retention.prune`` removes everything
older than 30 days, cut to whole days as the sidecar's upkeep does: on PostgreSQL one
partition detached and dropped, on SQLite batched DELETEs. Reported: the prune's
seconds, the rows gone, and the writer's commit times before and during the prune (how
long ingest waited for the store). On PostgreSQL the filled day is vacuumed first, as a
month-old day is: a detach waits for an autovacuum run on that partition, which gives way
after ``deadlock_timeout`` (1 s) unless it is an anti-wraparound one.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from bench.fill_store import fill
from bench.sidecar import postgres_store
from bench.store import records
from sidecar.store.engine import make_engine
from sidecar.store.retention import prune, whole_days
from sidecar.store.schema import predictions
from sidecar.store.writer import StoreWriter

RATE = 2000
BATCH = 200
BASELINE_SECONDS = 3.0


class Ingest(threading.Thread):
    """Fresh records at ``RATE`` a second; the duration of each commit, by phase."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(daemon=True)
        self.writer = StoreWriter(engine)
        self.phase = "before"
        self.seconds: dict[str, list[float]] = {"before": [], "during": [], "after": []}
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        seed = 1000
        due = time.monotonic()
        try:
            while not self.stop.is_set():
                batch = records(BATCH, seed=seed)
                seed += 1
                started = time.perf_counter()
                self.writer.write(batch)
                self.seconds[self.phase].append(time.perf_counter() - started)
                due += BATCH / RATE
                self.stop.wait(max(0.0, due - time.monotonic()))
        except BaseException as exc:  # reported, not raised in a thread
            self.error = exc


def _ms(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"commits": 0}
    return {
        "commits": len(values),
        "p50_ms": round(statistics.median(values) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def bench_store(kind: str, url: str, rows: int) -> dict[str, Any]:
    """Fill, then prune the old day with the writer running; the figures."""
    engine = make_engine(url)
    try:
        now = datetime.now(UTC)
        day_end = whole_days(now - timedelta(days=39))
        filled = fill(engine, rows, 1, end=day_end)
        print(f"  {kind}: {rows:,} rows in the day before {day_end:%Y-%m-%d} "
              f"filled in {filled.seconds:.0f} s")  # fmt: skip
        if kind == "postgresql":
            # A day pruned after 30 days was vacuumed long ago; a freshly filled one is
            # vacuumed now (else autovacuum's insert-triggered run holds the partition,
            # and the detach waits until autovacuum gives way, a second later).
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM (ANALYZE) predictions")
        ingest = Ingest(engine)
        ingest.start()
        time.sleep(BASELINE_SECONDS)
        ingest.phase = "during"
        started = time.perf_counter()
        done = prune(engine, log_before=whole_days(now - timedelta(days=30)))
        seconds = time.perf_counter() - started
        ingest.phase = "after"
        time.sleep(1.0)
        ingest.stop.set()
        ingest.join()
        if ingest.error is not None:
            raise ingest.error
        with engine.connect() as conn:
            left = conn.execute(select(func.count()).select_from(predictions)).scalar_one()
    finally:
        engine.dispose()
    pruned = next(p for p in done if p.table == "predictions")
    gone = rows - (left - sum(len(v) for v in ingest.seconds.values()) * BATCH)
    figures = {
        "rows": rows,
        "prune_seconds": round(seconds, 3),
        "predictions_seconds": round(pruned.seconds, 3),
        "seconds_by_table": {p.table: round(p.seconds, 3) for p in done},
        "rows_gone": gone,
        "partitions_dropped": len(pruned.partitions),
        "deleted_row_by_row": pruned.rows,
        "writer_before": _ms(ingest.seconds["before"]),
        "writer_during": _ms(ingest.seconds["during"]),
    }
    how = (
        f"{len(pruned.partitions)} partition(s) dropped"
        if pruned.partitions
        else f"{pruned.rows:,} rows deleted in batches"
    )
    print(f"  {kind}: pruned {gone:,} predictions in {pruned.seconds:.3f} s ({how}); "
          f"every table {seconds:.3f} s {figures['seconds_by_table']}; writer commits "
          f"before {figures['writer_before']}, during {figures['writer_during']}")  # fmt: skip
    return figures


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run on the stores asked for; the figures by store."""
    parser = argparse.ArgumentParser(prog="python -m bench.prune", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="requests in the old day")
    parser.add_argument("--stores", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    results: dict[str, object] = {}
    for kind in args.stores.split(","):
        if kind == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                results[kind] = bench_store(kind, f"sqlite:///{Path(tmp) / 'prune.db'}", args.rows)
        elif kind == "postgresql":
            with postgres_store() as url:
                if url is not None:
                    results[kind] = bench_store(kind, url, args.rows)
        else:
            parser.error(f"unknown store {kind!r}")
    return results


if __name__ == "__main__":
    main()
