"""The admin API's handler: deploy, weigh, promote, roll back and retire model versions.

A plain class a test calls without HTTP. An upload is checked here, in full, before the
registry changes: a bad bundle gets a 4xx that says what is wrong and changes nothing but
the deploy log. After a change this worker catches up at once; the others within a poll.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from api.errors import BundleError, InvalidInputError, PayloadTooLargeError
from api.registry.archive import unpack
from api.registry.live import LiveRegistry, load_checked
from api.registry.rows import VersionRow, check_name
from api.registry.store import RegistryStore
from api.runtime.bundle import find_bundles, load_manifest

Mode = Literal["add", "replace", "shadow"]


class AdminHandler:
    """Changes and reads of the registry, on behalf of the admin routes."""

    def __init__(self, store: RegistryStore, live: LiveRegistry, max_bundle_bytes: int) -> None:
        self.store = store
        self.live = live
        self.max_bundle_bytes = max_bundle_bytes

    def index(self, model: str | None = None) -> dict[str, Any]:
        """Every version (of ``model``) with its state and weight, and every worker's generation."""
        models: dict[str, list[dict[str, Any]]] = {}
        for row in self.store.versions(model):
            models.setdefault(row.model, []).append(row.summary())
        if model is not None and not models:
            check_name("model", model)
            models[model] = []
        return {
            "generation": self.store.generation(),
            "models": models,
            "workers": self.store.workers(),
        }

    def deploy(
        self,
        model: str,
        body: bytes,
        *,
        mode: Mode = "add",
        weight: float = 1.0,
        shadow_fraction: float = 1.0,
        actor: str,
    ) -> dict[str, Any]:
        """Check an uploaded bundle (tar.gz or zip) and register it as a version of ``model``."""
        check_name("model", model)
        if len(body) > self.max_bundle_bytes:
            raise PayloadTooLargeError(
                f"the bundle is {len(body)} bytes, over the limit of {self.max_bundle_bytes}"
            )
        with tempfile.TemporaryDirectory(prefix="predlog-upload-") as tmp:
            root = unpack(body, Path(tmp), self.max_bundle_bytes)
            try:
                manifest = load_manifest(root)
            except BundleError as exc:
                raise InvalidInputError(_relative(str(exc), root)) from exc
            check_name("version", manifest.version)
            if manifest.name != model:
                raise InvalidInputError(
                    f"the bundle is model {manifest.name!r}, uploaded as {model!r}"
                )
            try:
                load_checked(root)
            except Exception as exc:
                error = f"the bundle's model does not load: {_relative(str(exc), root)}"
                self.store.failed_upload(model, manifest.version, error, actor)
                raise InvalidInputError(error) from exc
            row = self.store.add_version(
                root,
                manifest,
                state="shadow" if mode == "shadow" else "serving",
                weight=weight,
                actor=actor,
                mode=mode,
                shadow_fraction=shadow_fraction if mode == "shadow" else 0.0,
            )
        self.live.sync()
        return row.summary()

    def weights(self, model: str, weights: Mapping[str, float], actor: str) -> dict[str, Any]:
        """Set the model's traffic split: the named versions these weights, the others 0."""
        return self._changed(model, self.store.set_weights(model, weights, actor))

    def promote(self, model: str, version: str, actor: str) -> dict[str, Any]:
        """All of the model's weighted traffic to ``version``."""
        return self._changed(model, self.store.promote(model, version, actor))

    def rollback(self, model: str, actor: str) -> dict[str, Any]:
        """Back to the model's previous traffic split."""
        return self._changed(model, self.store.rollback(model, actor))

    def retire(self, model: str, version: str, actor: str) -> dict[str, Any]:
        """Stop serving ``version``; it stays listed."""
        return self._changed(model, self.store.retire(model, version, actor))

    def logs(self, model: str, version: str | None = None) -> dict[str, Any]:
        """The deploy log of ``model`` (or one version of it), oldest first."""
        return {"model": model, "version": version, "events": self.store.events(model, version)}

    def _changed(self, model: str, rows: list[VersionRow]) -> dict[str, Any]:
        self.live.sync()
        return {"model": model, "versions": [row.summary() for row in rows]}


def _relative(message: str, root: Path) -> str:
    """``message`` without the upload's temporary directory (it means nothing to a caller)."""
    return message.replace(f"{root}/", "").replace(str(root), "bundle")


def import_directory(
    store: RegistryStore, root: Path, weights: Mapping[str, float], actor: str = "import"
) -> list[str]:
    """Register every bundle under ``root/<name>/<version>/`` that the registry lacks.

    A version the registry has already (in any state, retired ones too) is left as it is,
    so a restart never undoes a change made through the admin API. ``weights`` as the
    api's setting: by version or by model/version; a model none of whose versions is named
    gets equal weights. Returns the versions imported, as ``model/version``.
    """
    manifests = [(bundle_dir, load_manifest(bundle_dir)) for bundle_dir in find_bundles(root)]

    def named(model: str, version: str) -> float | None:
        return weights.get(f"{model}/{version}", weights.get(version))

    split_by_name = {m.name for _, m in manifests if named(m.name, m.version) is not None}
    imported = []
    for bundle_dir, manifest in manifests:
        weight = named(manifest.name, manifest.version)
        if weight is None:
            weight = 0.0 if manifest.name in split_by_name else 1.0
        before = {r.version for r in store.versions(manifest.name)}
        store.add_version(
            bundle_dir, manifest, state="serving", weight=weight, actor=actor, mode="import"
        )
        if manifest.version not in before:
            imported.append(f"{manifest.name}/{manifest.version}")
    return imported
