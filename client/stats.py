"""Counting a load run and summarising it; no I/O, so tests drive it directly."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from client.feedback import FeedbackCounts

RATE_TOLERANCE = 0.02
"""The achieved rate is "on target" within this fraction of the requested rate."""


@dataclass(frozen=True, slots=True)
class Latency:
    """Latency percentiles in milliseconds, measured from each send's scheduled time."""

    p50: float
    p90: float
    p99: float
    max: float


@dataclass(frozen=True, slots=True)
class Summary:
    """The figures of one load run."""

    requested_rate: float
    achieved_rate: float
    rate_within_tolerance: bool
    scheduled: int
    sent: int
    dropped: int
    late: int
    answered: int
    by_status: dict[str, int]
    errors: int
    errors_by_kind: dict[str, int]
    elapsed_s: float
    send_span_s: float
    throughput: float
    latency_ms: Latency | None
    outliers_sent: int
    outliers_flagged: int
    feedback: FeedbackCounts | None = None
    """What was sent to POST /feedback (None: no feedback asked for)."""

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-ready data."""
        return asdict(self)


@dataclass
class LoadStats:
    """Running counters of a load run."""

    requested_rate: float
    scheduled: int
    sent: int = 0
    dropped: int = 0
    late: int = 0
    outliers_sent: int = 0
    outliers_flagged: int = 0
    in_flight: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    errors_by_kind: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    @property
    def answered(self) -> int:
        """Requests that got an HTTP response, whatever its status."""
        return sum(self.by_status.values())

    @property
    def errors(self) -> int:
        """Requests that got no HTTP response (connection failures, timeouts)."""
        return sum(self.errors_by_kind.values())

    def on_sent(self, outlier: bool, late: bool) -> None:
        """A request left on (or after) its scheduled time."""
        self.sent += 1
        self.in_flight += 1
        self.outliers_sent += outlier
        self.late += late

    def on_dropped(self) -> None:
        """A send was due while the in-flight cap was reached: it was never sent."""
        self.dropped += 1

    def on_answer(self, status: int, latency_s: float, flagged: int) -> None:
        """A response arrived ``latency_s`` after its scheduled send time."""
        self.in_flight -= 1
        self.by_status[status] += 1
        self.latencies.append(latency_s)
        self.outliers_flagged += flagged

    def on_error(self, kind: str) -> None:
        """A request failed without a response."""
        self.in_flight -= 1
        self.errors_by_kind[kind] += 1

    def summary(self, send_span_s: float, elapsed_s: float) -> Summary:
        """The run's figures; ``send_span_s`` covers the sends, ``elapsed_s`` the whole run."""
        achieved = self.sent / send_span_s if send_span_s > 0 else 0.0
        return Summary(
            requested_rate=self.requested_rate,
            achieved_rate=round(achieved, 2),
            rate_within_tolerance=abs(achieved - self.requested_rate)
            <= RATE_TOLERANCE * self.requested_rate,
            scheduled=self.scheduled,
            sent=self.sent,
            dropped=self.dropped,
            late=self.late,
            answered=self.answered,
            by_status={str(code): n for code, n in sorted(self.by_status.items())},
            errors=self.errors,
            errors_by_kind=dict(sorted(self.errors_by_kind.items())),
            elapsed_s=round(elapsed_s, 3),
            send_span_s=round(send_span_s, 3),
            throughput=round(self.answered / elapsed_s, 2) if elapsed_s > 0 else 0.0,
            latency_ms=latency_percentiles(self.latencies),
            outliers_sent=self.outliers_sent,
            outliers_flagged=self.outliers_flagged,
        )


def latency_percentiles(latencies_s: list[float]) -> Latency | None:
    """p50/p90/p99/max in milliseconds, or None without any answer."""
    if not latencies_s:
        return None
    ms = np.asarray(latencies_s) * 1000.0
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return Latency(
        p50=round(float(p50), 3),
        p90=round(float(p90), 3),
        p99=round(float(p99), 3),
        max=round(float(ms.max()), 3),
    )


def format_summary(summary: Summary) -> str:
    """The summary as a few readable lines."""
    s = summary
    verdict = "within" if s.rate_within_tolerance else "NOT within"
    statuses = ", ".join(f"{code}: {n}" for code, n in s.by_status.items()) or "none"
    lines = [
        f"rate       requested {s.requested_rate:g}/s, achieved {s.achieved_rate:g}/s "
        f"({verdict} {RATE_TOLERANCE:.0%})",
        f"sent       {s.sent} of {s.scheduled} scheduled; dropped {s.dropped} "
        f"(in-flight cap), late {s.late}",
        f"answered   {s.answered} ({statuses}); errors {s.errors}"
        + (f" {s.errors_by_kind}" if s.errors else ""),
        f"throughput {s.throughput:g}/s over {s.elapsed_s:g}s",
    ]
    if s.latency_ms is not None:
        lat = s.latency_ms
        lines.append(
            f"latency    p50 {lat.p50:g} ms, p90 {lat.p90:g} ms, p99 {lat.p99:g} ms, "
            f"max {lat.max:g} ms"
        )
    lines.append(f"outliers   sent {s.outliers_sent}, flagged by the api {s.outliers_flagged}")
    if s.feedback is not None:
        f = s.feedback
        right = f"{f.right / f.items:.1%}" if f.items else "-"
        lines.append(
            f"feedback   {f.items} item(s) in {f.requests} request(s), {right} right; "
            f"accepted {f.accepted}, failed {f.failed}"
        )
    return "\n".join(lines)
