"""The row sampler: training-like rows, outliers far outside, bodies serialised once."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from client.responder import IRIS_STATS
from client.rows import OUTLIER_MIN_STDS, FeatureStat, RowSampler

LOW = np.array([s.min for s in IRIS_STATS])
HIGH = np.array([s.max for s in IRIS_STATS])
STD = np.array([s.std for s in IRIS_STATS])


def test_normal_rows_follow_the_training_distribution() -> None:
    rows, flags = RowSampler(IRIS_STATS, outlier_fraction=0.0, seed=1).rows(20_000)
    assert rows.shape == (20_000, 4)
    assert not flags.any()
    assert (rows >= LOW).all()
    assert (rows <= HIGH).all()
    # Clipping to the range moves the mean a little; it stays well inside one std.
    assert np.all(np.abs(rows.mean(axis=0) - [s.mean for s in IRIS_STATS]) < 0.3 * STD)


def test_outlier_rows_lie_several_stds_beyond_the_range() -> None:
    rows, flags = RowSampler(IRIS_STATS, outlier_fraction=0.25, seed=2).rows(8_000)
    assert 0.22 < flags.mean() < 0.28
    outliers = rows[flags]
    distance = np.maximum(LOW - outliers, outliers - HIGH) / STD
    assert (distance >= OUTLIER_MIN_STDS - 1e-9).all()
    assert ((rows[~flags] >= LOW) & (rows[~flags] <= HIGH)).all()


def test_all_outliers_and_none() -> None:
    _, every = RowSampler(IRIS_STATS, 1.0, seed=3).rows(100)
    _, none = RowSampler(IRIS_STATS, 0.0, seed=3).rows(100)
    assert every.all()
    assert not none.any()


def test_bodies_are_predict_requests_and_repeat_with_a_seed() -> None:
    first = RowSampler(IRIS_STATS, 0.5, seed=7).bodies(50)
    again = RowSampler(IRIS_STATS, 0.5, seed=7).bodies(50)
    assert first == again
    for body in first:
        data = orjson.loads(body.payload)["data"]
        assert len(data) == 1
        assert len(data[0]) == 4
        inside = all(lo <= v <= hi for v, lo, hi in zip(data[0], LOW, HIGH, strict=True))
        assert inside is not body.outlier


def test_stream_yields_exactly_total_in_chunks() -> None:
    sampler = RowSampler(IRIS_STATS, 0.1, seed=4)
    assert sum(1 for _ in sampler.stream(2_500, chunk=1_000)) == 2_500


def test_a_constant_feature_still_gets_outliers_beyond_it() -> None:
    stats = [FeatureStat("flat", mean=1.0, std=0.0, min=1.0, max=1.0)]
    rows, flags = RowSampler(stats, 1.0, seed=5).rows(10)
    assert flags.all()
    assert (np.abs(rows - 1.0) >= OUTLIER_MIN_STDS).all()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="no feature"):
        RowSampler([], 0.1)
    with pytest.raises(ValueError, match="outlier_fraction"):
        RowSampler(IRIS_STATS, 1.5)
