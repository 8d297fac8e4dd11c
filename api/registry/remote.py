"""A remote version's bundle: the manifest with its ``remote`` section, labels, a detector.

``predlog models deploy --remote`` writes one and uploads it like any bundle; the admin
API takes it as it takes any (``POST /admin/models/{model}/versions``), checks it by asking
its upstreams a row, and the registry keeps it in the store. Its manifest comes from the
model's own bundle (features, labels, training statistics; its graph is left out) or,
without one, from a predlog upstream's ``GET /metadata``.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path
from typing import Any

from api.errors import BundleError
from api.runtime.bundle import MANIFEST, BundleManifest, RemoteSpec, read_manifest, sha256_file


def write_remote_bundle(
    out: Path,
    spec: RemoteSpec,
    *,
    source: Path | None = None,
    name: str | None = None,
    version: str | None = None,
    detector: bool = True,
    timeout: float = 10.0,
) -> Path:
    """Write a remote version's bundle into the empty directory ``out``; ``out``."""
    if source is not None:
        manifest = read_manifest(source).model_dump(mode="json")
    else:
        manifest = manifest_from_upstream(spec.endpoints[0], timeout)
        detector = False
    manifest["name"] = name or manifest["name"]
    if version is None and source is None:
        raise BundleError("a remote version without a bundle needs --version")
    manifest["version"] = version or manifest["version"]
    files: dict[str, str] = {}
    out.mkdir(parents=True, exist_ok=True)
    keep: list[str] = []
    if manifest.get("task") != "regression":
        labels_file = manifest.get("labels_file", "labels.json")
        labels = {str(i): label for i, label in enumerate(manifest["labels"])}
        (out / labels_file).write_text(json.dumps(labels), encoding="utf-8")
        files[labels_file] = sha256_file(out / labels_file)
    if detector and source is not None and manifest.get("detector") is not None:
        keep.append(manifest["detector"]["file"])
    else:
        manifest["detector"] = None
    for key in ("label_output", "score_output", "outlier_output"):  # the graph's, left out
        manifest[key] = None
    for rel in keep:
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        assert source is not None
        shutil.copyfile(source / rel, target)
        files[rel] = sha256_file(target)
    manifest["files"] = files
    manifest["remote"] = spec.model_dump(mode="json", exclude_none=True)
    text = json.dumps(manifest, indent=2)
    BundleManifest.model_validate_json(text)  # what the admin API will check
    (out / MANIFEST).write_text(text, encoding="utf-8")
    return out


def manifest_from_upstream(endpoint: str, timeout: float) -> dict[str, Any]:
    """A manifest's fields from a predlog upstream's ``GET /metadata`` (its default model)."""
    url = f"{endpoint.rstrip('/')}/metadata"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - http(s) only
            meta: dict[str, Any] = json.loads(answer.read())
    except (OSError, ValueError) as exc:
        raise BundleError(
            f"{url}: no metadata to make the manifest from ({exc}); give the model's bundle"
        ) from exc
    try:
        names = list(meta["feature_names"])
        labels = [meta["labels"][str(i)] for i in range(len(meta["labels"]))]
        return {
            "name": meta["default_model"],
            "version": "remote",
            "task": "classification" if labels else "regression",
            "feature_names": names,
            "input_shape": [None, len(names)],
            "labels": labels,
            "outlier_threshold": meta["outlier_threshold"],
            "feature_stats": meta["feature_stats"],
            "sample_rows": meta.get("sample_rows") or [],
        }
    except (KeyError, TypeError) as exc:
        raise BundleError(
            f"{url}: not a predlog upstream's metadata (missing {exc}); give the model's bundle"
        ) from exc
