"""Both Dockerfiles: clean under hadolint, multi-stage, locked, slim and non-root."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.deploy.kube import BIN, ROOT

DOCKERFILES = ["Dockerfile.api", "Dockerfile.client"]


def _stages(text: str) -> dict[str, str]:
    """Each stage's instructions (continuation lines joined), by stage name."""
    joined = re.sub(r"\s*\\\n\s*", " ", text)
    stages: dict[str, str] = {}
    name = ""
    for line in joined.splitlines():
        match = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
        if match:
            name = match.group(2) or match.group(1)
            stages[name] = ""
        if name:
            stages[name] += line + "\n"
    return stages


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_finds_nothing(dockerfile: str) -> None:
    result = subprocess.run(
        [str(BIN / "hadolint"), "--format", "json", "--failure-threshold", "style", dockerfile],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], findings
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("dockerfile", "lock"), [("Dockerfile.api", "runtime"), ("Dockerfile.client", "client")]
)
def test_dependencies_come_from_the_lock_and_the_final_stage_is_slim(
    dockerfile: str, lock: str
) -> None:
    stages = _stages((ROOT / dockerfile).read_text())
    assert len(stages) >= 3, "multi-stage"
    assert f"--require-hashes -r /tmp/requirements/{lock}.txt" in stages["deps"]
    assert (ROOT / "requirements" / f"{lock}.txt").exists()
    final = stages[list(stages)[-1]]
    assert final.startswith("FROM base AS final")
    assert re.match(r"FROM python:3\.11\.\d+-slim-\w+ AS base\n", stages["base"])
    # The final stage installs nothing: it copies the finished venv and runs as a numeric user.
    assert "pip install" not in final
    assert "COPY --from=app /opt/venv /opt/venv" in final
    user = re.findall(r"^USER\s+(\S+)", final, re.MULTILINE)
    assert user == ["10001:10001"]


def test_the_api_image_trains_bundles_without_shipping_the_training_deps() -> None:
    stages = _stages((ROOT / "Dockerfile.api").read_text())
    assert "--require-hashes -r /tmp/requirements/train.txt" in stages["train"]
    assert "predlog train --out /models" in stages["train"]
    final = stages[list(stages)[-1]]
    copies_from_train = re.findall(r"COPY --from=train\S*(?:\s+--\S+)*\s+(\S+)", final)
    assert copies_from_train == ["/models"]
    assert "train.txt" not in final


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert lines[lines.index("**") + 1 :][:1] == ["!pyproject.toml"]
    for needed in (
        "requirements/",
        "predlog/",
        "api/",
        "sidecar/",
        "dashboard/",
        "client/",
        "training/",
    ):
        assert f"!{needed}" in lines
    assert "!tests/" not in lines
