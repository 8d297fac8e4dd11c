"""The sidecar's own upkeep of the store: partitions made ahead, retention applied.

Run every ``maintenance_interval`` (and at start) off the event loop. The cutoffs are
moved back to the start of their UTC day (``retention.whole_days``): a day is kept at
least its retention and goes at once, as one partition on PostgreSQL, so however often
the job runs, pruning happens once a day.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import Engine

from sidecar.store.partitions import days_around, ensure_partitions
from sidecar.store.retention import Pruned, cutoff_from, prune, whole_days

log = logging.getLogger("predlog.sidecar")


class Upkeep:
    """Makes the next days' partitions and prunes what is past its retention."""

    def __init__(
        self,
        engine: Engine,
        registry: CollectorRegistry,
        *,
        retention: float | None,
        rollup_retention: float | None,
        partitions_ahead: int,
        batch_rows: int,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``retention``/``rollup_retention``: seconds to keep (None: forever)."""
        self.engine = engine
        self.retention = retention
        self.rollup_retention = rollup_retention
        self.partitions_ahead = partitions_ahead
        self.batch_rows = batch_rows
        self._clock = clock or (lambda: datetime.now(UTC))
        self._stop = threading.Event()
        p = "predlog_sidecar_"
        self.pruned_rows = Counter(
            f"{p}pruned_rows", "Rows deleted by retention, by table.", ["table"], registry=registry
        )
        self.dropped = Counter(
            f"{p}pruned_partitions", "Daily partitions dropped by retention.", registry=registry
        )
        self.seconds = Gauge(
            f"{p}prune_seconds", "Duration of the last retention run.", registry=registry
        )

    def request_stop(self) -> None:
        """End a running prune after its current batch (shutdown)."""
        self._stop.set()

    def run_once(self) -> list[Pruned]:
        """One round: partitions ahead, then pruning; what was pruned."""
        now = self._clock()
        ensure_partitions(self.engine, days_around(now, self.partitions_ahead))
        log_before = cutoff_from(self.retention, now)
        rollups_before = cutoff_from(self.rollup_retention, now)
        if log_before is None and rollups_before is None:
            return []
        started = time.perf_counter()
        done = prune(
            self.engine,
            log_before=None if log_before is None else whole_days(log_before),
            rollups_before=None if rollups_before is None else whole_days(rollups_before),
            batch_rows=self.batch_rows,
            sleep=self._stop.wait,
            stopping=self._stop.is_set,
        )
        self.seconds.set(time.perf_counter() - started)
        for pruned in done:
            self.pruned_rows.labels(pruned.table).inc(pruned.rows)
            self.dropped.inc(len(pruned.partitions))
            if pruned.rows or pruned.partitions:
                log.info(
                    "pruned %s before %s: %d rows, %d partitions in %.2fs",
                    pruned.table,
                    pruned.cutoff.isoformat(),
                    pruned.rows,
                    len(pruned.partitions),
                    pruned.seconds,
                )
        return done
