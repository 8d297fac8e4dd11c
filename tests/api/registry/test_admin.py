"""The admin API over a real store: deploy, weigh, promote, roll back, retire, and bad bundles."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.app import create_app
from api.registry.archive import pack
from api.runtime.bundle import MANIFEST, sha256_file
from api.settings import ApiSettings
from sidecar.store.engine import make_engine
from sidecar.store.migrate import upgrade
from tests.api.fixtures import AppClient

JSON = {"content-type": "application/json"}
ROW = b'{"data": [[5.1, 3.5, 1.4, 0.2]]}'


def bundle_copy(source: Path, into: Path, version: str) -> Path:
    """The bundle at ``source`` as another version of the same model."""
    target = into / version
    shutil.copytree(source, target)
    manifest = json.loads((target / MANIFEST).read_text())
    manifest["version"] = version
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return target


def rewrite(bundle: Path, **changes: object) -> None:
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest.update(changes)
    (bundle / MANIFEST).write_text(json.dumps(manifest))


@pytest.fixture
def registry_settings(
    tmp_path: Path, store_url: str, settings: ApiSettings, models_dir: Path
) -> ApiSettings:
    engine = make_engine(store_url)
    upgrade(engine)
    engine.dispose()
    return settings.model_copy(
        update={
            "store_url": store_url,
            "models_dir": models_dir,
            "bundle_cache": tmp_path / "bundles",
            "registry_poll": 0.2,
            "max_versions": 4,
            "max_bundle_bytes": 200_000,
        }
    )


@pytest.fixture
def client(registry_settings: ApiSettings) -> Iterator[AppClient]:
    with AppClient(create_app(registry_settings)) as c:
        yield c


def versions(client: AppClient) -> dict[str, tuple[str, float]]:
    listed = client.get("/admin/models").json()["models"]["iris"]
    return {v["version"]: (v["state"], v["weight"]) for v in listed}


def deploy(client: AppClient, bundle: Path, **params: str) -> tuple[int, dict[str, object]]:
    response = client.post(
        "/admin/models/iris/versions",
        params=params,
        content=pack(bundle),
        headers={"content-type": "application/gzip", "x-predlog-user": "alice"},
    )
    return response.status_code, response.json()


def weighted(client: AppClient, n: int = 60) -> Counter[str]:
    answers = [client.post("/predict", content=ROW, headers=JSON) for _ in range(n)]
    assert {a.status_code for a in answers} == {200}
    return Counter(a.json()["version"] for a in answers)


def test_the_demo_bundles_are_imported_and_served(client: AppClient) -> None:
    assert versions(client) == {"1": ("serving", 1.0), "2": ("serving", 1.0)}
    listing = client.get("/admin/models").json()
    assert listing["generation"] >= 2
    (worker,) = listing["workers"]
    assert worker["generation"] == listing["generation"]
    assert set(weighted(client)) == {"1", "2"}


def test_deploy_weigh_promote_rollback_retire(
    client: AppClient, models_dir: Path, tmp_path: Path
) -> None:
    status, body = deploy(client, bundle_copy(models_dir / "iris" / "1", tmp_path, "3"), weight="2")
    assert status == 201, body
    assert body["state"] == "serving"
    assert body["created_by"] == "alice"
    # this worker serves it as soon as the call returns
    pinned = client.post("/predict?version=3", content=ROW, headers=JSON)
    assert pinned.status_code == 200
    assert pinned.json()["version"] == "3"
    assert versions(client)["3"] == ("serving", 2.0)

    response = client.put("/admin/models/iris/weights", json={"3": 1})
    assert response.status_code == 200, response.text
    assert versions(client) == {"1": ("serving", 0.0), "2": ("serving", 0.0), "3": ("serving", 1.0)}
    assert weighted(client) == Counter({"3": 60})

    assert client.post("/admin/models/iris/rollback").status_code == 200
    assert versions(client) == {"1": ("serving", 1.0), "2": ("serving", 1.0), "3": ("serving", 2.0)}

    assert client.post("/admin/models/iris/versions/2/promote").status_code == 200
    assert weighted(client) == Counter({"2": 60})

    assert client.post("/admin/models/iris/versions/1/retire").status_code == 200
    assert versions(client)["1"] == ("retired", 0.0)
    gone = client.post("/predict?version=1", content=ROW, headers=JSON)
    assert gone.status_code == 404
    # the one version carrying the weighted traffic cannot be retired
    refused = client.post("/admin/models/iris/versions/2/retire")
    assert refused.status_code == 409
    assert "weight or promote another version first" in refused.json()["error"]["message"]

    events = client.get("/admin/models/iris/logs", params={"version": "3"}).json()["events"]
    kinds = [e["event"] for e in events]
    assert kinds[:2] == ["uploaded", "serving"]
    assert "loaded" in kinds
    assert {e["host"] for e in events if e["event"] == "loaded"} != {None}


def test_a_restart_keeps_what_the_admin_api_changed(registry_settings: ApiSettings) -> None:
    with AppClient(create_app(registry_settings)) as first:
        assert first.post("/admin/models/iris/versions/2/promote").status_code == 200
        assert first.post("/admin/models/iris/versions/1/retire").status_code == 200
        generation = first.get("/admin/models").json()["generation"]
    with AppClient(create_app(registry_settings)) as again:  # imports models_dir again
        assert versions(again) == {"1": ("retired", 0.0), "2": ("serving", 1.0)}
        assert again.get("/admin/models").json()["generation"] == generation
        assert weighted(again, 20) == Counter({"2": 20})


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_bad_bundles_get_a_4xx_and_change_nothing(
    client: AppClient, models_dir: Path, tmp_path: Path
) -> None:
    before = client.get("/admin/models").json()
    source = models_dir / "iris" / "1"

    def upload(body: bytes) -> tuple[int, str]:
        response = client.post("/admin/models/iris/versions", content=body)
        return response.status_code, response.json()["error"]["message"]

    assert upload(b"not an archive") == (
        422,
        "the bundle must be a tar.gz (or tar) or a zip archive",
    )
    status, message = upload(_tar({"../evil": b"x"}))
    assert status == 422
    assert "lies outside the bundle" in message
    status, message = upload(_tar({"readme.txt": b"x"}))
    assert status == 422
    assert "has no manifest.json at its top" in message

    link = io.BytesIO()
    with tarfile.open(fileobj=link, mode="w:gz") as tar:
        info = tarfile.TarInfo("model.onnx")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    status, message = upload(link.getvalue())
    assert status == 422
    assert "not a regular file" in message

    tampered = bundle_copy(source, tmp_path, "4")
    (tampered / "labels.json").write_text('{"0": "a", "1": "b", "2": "c"}')
    status, message = upload(pack(tampered))
    assert status == 422
    assert "checksum mismatch for 'labels.json'" in message
    assert str(tmp_path) not in message

    other = bundle_copy(source, tmp_path / "o", "5")
    rewrite(other, name="wine")
    status, message = upload(pack(other))
    assert (status, message) == (422, "the bundle is model 'wine', uploaded as 'iris'")

    unsafe = bundle_copy(source, tmp_path / "u", "6")
    rewrite(unsafe, version="../6")
    assert upload(pack(unsafe))[0] == 422

    broken = bundle_copy(source, tmp_path / "b", "7")
    (broken / "model.onnx").write_bytes(b"\x08\x07garbage")
    manifest = json.loads((broken / MANIFEST).read_text())
    manifest["files"]["model.onnx"] = sha256_file(broken / "model.onnx")
    (broken / MANIFEST).write_text(json.dumps(manifest))
    status, message = upload(pack(broken))
    assert status == 422
    assert message.startswith("the bundle's model does not load")
    failed = client.get("/admin/models/iris/logs", params={"version": "7"}).json()["events"]
    assert [e["event"] for e in failed] == ["failed"]

    big = client.post("/admin/models/iris/versions", content=b"\x1f\x8b" + b"0" * 300_000)
    assert big.status_code == 413

    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("manifest.json", "{}")
    status, message = upload(zipped.getvalue())
    assert status == 422
    assert "invalid manifest" in message

    after = client.get("/admin/models").json()
    assert after["models"] == before["models"]
    assert after["generation"] == before["generation"]
    assert set(weighted(client)) == {"1", "2"}


def test_limits_and_conflicts(client: AppClient, models_dir: Path, tmp_path: Path) -> None:
    source = models_dir / "iris" / "1"
    assert deploy(client, bundle_copy(source, tmp_path, "2"))[0] == 409  # exists
    assert deploy(client, bundle_copy(source, tmp_path / "a", "3"))[0] == 201
    assert deploy(client, bundle_copy(source, tmp_path / "b", "4"), mode="shadow")[0] == 201
    status, body = deploy(client, bundle_copy(source, tmp_path / "c", "5"))
    assert status == 409
    assert body["error"]["message"] == (  # type: ignore[index]
        "model 'iris' has 4 versions online, the most allowed (4): retire one first"
    )
    assert versions(client)["4"] == ("shadow", 0.0)
    unknown = client.put("/admin/models/iris/weights", json={"9": 1})
    assert unknown.status_code == 404
    zero = client.put("/admin/models/iris/weights", json={"1": 0})
    assert zero.status_code == 422
    assert client.post("/admin/models/wine/versions/1/promote").status_code == 404


def test_replace_takes_all_the_traffic_and_rollback_undoes_it(
    client: AppClient, models_dir: Path, tmp_path: Path
) -> None:
    status, _ = deploy(
        client, bundle_copy(models_dir / "iris" / "2", tmp_path, "3"), mode="replace"
    )
    assert status == 201
    assert weighted(client, 30) == Counter({"3": 30})
    assert client.post("/admin/models/iris/rollback").status_code == 200
    assert versions(client)["3"] == ("serving", 0.0)
    assert set(weighted(client)) == {"1", "2"}


def test_only_loopback_callers_may_use_the_admin_api(registry_settings: ApiSettings) -> None:
    with AppClient(create_app(registry_settings), client=("10.1.2.3", 4000)) as remote:
        response = remote.get("/admin/models")
        assert response.status_code == 401
        assert "loopback callers only" in response.json()["error"]["message"]
        assert remote.post("/predict", content=ROW, headers=JSON).status_code == 200


def test_without_a_store_the_admin_api_says_what_it_needs(
    settings: ApiSettings, models_dir: Path
) -> None:
    static = settings.model_copy(update={"models_dir": models_dir})
    with AppClient(create_app(static)) as client:
        response = client.get("/admin/models")
        assert response.status_code == 503
        assert "--store" in response.json()["error"]["message"]
