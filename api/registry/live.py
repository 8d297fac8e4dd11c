"""A worker's routing table, kept in step with the registry in the store.

A background thread reads the registry's generation about once a second (one indexed read,
never on the request path). When it changes, the worker reads what is online, loads and
checks each new version beside the ones serving (files from the store, checksums, the
graph's shapes, a prediction on the bundle's sample rows), then swaps its routing table in
one assignment. A request reads ``table`` once and keeps what it chose: requests in flight
finish on the version they started with, and a replaced version's session is released when
the last of them drops it. A version that fails to load here is logged as failed on this
worker and never serves here; the others keep serving.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from api.errors import BundleError, ModelNotReadyError
from api.registry.guard import OPEN, PredictGuard
from api.registry.rows import Identity, Snapshot, VersionRow, now
from api.registry.store import RegistryStore
from api.runtime.bundle import MANIFEST, BundleManifest, load_manifest
from api.runtime.model import ModelVersion, OnnxModelVersion
from api.runtime.registry import Registry, Shadow
from api.runtime.remote import RemoteModelVersion, RemoteOptions
from sidecar.record import Routing

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 10.0
"""Seconds between a worker's reports of its generation when nothing changes."""


class LiveRegistry:
    """The served versions of one worker, following the registry's generation."""

    def __init__(
        self,
        store: RegistryStore,
        cache_dir: Path,
        worker: Identity,
        *,
        poll_interval: float = 1.0,
        seed: int | None = None,
        remote: RemoteOptions | None = None,
    ) -> None:
        self.store = store
        self.cache_dir = Path(cache_dir)
        self.worker = worker
        self.poll_interval = poll_interval
        self.seed = seed
        self.remote = remote or RemoteOptions()
        """How remote versions call their upstreams (timeout, probe interval)."""
        self.table: Registry | None = None
        """What requests are routed with; replaced whole, never changed in place."""
        self.generation = -1
        """The registry generation ``table`` was built from."""
        self.guard: PredictGuard = OPEN
        """Which models' predictions need a read key, as of ``generation``."""
        self._loaded: dict[tuple[str, str, str], ModelVersion] = {}
        self._failed: set[tuple[str, str, str]] = set()
        self._started_at: datetime = now()
        self._beat_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one sync at a time (the poller, or an admin call)

    # -- lifecycle -------------------------------------------------------------------------

    def load(self) -> None:
        """Build the first table (blocking, at startup), then follow the store in a thread."""
        self.sync()
        self._thread = threading.Thread(target=self._follow, name="predlog-registry", daemon=True)
        self._thread.start()

    def unload(self) -> None:
        """Stop following the store and drop every version (at shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.table = None
        self._loaded.clear()

    def _follow(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.sync()
            except Exception:  # the store is down, say: keep serving what is loaded
                log.warning(
                    "registry poll failed; serving generation %d", self.generation, exc_info=True
                )

    def sync(self, force: bool = False) -> bool:
        """Catch up with the store's generation; True if the table changed."""
        with self._lock:
            generation = self.store.generation()
            changed = force or generation != self.generation
            if changed:
                self._rebuild(self.store.snapshot())
            clock = time.monotonic()
            if changed or clock - self._beat_at >= HEARTBEAT_EVERY:
                self.store.heartbeat(self.worker, self.generation, self._started_at)
                self._beat_at = clock
            return changed

    def _rebuild(self, snapshot: Snapshot) -> None:
        serving = [row for row in snapshot.versions if row.state == "serving"]
        wanted = {(row.model, row.version, row.digest): row for row in serving}
        loaded: dict[tuple[str, str, str], ModelVersion] = {}
        for key, row in wanted.items():
            version = self._loaded.get(key) or self._load(key, row)
            if version is not None:
                loaded[key] = version
        weights = {f"{m}/{v}": wanted[(m, v, d)].weight for (m, v, d) in loaded}
        for model in {m for (m, _, _) in loaded}:
            mine = [k for k in weights if k.startswith(f"{model}/")]
            if not any(weights[k] for k in mine):  # its weighted versions failed here
                weights.update(dict.fromkeys(mine, 1.0))
        shadows: dict[str, list[Shadow]] = {}
        for row in snapshot.versions:
            if row.state != "shadow" or row.shadow_fraction <= 0:
                continue
            key = (row.model, row.version, row.digest)
            version = self._loaded.get(key) or self._load(key, row)
            if version is not None:  # loaded and checked like a serving one, never routed
                loaded[key] = version
                shadows.setdefault(row.model, []).append(Shadow(version, row.shadow_fraction))
        primaries = [v for (m, s, d), v in loaded.items() if (m, s, d) in wanted]
        table = Registry(primaries, weights, self.seed, shadows) if primaries else None
        self.table = table  # the swap: one assignment, seen whole by the next request
        self.guard = snapshot.guard or OPEN
        self._loaded = loaded  # versions no longer listed are released with the old table
        self.generation = snapshot.generation
        log.info(
            "registry generation %d: serving %s",
            snapshot.generation,
            sorted(f"{m}/{v}" for (m, v, _) in loaded),
        )

    def _load(self, key: tuple[str, str, str], row: VersionRow) -> ModelVersion | None:
        if key in self._failed:
            return None
        try:
            version = self._build(row)
            version.load()
            check_sample(version)
        except Exception as exc:
            self._failed.add(key)
            log.error("model %s version %s failed to load: %s", row.model, row.version, exc)
            self.store.log(row.model, row.version, "failed", str(exc), worker=self.worker)
            return None
        self.store.log(row.model, row.version, "loaded", worker=self.worker)
        return version

    def _build(self, row: VersionRow) -> ModelVersion:
        """The version a row describes: ONNX here, or a remote one (its manifest says)."""
        bundle_dir = self._materialize(row)
        manifest = load_manifest(bundle_dir)
        if manifest.remote is not None:
            return RemoteModelVersion(manifest, bundle_dir, self.remote)
        return OnnxModelVersion(bundle_dir, manifest)

    def _materialize(self, row: VersionRow) -> Path:
        """The version's bundle directory in the local cache, written from the store once."""
        target = self.cache_dir / row.model / f"{row.version}-{row.digest[:16]}"
        if (target / MANIFEST).is_file():
            return target
        manifest = row.manifest
        files = BundleManifest.model_validate_json(manifest).files
        blobs = self.store.files(files.values())
        work = target.with_name(f".{target.name}.{os.getpid()}")
        shutil.rmtree(work, ignore_errors=True)
        try:
            for rel, sha in files.items():
                if sha not in blobs:
                    raise BundleError(f"the store has no file {sha[:12]}... for {rel!r}")
                path = work / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(blobs[sha])
            (work / MANIFEST).write_text(manifest, encoding="utf-8")
            try:
                work.rename(target)
            except OSError:  # another worker of this host wrote it first
                if not (target / MANIFEST).is_file():
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return target

    # -- what the handlers ask ---------------------------------------------------------------

    def authorize(self, model: str, authorization: str | None) -> None:
        """401 or 403 unless ``model``'s predictions are open or the key may read them."""
        self.guard.check(model, authorization)

    def current(self) -> Registry:
        """The table now; ModelNotReadyError while no version serves."""
        table = self.table
        if table is None:
            raise ModelNotReadyError("no model version is serving (yet)")
        return table

    def choose(
        self, name: str | None = None, version: str | None = None, sticky: str | None = None
    ) -> tuple[ModelVersion, Routing]:
        """The version that answers, as ``Registry.choose`` says."""
        return self.current().choose(name, version, sticky)

    @property
    def ready(self) -> bool:
        """True while some version serves."""
        table = self.table
        return table is not None and table.ready

    def names(self) -> list[str]:
        """Model names served, sorted."""
        return self.current().names()

    @property
    def default_name(self) -> str:
        """The model that answers when a request names none."""
        return self.current().default_name

    def versions(self, name: str) -> list[ModelVersion]:
        """The serving versions of ``name``, in version order."""
        return self.current().versions(name)

    def weights(self, name: str) -> dict[str, float]:
        """Each serving version's share of ``name``'s weighted traffic."""
        return self.current().weights(name)

    def shadows(self, name: str) -> tuple[Shadow, ...]:
        """The shadow versions of ``name`` loaded here (none while nothing serves)."""
        table = self.table
        return () if table is None else table.shadows(name)


def check_sample(version: ModelVersion) -> None:
    """Predict the bundle's sample rows once: a version that cannot answer never serves."""
    rows = version.manifest.sample_rows
    if rows and not version.remote:  # a remote version asked its upstreams as it loaded
        out = version.predict(np.asarray(rows[:16], dtype=np.float32))
        if len(out.outlier_score) != min(len(rows), 16):
            raise BundleError("the model answered a different number of rows than it was given")


def load_checked(bundle_dir: Path, remote: RemoteOptions | None = None) -> ModelVersion:
    """Load a bundle directory as a worker would (checksums, graph, sample rows); a remote
    one asks its upstreams a row, and is unloaded again (its probes stop)."""
    manifest = load_manifest(bundle_dir)
    version: ModelVersion
    if manifest.remote is not None:
        version = RemoteModelVersion(manifest, bundle_dir, remote)
        version.load()
        version.unload()
        return version
    version = OnnxModelVersion(bundle_dir, manifest)
    version.load()
    check_sample(version)
    return version
