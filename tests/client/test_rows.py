"""The row sampler: training-like rows, outliers far outside, bodies serialised once."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from client.responder import IRIS_STATS
from client.rows import JITTER_STDS, OUTLIER_MIN_STDS, FeatureStat, RowSampler, Training

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


SAMPLE = ((5.1, 3.5, 1.4, 0.2), (6.7, 3.0, 5.2, 2.3), (5.9, 3.0, 4.2, 1.5))


def test_normal_rows_are_jittered_training_rows_when_a_sample_is_given() -> None:
    sampler = RowSampler(IRIS_STATS, outlier_fraction=0.0, seed=8, sample=SAMPLE)
    rows, flags = sampler.rows(3_000)
    assert not flags.any()
    assert ((rows >= LOW) & (rows <= HIGH)).all()
    # Every row lies next to one of the sample's rows, within a few jitters per feature.
    nearest = np.abs(rows[:, None, :] - np.array(SAMPLE)[None, :, :]) / STD
    closest = nearest.max(axis=2).min(axis=1)
    assert (closest < 6 * JITTER_STDS).all()
    # ...and each sample row is drawn about as often as the others.
    picked = nearest.max(axis=2).argmin(axis=1)
    assert np.bincount(picked, minlength=3).min() > 800


def test_outliers_leave_the_range_with_a_sample_too() -> None:
    rows, flags = RowSampler(IRIS_STATS, 0.5, seed=9, sample=SAMPLE).rows(2_000)
    outliers = rows[flags]
    distance = np.maximum(LOW - outliers, outliers - HIGH) / STD
    assert (distance >= OUTLIER_MIN_STDS - 1e-9).all()


def test_training_from_metadata_keeps_rows_of_the_right_width() -> None:
    metadata = {
        "feature_stats": [
            {"name": s.name, "mean": s.mean, "std": s.std, "min": s.min, "max": s.max}
            for s in IRIS_STATS
        ],
        "sample_rows": [[5.1, 3.5, 1.4, 0.2], [1.0, 2.0]],
    }
    training = Training.from_metadata(metadata)
    assert training.stats == IRIS_STATS
    assert training.sample == ((5.1, 3.5, 1.4, 0.2),)
    assert Training.from_metadata({"feature_stats": metadata["feature_stats"]}).sample == ()
