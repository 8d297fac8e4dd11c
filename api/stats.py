"""``GET /stats`` and ``GET /health/all``: uptime, requests per model version and per worker,
and every served version's health, as the router predlog replaces reported them.

In multiprocess mode every worker's counts are read from its own files in the metrics
directory, so one worker answers for all of them and the totals are their sums.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from api.metrics import ApiMetrics, multiprocess_dir
from api.runtime.registry import ModelRouter

_COUNTER_FILE = re.compile(r"counter_(\d+)\.db")


def health_all(registry: ModelRouter) -> dict[str, dict[str, str]]:
    """``{"<model>/<version>": {"health": "ok"}}`` for every version this worker serves."""
    if not registry.ready:
        return {}
    return {
        f"{mv.name}/{mv.version}": {"health": "ok" if mv.ready else "not loaded"}
        for name in registry.names()
        for mv in registry.versions(name)
    }


def stats(metrics: ApiMetrics, host: str) -> dict[str, Any]:
    """Uptime, and requests answered per model version: per worker and summed over them."""
    metrics.flush()
    now = time.time()
    directory = multiprocess_dir()
    if directory:
        started = _started_by_pid(_merge(_files(directory, "gauge_all_")))
        counts = {
            int(m.group(1)): _requests(_merge([str(path)]))
            for path in Path(directory).glob("counter_*.db")
            if (m := _COUNTER_FILE.fullmatch(path.name))
        }
    else:
        pid = os.getpid()
        started = {pid: _gauge_value(metrics.started.collect())}
        counts = {pid: _requests(metrics.registry.collect())}
    workers = []
    total: dict[str, int] = {}
    for pid in sorted(set(started) | set(counts)):
        requests = counts.get(pid, {})
        for key, n in requests.items():
            total[key] = total.get(key, 0) + n
        since = started.get(pid)
        workers.append(
            {
                "host": host,
                "pid": pid,
                "uptime_seconds": round(now - since, 3) if since else None,
                "requests": requests,
            }
        )
    first = min((s for s in started.values() if s), default=now)
    return {
        "host": host,
        "uptime_seconds": round(now - first, 3),
        "requests": total,
        "requests_total": sum(total.values()),
        "workers": workers,
    }


def _merge(files: list[str]) -> Iterable[Metric]:
    # MultiProcessCollector.merge is the collector's own public (if untyped) reader of the
    # workers' files; given one worker's file it gives that worker's values alone.
    metrics: Iterable[Metric] = MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call]
    return metrics


def _files(directory: str, prefix: str) -> list[str]:
    return [str(p) for p in Path(directory).glob(f"{prefix}*.db")]


def _requests(metrics: Iterable[Metric]) -> dict[str, int]:
    """Requests answered by model version (``model/version``), from predlog_api_requests."""
    counts: dict[str, int] = {}
    for metric in metrics:
        if metric.name != "predlog_api_requests":
            continue
        for sample in metric.samples:
            model, version = sample.labels.get("model", ""), sample.labels.get("version", "")
            if sample.name.endswith("_total") and model:
                key = f"{model}/{version}"
                counts[key] = counts.get(key, 0) + int(sample.value)
    return counts


def _started_by_pid(metrics: Iterable[Metric]) -> dict[int, float]:
    started: dict[int, float] = {}
    for metric in metrics:
        if metric.name == "predlog_api_started_time_seconds":
            for sample in metric.samples:
                started[int(sample.labels["pid"])] = sample.value
    return started


def _gauge_value(metrics: Iterable[Metric]) -> float:
    return next((s.value for m in metrics for s in m.samples), 0.0)
