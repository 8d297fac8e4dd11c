"""Fixtures of the api tests: a forward receiver, settings, apps on fake and real models."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from api.app import create_app
from api.runtime.model import ModelVersion
from api.runtime.registry import Registry
from api.settings import ApiSettings
from tests.api.fixtures import AppClient, FixedModelVersion, ForwardReceiver
from tests.support import free_port


@pytest.fixture
def receiver() -> Iterator[ForwardReceiver]:
    """A forward-protocol receiver on a free port."""
    with ForwardReceiver() as rx:
        yield rx


@pytest.fixture
def settings(tmp_path: Path, receiver: ForwardReceiver) -> ApiSettings:
    """Settings that forward to ``receiver`` and spool under tmp_path."""
    return ApiSettings(
        forward=f"127.0.0.1:{receiver.port}", spool_dir=tmp_path / "spool", max_rows=8, seed=7
    )


@pytest.fixture
def dead_settings(tmp_path: Path) -> ApiSettings:
    """Settings whose forward port nothing listens on."""
    return ApiSettings(forward=f"127.0.0.1:{free_port()}", spool_dir=tmp_path / "spool")


AppFactory = Callable[..., AppClient]


@pytest.fixture
def make_client(settings: ApiSettings) -> Iterator[AppFactory]:
    """Build an AppClient around fake model versions (default: iris 1 and 2); closed at the end."""
    clients: list[AppClient] = []

    def make(
        versions: list[ModelVersion] | None = None, app_settings: ApiSettings | None = None
    ) -> AppClient:
        versions = versions or [FixedModelVersion("iris", "1"), FixedModelVersion("iris", "2")]
        app = create_app(app_settings or settings, registry=Registry(versions, seed=3))
        client = AppClient(app).__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: AppFactory) -> AppClient:
    """An app on the fake iris versions 1 and 2, forwarding to ``receiver``."""
    return make_client()


@pytest.fixture
def real_client(models_dir: Path, settings: ApiSettings) -> Iterator[AppClient]:
    """An app on the real demo bundles."""
    real = settings.model_copy(update={"models_dir": models_dir})
    with AppClient(create_app(real)) as app_client:
        yield app_client
