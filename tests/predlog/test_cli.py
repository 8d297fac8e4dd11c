"""The ``predlog`` command: every subcommand has --help, every flag an env var in the README."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from predlog import docs
from predlog.cli import main
from predlog.docs import leaf_commands
from predlog.docs import options as flags

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize(("path", "command"), list(leaf_commands()), ids=str)
def test_every_subcommand_has_help_and_every_flag_an_env_var(
    path: str, command: click.Command
) -> None:
    result = CliRunner().invoke(main, [*path.split(), "--help"])
    assert result.exit_code == 0, result.output
    readme = README.read_text()
    for option in flags(command):
        assert option.envvar, f"predlog {path} {option.opts[0]} has no environment variable"
        assert option.show_envvar, f"predlog {path} {option.opts[0]} hides its variable"
        envvars = [option.envvar] if isinstance(option.envvar, str) else list(option.envvar)
        for envvar in envvars:
            assert envvar.startswith("PREDLOG_"), envvar
            assert f"`{envvar}`" in readme, f"{envvar} (predlog {path}) is not in the README"


def test_the_readme_tables_are_what_the_generator_makes() -> None:
    """A new setting (or a changed docstring) fails here until ``python -m predlog.docs``."""
    assert docs.current(README.read_text()) == docs.tables(), "run `python -m predlog.docs`"


def test_unknown_subcommand_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["nope"])
    assert result.exit_code == 2
    assert "No such command" in result.output
