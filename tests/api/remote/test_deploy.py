"""``predlog models deploy --remote``: a remote version in the registry (SQLite, PostgreSQL).

The command writes the remote version's bundle (from the model's bundle, or from a predlog
upstream's ``/metadata`` when none is given) and uploads it through the admin API of a real
api on the store; the workers load it (probing the upstream), and it serves by weight and
by pin. A bundle whose upstream does not answer is refused at upload.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from api.settings import ApiSettings
from predlog.cli import main
from tests.api.registry.test_admin import registry_settings  # noqa: F401 - a fixture
from tests.api.registry.world import served
from tests.api.remote.upstream import PredlogUpstream
from tests.support import free_port, wait_for

ROW = [6.7, 3.0, 5.2, 2.3]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[str]:
    with PredlogUpstream(models_dir, tmp_path_factory.mktemp("upstream-spool")) as server:
        yield server.url


def _deploy(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["models", "deploy", *args, "--url", url])
    return result.exit_code, result.output


def test_deploy_remote_versions_with_and_without_a_bundle(
    registry_settings: ApiSettings,  # noqa: F811
    upstream: str,
    models_dir: Path,
) -> None:
    with served(registry_settings) as url:
        code, out = _deploy(
            url, str(models_dir / "iris" / "1"), "--remote", upstream, "--version", "r1"
        )
        assert code == 0, out
        assert "iris version r1: serving" in out
        code, out = _deploy(
            url, "--remote", upstream, "--protocol", "predict", "--model", "iris",
            "--version", "r2", "--weight", "0",
        )  # fmt: skip
        assert code == 0, out
        dead = f"http://127.0.0.1:{free_port()}"
        code, out = _deploy(
            url, str(models_dir / "iris" / "1"), "--remote", dead, "--version", "r3"
        )
        assert code != 0
        assert "no upstream in service" in out
        listed = httpx.get(f"{url}/admin/models/iris").json()
        states = {v["version"]: v["state"] for v in listed["models"]["iris"]}
        assert states["r1"] == states["r2"] == "serving"
        assert "r3" not in states or states["r3"] == "failed"

        def answered(version: str) -> httpx.Response:
            return httpx.post(
                f"{url}/predict", json={"data": [ROW]}, headers={"X-Model-Version": version}
            )

        wait_for(lambda: answered("r2").status_code == 200)  # every worker has loaded it
        direct = httpx.post(f"{upstream}/predict", json={"data": [ROW]}).json()
        for version in ("r1", "r2"):
            answer = answered(version)
            assert answer.status_code == 200, answer.text
            assert answer.json()["prediction"] == pytest.approx(direct["prediction"])
        # r1 brought the bundle's detector; r2 (from the upstream's metadata) has none
        assert answered("r1").json()["outlier_score"] == pytest.approx(direct["outlier_score"])
        assert answered("r2").json()["outlier_score"] is None
        manifest = json.loads(httpx.get(f"{url}/v2/models/iris/versions/r2").content)
        assert [o["name"] for o in manifest["outputs"]] == ["probabilities", "label"]
