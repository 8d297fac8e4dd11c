"""The admin API's handler: deploy, weigh, promote, roll back and retire model versions.

A plain class a test calls without HTTP. An upload is checked here, in full, before the
registry changes: a bad bundle gets a 4xx that says what is wrong and changes nothing but
the deploy log. After a change this worker catches up at once; the others within a poll.
The calls on groups, members and keys are in ``admin_access``; the caller and the audit of
every call in ``admin_calls``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from api.errors import (
    BundleError,
    ConflictError,
    InvalidInputError,
    ModelNotFoundError,
    PayloadTooLargeError,
)
from api.registry.admin_access import AccessAdmin
from api.registry.admin_calls import CallNote
from api.registry.archive import unpack
from api.registry.auth import Caller
from api.registry.groups import DEFAULT_GROUP, Role
from api.registry.live import load_checked
from api.registry.onnxsafe import check_graph
from api.registry.rows import VersionRow, check_name
from api.registry.store import RegistryStore
from api.runtime.bundle import BundleManifest, find_bundles, load_manifest

Mode = Literal["add", "replace", "shadow"]


class AdminHandler(AccessAdmin):
    """Changes and reads of the registry, on behalf of the admin routes; each call is made
    by a ``Caller``, checked against their roles, and audited."""

    def _group_of(self, caller: Caller, model: str, needed: Role, what: str, note: CallNote) -> str:
        """The group of ``model`` if the caller has ``needed`` on it: a model in a group the
        caller cannot read is answered as a missing one, 404; one they can, 403. The audit
        (``note``) keeps the group either way."""
        check_name("model", model)
        group = note.group = self.access.model_group(model)
        if group is None or not caller.may(group, "read"):
            raise ModelNotFoundError(f"no model {model!r}")
        caller.require(group, needed, what)
        return group

    # -- models ----------------------------------------------------------------------------

    def index(self, caller: Caller, model: str | None = None) -> dict[str, Any]:
        """Every version (of ``model``) the caller may read, and every worker's generation."""
        with self.audited(caller, "list" if model is None else "show", model) as note:
            groups = self.access.model_groups()
            models: dict[str, list[dict[str, Any]]] = {}
            for row in self.store.versions(model):
                group = groups.get(row.model, DEFAULT_GROUP)
                if caller.may(group, "read"):
                    models.setdefault(row.model, []).append({**row.summary(), "group": group})
            if model is not None and not models:
                check_name("model", model)
                models[model] = []
            note.group = groups.get(model) if model is not None else None
            return {
                "generation": self.store.generation(),
                "models": models,
                "workers": self.store.workers(),
            }

    def deploy_target(self, caller: Caller, model: str, group: str | None) -> tuple[str, int]:
        """The group a deploy of ``model`` goes to and its bundle limit, if the caller may
        deploy there: the model's group, or (a new model) ``group``, else the key's."""
        check_name("model", model)
        current = self.access.model_group(model)
        if current is None:
            group = group or caller.home or DEFAULT_GROUP
            check_name("group", group)
            if not self.access.group_exists(group) or not caller.may(group, "read"):
                raise ModelNotFoundError(f"no group {group!r}")
        elif not caller.may(current, "read"):
            # model names are one namespace: say it is taken, and nothing more
            raise ConflictError(f"the model name {model!r} is taken: choose another")
        elif group is not None and group != current:
            raise ConflictError(f"model {model!r} is in group {current!r}, not {group!r}")
        else:
            group = current
        caller.require(group, "change", "deploying a version")
        _, max_bytes = self.access.limits(group)
        return group, max_bytes or self.max_bundle_bytes

    def deploy(
        self,
        caller: Caller,
        model: str,
        body: bytes | Callable[[int], bytes],
        *,
        group: str | None = None,
        mode: Mode = "add",
        weight: float = 1.0,
        shadow_fraction: float = 1.0,
    ) -> dict[str, Any]:
        """Check an uploaded bundle (tar.gz or zip) and register it as a version of ``model``
        (``body``: the bytes, or a function that reads them within a limit)."""
        with self.audited(caller, "deploy", model, status=201) as note:
            group, limit = self.deploy_target(caller, model, group)
            note.group = group
            data = body if isinstance(body, bytes) else body(limit)
            if len(data) > limit:
                raise PayloadTooLargeError(
                    f"the bundle is {len(data)} bytes, over the limit of {limit}"
                )
            max_online, _ = self.access.limits(group)
            with tempfile.TemporaryDirectory(prefix="predlog-upload-") as tmp:
                root = unpack(data, Path(tmp), limit)
                try:
                    manifest = load_manifest(root)
                except BundleError as exc:
                    raise InvalidInputError(_relative(str(exc), root)) from exc
                check_name("version", manifest.version)
                note.version = manifest.version
                if manifest.name != model:
                    raise InvalidInputError(
                        f"the bundle is model {manifest.name!r}, uploaded as {model!r}"
                    )
                check_graphs(root, manifest)
                try:
                    load_checked(root)
                except Exception as exc:
                    error = f"the bundle's model does not load: {_relative(str(exc), root)}"
                    self.store.failed_upload(model, manifest.version, error, caller.user, group)
                    raise InvalidInputError(error) from exc
                row = self.store.add_version(
                    root,
                    manifest,
                    state="shadow" if mode == "shadow" else "serving",
                    weight=weight,
                    actor=caller.user,
                    mode=mode,
                    shadow_fraction=shadow_fraction if mode == "shadow" else 0.0,
                    group=group,
                    max_online=max_online,
                )
            self._sync()
            return {**row.summary(), "group": group}

    def weights(self, caller: Caller, model: str, weights: Mapping[str, float]) -> dict[str, Any]:
        """Set the model's traffic split: the named versions these weights, the others 0."""
        with self.audited(caller, "weights", model) as note:
            self._group_of(caller, model, "change", "changing the traffic split", note)
            note.detail = " ".join(f"{v}={w:g}" for v, w in weights.items())[:4000]
            return self._changed(model, self.store.set_weights(model, weights, caller.user))

    def promote(self, caller: Caller, model: str, version: str) -> dict[str, Any]:
        """All of the model's weighted traffic to ``version``."""
        with self.audited(caller, "promote", model, version) as note:
            self._group_of(caller, model, "change", "promoting a version", note)
            return self._changed(model, self.store.promote(model, version, caller.user))

    def rollback(self, caller: Caller, model: str) -> dict[str, Any]:
        """Back to the model's previous traffic split."""
        with self.audited(caller, "rollback", model) as note:
            self._group_of(caller, model, "change", "rolling back", note)
            return self._changed(model, self.store.rollback(model, caller.user))

    def retire(self, caller: Caller, model: str, version: str) -> dict[str, Any]:
        """Stop serving ``version``; it stays listed. Change members retire the versions they
        deployed themselves; someone else's needs manage."""
        with self.audited(caller, "retire", model, version) as note:
            group = self._group_of(caller, model, "change", "retiring a version", note)
            row = next((r for r in self.store.versions(model) if r.version == version), None)
            if row is not None and row.created_by != caller.user:
                caller.require(group, "manage", f"retiring a version {row.created_by!r} deployed")
            return self._changed(model, self.store.retire(model, version, caller.user))

    def logs(self, caller: Caller, model: str, version: str | None = None) -> dict[str, Any]:
        """The deploy log of ``model`` (or one version of it), oldest first, and its audit."""
        with self.audited(caller, "logs", model, version) as note:
            check_name("model", model)
            group = self.access.model_group(model)
            if group is None or not caller.may(group, "read"):
                return {"model": model, "version": version, "events": [], "audit": []}
            note.group = group
            audit = [
                a
                for a in self.access.audit_events(model)
                if version is None or a["version"] in (version, None)
            ]
            return {
                "model": model,
                "version": version,
                "events": self.store.events(model, version),
                "audit": audit,
            }

    def _changed(self, model: str, rows: list[VersionRow]) -> dict[str, Any]:
        self._sync()
        return {"model": model, "versions": [row.summary() for row in rows]}


def check_graphs(root: Path, manifest: BundleManifest) -> None:
    """Every ONNX file of the bundle stays inside it and uses onnxruntime's own operators."""
    files = set(manifest.files)
    for name in sorted(files):
        if name.endswith(".onnx"):
            check_graph(root / name, name, files)


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
            bundle_dir,
            manifest,
            state="serving",
            weight=weight,
            actor=actor,
            mode="import",
            group=DEFAULT_GROUP,
        )
        if manifest.version not in before:
            imported.append(f"{manifest.name}/{manifest.version}")
    return imported
