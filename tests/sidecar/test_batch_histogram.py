"""BatchHistogram: a batch added at once reads exactly as one observe() a value, in one
process and in prometheus-client's multiprocess mode (the internals ``add_counts`` uses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram

from sidecar.batch_histogram import BatchHistogram, bucket_counts

BOUNDS = (0.001, 0.01, 0.1, 1.0)
VALUES = [0.0005, 0.001, 0.0011, 0.05, 0.1, 0.7, 3.0, 10.0, 0.001]


def samples(registry: CollectorRegistry, name: str) -> dict[tuple[str, str | None], float]:
    return {
        (s.name.removeprefix(name), s.labels.get("le")): s.value
        for family in registry.collect()
        for s in family.samples
        if s.name.startswith(name) and not s.name.endswith("_created")
    }


def test_bucket_counts_put_a_bound_in_its_own_bucket() -> None:
    counts, total = bucket_counts(BOUNDS, VALUES)
    assert counts == [3, 1, 2, 1, 2]
    assert total == pytest.approx(sum(VALUES))


def test_a_batch_equals_one_observe_each_with_and_without_labels() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    plain = BatchHistogram("h", "doc", BOUNDS, ours)
    labelled = BatchHistogram("l", "doc", BOUNDS, ours, ["endpoint"])
    plain.observe_many(VALUES[:4])
    plain.add(*bucket_counts(BOUNDS, VALUES[4:]))
    labelled.observe_many(VALUES, "/predict")
    reference = Histogram("h", "doc", buckets=BOUNDS, registry=theirs)
    reference_l = Histogram("l", "doc", ["endpoint"], buckets=BOUNDS, registry=theirs)
    for value in VALUES:
        reference.observe(value)
        reference_l.labels("/predict").observe(value)
    assert samples(ours, "h") == pytest.approx(samples(theirs, "h"))  # sums in another order
    assert samples(ours, "l") == pytest.approx(samples(theirs, "l"))
    assert samples(ours, "h")[("_count", None)] == len(VALUES)


def test_counts_of_another_length_are_refused() -> None:
    histogram = BatchHistogram("h", "doc", BOUNDS, CollectorRegistry())
    with pytest.raises(ValueError, match="counts for"):
        histogram.add([1, 2], 0.5)


_MULTIPROCESS = """
import json, sys
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.multiprocess import MultiProcessCollector
from sidecar.batch_histogram import BatchHistogram

bounds, values = json.loads(sys.argv[1])
BatchHistogram("ours", "doc", bounds, CollectorRegistry(), ["endpoint"]).observe_many(values, "e")
theirs = Histogram("theirs", "doc", ["endpoint"], buckets=bounds, registry=CollectorRegistry())
for value in values:
    theirs.labels("e").observe(value)
registry = CollectorRegistry()
MultiProcessCollector(registry)
print(json.dumps([[s.name, s.labels.get("le"), s.value]
                  for family in registry.collect() for s in family.samples]))
"""


def test_a_batch_equals_one_observe_each_in_multiprocess_mode(tmp_path: Path) -> None:
    # The mode is chosen when prometheus-client is imported: a fresh interpreter.
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", _MULTIPROCESS, json.dumps([BOUNDS, VALUES])],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    got = json.loads(out)
    ours = {(name.removeprefix("ours"), le): v for name, le, v in got if name.startswith("ours")}
    theirs = {(name.removeprefix("theirs"), le): v for name, le, v in got if name.startswith("the")}
    assert ours == pytest.approx(theirs)
    assert ours[("_count", None)] == len(VALUES)
    assert any(path.name.startswith("histogram_") for path in tmp_path.iterdir())
