"""The bins each model version's histograms are counted on, from its bundle manifest.

The sidecar imports nothing of the api, so a manifest is read here as plain JSON: from the
store's ``feature_references`` (what a sidecar stored before: every sidecar then counts on
the same bins), else from the registry's ``model_versions.manifest``, else from
``<models_dir>/<model>/<version>/manifest.json``. A version found nowhere gets no
histograms; it is looked up again after ``retry_seconds``.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, select

from sidecar.store.bins import MAX_CLASSES, MAX_INTERIOR_BINS, PREDICTION_SLOT
from sidecar.store.schema import feature_references, model_versions

Key = tuple[str, str]
"""(model, version)."""

REGRESSION_EDGES: tuple[float, ...] = (
    *(-(10.0 ** (k / 2)) for k in range(8, -5, -1)),
    0.0,
    *(10.0 ** (k / 2) for k in range(-4, 9)),
)
"""A regressor's predicted values are counted on these edges (0, then +-10^(k/2) from 0.01
to 10,000): a bundle holds no reference of its target, so the bins are scale-free."""
FALLBACK_BINS = 10
"""Equal-width bins between the training min and max, for a feature without bin_edges."""


@dataclass(frozen=True)
class Slot:
    """One histogram of a version: an input feature, or the prediction."""

    feature: int
    name: str
    kind: Literal["numeric", "classes"]
    edges: npt.NDArray[np.float64] | None = None
    """Increasing interior bin edges (numeric)."""
    reference: tuple[int, ...] | None = None
    """Training rows per interior bin, when the bundle has them."""
    labels: tuple[str, ...] = ()
    """Class names by index (classes)."""
    mean: float | None = None
    std: float | None = None

    @property
    def columns(self) -> int:
        """Histogram columns this slot uses (open end bins included)."""
        if self.edges is not None:
            return len(self.edges) + 1
        return min(len(self.labels), MAX_CLASSES)


@dataclass(frozen=True)
class VersionReference:
    """The slots of one model version: its input features in order, then its prediction."""

    model: str
    version: str
    features: tuple[Slot, ...]
    prediction: Slot

    @cached_property
    def label_index(self) -> dict[str, int]:
        """Class name -> histogram column (the last column takes the rest)."""
        return {label: min(i, MAX_CLASSES - 1) for i, label in enumerate(self.prediction.labels)}


def merge_bins(
    edges: Sequence[float], counts: Sequence[int] | None, most: int = MAX_INTERIOR_BINS
) -> tuple[list[float], list[int] | None]:
    """At most ``most`` bins: every k-th edge kept (the first and last always), counts summed."""
    bins = len(edges) - 1
    if bins <= most:
        return list(edges), None if counts is None else list(counts)
    step = math.ceil(bins / most)
    cuts = [*range(0, bins, step), bins]
    merged = None if counts is None else [sum(counts[a:b]) for a, b in itertools.pairwise(cuts)]
    return [edges[i] for i in cuts], merged


def from_manifest(data: Mapping[str, Any]) -> VersionReference:
    """The slots of the version a manifest (parsed JSON) describes; ValueError if it cannot."""
    try:
        features = tuple(_feature_slot(i, s) for i, s in enumerate(data["feature_stats"]))
        if data.get("task", "classification") == "regression":
            prediction = Slot(PREDICTION_SLOT, "prediction", "numeric", np.array(REGRESSION_EDGES))
        else:
            labels = tuple(str(label) for label in data["labels"])
            prediction = Slot(PREDICTION_SLOT, "prediction", "classes", labels=labels)
        return VersionReference(str(data["name"]), str(data["version"]), features, prediction)
    except (KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"not a bundle manifest: {exc!r}") from exc


def _feature_slot(index: int, stats: Mapping[str, Any]) -> Slot:
    edges, counts = stats.get("bin_edges"), stats.get("bin_counts")
    if edges is None:  # bundles written before the reference bins were kept
        low, high = float(stats["min"]), float(stats["max"])
        high = high if high > low else low + 1.0
        edges, counts = np.linspace(low, high, FALLBACK_BINS + 1).tolist(), None
    kept, merged = merge_bins([float(e) for e in edges], counts)
    return Slot(
        feature=index,
        name=str(stats["name"]),
        kind="numeric",
        edges=np.array(kept, dtype=np.float64),
        reference=None if merged is None else tuple(int(c) for c in merged),
        mean=float(stats["mean"]),
        std=float(stats["std"]),
    )


def from_rows(model: str, version: str, rows: Sequence[Mapping[str, Any]]) -> VersionReference:
    """A version's slots as ``feature_references`` rows hold them."""
    slots = [
        Slot(
            feature=int(row["feature"]),
            name=str(row["name"]),
            kind="classes" if row["kind"] == "classes" else "numeric",
            edges=None if row["edges"] is None else np.array(row["edges"], dtype=np.float64),
            reference=None if row["reference"] is None else tuple(row["reference"]),
            labels=tuple(row["labels"] or ()),
            mean=row["mean"],
            std=row["std"],
        )
        for row in rows
    ]
    features = tuple(sorted((s for s in slots if s.feature >= 0), key=lambda s: s.feature))
    prediction = next(s for s in slots if s.feature == PREDICTION_SLOT)
    return VersionReference(model, version, features, prediction)


def to_rows(reference: VersionReference, now: datetime) -> list[dict[str, Any]]:
    """``feature_references`` rows of a version."""
    return [
        {
            "model": reference.model,
            "version": reference.version,
            "feature": slot.feature,
            "name": slot.name,
            "kind": slot.kind,
            "edges": None if slot.edges is None else slot.edges.tolist(),
            "reference": None if slot.reference is None else list(slot.reference),
            "labels": list(slot.labels) if slot.labels else None,
            "mean": slot.mean,
            "std": slot.std,
            "created_at": now,
        }
        for slot in (*reference.features, reference.prediction)
    ]


class Unresolved(LookupError):
    """A version not looked up yet: the lookup needs the store (``ReferenceSource.resolve``)."""


class ReferenceSource:
    """Versions' references, looked up once each (and again after a miss's retry time)."""

    def __init__(
        self,
        models_dir: Path | None = None,
        *,
        retry_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.models_dir = models_dir
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._found: dict[Key, VersionReference] = {}
        self._missing: dict[Key, float] = {}
        self.unsaved: set[Key] = set()
        """Versions read from a manifest whose rows are not yet in ``feature_references``."""

    def cached(self, model: str, version: str) -> VersionReference | None:
        """What is known of a version without the store; raises Unresolved if nothing."""
        key = (model, version)
        found = self._found.get(key)
        if found is not None:
            return found
        missed = self._missing.get(key)
        if missed is not None and self._clock() - missed < self.retry_seconds:
            return None
        raise Unresolved(key)

    def resolver(self, conn: Connection) -> Callable[[str, str], VersionReference | None]:
        """A lookup that reads what it does not know from the store over ``conn``."""

        def lookup(model: str, version: str) -> VersionReference | None:
            try:
                return self.cached(model, version)
            except Unresolved:
                return self._resolve(conn, model, version)

        return lookup

    def _resolve(self, conn: Connection, model: str, version: str) -> VersionReference | None:
        key = (model, version)
        table = feature_references
        rows = conn.execute(
            select(table).where(table.c.model == model, table.c.version == version)
        ).mappings()
        stored = [dict(row) for row in rows]
        found: VersionReference | None = None
        if stored and any(row["feature"] == PREDICTION_SLOT for row in stored):
            found = from_rows(model, version, stored)
        else:
            manifest = self._manifest(conn, model, version)
            if manifest is not None:
                try:
                    found = from_manifest(manifest)
                except ValueError:
                    found = None
            if found is not None:
                self.unsaved.add(key)
        if found is None:
            self._missing[key] = self._clock()
            return None
        self._missing.pop(key, None)
        self._found[key] = found
        return found

    def _manifest(self, conn: Connection, model: str, version: str) -> dict[str, Any] | None:
        key = (model, version)
        text = conn.execute(
            select(model_versions.c.manifest).where(
                model_versions.c.model == model, model_versions.c.version == version
            )
        ).scalar()
        if text is None and self.models_dir is not None:
            path = self.models_dir / model / version / "manifest.json"
            try:
                text = path.read_text(encoding="utf-8")
            except OSError:
                return None
        if text is None:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict) or (data.get("name"), data.get("version")) != key:
            return None
        return data
