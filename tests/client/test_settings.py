"""The load generator's settings: durations, bounds, environment variables."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from client.settings import LoadSettings


@pytest.mark.parametrize(("text", "seconds"), [("60s", 60), ("250ms", 0.25), ("2", 2), (3, 3)])
def test_durations_in_the_grammar_of_predlog_timespec(text: str | int, seconds: float) -> None:
    assert LoadSettings(duration=text).duration == seconds


def test_a_bad_or_empty_duration_is_refused() -> None:
    with pytest.raises(ValidationError, match="not a duration"):
        LoadSettings(duration="five minutes")
    with pytest.raises(ValidationError, match="greater than 0"):
        LoadSettings(duration="0s")


def test_total_from_duration_count_or_default() -> None:
    assert LoadSettings(rate=200, duration="5m").total == 60_000
    assert LoadSettings(rate=200, count=17).total == 17
    assert LoadSettings(rate=10).total == 600


def test_duration_and_count_exclude_each_other() -> None:
    with pytest.raises(ValidationError, match="not both"):
        LoadSettings(duration=10, count=10)


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREDLOG_LOAD_RATE", "321")
    monkeypatch.setenv("PREDLOG_LOAD_DURATION", "2m")
    monkeypatch.setenv("PREDLOG_LOAD_VERSION", "2")
    settings = LoadSettings()
    assert settings.rate == 321
    assert settings.duration == 120
    assert settings.version == "2"
