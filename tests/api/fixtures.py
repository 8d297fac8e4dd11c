"""Fakes and servers for the api tests, kept in one place.

- ``FixedModelVersion``: a model whose answer is fixed (no files, no onnxruntime);
- ``FailingModelVersion``: a model whose ``predict`` raises;
- ``fixed_version``: a ``FixedModelVersion`` of any name and version, loaded or not;
- ``ForwardReceiver``: a Fluentd forward-protocol receiver that decodes and keeps every
  entry (``bench.receiver``, the benchmarks' one), the inverse of the sender;
- ``AppClient``: a synchronous client that runs an app's lifespan and sends requests to it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgpack
import numpy as np
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI
from starlette.types import ASGIApp

from api.runtime.bundle import BundleManifest, DetectorSpec, FeatureStats
from api.runtime.model import F32, ModelVersion, Output
from bench.receiver import ForwardReceiver as ForwardReceiver  # the tests import it from here

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
LABELS = ["setosa", "versicolor", "virginica"]
FIXED_PROBA = [0.1, 0.2, 0.7]
"""What ``FixedModelVersion`` answers for every row."""


def fake_manifest(name: str = "iris", version: str = "1", threshold: float = 0.5) -> BundleManifest:
    """A manifest for a bundle that exists only in memory."""
    return BundleManifest(
        name=name,
        version=version,
        description="fake",
        feature_names=FEATURES,
        input_shape=[None, len(FEATURES)],
        labels=LABELS,
        outlier_threshold=threshold,
        feature_stats=[
            FeatureStats(name=f, mean=m, std=0.5, min=m - 2, max=m + 2)
            for f, m in zip(FEATURES, [5.84, 3.06, 3.76, 1.2], strict=True)
        ],
        files={"model.onnx": "0" * 64, "labels.json": "0" * 64, "detector.npz": "0" * 64},
        detector=DetectorSpec(
            file="detector.npz", kind="knn", raw_threshold=1.0, center=1.0, slope=1.0
        ),
    )


class FixedModelVersion(ModelVersion):
    """Answers ``FIXED_PROBA`` for every row; the outlier score is the row's first value / 10,
    clipped to [0, 1], so a test picks outliers by its input."""

    def __init__(self, name: str = "iris", version: str = "1") -> None:
        super().__init__(fake_manifest(name, version))
        self.calls = 0

    def classify(self, batch: F32) -> tuple[Any, Any]:
        self.calls += 1
        proba = np.tile(np.asarray(FIXED_PROBA, dtype=np.float32), (len(batch), 1))
        return proba, proba.argmax(axis=1)

    def score_outliers(self, batch: F32) -> Any:
        return np.clip(batch[:, 0].astype(np.float64) / 10.0, 0.0, 1.0)


class FailingModelVersion(FixedModelVersion):
    """A model whose every prediction raises (a broken backend)."""

    def classify(self, batch: F32) -> tuple[Any, Any]:
        raise RuntimeError("the backend exploded")


def fixed_version(name: str, version: str, ready: bool = True) -> FixedModelVersion:
    """A fixed-output version, loaded (``ready``) or not."""
    mv = FixedModelVersion(name, version)
    if ready:
        mv.load()
    return mv


def fixed_output(rows: int) -> Output:
    """What ``FixedModelVersion`` returns for ``rows`` rows of first value 0."""
    proba = np.tile(np.asarray(FIXED_PROBA, dtype=np.float32), (rows, 1))
    score = np.zeros(rows)
    return Output(proba, proba.argmax(axis=1), score, score >= 0.5)


def read_spool(spool_dir: Path) -> list[list[Any]]:
    """Every entry of the completed api spool files under ``spool_dir``, oldest file first."""
    entries: list[list[Any]] = []
    for path in sorted((spool_dir / "api").glob("*.msgpack")):
        with path.open("rb") as fh:
            entries.extend(msgpack.Unpacker(fh, raw=False))
    return entries


class AppClient:
    """A synchronous HTTP client for an ASGI app, with its lifespan run (like TestClient).

    Starlette's TestClient warns that its httpx integration is deprecated; this is the same
    idea in a few lines: an anyio blocking portal drives httpx's ASGITransport.
    """

    def __init__(
        self,
        app: FastAPI,
        entry: ASGIApp | None = None,
        root_path: str = "",
        client: tuple[str, int] = ("127.0.0.1", 123),
    ) -> None:
        self.app = app
        self.entry = entry or app
        """What requests are sent to (default: the app; its lifespan is run either way)."""
        self.root_path = root_path
        self.client = client
        """The caller's address, as the app sees it."""
        self._stack = contextlib.ExitStack()
        self._portal: BlockingPortal | None = None
        self._client: httpx.AsyncClient | None = None

    def __enter__(self) -> AppClient:
        self._portal = self._stack.enter_context(start_blocking_portal(backend="asyncio"))
        self._stack.enter_context(self._portal.wrap_async_context_manager(self._lifespan()))
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(
                app=self.entry, root_path=self.root_path, client=self.client
            ),
            base_url="http://testserver",
        )
        self._stack.callback(self._portal.call, self._client.aclose)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @contextlib.asynccontextmanager
    async def _lifespan(self) -> AsyncIterator[None]:
        async with self.app.router.lifespan_context(self.app):
            yield

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send one request through the app."""
        assert self._portal is not None
        assert self._client is not None
        client = self._client
        return self._portal.call(lambda: client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """GET ``url``."""
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """POST ``url``."""
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        """PUT ``url``."""
        return self.request("PUT", url, **kwargs)
