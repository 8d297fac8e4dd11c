"""What the dashboard reads from the model bundles: each version's outlier threshold and features.

The store does not keep thresholds, so they come from the bundle manifests,
``<models_dir>/<name>/<version>/manifest.json``, read as plain JSON: the dashboard does
not import the api.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class BundleInfo:
    """The parts of a bundle manifest the dashboard shows."""

    outlier_threshold: float
    feature_names: tuple[str, ...]
    path: str


def read_bundles(models_dir: Path) -> dict[tuple[str, str], BundleInfo]:
    """(model, version) -> BundleInfo for every readable manifest under ``models_dir``."""
    found: dict[tuple[str, str], BundleInfo] = {}
    for path in sorted(models_dir.glob("*/*/manifest.json")):
        try:
            data = json.loads(path.read_text())
            info = BundleInfo(
                outlier_threshold=float(data["outlier_threshold"]),
                feature_names=tuple(str(name) for name in data.get("feature_names", ())),
                path=str(path),
            )
            found[(str(data["name"]), str(data["version"]))] = info
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a broken bundle is the api's problem; the dashboard falls back
    return found
