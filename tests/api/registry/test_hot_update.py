"""Hot updates under load, with real processes: api workers (and two api processes standing
in for two replicas on PostgreSQL), the sidecar, the store, the load generator, and
``predlog models`` as the user types it. Nothing the load sends may fail."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from client import LoadSettings, run_load
from client.stats import Summary
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from sidecar.store.schema import Prediction
from tests.support import free_ports, port_open, wait_for

pytestmark = pytest.mark.slow

PREDLOG = [sys.executable, "-m", "predlog"]


@dataclass
class Cluster:
    urls: list[str]
    store: str
    workers: int
    caches: list[Path]

    def models(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``predlog models ...`` against the first api, as a user would type it."""
        env = {**os.environ, "PREDLOG_ADMIN_URL": self.urls[0], "PREDLOG_ADMIN_USER": "test"}
        return subprocess.run(
            [*PREDLOG, "models", *args],
            capture_output=True,
            text=True,
            env=env,
            check=check,
            timeout=120,
        )

    def listing(self) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(self.models("list", "--format", "json").stdout)
        return answer

    def everywhere(self) -> int:
        """Wait until every worker of every api serves the registry's generation; return it."""
        generation = -1

        def caught_up() -> bool:
            nonlocal generation
            listing = self.listing()
            generation = listing["generation"]
            live = [w for w in listing["workers"] if w["generation"] == generation]
            return len(live) == self.workers

        wait_for(caught_up, timeout=30, interval=0.1)
        return generation


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def cluster(request: pytest.FixtureRequest, tmp_path: Path, models_dir: Path) -> Iterator[Cluster]:
    """sqlite: one api with 4 workers; postgresql: two apis (replicas) with 2 workers each."""
    store = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    engine = make_engine(store)
    upgrade(engine)
    engine.dispose()
    replicas, workers = (1, 4) if request.param == "sqlite" else (2, 2)
    forward, http, *api_ports = free_ports(2 + replicas)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PREDLOG_API_REGISTRY_POLL": "0.5"}
    processes = [
        subprocess.Popen(
            [
                *PREDLOG, "sidecar", "--host", "127.0.0.1", "--port", str(forward),
                "--http-port", str(http), "--store", store, "--spool", str(tmp_path / "spool"),
            ],
            env=env,
        )
    ]  # fmt: skip
    try:
        wait_for(lambda: port_open(forward) and port_open(http), timeout=60)
        for i, port in enumerate(api_ports):
            processes.insert(
                0,
                subprocess.Popen(
                    [
                        *PREDLOG, "api", "--host", "127.0.0.1", "--port", str(port),
                        "--workers", str(workers), "--models", str(models_dir),
                        "--forward", f"127.0.0.1:{forward}", "--spool", str(tmp_path / f"spool{i}"),
                        "--store", store, "--bundle-cache", str(tmp_path / f"bundles{i}"),
                    ],
                    env=env,
                ),
            )  # fmt: skip
        for port in api_ports:
            wait_for(lambda port=port: port_open(port), timeout=90)  # type: ignore[misc]
        urls = [f"http://127.0.0.1:{p}" for p in api_ports]
        caches = [tmp_path / f"bundles{i}" for i in range(replicas)]
        yield Cluster(urls, store, replicas * workers, caches)
    finally:
        for process in processes:
            _stop(process)


def new_version(models_dir: Path, into: Path, version: str, *, corrupt: bool = False) -> Path:
    target = into / version
    shutil.copytree(models_dir / "iris" / "1", target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["version"] = version
    (target / "manifest.json").write_text(json.dumps(manifest))
    if corrupt:
        (target / "model.onnx").write_bytes(b"not an onnx graph")
    return target


class Load:
    """``predlog load`` against every api at once, on threads, until told to stop."""

    def __init__(self, urls: list[str], rate: float, seconds: float) -> None:
        self.summaries: list[Summary] = []
        self.threads = [
            threading.Thread(
                target=lambda url=url: self.summaries.append(
                    run_load(
                        LoadSettings(url=url, rate=rate, duration=seconds, seed=3), progress=None
                    )
                )
            )
            for url in urls
        ]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for thread in self.threads:
            thread.join(timeout=120)


def status(url: str) -> int:
    request = urllib.request.Request(
        url, data=b'{"data": [[5.1, 3.5, 1.4, 0.2]]}', headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def by_version(store: str, since: datetime) -> dict[str, int]:
    engine = make_engine(store, readonly=True)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Prediction.version, func.count())
                .where(Prediction.event_time >= since, Prediction.routing == "weighted")
                .group_by(Prediction.version)
            ).all()
        return {str(v): int(n) for v, n in rows}
    finally:
        engine.dispose()


def test_deploys_under_load_fail_no_request(
    cluster: Cluster, models_dir: Path, tmp_path: Path
) -> None:
    start = cluster.everywhere()
    listed = cluster.listing()["models"]["iris"]
    assert [(v["version"], v["state"]) for v in listed] == [("1", "serving"), ("2", "serving")]

    with Load(cluster.urls, rate=60, seconds=25) as load:
        out = cluster.models("deploy", str(new_version(models_dir, tmp_path, "3")), "--weight", "1")
        assert "iris version 3: serving" in out.stdout
        deployed = cluster.everywhere()
        assert deployed > start
        cluster.models("weight", "iris", "3=90", "2=10")
        cluster.everywhere()
        cluster.models("promote", "iris", "2")
        cluster.everywhere()
        cluster.models("rollback", "iris")
        cluster.everywhere()
        cluster.models("retire", "iris", "1")
        cluster.everywhere()
        bad = cluster.models(
            "deploy", str(new_version(models_dir, tmp_path, "4", corrupt=True)), check=False
        )
        assert bad.returncode == 1
        assert "checksum mismatch for 'model.onnx'" in bad.stderr
        last = cluster.everywhere()

    assert len(load.summaries) == len(cluster.urls)
    for summary in load.summaries:
        assert summary.answered == summary.sent > 0
        assert summary.errors == 0
        assert summary.dropped == 0
        assert set(summary.by_status) == {"200"}, summary.by_status
    final = {v["version"]: (v["state"], v["weight"]) for v in cluster.listing()["models"]["iris"]}
    assert final == {"1": ("retired", 0.0), "2": ("serving", 10.0), "3": ("serving", 90.0)}
    assert cluster.listing()["generation"] == last

    # after the re-weight, the store's counts per version follow the weights
    since = datetime.now(UTC)
    with Load(cluster.urls, rate=100, seconds=6) as load:
        pass
    sent = sum(s.answered for s in load.summaries)
    wait_for(lambda: sum(by_version(cluster.store, since).values()) >= sent, timeout=30)
    counts = by_version(cluster.store, since)
    assert set(counts) == {"2", "3"}
    share = counts["3"] / sum(counts.values())
    assert abs(share - 0.9) < 0.06, counts  # 5 standard errors at n = 600


def test_a_version_that_fails_to_load_on_a_worker_is_failed_there(
    cluster: Cluster, models_dir: Path, tmp_path: Path
) -> None:
    # The first api's workers cannot write the new version where they cache bundles (the
    # model's cache directory is a file now): it fails there, with the error in the deploy
    # log, and never serves there; what was loaded keeps serving, and no request fails.
    cluster.everywhere()
    cache = cluster.caches[0] / "iris"
    shutil.rmtree(cache)
    cache.write_text("in the way")
    with Load(cluster.urls, rate=60, seconds=8) as load:
        out = cluster.models("deploy", str(new_version(models_dir, tmp_path, "5")), "--weight", "1")
        assert "version 5: serving" in out.stdout
        cluster.everywhere()
    for summary in load.summaries:
        assert summary.errors == 0
        assert set(summary.by_status) == {"200"}, summary.by_status
    events = json.loads(cluster.models("logs", "iris", "5", "--format", "json").stdout)["events"]
    failed = [e for e in events if e["event"] == "failed"]
    loaded = [e for e in events if e["event"] == "loaded"]
    first = cluster.workers // len(cluster.urls)
    assert len({e["pid"] for e in failed}) == first  # each worker of the first api, once
    assert all("Not a directory" in e["detail"] or "File exists" in e["detail"] for e in failed)
    assert len(loaded) == cluster.workers - first  # the other replica serves it
    pinned = {status(f"{cluster.urls[0]}/predict?version=5") for _ in range(8)}
    assert pinned == {404}  # never served where it failed


def shadow_links(store: str, since: datetime) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(primary job_id -> its version, primary job_id -> the versions of its shadow records)."""
    engine = make_engine(store, readonly=True)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Prediction.job_id, Prediction.version, Prediction.shadow_of).where(
                    Prediction.event_time >= since, Prediction.model == "iris"
                )
            ).all()
    finally:
        engine.dispose()
    primaries = {str(j): str(v) for j, v, s in rows if s is None}
    shadows: dict[str, list[str]] = {}
    for _, version, of in rows:
        if of is not None:
            shadows.setdefault(str(of), []).append(str(version))
    return primaries, shadows


def test_a_shadow_gets_a_copy_of_every_request_and_never_answers(
    cluster: Cluster, models_dir: Path, tmp_path: Path
) -> None:
    cluster.everywhere()
    out = cluster.models("deploy", str(new_version(models_dir, tmp_path, "7")), "--shadow")
    assert "iris version 7: shadow" in out.stdout
    cluster.everywhere()
    since = datetime.now(UTC)
    with Load(cluster.urls, rate=60, seconds=6) as load:
        pass
    answered = sum(s.answered for s in load.summaries)
    for summary in load.summaries:
        assert summary.errors == 0
        assert set(summary.by_status) == {"200"}, summary.by_status

    def stored() -> bool:
        primaries, shadows = shadow_links(cluster.store, since)
        return len(primaries) >= answered and sum(map(len, shadows.values())) >= answered

    wait_for(stored, timeout=60)
    primaries, shadows = shadow_links(cluster.store, since)
    assert len(primaries) == answered
    assert "7" not in primaries.values()  # a shadow never answers
    assert set(shadows) == set(primaries)  # every request has its copy, linked to it
    assert all(versions == ["7"] for versions in shadows.values())  # exactly one each
    listed = {v["version"]: v["state"] for v in cluster.listing()["models"]["iris"]}
    assert listed["7"] == "shadow"

    # promoted, the shadow takes all of the traffic and gets no more copies
    cluster.models("promote", "iris", "7")
    cluster.everywhere()
    since = datetime.now(UTC)
    with Load(cluster.urls[:1], rate=40, seconds=3) as load:
        pass
    wait_for(lambda: len(shadow_links(cluster.store, since)[0]) >= load.summaries[0].answered)
    primaries, shadows = shadow_links(cluster.store, since)
    assert set(primaries.values()) == {"7"}
    assert shadows == {}
