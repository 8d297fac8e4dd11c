"""StoreWriter: batches stored once, rollups and streams counted once, dead letters kept."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from msgspec.structs import replace
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError, OperationalError

from sidecar.record import PredictionRecord
from sidecar.store.engine import make_engine
from sidecar.store.histogram import (
    LATENCY_BOUNDS_MS,
    latency_bucket,
    latency_percentile,
    score_bucket,
)
from sidecar.store.migrate import upgrade
from sidecar.store.queries import get_job
from sidecar.store.schema import (
    LATENCY_COLUMNS,
    SCORE_COLUMNS,
    dead_letters,
    predictions,
    rollups,
    streams,
)
from sidecar.store.writer import BulkMode, DeadLetterIn, StoreWriter, WriteResult
from tests.records import T0, error_record, make_record
from tests.support import free_port, temporary_database


def table_rows(engine: Engine, table: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(select(table))]


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def mixed_batch(n: int = 60) -> list[PredictionRecord]:
    """Successes on two versions across three minutes, some failures, and outliers."""
    records = [make_record(seq) for seq in range(1, n + 1)]
    records += [error_record(seq) for seq in range(n + 1, n + 6)]
    records.append(make_record(n + 6, status=503, results=None, error="model not ready"))
    return records


def test_batch_is_stored_and_every_record_reads_back_equal(engine: Engine) -> None:
    records = mixed_batch()
    result = StoreWriter(engine).write(records)
    assert result == WriteResult(inserted=len(records), duplicates=0, dead_letters=0)
    assert count(engine, predictions) == len(records)
    for record in records:
        stored = get_job(engine, record.job_id)
        assert stored is not None
        assert stored.record == record


def test_batches_larger_than_one_statement_with_and_without_stored_ones(engine: Engine) -> None:
    # SQLite inserts 500 rows per statement and the rest one by one; a batch that holds
    # stored job_ids in any of those parts is redone exactly.
    first = [make_record(seq) for seq in range(1, 1204)]
    assert StoreWriter(engine).write(first).inserted == 1203
    overlapping = [make_record(seq) for seq in range(700, 2001)]
    result = StoreWriter(engine).write(overlapping)
    assert result == WriteResult(inserted=797, duplicates=504, dead_letters=0)
    assert count(engine, predictions) == 2000
    assert sum(r["requests"] for r in table_rows(engine, rollups)) == 2000
    for record in (overlapping[0], overlapping[-1], first[500]):
        stored = get_job(engine, record.job_id)
        assert stored is not None
        assert stored.record == record


def test_columns_summarise_the_record(engine: Engine) -> None:
    outlier = make_record(
        1, n_rows=2, results=None, inputs=[[1.0, 2.0, 3.0, 4.0], [9.0, 9.0, 9.0, 9.0]]
    )
    outlier = replace(outlier, results=make_record(2, n_rows=2).results)
    scores = [r.outlier_score for r in outlier.results or () if r.outlier_score is not None]
    clock = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    StoreWriter(engine, clock=lambda: clock).write([outlier, error_record(3)])
    rows = {row["job_id"]: row for row in table_rows(engine, predictions)}
    row = rows[outlier.job_id]
    assert row["n_rows"] == 2
    assert row["max_outlier_score"] == max(scores)
    assert row["is_outlier"] == any(s >= 0.8 for s in scores)
    assert row["stored_at"] == clock
    assert row["event_time"] == datetime.fromtimestamp(outlier.event_time, UTC)
    failed = rows[error_record(3).job_id]
    assert (failed["n_rows"], failed["is_outlier"], failed["max_outlier_score"]) == (0, False, None)
    assert failed["inputs"] is None
    assert failed["results"] is None


def snapshot(engine: Engine) -> tuple[list[Any], list[Any], int]:
    key = ("minute", "model", "version", "endpoint", "status")
    rollup_rows = sorted(table_rows(engine, rollups), key=lambda r: tuple(r[k] for k in key))
    for row in rollup_rows:  # float sums depend on the order of the additions
        row["latency_sum_ms"] = round(row["latency_sum_ms"], 6)
    return rollup_rows, table_rows(engine, streams), count(engine, predictions)


def test_the_same_batch_twice_changes_nothing(engine: Engine) -> None:
    records = mixed_batch()
    writer = StoreWriter(engine)
    writer.write(records)
    before = snapshot(engine)
    again = writer.write(records)
    assert again == WriteResult(inserted=0, duplicates=len(records), dead_letters=0)
    assert snapshot(engine) == before


def test_duplicates_within_a_batch_and_overlapping_batches_count_once(engine: Engine) -> None:
    records = mixed_batch(40)
    writer = StoreWriter(engine)
    first = writer.write(records[:30] + records[:5])
    assert first == WriteResult(inserted=30, duplicates=5, dead_letters=0)
    second = writer.write(records[20:])
    assert second == WriteResult(inserted=len(records) - 30, duplicates=10, dead_letters=0)
    separate = snapshot(engine)

    with temporary_store(engine) as other:
        StoreWriter(other).write(records)
        assert snapshot(other) == separate


@contextlib.contextmanager
def temporary_store(engine: Engine) -> Iterator[Engine]:
    """A second, fresh, migrated store of the same kind as ``engine``'s."""
    with contextlib.ExitStack() as stack:
        if engine.dialect.name == "sqlite":
            url = f"sqlite:///{engine.url.database}.other"
        else:
            url = stack.enter_context(temporary_database())
        other = make_engine(url)
        stack.callback(other.dispose)
        upgrade(other)
        yield other


def expected_rollups(records: list[PredictionRecord]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The rollups recomputed straight from the records, independently of the writer."""
    expected: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in records:
        minute = datetime.fromtimestamp(int(r.event_time // 60) * 60, UTC)
        key = (minute, r.model or "", r.version or "", r.endpoint, r.status)
        row = expected.setdefault(key, Counter())
        results = r.results or []
        row["requests"] += 1
        row["errors"] += int(r.status >= 400)
        row["rows"] += len(r.inputs or results)
        row["outlier_rows"] += sum(bool(x.is_outlier) for x in results)
        row["outlier_requests"] += int(any(x.is_outlier for x in results))
        row[LATENCY_COLUMNS[latency_bucket(r.latency_ms)]] += 1
        for x in results:
            if x.outlier_score is not None:
                row[SCORE_COLUMNS[score_bucket(x.outlier_score)]] += 1
        row.setdefault("latencies", []).append(r.latency_ms)
    return expected


def test_rollups_match_the_records_exactly(engine: Engine) -> None:
    records = mixed_batch(300)
    writer = StoreWriter(engine)
    for start in range(0, len(records), 70):  # several batches add up
        writer.write(records[start : start + 70])
    expected = expected_rollups(records)
    stored = table_rows(engine, rollups)
    assert len(stored) == len(expected) >= 6
    for row in stored:
        key = (row["minute"], row["model"], row["version"], row["endpoint"], row["status"])
        want = expected[key]
        latencies = want.pop("latencies")
        for column in ("requests", "errors", "rows", "outlier_rows", "outlier_requests"):
            assert row[column] == want[column], column
        for column in (*LATENCY_COLUMNS, *SCORE_COLUMNS):
            assert row[column] == want[column], column
        assert row["latency_sum_ms"] == pytest.approx(sum(latencies))
        assert row["latency_max_ms"] == max(latencies)
    assert sum(r["requests"] for r in stored) == len(records)
    assert sum(r["errors"] for r in stored) == 6
    assert {r["model"] for r in stored} == {"iris", ""}


def test_percentiles_read_from_the_stored_histogram(engine: Engine) -> None:
    # 100 requests in one minute: latencies 1.1 .. 100.1 ms, one per millisecond.
    records = [
        make_record(i + 1, event_time=T0 + i * 0.1, latency_ms=i + 1.1, version="1")
        for i in range(100)
    ]
    StoreWriter(engine).write(records)
    (row,) = table_rows(engine, rollups)
    counts = [row[c] for c in LATENCY_COLUMNS]
    assert sum(counts) == 100
    true = sorted(r.latency_ms for r in records)
    for q in (0.5, 0.95, 0.99):
        estimate = latency_percentile(counts, q)
        assert estimate is not None
        exact = true[int(q * 100) - 1]
        # The estimate lies in the same bucket as the exact percentile.
        bucket = latency_bucket(exact)
        low = LATENCY_BOUNDS_MS[bucket - 1] if bucket else 0.0
        assert low <= estimate <= LATENCY_BOUNDS_MS[bucket]


def test_streams_count_received_and_the_highest_seq(engine: Engine) -> None:
    seqs = [s for s in range(1, 21) if s not in {4, 11, 12}]
    other = [make_record(100 + s, host="api-1", pid=9, seq=s) for s in (1, 2, 3)]
    writer = StoreWriter(engine)
    writer.write([make_record(s) for s in seqs[:8]] + other)
    writer.write([make_record(s) for s in seqs[5:]])  # overlaps: counted once
    rows = {(r["host"], r["pid"]): r for r in table_rows(engine, streams)}
    main = rows[("api-0", 7)]
    assert (main["max_seq"], main["received"]) == (20, 17)
    assert main["first_seen"] == datetime.fromtimestamp(make_record(1).event_time, UTC)
    assert main["last_seen"] == datetime.fromtimestamp(make_record(20).event_time, UTC)
    assert (rows[("api-1", 9)]["max_seq"], rows[("api-1", 9)]["received"]) == (3, 3)


def test_dead_letters_keep_raw_bytes_tag_and_reason(engine: Engine) -> None:
    when = datetime(2026, 11, 23, 17, 0, 0, 123456, tzinfo=UTC)
    letters = [
        DeadLetterIn("predlog.prediction", b"\x93\xa1x\xcb\xff\x00garbage", "bad msgpack", when),
        DeadLetterIn("other.tag", bytes(range(256)), "job_id: field required", when),
    ]
    result = StoreWriter(engine).write([make_record(1)], letters)
    assert result == WriteResult(inserted=1, duplicates=0, dead_letters=2)
    stored = sorted(table_rows(engine, dead_letters), key=lambda r: r["id"])
    assert [(r["tag"], bytes(r["payload"]), r["reason"]) for r in stored] == [
        (d.tag, d.payload, d.reason) for d in letters
    ]
    assert all(r["received_at"] == when for r in stored)
    # Dead letters are not deduplicated: each delivery that failed is evidence.
    StoreWriter(engine).write([], letters[:1])
    assert count(engine, dead_letters) == 3


def test_a_failed_batch_leaves_nothing_and_the_next_batch_works(engine: Engine) -> None:
    writer = StoreWriter(engine, copy_min_rows=1)  # PostgreSQL: COPY path from the start
    bad = DeadLetterIn("t", b"x", cast(str, None), datetime.now(UTC))  # reason is NOT NULL
    with pytest.raises(DBAPIError):
        writer.write([make_record(s) for s in range(1, 11)], [bad])
    assert snapshot(engine) == ([], [], 0)
    assert writer.write([make_record(s) for s in range(1, 11)]).inserted == 10
    assert count(engine, predictions) == 10


@pytest.mark.parametrize("bulk", ["auto", "copy"])
def test_bulk_paths_store_exactly_what_sqlalchemy_executemany_stores(
    engine: Engine, bulk: BulkMode
) -> None:
    records = mixed_batch(50)
    clock = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
    writer = StoreWriter(engine, bulk=bulk, copy_min_rows=1, clock=lambda: clock)
    assert writer.write(records[:30] + records[:3]).inserted == 30
    assert writer.write(records).inserted == len(records) - 30
    with temporary_store(engine) as other:
        reference = StoreWriter(other, bulk="executemany", clock=lambda: clock)
        assert reference.write(records[:30] + records[:3]).inserted == 30
        assert reference.write(records).inserted == len(records) - 30
        assert snapshot(engine) == snapshot(other)

        def stored(e: Engine) -> list[dict[str, Any]]:
            return sorted(
                ({k: v for k, v in row.items() if k != "id"} for row in table_rows(e, predictions)),
                key=lambda row: str(row["job_id"]),
            )

        assert stored(engine) == stored(other)
    for record in records:
        found = get_job(engine, record.job_id)
        assert found is not None
        assert found.record == record


def test_an_unreachable_store_raises_operational_error() -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/predlog"
    engine = make_engine(url, connect_args={"connect_timeout": 2})
    with pytest.raises(OperationalError):
        StoreWriter(engine).write([make_record(1)])
    engine.dispose()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"event_time": 1e16}, "event_time 1e+16 is out of range"),
        ({"pid": 2**40}, "pid 1099511627776 is out of range"),
        ({"seq": 2**64}, "seq 18446744073709551616 is out of range"),
        ({"inference_ms": float("inf")}, "inference_ms is not finite"),
    ],
)
def test_a_record_the_store_cannot_hold_is_dead_lettered_not_fatal(
    engine: Engine, change: dict[str, Any], reason: str
) -> None:
    poison = replace(make_record(2), **change)
    result = StoreWriter(engine, copy_min_rows=1).write([make_record(1), poison, make_record(3)])
    assert result == WriteResult(inserted=2, duplicates=0, dead_letters=1, rejected=1)
    (letter,) = table_rows(engine, dead_letters)
    assert letter["reason"] == f"cannot be stored: {reason}"
    assert letter["tag"] == "predlog.prediction"
    assert b'"job_id":"job-00000002"' in bytes(letter["payload"])
    assert count(engine, predictions) == 2
    assert sum(r["requests"] for r in table_rows(engine, rollups)) == 2


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"error": "bad value 'a\x00b'"}, "error contains a NUL character"),
        ({"request_id": "x\x00"}, "request_id contains a NUL character"),
        ({"run_id": "r\x00"}, "run_id contains a NUL character"),
    ],
)
def test_a_nul_character_is_refused_by_postgresql_and_kept_by_sqlite(
    engine: Engine, change: dict[str, Any], reason: str
) -> None:
    record = replace(make_record(2), **change)
    result = StoreWriter(engine, copy_min_rows=1).write([make_record(1), record])
    if engine.dialect.name == "postgresql":  # its text types hold no NUL
        assert result == WriteResult(inserted=1, duplicates=0, dead_letters=1, rejected=1)
        (letter,) = table_rows(engine, dead_letters)
        assert letter["reason"] == f"cannot be stored: {reason}"
    else:
        assert result == WriteResult(inserted=2, duplicates=0, dead_letters=0)
        stored = get_job(engine, record.job_id)
        assert stored is not None
        assert stored.record == record


def test_an_empty_write_touches_nothing(engine: Engine) -> None:
    assert StoreWriter(engine).write([]) == WriteResult(inserted=0, duplicates=0, dead_letters=0)
    assert snapshot(engine) == ([], [], 0)


def test_event_time_is_kept_to_the_microsecond(engine: Engine) -> None:
    record = make_record(1, event_time=T0 + 0.123456789)
    StoreWriter(engine).write([record])
    found = get_job(engine, record.job_id)
    assert found is not None
    assert found.record.event_time == pytest.approx(record.event_time, abs=1e-6)
    assert found.record.event_time == datetime.fromtimestamp(T0 + 0.123457, UTC).timestamp()


@pytest.mark.parametrize("bulk", ["auto", "copy", "executemany"])
def test_a_naive_clock_means_utc_on_every_path(engine: Engine, bulk: BulkMode) -> None:
    naive = datetime(2026, 11, 23, 17, 45, 1, 250000)
    writer = StoreWriter(engine, bulk=bulk, copy_min_rows=1, clock=lambda: naive)
    writer.write([make_record(1), make_record(2)])
    (stored_at,) = {row["stored_at"] for row in table_rows(engine, predictions)}
    assert stored_at == naive.replace(tzinfo=UTC)
