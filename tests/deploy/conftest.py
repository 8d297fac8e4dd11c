"""Fixtures of the deployment tests: the overlays rendered once per session."""

from __future__ import annotations

import pytest

from tests.deploy.kube import Rendered, render_overlays


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    """Every overlay rendered with the pinned kubectl's kustomize."""
    return render_overlays(tmp_path_factory.mktemp("manifests"))


@pytest.fixture(params=["local", "production"])
def overlay(request: pytest.FixtureRequest, rendered: dict[str, Rendered]) -> Rendered:
    """Each overlay in turn."""
    result: Rendered = rendered[request.param]
    return result
