"""Rows per second of StoreWriter.write on SQLite and PostgreSQL, by batch size.

``python -m bench.store`` writes the same generated records into fresh stores in
batches of 100, 1,000 and 5,000 and prints a table. On PostgreSQL both insert paths
are measured (COPY, and SQLAlchemy's multi-row INSERTs), so the writer's
choice (``copy_min_rows``) can be checked against the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from sidecar.record import PredictionRecord, RowResult
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from sidecar.store.writer import BulkMode, StoreWriter

BATCH_SIZES = (100, 1000, 5000)
PG_ADMIN = os.environ.get("PREDLOG_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def records(n: int, seed: int = 7) -> list[PredictionRecord]:
    """``n`` single-row /predict records like the api's, 2,000 a second, a few outliers."""
    rng = random.Random(seed)
    start = time.time() - n / 2000
    out = []
    for i in range(n):
        proba = [rng.random() for _ in range(3)]
        total = sum(proba)
        score = rng.random() ** 4
        out.append(
            PredictionRecord(
                job_id=str(uuid.UUID(int=rng.getrandbits(128))),
                request_id=None,
                event_time=round(start + i / 2000, 6),
                endpoint="/predict",
                status=200 if i % 50 else 422,
                model="iris",
                version=str(1 + i % 2),
                routing="weighted",
                inputs=[[round(rng.gauss(5, 1), 2) for _ in range(4)]],
                results=[
                    RowResult(
                        prediction=[p / total for p in proba],
                        label="setosa",
                        outlier_score=score,
                        is_outlier=score > 0.9,
                    )
                ],
                latency_ms=rng.uniform(0.5, 5.0),
                inference_ms=rng.uniform(0.05, 0.3),
                host="bench",
                pid=1,
                seq=i + 1,
            )
        )
    return out


@contextlib.contextmanager
def postgres_database() -> Iterator[str | None]:
    """A fresh database on the PostgreSQL server, or None when there is none."""
    name = f"predlog_bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:
        yield None
        return
    url = make_url(PG_ADMIN).set(drivername="postgresql+psycopg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rows_per_second(url: str, batch: list[PredictionRecord], size: int, bulk: BulkMode) -> float:
    """Write ``batch`` in batches of ``size`` into a fresh schema at ``url``."""
    engine = make_engine(url)
    upgrade(engine)
    writer = StoreWriter(engine, bulk=bulk)
    writer.write(batch[:10])  # connect, and warm the statement cache
    start = time.perf_counter()
    for i in range(10, len(batch), size):
        writer.write(batch[i : i + size])
    elapsed = time.perf_counter() - start
    engine.dispose()
    return (len(batch) - 10) / elapsed


PATHS: tuple[tuple[str, str, BulkMode], ...] = (
    ("sqlite", "sqlite", "auto"),
    ("sqlite-executemany", "sqlite", "executemany"),
    ("postgresql-copy", "postgresql", "copy"),
    ("postgresql-executemany", "postgresql", "executemany"),
)
"""(label, store, insert path). "sqlite" is the writer's default (the driver's executemany
of one prepared INSERT); "-executemany" is SQLAlchemy's insertmanyvalues;
"postgresql-copy" is the default from 10 rows a batch (COPY straight into predictions)."""


def measure(kind: str, tmp: str, data: list[PredictionRecord], size: int, mode: BulkMode) -> float:
    """Rows per second into a fresh store of ``kind``; 0.0 when PostgreSQL is not there."""
    if kind == "sqlite":
        return rows_per_second(f"sqlite:///{tmp}/{uuid.uuid4().hex}.db", data, size, mode)
    with postgres_database() as url:
        return 0.0 if url is None else rows_per_second(url, data, size, mode)


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Measure every store, path and batch size; print a table; return the figures."""
    parser = argparse.ArgumentParser(prog="bench.store", description=__doc__)
    parser.add_argument(
        "--records", type=int, default=10_000, help="records per measurement (default 10000)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds, best one kept (default 2)")
    args = parser.parse_args(argv)
    data = records(args.records + 10)
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # Rounds interleave the paths, so a busy moment of the machine hits all of them.
        for _ in range(args.rounds):
            for label, kind, mode in PATHS:
                for size in BATCH_SIZES:
                    rate = measure(kind, tmp, data, size, mode)
                    key = f"{label}/batch{size}"
                    figures[key] = max(figures.get(key, 0.0), rate)
    if not any(figures[f"postgresql-copy/batch{s}"] for s in BATCH_SIZES):
        print("PostgreSQL is not reachable: its rows are 0")
    print(
        f"\nStoreWriter.write, rows/s ({args.records} records, 1 row each, "
        f"best of {args.rounds} rounds)"
    )
    print(f"{'store / insert path':<24}" + "".join(f"{f'batch {s}':>14}" for s in BATCH_SIZES))
    for store, _, _ in PATHS:
        cells = [figures.get(f"{store}/batch{s}") for s in BATCH_SIZES]
        if any(c is not None for c in cells):
            print(f"{store:<24}" + "".join(f"{c:>14,.0f}" if c else f"{'-':>14}" for c in cells))
    return {key: round(value) for key, value in figures.items()}


if __name__ == "__main__":
    main()
