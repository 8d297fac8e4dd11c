"""The admin API on a port of its own: /admin answered there only, the rest on both ports;
in process (the port the request came in on) and as ``predlog api --admin-port`` with two
workers (two sockets, each worker serving both)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.settings import ApiSettings
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from tests.api.fixtures import AppClient, ForwardReceiver
from tests.support import free_ports, wait_for

ROW = {"data": [[5.1, 3.5, 1.4, 0.2]]}
MAIN, ADMIN = 8000, 8001


@pytest.fixture
def split(
    store_url: str, settings: ApiSettings, models_dir: Path, tmp_path: Path
) -> Iterator[AppClient]:
    engine = make_engine(store_url)
    upgrade(engine)
    engine.dispose()
    app_settings = settings.model_copy(
        update={
            "store_url": store_url,
            "models_dir": models_dir,
            "bundle_cache": tmp_path / "bundles",
            "admin_port": ADMIN,
        }
    )
    with AppClient(create_app(app_settings)) as client:
        yield client


def test_admin_on_its_own_port_only(split: AppClient, receiver: ForwardReceiver) -> None:
    main, admin = f"http://testserver:{MAIN}", f"http://testserver:{ADMIN}"
    for path in ("/admin/models", "/admin/models/iris", "/admin/keys", "/admin"):
        refused = split.get(main + path)
        assert refused.status_code == 404, path
        assert refused.json()["error"]["message"] == f"no route for GET {path}"
        assert refused.headers["x-job-id"]
    posted = split.post(main + "/admin/groups", content=b"{not json")
    assert (posted.status_code, posted.json()["error"]["message"]) == (
        404,
        "no route for POST /admin/groups",
    )
    assert split.get(admin + "/admin/models").status_code == 200
    assert split.get(admin + "/admin/keys").status_code == 200
    for base in (main, admin):  # every other route on both
        assert split.post(base + "/predict", json=ROW).status_code == 200
        assert split.get(base + "/health").status_code == 200
        assert split.get(base + "/openapi.json").status_code == 200
    # the refusals are logged like any unknown route
    wait_for(lambda: sum(r["status"] == 404 for r in receiver.records) >= 5)


def test_without_an_admin_port_admin_is_on_the_one_port(
    registry_client: AppClient,
) -> None:
    assert registry_client.get("http://testserver:8000/admin/models").status_code == 200
    assert registry_client.get("http://testserver:9999/admin/models").status_code == 200


@pytest.fixture
def registry_client(
    sqlite_url: str, settings: ApiSettings, models_dir: Path, tmp_path: Path
) -> Iterator[AppClient]:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    engine.dispose()
    app_settings = settings.model_copy(
        update={"store_url": sqlite_url, "models_dir": models_dir, "bundle_cache": tmp_path}
    )
    with AppClient(create_app(app_settings)) as client:
        yield client


@pytest.mark.slow
def test_predlog_api_serves_both_ports_on_every_worker(
    sqlite_url: str, models_dir: Path, tmp_path: Path, receiver: ForwardReceiver
) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    engine.dispose()
    port, admin_port = free_ports(2)
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "predlog", "api", "--port", str(port),
            "--admin-port", str(admin_port), "--workers", "2", "--models", str(models_dir),
            "--store", sqlite_url, "--bundle-cache", str(tmp_path / "bundles"),
            "--forward", f"127.0.0.1:{receiver.port}", "--spool", str(tmp_path / "spool"),
            "--log-level", "warning",
        ],
        env=env,
    )  # fmt: skip
    try:
        wait_for(lambda: _answers(admin_port) or proc.poll() is not None, timeout=120)
        assert proc.poll() is None
        for _ in range(200):  # a new connection each time, until both workers have answered
            listed = httpx.get(f"http://127.0.0.1:{admin_port}/admin/models", timeout=10)
            assert listed.status_code == 200
            refused = httpx.get(f"http://127.0.0.1:{port}/admin/models", timeout=10)
            assert refused.status_code == 404
            assert httpx.post(f"http://127.0.0.1:{port}/predict", json=ROW).status_code == 200
            if len(_pids(receiver, 200)) == len(_pids(receiver, 404)) == 2:
                break
        wait_for(lambda: len(_pids(receiver, 200)) == len(_pids(receiver, 404)) == 2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _pids(receiver: ForwardReceiver, status: int) -> set[int]:
    """The workers that answered GET /admin/models with ``status``."""
    return {
        r["pid"]
        for r in receiver.records
        if r["endpoint"] == "/admin/models" and r["status"] == status
    }


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
