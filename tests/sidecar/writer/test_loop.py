"""The writer loop's pacing while a batch fills from a spool followed on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.metrics import SidecarMetrics
from sidecar.spool.follower import SpoolFollower
from sidecar.writer.loop import WriterLoop
from sidecar.writer.report import MetricsReport


def loop(tmp_path: Path) -> WriterLoop:
    def no_writer() -> object:
        raise AssertionError("nothing is written here")

    return WriterLoop(
        SpoolFollower(tmp_path),
        no_writer,  # type: ignore[arg-type]
        MetricsReport(SidecarMetrics()),
        batch_records=1000,
        batch_interval=0.2,
        retry_max_delay=1.0,
    )


def test_poll_waits_for_the_batch_to_fill_at_the_rate_seen(tmp_path: Path) -> None:
    writer = loop(tmp_path)
    entries = [0] * 300
    # Nothing read, nothing arrived since the batch began, or no time passed: short polls.
    assert writer._poll_for([], 0, 0.0) is None
    assert writer._poll_for(entries, 300, 0.01) is None
    assert writer._poll_for(entries, 100, 0.0) is None
    # 200 arrived in 10 ms: the 700 missing need 35 ms, more than an eighth of 0.2 s.
    assert writer._poll_for(entries, 100, 0.01) == pytest.approx(0.025)
    # 900 of 1000 arrived in 90 ms: the last 100 need 10 ms.
    assert writer._poll_for([0] * 900, 0, 0.09) == pytest.approx(0.01)
