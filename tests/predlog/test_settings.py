"""PredlogSettings: env names and ``to_env`` derived from the fields, for every part."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.settings import ApiSettings
from client.settings import LoadSettings
from dashboard.settings import DashboardSettings
from predlog.commands.run import RunSettings
from predlog.settings import PredlogSettings
from sidecar.settings import SidecarSettings

CLASSES: list[type[PredlogSettings]] = [
    ApiSettings, SidecarSettings, DashboardSettings, LoadSettings, RunSettings,
]  # fmt: skip


def test_env_names_follow_the_prefix_or_the_shared_name() -> None:
    assert ApiSettings.env_names("max_rows") == ("PREDLOG_API_MAX_ROWS",)
    assert ApiSettings.env_names("models_dir") == ("PREDLOG_MODELS_DIR", "PREDLOG_API_MODELS_DIR")
    assert SidecarSettings.env_names("store_url")[0] == "PREDLOG_STORE_URL"
    assert DashboardSettings.env_names("outlier_threshold")[0] == "PREDLOG_OUTLIER_THRESHOLD"
    assert LoadSettings.env_names("concurrency_limit") == ("PREDLOG_LOAD_CONCURRENCY_LIMIT",)
    assert RunSettings.env_names("dashboard") == ("PREDLOG_RUN_DASHBOARD",)


@pytest.mark.parametrize("settings", CLASSES, ids=lambda cls: cls.__name__)
def test_every_field_has_a_one_line_docstring(settings: type[PredlogSettings]) -> None:
    for name, field in settings.model_fields.items():
        assert field.description, f"{settings.__name__}.{name} has no docstring"
        assert "\n" not in field.description.strip(), f"{settings.__name__}.{name}: one line"


@pytest.mark.parametrize("settings", CLASSES, ids=lambda cls: cls.__name__)
def test_the_env_names_are_the_ones_pydantic_settings_reads(
    settings: type[PredlogSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each field set through the variable ``env_names`` documents first, and read back."""
    defaults = settings()
    env = defaults.to_env()
    assert set(env) == {settings.env_names(f)[0] for f, v in defaults if v is not None}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert settings() == defaults


def test_to_env_round_trips_every_kind_of_value(monkeypatch: pytest.MonkeyPatch) -> None:
    sidecar = SidecarSettings(
        port=1, store_url="postgresql+psycopg://u:p@h/db", spool_dir=Path("/s"),
        shared_key="k", migrate=True, writer_process=False, read_coalesce=0.0,
    )  # fmt: skip
    env = sidecar.to_env()
    assert env["PREDLOG_SIDECAR_MIGRATE"] == "true"
    assert env["PREDLOG_STORE_URL"] == "postgresql+psycopg://u:p@h/db"
    assert env["PREDLOG_SPOOL_DIR"] == "/s"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert SidecarSettings() == sidecar
    load = LoadSettings(duration="5m", seed=3, model="iris")
    assert "PREDLOG_LOAD_COUNT" not in load.to_env()  # None stays unset
    for name, value in load.to_env().items():
        monkeypatch.setenv(name, value)
    assert LoadSettings() == load
