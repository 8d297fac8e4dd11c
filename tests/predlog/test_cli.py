"""The ``predlog`` command: every subcommand has --help, every flag an env var in the README."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from predlog.cli import SUBCOMMANDS, main

README = Path(__file__).resolve().parents[2] / "README.md"


def leaf_commands() -> Iterator[tuple[str, click.Command]]:
    """Every runnable command, as (its path after ``predlog``, the command)."""
    context = click.Context(main)
    for name in SUBCOMMANDS:
        command = main.get_command(context, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            for sub in command.list_commands(context):
                subcommand = command.get_command(context, sub)
                assert subcommand is not None
                yield f"{name} {sub}", subcommand
        else:
            yield name, command


def flags(command: click.Command) -> list[click.Option]:
    return [
        p for p in command.params
        if isinstance(p, click.Option) and p.name != "help"
    ]  # fmt: skip


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


def test_unknown_subcommand_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["nope"])
    assert result.exit_code == 2
    assert "No such command" in result.output
