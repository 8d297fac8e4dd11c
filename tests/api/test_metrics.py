"""GET /metrics: requests by endpoint, model, version and status; latency; outliers; records."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families

from api.metrics import LATENCY_BUCKETS, ApiMetrics
from tests.api.fixtures import AppClient
from tests.support import wait_for


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_requests_outliers_and_records(client: AppClient) -> None:
    for _ in range(3):
        client.post("/predict?version=1", json={"data": [[6.7, 3.0, 5.2, 2.3]]})  # outlier
    client.post("/predict?version=2", json={"data": [[1.0, 3.0, 5.2, 2.3], [1.0, 2.0, 3.0, 4.0]]})
    client.post("/predict", json={"data": [[1.0]]})
    client.get("/nowhere/1")
    client.get("/nowhere/2")
    wait_for(lambda: client.app.state.services.emitter.counts["sent"] == 7)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    got = samples(response.text)

    def requests(endpoint: str, model: str, version: str, status: str) -> float:
        labels = (
            ("endpoint", endpoint),
            ("model", model),
            ("status", status),
            ("version", version),
        )
        return got[("predlog_api_requests_total", labels)]

    assert requests("/predict", "iris", "1", "200") == 3
    assert requests("/predict", "iris", "2", "200") == 1
    assert requests("<unmatched>", "", "", "404") == 2  # unknown paths share one label
    assert got[("predlog_api_outliers_total", (("model", "iris"), ("version", "1")))] == 3
    assert got[("predlog_api_outliers_total", (("model", "iris"), ("version", "2")))] == 0
    assert got[("predlog_api_rows_total", (("model", "iris"), ("version", "2")))] == 2
    assert got[("predlog_api_records_total", (("outcome", "sent"),))] == 7
    assert got[("predlog_api_records_total", (("outcome", "spooled"),))] == 0
    assert got[("predlog_api_records_total", (("outcome", "failed"),))] == 0
    latency_count = got[("predlog_api_request_latency_seconds_count", (("endpoint", "/predict"),))]
    assert latency_count == 5


def test_latencies_added_by_bucket_equal_one_observe_each() -> None:
    latencies = [0.0001, 0.0005, 0.0007, 0.001, 0.0031, 0.02, 0.2, 3.0, 10.0, 0.0005]
    api_metrics = ApiMetrics()
    for i, value in enumerate(latencies):
        api_metrics.observe_request("/predict", "iris", "1", 200, value)
        if i == 4:
            api_metrics.flush()  # in two flushes, as the emitter thread would
    api_metrics.flush()
    registry = CollectorRegistry()
    reference = Histogram("reference", "", buckets=LATENCY_BUCKETS, registry=registry)
    for value in latencies:
        reference.observe(value)
    ours = {
        (s.name.rpartition("_")[2], s.labels.get("le")): s.value
        for family in api_metrics.registry.collect()
        if family.name == "predlog_api_request_latency_seconds"
        for s in family.samples
        if not s.name.endswith("_created")
    }
    theirs = {
        (s.name.rpartition("_")[2], s.labels.get("le")): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }
    assert ours == theirs
    assert ours[("count", None)] == len(latencies)
