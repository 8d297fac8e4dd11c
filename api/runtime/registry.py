"""Which model versions are served, and which one answers a request (weighted or pinned)."""

from __future__ import annotations

import bisect
import math
import random
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from api.errors import BundleError, ModelNotFoundError, ModelNotReadyError
from api.runtime.bundle import find_bundles, load_manifest
from api.runtime.model import ModelVersion, OnnxModelVersion
from api.runtime.remote import RemoteModelVersion, RemoteOptions
from sidecar.record import Routing


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Natural sort key: "2" < "10", and "1.2" < "1.10"."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"[.\-_]", version)
    )


@dataclass(frozen=True, slots=True)
class Shadow:
    """A version that gets a copy of ``fraction`` of its model's requests (never answers)."""

    version: ModelVersion
    fraction: float


@dataclass(frozen=True, slots=True)
class _Model:
    versions: dict[str, ModelVersion]  # in version order
    weights: dict[str, float]  # normalised, sums to 1
    routed: tuple[ModelVersion, ...]  # versions with a weight above zero
    cumulative: tuple[float, ...]  # running sums of their weights, last one 1.0


class ModelRouter(Protocol):
    """What the handlers ask of the served versions: a fixed ``Registry``, or a live one."""

    generation: int
    """Changes whenever the served versions do."""

    @property
    def ready(self) -> bool: ...
    @property
    def default_name(self) -> str: ...
    def names(self) -> list[str]: ...
    def versions(self, name: str) -> list[ModelVersion]: ...
    def weights(self, name: str) -> dict[str, float]: ...
    def choose(
        self, name: str | None = None, version: str | None = None, sticky: str | None = None
    ) -> tuple[ModelVersion, Routing]: ...
    def shadows(self, name: str) -> tuple[Shadow, ...]: ...
    def load(self) -> None: ...
    def unload(self) -> None: ...


class Registry:
    """Every served model version, grouped by model name, with a traffic split per model.

    ``weights`` maps a version (``"2"``) or a model's version (``"iris/2"``, which wins) to
    its share of that model's traffic. A model none of whose versions is named splits
    equally; otherwise versions left out get no weighted traffic (they stay pinnable).
    ``shadows`` maps a model name to its shadow versions (not routed, not pinnable).
    """

    def __init__(
        self,
        versions: Iterable[ModelVersion],
        weights: Mapping[str, float] | None = None,
        seed: int | None = None,
        shadows: Mapping[str, Sequence[Shadow]] | None = None,
    ) -> None:
        grouped: dict[str, list[ModelVersion]] = {}
        for mv in versions:
            grouped.setdefault(mv.name, []).append(mv)
        if not grouped:
            raise ValueError("a registry needs at least one model version")
        weights = dict(weights or {})
        _check_weights(grouped, weights)
        self._models = {name: _build(name, grouped[name], weights) for name in sorted(grouped)}
        self._shadows = {name: tuple(s) for name, s in (shadows or {}).items() if s}
        self.generation = 0
        self._random = random.Random(seed)  # noqa: S311 - traffic split, not security

    @classmethod
    def from_directory(
        cls,
        root: Path,
        weights: Mapping[str, float] | None = None,
        seed: int | None = None,
        remote: RemoteOptions | None = None,
    ) -> Registry:
        """Every bundle under ``root/<name>/<version>/`` (checksums verified, not loaded yet);
        a remote version's bundle (its manifest's ``remote``) calls its upstreams."""
        bundles = find_bundles(root)
        if not bundles:
            raise BundleError(f"no model bundles (<name>/<version>/manifest.json) under {root}")
        versions = []
        for bundle_dir in bundles:
            manifest = load_manifest(bundle_dir)
            if (manifest.name, manifest.version) != (bundle_dir.parent.name, bundle_dir.name):
                raise BundleError(
                    f"{bundle_dir}: manifest says {manifest.name}/{manifest.version}, "
                    "the directory says otherwise"
                )
            versions.append(
                OnnxModelVersion(bundle_dir, manifest)
                if manifest.remote is None
                else RemoteModelVersion(manifest, bundle_dir, remote)
            )
        return cls(versions, weights, seed)

    def load(self) -> None:
        """Load every version (once per worker process, at startup)."""
        for model in self._models.values():
            for mv in model.versions.values():
                mv.load()

    def unload(self) -> None:
        """Unload every version (at shutdown)."""
        for model in self._models.values():
            for mv in model.versions.values():
                mv.unload()

    @property
    def ready(self) -> bool:
        """True once every version is loaded."""
        return all(mv.ready for m in self._models.values() for mv in m.versions.values())

    def names(self) -> list[str]:
        """Model names, sorted."""
        return list(self._models)

    @property
    def default_name(self) -> str:
        """The model that answers when a request names none: the first by name."""
        return next(iter(self._models))

    def versions(self, name: str) -> list[ModelVersion]:
        """The versions of model ``name`` in version order; ModelNotFoundError if unknown."""
        return list(self._model(name).versions.values())

    def weights(self, name: str) -> dict[str, float]:
        """Each version's share of model ``name``'s weighted traffic (sums to 1)."""
        return dict(self._model(name).weights)

    def choose(
        self, name: str | None = None, version: str | None = None, sticky: str | None = None
    ) -> tuple[ModelVersion, Routing]:
        """The version that answers: ``version`` if given ("pinned"); else by weight, drawn
        at random or, with a ``sticky`` key, from its hash (one key, one version, in every
        process, while the split stays)."""
        model_name = self.default_name if name is None else name
        model = self._model(model_name)
        routing: Routing
        if version is None:
            if sticky is None:
                point, routing = self._random.random(), "weighted"
            else:
                point, routing = zlib.crc32(sticky.encode()) / 4294967296.0, "sticky"
            i = bisect.bisect_right(model.cumulative, point)
            # point < 1.0 == cumulative[-1], so i is in range; min() guards float rounding
            chosen = model.routed[min(i, len(model.routed) - 1)]
        else:
            found = model.versions.get(version)
            if found is None:
                raise ModelNotFoundError(
                    f"model {model_name!r} has no version {version!r} "
                    f"(served: {', '.join(model.versions)})"
                )
            chosen, routing = found, "pinned"
        if not chosen.ready:
            raise ModelNotReadyError(f"model {chosen.name} version {chosen.version} is not loaded")
        return chosen, routing

    def shadows(self, name: str) -> tuple[Shadow, ...]:
        """The shadow versions of model ``name`` (none for a model without)."""
        return self._shadows.get(name, ())

    def _model(self, name: str) -> _Model:
        model = self._models.get(name)
        if model is None:
            raise ModelNotFoundError(f"no model named {name!r} (served: {', '.join(self._models)})")
        return model


def _check_weights(grouped: Mapping[str, list[ModelVersion]], weights: Mapping[str, float]) -> None:
    known = {mv.version for mvs in grouped.values() for mv in mvs}
    known |= {f"{mv.name}/{mv.version}" for mvs in grouped.values() for mv in mvs}
    for key, value in weights.items():
        if key not in known:
            raise ValueError(
                f"weight for unknown version {key!r} (served: {', '.join(sorted(known))})"
            )
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"weight for {key!r} must be a finite number >= 0, not {value!r}")


def _build(name: str, versions: list[ModelVersion], weights: Mapping[str, float]) -> _Model:
    ordered = sorted(versions, key=lambda mv: version_key(mv.version))
    by_version = {mv.version: mv for mv in ordered}
    if len(by_version) != len(ordered):
        raise ValueError(f"model {name!r} lists a version twice")
    named = {
        v: weights[f"{name}/{v}"] if f"{name}/{v}" in weights else weights[v]
        for v in by_version
        if f"{name}/{v}" in weights or v in weights
    }
    raw = {v: named.get(v, 0.0) for v in by_version} if named else dict.fromkeys(by_version, 1.0)
    total = sum(raw.values())
    if total <= 0:
        raise ValueError(f"the weights of model {name!r} are all zero: {raw}")
    share = {v: w / total for v, w in raw.items()}
    routed = tuple(by_version[v] for v, w in share.items() if w > 0)
    running, cumulative = 0.0, []
    for mv in routed:
        running += share[mv.version]
        cumulative.append(running)
    cumulative[-1] = 1.0
    return _Model(by_version, share, routed, tuple(cumulative))
