"""Options shared by several ``predlog`` commands, each naming its environment variable."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from sidecar.store.engine import DEFAULT_STORE_URL

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_MODELS_DIR = Path("var/models")
DEFAULT_SPOOL_DIR = Path("var/spool")


def option(*names: str, env: str, **kwargs: Any) -> Callable[[F], F]:
    """A click option that can also be set by the environment variable ``env``."""
    kwargs.setdefault("show_default", True)
    return click.option(*names, envvar=env, show_envvar=True, **kwargs)


def store_option(
    dest: str = "store", help: str = "SQLAlchemy URL of the log store."
) -> Callable[[F], F]:
    """``--store`` / ``PREDLOG_STORE_URL``: where the log store is."""
    return option("--store", dest, env="PREDLOG_STORE_URL", default=DEFAULT_STORE_URL, help=help)


def models_option(
    dest: str = "models", help: str = "Directory of model bundles."
) -> Callable[[F], F]:
    """``--models`` / ``PREDLOG_MODELS_DIR``: the model bundles' root."""
    return option(
        "--models", dest, env="PREDLOG_MODELS_DIR", default=DEFAULT_MODELS_DIR,
        type=click.Path(file_okay=False, path_type=Path), help=help,
    )  # fmt: skip


def spool_option(dest: str = "spool", help: str = "Spool directory.") -> Callable[[F], F]:
    """``--spool`` / ``PREDLOG_SPOOL_DIR``: the spool shared by the api and the sidecar."""
    return option(
        "--spool", dest, env="PREDLOG_SPOOL_DIR", default=DEFAULT_SPOOL_DIR,
        type=click.Path(file_okay=False, path_type=Path), help=help,
    )  # fmt: skip
