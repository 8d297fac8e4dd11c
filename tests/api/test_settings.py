"""ApiSettings: environment variables, weights, forward address."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from api.settings import ApiSettings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PREDLOG_MODELS_DIR", "PREDLOG_FORWARD", "PREDLOG_SPOOL_DIR", "PREDLOG_API_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = ApiSettings()
    assert settings.models_dir == Path("var/models")
    assert settings.forward_address == ("127.0.0.1", 24224)
    assert settings.spool_dir == Path("var/spool")
    assert settings.port == 8000
    assert settings.weights == {}


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREDLOG_MODELS_DIR", "/m")
    monkeypatch.setenv("PREDLOG_FORWARD", "sidecar:9999")
    monkeypatch.setenv("PREDLOG_SPOOL_DIR", "/s")
    monkeypatch.setenv("PREDLOG_API_WEIGHTS", "1=0.25, 2=0.75")
    monkeypatch.setenv("PREDLOG_API_WORKERS", "3")
    monkeypatch.setenv("PREDLOG_API_MAX_BATCH_ROWS", "50")
    settings = ApiSettings()
    assert settings.models_dir == Path("/m")
    assert settings.forward_address == ("sidecar", 9999)
    assert settings.spool_dir == Path("/s")
    assert settings.weights == {"1": 0.25, "2": 0.75}
    assert settings.workers == 3
    assert settings.max_batch_rows == 50


def test_to_env_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ApiSettings(
        port=9001, workers=2, weights={"1": 1.0, "iris/2": 3.0}, forward="h:1", seed=5
    )
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    assert ApiSettings() == settings


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("forward", "nohost"),
        ("forward", "h:port"),
        ("forward", "h:70000"),
        ("weights", "1"),
        ("weights", "1=-1"),
        ("weights", "1=0,2=0"),
        ("workers", 0),
    ],
)
def test_invalid_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        ApiSettings.model_validate({field: value})
