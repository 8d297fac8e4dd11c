"""queries: jobs by id, searches with every filter, and gaps in the sequence numbers."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from sidecar.record import PredictionRecord
from sidecar.store import queries
from sidecar.store.mapping import to_datetime
from sidecar.store.writer import StoreWriter
from tests.records import T0, error_record, make_record


def job_ids(found: list[queries.StoredPrediction]) -> list[str]:
    return [s.record.job_id for s in found]


@pytest.fixture
def stored(engine: Engine) -> list[PredictionRecord]:
    """40 successes (versions 1 and 2 alternate), 3 client errors, 2 server errors."""
    records = [make_record(n) for n in range(1, 41)]
    records += [error_record(n) for n in (41, 42)]
    records.append(error_record(43, status=404, endpoint="/predict/label"))
    records += [error_record(n, status=503) for n in (44, 45)]
    StoreWriter(engine).write(records)
    return records


def newest_first(records: list[PredictionRecord]) -> list[str]:
    return [r.job_id for r in sorted(records, key=lambda r: r.event_time, reverse=True)]


def test_get_job_and_request_id(engine: Engine, stored: list[PredictionRecord]) -> None:
    found = queries.get_job(engine, stored[4].job_id)
    assert found is not None
    assert found.record == stored[4]
    assert found.stored_at.tzinfo is not None
    assert queries.get_job(engine, "no-such-job") is None
    again = make_record(99, request_id=stored[4].request_id)
    StoreWriter(engine).write([again])
    by_request = queries.find_by_request_id(engine, "req-5")
    assert job_ids(by_request) == [again.job_id, stored[4].job_id]
    assert queries.find_by_request_id(engine, "nobody") == []


def test_search_without_filters_is_newest_first_and_limited(
    engine: Engine, stored: list[PredictionRecord]
) -> None:
    assert job_ids(queries.search(engine, limit=10)) == newest_first(stored)[:10]
    assert len(queries.search(engine, limit=1000)) == len(stored)


def test_search_by_time_window(engine: Engine, stored: list[PredictionRecord]) -> None:
    since, until = to_datetime(T0 + 2.5), to_datetime(T0 + 5.0)  # n = 10 .. 19
    found = queries.search(engine, since=since, until=until)
    assert job_ids(found) == [f"job-{n:08d}" for n in range(19, 9, -1)]
    assert len(queries.search(engine, since=to_datetime(T0 + 11.0))) == 2  # n = 44, 45


def test_search_by_model_version_and_endpoint(
    engine: Engine, stored: list[PredictionRecord]
) -> None:
    v2 = queries.search(engine, model="iris", version="2")
    assert job_ids(v2) == newest_first([r for r in stored if r.version == "2"])
    assert queries.search(engine, model="other") == []
    label = queries.search(engine, endpoint="/predict/label")
    assert job_ids(label) == ["job-00000043"]


def test_search_for_outliers(engine: Engine, stored: list[PredictionRecord]) -> None:
    expected = [r for r in stored if r.is_outlier]
    assert 0 < len(expected) < 40
    found = queries.search(engine, outliers_only=True)
    assert job_ids(found) == newest_first(expected)


@pytest.mark.parametrize(
    ("status", "n"),
    [("2xx", 40), ("4xx", 3), ("5xx", 2), ("404", 1), ("503", 2), ("3xx", 0), ("201", 0)],
)
def test_search_by_status(
    engine: Engine, stored: list[PredictionRecord], status: str, n: int
) -> None:
    low, high = queries.parse_status(status)
    found = queries.search(engine, status=status, limit=100)
    assert len(found) == n
    assert all(low <= s.record.status <= high for s in found)


def test_filters_combine(engine: Engine, stored: list[PredictionRecord]) -> None:
    found = queries.search(
        engine, model="iris", version="1", status="2xx", since=to_datetime(T0 + 5.0), limit=3
    )
    assert job_ids(found) == ["job-00000039", "job-00000037", "job-00000035"]


@pytest.mark.parametrize("bad", ["4x", "600", "xx", "", "2XXX", "99"])
def test_parse_status_refuses_nonsense(bad: str) -> None:
    with pytest.raises(ValueError, match="status"):
        queries.parse_status(bad)


def test_gaps_list_missing_sequence_numbers(engine: Engine) -> None:
    lost = {1, 5, 6, 7, 20}
    main = [make_record(n) for n in range(1, 26) if n not in lost]
    other = [make_record(100 + n, host="api-1", pid=3, seq=n) for n in range(1, 6)]
    StoreWriter(engine).write(main + other)
    found = {(g.host, g.pid): g for g in queries.gaps(engine)}
    gap = found[("api-0", 7)]
    assert (gap.max_seq, gap.received, gap.missing) == (25, 20, 5)
    assert gap.missing_ranges == ((1, 1), (5, 7), (20, 20))
    assert gap.missing_seqs() == sorted(lost)
    assert gap.missing_seqs(limit=3) == [1, 5, 6]
    assert not gap.truncated
    clean = found[("api-1", 3)]
    assert (clean.missing, clean.missing_ranges) == (0, ())
    assert queries.missing_total(engine) == 5
    # The lost records arrive late (from the api's spool): the gap closes.
    StoreWriter(engine).write([make_record(n) for n in sorted(lost)])
    assert queries.missing_total(engine) == 0
    assert all(g.missing_ranges == () for g in queries.gaps(engine))


def test_a_process_restarted_with_the_same_pid_is_a_new_run(engine: Engine) -> None:
    # The api container restarts in its pod: same host, same pid, seq from 1 again.
    before = [make_record(n, run_id="run-a") for n in range(1, 11) if n != 4]
    after = [make_record(100 + n, seq=n, run_id="run-b") for n in range(1, 6) if n != 2]
    StoreWriter(engine).write(before)
    StoreWriter(engine).write(after)
    found = {g.run_id: g for g in queries.gaps(engine)}
    assert set(found) == {"run-a", "run-b"}
    assert (found["run-a"].max_seq, found["run-a"].missing_ranges) == (10, ((4, 4),))
    assert (found["run-b"].max_seq, found["run-b"].missing_ranges) == (5, ((2, 2),))
    assert queries.missing_total(engine) == 2
    # Records sent without a run_id (older apis) count as one more run of their own.
    StoreWriter(engine).write([make_record(200 + n, seq=n) for n in (1, 3)])
    assert {g.run_id: g.missing for g in queries.gaps(engine)} == {
        "run-a": 1,
        "run-b": 1,
        "": 1,
    }


def test_gaps_output_is_bounded(engine: Engine) -> None:
    StoreWriter(engine).write([make_record(n) for n in range(2, 41, 2)])  # every odd one lost
    (gap,) = queries.gaps(engine, max_ranges=5)
    assert gap.missing == 20
    assert gap.missing_ranges == ((1, 1), (3, 3), (5, 5), (7, 7), (9, 9))
    assert gap.truncated


def test_empty_store_has_no_gaps(engine: Engine) -> None:
    assert queries.gaps(engine) == []
    assert queries.missing_total(engine) == 0
