"""Counting and summarising a run, without HTTP."""

from __future__ import annotations

import pytest

from client.stats import LoadStats, format_summary, latency_percentiles


def _run(sent: int, answered: dict[int, int], errors: int) -> LoadStats:
    stats = LoadStats(requested_rate=100.0, scheduled=sent + 5)
    for i in range(sent):
        stats.on_sent(outlier=i % 10 == 0, late=i == 3)
    done = 0
    for status, n in answered.items():
        for _ in range(n):
            done += 1
            stats.on_answer(status, done / 1000, flagged=int(status == 200 and done % 3 == 0))
    for _ in range(errors):
        stats.on_error("timeout")
    for _ in range(5):
        stats.on_dropped()
    return stats


def test_counts_add_up() -> None:
    stats = _run(sent=100, answered={200: 90, 503: 8}, errors=2)
    assert stats.in_flight == 0
    summary = stats.summary(send_span_s=1.0, elapsed_s=2.0)
    assert summary.sent == 100
    assert summary.scheduled == 105
    assert summary.dropped == 5
    assert summary.late == 1
    assert summary.answered == 98
    assert summary.by_status == {"200": 90, "503": 8}
    assert summary.errors == 2
    assert summary.errors_by_kind == {"timeout": 2}
    assert summary.outliers_sent == 10
    assert summary.outliers_flagged == 30
    assert summary.achieved_rate == 100.0
    assert summary.throughput == 49.0
    assert summary.rate_within_tolerance


@pytest.mark.parametrize(
    ("span", "within"), [(1.0, True), (1.019, True), (0.981, True), (1.03, False), (0.97, False)]
)
def test_rate_tolerance_is_two_percent(span: float, within: bool) -> None:
    stats = _run(sent=100, answered={200: 100}, errors=0)
    assert stats.summary(send_span_s=span, elapsed_s=span).rate_within_tolerance is within


def test_percentiles_in_milliseconds() -> None:
    latency = latency_percentiles([i / 1000 for i in range(1, 101)])
    assert latency is not None
    assert latency.p50 == pytest.approx(50.5)
    assert latency.p90 == pytest.approx(90.1)
    assert latency.p99 == pytest.approx(99.01)
    assert latency.max == pytest.approx(100.0)
    assert latency_percentiles([]) is None


def test_summary_text_and_dict_say_the_same() -> None:
    summary = _run(sent=100, answered={200: 100}, errors=0).summary(1.0, 1.0)
    text = format_summary(summary)
    assert "achieved 100/s (within 2%)" in text
    assert "200: 100" in text
    assert summary.to_dict()["latency_ms"]["max"] == 100.0
    late = _run(sent=50, answered={}, errors=50).summary(1.0, 1.0)
    assert "NOT within" in format_summary(late)
    assert late.latency_ms is None
