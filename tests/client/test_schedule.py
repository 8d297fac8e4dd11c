"""The open-loop schedule: absolute send times, independent of answers."""

from __future__ import annotations

import pytest

from client.schedule import Schedule


def test_sends_are_due_at_fixed_intervals_from_start() -> None:
    schedule = Schedule(start=100.0, rate=4.0, total=10)
    assert [schedule.due_at(i) for i in range(4)] == [100.0, 100.25, 100.5, 100.75]
    assert schedule.end == pytest.approx(102.25)
    assert schedule.span == pytest.approx(2.5)


def test_due_by_counts_sends_whose_time_has_come() -> None:
    schedule = Schedule(start=10.0, rate=100.0, total=50)
    assert schedule.due_by(9.999) == 0
    assert schedule.due_by(10.0) == 1
    assert schedule.due_by(10.01) == 2
    assert schedule.due_by(10.0999) == 10
    # A stalled sender catches up with every send that fell due meanwhile, never more than total.
    assert schedule.due_by(10.3) == 31
    assert schedule.due_by(1000.0) == 50


def test_due_by_agrees_with_due_at() -> None:
    schedule = Schedule(start=0.5, rate=2000.0, total=10_000)
    for index in (0, 1, 999, 1000, 4321, 9999):
        assert schedule.due_by(schedule.due_at(index)) == index + 1
