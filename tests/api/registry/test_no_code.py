"""A bundle never runs code on the server: a pickle hidden in a bundle's arrays is refused at
upload (422), and the code it carries never runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from api.registry.archive import pack
from api.runtime.bundle import MANIFEST, sha256_file
from tests.api.fixtures import AppClient
from tests.api.registry.test_admin import bundle_copy, client, registry_settings  # noqa: F401


class Payload:
    """Unpickling this calls ``Path.touch`` on ``marker``: code run by loading data."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (self.marker,))


def test_a_pickled_array_is_refused_and_never_run(
    client: AppClient,  # noqa: F811
    models_dir: Path,
    tmp_path: Path,
) -> None:
    ran = tmp_path / "the pickle ran"
    bundle = bundle_copy(models_dir / "iris" / "1", tmp_path, "7")
    arrays = dict(np.load(bundle / "detector.npz"))
    arrays["train"] = np.array([Payload(ran)], dtype=object)  # saved as a pickle
    np.savez(bundle / "detector.npz", **arrays)
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest["files"]["detector.npz"] = sha256_file(bundle / "detector.npz")  # checksums agree
    (bundle / MANIFEST).write_text(json.dumps(manifest))
    response = client.post(
        "/admin/models/iris/versions",
        content=pack(bundle),
        headers={"content-type": "application/gzip"},
    )
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert message.startswith("the bundle's model does not load")
    assert "allow_pickle=False" in message
    assert not ran.exists()
    versions = client.get("/admin/models/iris").json()["models"]["iris"]
    assert "7" not in {v["version"] for v in versions if v["state"] != "failed"}
