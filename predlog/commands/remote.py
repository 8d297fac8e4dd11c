"""``predlog models deploy --remote``: the options of a remote version and its bundle."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any, Literal, TypeVar

import click
from pydantic import ValidationError

from api.errors import BundleError
from api.registry.remote import write_remote_bundle
from api.runtime.bundle import RemoteSpec
from predlog.options import option

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class RemoteChoice:
    """What the remote options said (``endpoints`` empty: a local version)."""

    endpoints: tuple[str, ...]
    protocol: Literal["oip", "predict"]
    version: str | None
    upstream_model: str | None
    upstream_version: str | None
    detector: bool

    @contextmanager
    def bundle(self, bundle: Path | None, model: str | None) -> Iterator[Path]:
        """The bundle to upload: ``bundle`` itself, or a remote version's written from it."""
        if not self.endpoints:
            if bundle is None:
                raise click.UsageError("give a BUNDLE (or --remote URL,...)")
            if self.version is not None:
                raise click.UsageError("--version goes with --remote (a bundle names its own)")
            yield bundle
            return
        if bundle is not None and not bundle.is_dir():
            raise click.UsageError("a remote version's BUNDLE is a directory")
        try:
            spec = RemoteSpec(
                endpoints=list(self.endpoints),
                protocol=self.protocol,
                model=self.upstream_model,
                model_version=self.upstream_version,
            )
        except ValidationError as exc:
            raise click.UsageError(f"--remote: {exc.errors()[0]['msg']}") from exc
        with tempfile.TemporaryDirectory(prefix="predlog-remote-") as tmp:
            try:
                yield write_remote_bundle(
                    Path(tmp) / "bundle",
                    spec,
                    source=bundle,
                    name=model,
                    version=self.version,
                    detector=self.detector,
                )
            except BundleError as exc:
                raise click.ClickException(str(exc)) from exc


def remote_options(command: F) -> F:
    """Add the remote options to ``command``; it gets them as ``remote: RemoteChoice``."""

    @option(
        "--remote",
        env="PREDLOG_MODELS_REMOTE",
        default=None,
        help="A remote version: its upstreams, http://host:port[,...] (OIP v2 or /predict).",
    )
    @option(
        "--protocol",
        env="PREDLOG_MODELS_PROTOCOL",
        type=click.Choice(["oip", "predict"]),
        default="oip",
        help="What the upstreams speak: OIP v2 infer, or the pattern's POST /predict.",
    )
    @option(
        "--version",
        "remote_version",
        env="PREDLOG_MODELS_VERSION",
        default=None,
        help="The remote version's name (default: its bundle's).",
    )
    @option(
        "--upstream-model",
        env="PREDLOG_MODELS_UPSTREAM_MODEL",
        default=None,
        help="The model's name on the upstreams (OIP; default: --model).",
    )
    @option(
        "--upstream-version",
        env="PREDLOG_MODELS_UPSTREAM_VERSION",
        default=None,
        help="The version the upstreams are asked for (OIP; default: none named).",
    )
    @option(
        "--no-detector",
        env="PREDLOG_MODELS_NO_DETECTOR",
        is_flag=True,
        help="Leave the bundle's outlier detector out (the rows get no outlier score).",
    )
    @wraps(command)
    def wrapped(
        *args: Any,
        remote: str | None,
        protocol: Literal["oip", "predict"],
        remote_version: str | None,
        upstream_model: str | None,
        upstream_version: str | None,
        no_detector: bool,
        **kwargs: Any,
    ) -> Any:
        endpoints = tuple(u.strip() for u in (remote or "").split(",") if u.strip())
        choice = RemoteChoice(
            endpoints, protocol, remote_version, upstream_model, upstream_version, not no_detector
        )
        return command(*args, remote=choice, **kwargs)

    return wrapped  # type: ignore[return-value]
