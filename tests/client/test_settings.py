"""The load generator's settings: durations, bounds, environment variables."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from client.settings import LoadSettings, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"), [("60s", 60), ("5m", 300), ("1h", 3600), ("250ms", 0.25), ("12", 12)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_a_bad_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("five minutes")


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
