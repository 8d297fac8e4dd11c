"""Per-group limits, set by the operator: versions online per model and the largest bundle;
a group without its own gets the api's (``max_versions``, ``max_bundle_bytes``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.registry.archive import pack
from api.registry.operator import StoreAdmin
from tests.api.registry.test_admin import rewrite
from tests.api.registry.world import World, auth, world


@pytest.fixture
def limited(store_url: str, models_dir: Path, tmp_path: Path) -> Iterator[World]:
    with world(store_url, models_dir, tmp_path) as w:
        operator = StoreAdmin(w.access.engine, "ops")
        operator.create_group("tight", max_versions=1)
        operator.create_group("tiny", max_bundle_bytes=2048)
        for group in ("tight", "tiny"):
            operator.share(group, "carl", "change")
        yield w


def upload(w: World, model: str, version: str, group: str) -> tuple[int, str]:
    """Deploy a copy of iris 1 as ``model``/``version`` into ``group``, as carl."""
    bundle = w.bundles / f"{model}-{version}"
    if not bundle.is_dir():
        w.bundle(f"{model}-{version}")
        rewrite(bundle, name=model, version=version)
    response = w.client.post(
        f"/admin/models/{model}/versions",
        params={"group": group},
        content=pack(bundle),
        headers={"content-type": "application/gzip", **auth(w.keys["change"])},
    )
    message = response.json().get("error", {}).get("message", "")
    return response.status_code, message


def test_versions_online_per_group(limited: World) -> None:
    assert upload(limited, "flower", "1", "tight") == (201, "")
    assert upload(limited, "flower", "2", "tight") == (
        409,
        "model 'flower' has 1 versions online, the most allowed (1): retire one first",
    )
    # the default group has the api's limit (6): iris has 3 online, a 4th is fine
    assert upload(limited, "iris", "4", "default") == (201, "")


def test_bundle_size_per_group(limited: World) -> None:
    assert upload(limited, "petal", "1", "tiny") == (
        413,
        "the bundle is over the limit of 2048 bytes",
    )
    assert upload(limited, "petal", "1", "tight")[0] == 201  # the api's 200,000 there
    groups = limited.client.get("/admin/groups", headers=auth(limited.keys["change"])).json()
    limits = {g["group"]: (g["max_versions"], g["max_bundle_bytes"]) for g in groups["groups"]}
    assert limits["tight"] == (1, None)
    assert limits["tiny"] == (None, 2048)
