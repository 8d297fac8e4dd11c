"""The open-loop schedule: send ``i`` is due at ``start + i / rate``, whatever the answers do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Schedule:
    """Absolute send times for ``total`` requests at a constant ``rate`` from ``start``."""

    start: float
    rate: float
    total: int

    def due_at(self, index: int) -> float:
        """When send ``index`` (0-based) is due."""
        return self.start + index / self.rate

    def due_by(self, now: float) -> int:
        """How many sends are due at ``now`` (the index of the first one not yet due)."""
        if now < self.start:
            return 0
        # The epsilon (a millionth of an interval) keeps a send due exactly at ``now`` from
        # being put off by float rounding, which grows with the clock's magnitude.
        return min(self.total, int((now - self.start) * self.rate + 1e-6) + 1)

    @property
    def end(self) -> float:
        """When the last send is due."""
        return self.due_at(self.total - 1)

    @property
    def span(self) -> float:
        """The time the schedule covers: one interval per send."""
        return self.total / self.rate
