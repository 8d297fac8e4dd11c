"""store_run_ends: an ended run's last seq becomes its max_seq, so its lost tail is counted."""

from __future__ import annotations

import time

from sqlalchemy import Engine

from sidecar.record import PredictionRecord
from sidecar.store import queries
from sidecar.store.runends import store_run_ends
from sidecar.store.writer import StoreWriter
from tests.records import make_record


def record(n: int, run_id: str) -> PredictionRecord:
    # Stored now: a partitioned store holds recent days.
    return make_record(n, run_id=run_id, event_time=time.time())


def test_the_tail_of_a_run_that_ended_early_is_counted(engine: Engine) -> None:
    StoreWriter(engine).write([record(n, run_id="r1") for n in (1, 2, 4, 5)])
    assert queries.missing_total(engine) == 1  # seq 3; 6..8 unseen so far
    assert store_run_ends(engine, [("api-0", 7, "r1", 8)]) == 1
    (gap,) = queries.gaps(engine)
    assert (gap.max_seq, gap.received, gap.missing) == (8, 4, 4)
    assert gap.missing_ranges == ((3, 3), (6, 8))
    assert gap.missing_seqs() == [3, 6, 7, 8]
    assert queries.missing_total(engine) == 4


def test_storing_an_end_twice_or_a_lower_one_changes_nothing(engine: Engine) -> None:
    StoreWriter(engine).write([record(n, run_id="r1") for n in (1, 2, 3)])
    store_run_ends(engine, [("api-0", 7, "r1", 5)])
    store_run_ends(engine, [("api-0", 7, "r1", 5)])
    store_run_ends(engine, [("api-0", 7, "r1", 2)])
    assert queries.missing_total(engine) == 2


def test_records_stored_after_the_end_count_as_received(engine: Engine) -> None:
    """A dead run's records may reach the store after its end (from a spool): the count
    falls to what never arrives."""
    store_run_ends(engine, [("api-0", 7, "r2", 4)])
    (gap,) = queries.gaps(engine)
    assert (gap.received, gap.missing, gap.missing_ranges) == (0, 4, ((1, 4),))
    StoreWriter(engine).write([record(n, run_id="r2") for n in (1, 2, 4)])
    (gap,) = queries.gaps(engine)
    assert (gap.received, gap.missing, gap.missing_ranges) == (3, 1, ((3, 3),))


def test_a_run_that_handed_out_no_seq_is_not_written(engine: Engine) -> None:
    assert store_run_ends(engine, [("api-0", 7, "r3", 0)]) == 0
    assert queries.gaps(engine) == []


def test_a_complete_run_has_no_tail(engine: Engine) -> None:
    StoreWriter(engine).write([record(n, run_id="r4") for n in (1, 2, 3)])
    store_run_ends(engine, [("api-0", 7, "r4", 3)])
    (gap,) = queries.gaps(engine)
    assert (gap.missing, gap.missing_ranges) == (0, ())
