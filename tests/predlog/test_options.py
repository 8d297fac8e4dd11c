"""Options made from settings fields: flag, type and bounds, default, env var, help."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import click
import pytest
from click.testing import CliRunner
from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from api.settings import ApiSettings
from client.settings import LoadSettings, Seconds
from predlog.commands.api import command as api_command
from predlog.commands.load import command as load_command
from predlog.commands.sidecar import command as sidecar_command
from predlog.options import field_option, settings_options
from predlog.settings import PredlogSettings, shared
from sidecar.settings import SidecarSettings


class Example(PredlogSettings):
    """Every kind of field the options know."""

    model_config = SettingsConfigDict(env_prefix="PREDLOG_EXAMPLE_")

    workers: int = Field(default=2, ge=1, le=8)
    """Worker count."""
    ratio: float = Field(default=0.5, gt=0, lt=1)
    """A ratio."""
    fast: bool = False
    """Go fast."""
    level: Literal["low", "high"] = "low"
    """How much."""
    models_dir: Path = Field(default=Path("m"), validation_alias=shared("MODELS_DIR", "EXAMPLE"))
    """Where the models are."""
    wait: Seconds | None = None
    """How long to wait."""
    tags: list[str] = Field(default_factory=list)
    """Tags, comma separated."""

    @field_validator("tags", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return value.split(",") if isinstance(value, str) and value else value


@click.command()
@settings_options(Example)
def example(settings: Example) -> None:
    click.echo(settings.model_dump_json())


def param(command: click.Command, flag: str) -> click.Option:
    return next(p for p in command.params if isinstance(p, click.Option) and flag in p.opts)


def test_a_field_gives_flag_type_default_env_and_help() -> None:
    workers = param(example, "--workers")
    assert isinstance(workers.type, click.IntRange)
    assert (workers.type.min, workers.type.max, workers.default) == (1, 8, 2)
    assert (workers.envvar, workers.help) == ("PREDLOG_EXAMPLE_WORKERS", "Worker count.")
    ratio = param(example, "--ratio")
    assert isinstance(ratio.type, click.FloatRange)
    assert ratio.type.min_open
    assert ratio.type.max_open
    assert param(example, "--fast").secondary_opts == ["--no-fast"]
    assert isinstance(param(example, "--level").type, click.Choice)
    models = param(example, "--models")  # the shared short flag of models_dir
    assert models.envvar == "PREDLOG_MODELS_DIR"
    assert param(example, "--wait").type is click.STRING  # the field parses durations itself
    assert param(example, "--tags").type is click.STRING


def test_values_reach_the_settings_from_flags_and_env() -> None:
    result = CliRunner().invoke(
        example,
        ["--workers", "3", "--fast", "--wait", "2m", "--tags", "a,b"],
        env={"PREDLOG_EXAMPLE_LEVEL": "high", "PREDLOG_MODELS_DIR": "/models"},
    )
    assert result.exit_code == 0, result.output
    assert Example.model_validate_json(result.output) == Example(
        workers=3, fast=True, wait=120, tags=["a", "b"], level="high", models_dir=Path("/models")
    )


def test_a_value_the_settings_refuse_is_a_usage_error_naming_the_flag() -> None:
    result = CliRunner().invoke(api_command, ["--forward", "nohost"])
    assert result.exit_code == 2
    assert "Invalid value for '--forward'" in result.output
    assert "is not HOST:PORT" in result.output
    result = CliRunner().invoke(api_command, ["--workers", "0"])
    assert result.exit_code == 2
    assert "--workers" in result.output
    result = CliRunner().invoke(example, ["--wait", "soon"])
    assert result.exit_code == 2
    assert "Invalid value for '--wait'" in result.output
    assert "not a duration" in result.output


def test_defaults_are_the_fields_defaults() -> None:
    """What each option passes when not given validates to the field's default."""
    for command, settings in ((api_command, ApiSettings), (sidecar_command, SidecarSettings)):
        ctx = click.Context(command)
        values = {
            option.name.split("__", 1)[1]: option.get_default(ctx)
            for option in command.params
            if isinstance(option, click.Option) and option.name and "__" in option.name
        }
        assert set(values) == set(settings.model_fields)
        assert settings.model_validate(values) == settings.model_validate({})


def test_the_sidecar_flags_keep_their_defaults() -> None:
    """The figures that commands/sidecar.py used to repeat now come from SidecarSettings."""
    ctx = click.Context(sidecar_command)
    for flag, default in (("--batch-records", 1000), ("--batch-interval", 0.2),
                          ("--spool-max-bytes", 1 << 30), ("--port", 24224)):  # fmt: skip
        assert param(sidecar_command, flag).get_default(ctx) == default


def test_a_field_without_a_docstring_has_no_option() -> None:
    class Undocumented(PredlogSettings):
        thing: int = 1

    with pytest.raises(TypeError, match=r"Undocumented\.thing needs a one-line docstring"):
        field_option(Undocumented, "thing")


def test_partial_options_leave_the_rest_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREDLOG_LOAD_RATE", "7")

    @click.command()
    @settings_options(LoadSettings, "load", fields=["url"], flags={"url": "--target"})
    def only_url(load: LoadSettings) -> None:
        click.echo(f"{load.url} {load.rate}")

    result = CliRunner().invoke(only_url, ["--target", "http://h:1"])
    assert result.output == "http://h:1 7.0\n"


def test_a_bad_value_from_the_environment_is_named_by_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PREDLOG_FORWARD", "nohost")

    @click.command()
    @settings_options(ApiSettings, "api", fields=["port"])
    def only_port(api: ApiSettings) -> None:
        click.echo(api.port)

    result = CliRunner().invoke(only_port, [])
    assert result.exit_code == 2
    assert "forward (PREDLOG_FORWARD): Value error, forward 'nohost' is not HOST:PORT" in (
        result.output
    )


def test_an_error_of_the_whole_settings_is_a_usage_error() -> None:
    result = CliRunner().invoke(load_command, ["--duration", "5m", "--count", "3"])
    assert result.exit_code == 2
    assert "LoadSettings: Value error, give either a duration or a count, not both" in (
        result.output
    )
