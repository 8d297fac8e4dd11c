"""checkov, in its own environment, finds nothing beyond the justified skips in checkov.yaml."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.kube import ROOT, Rendered

pytestmark = pytest.mark.slow

CHECKOV_VERSION = "3.3.30"
"""Pinned here and in deploy.mk (CHECKOV_VERSION)."""
CHECKOV_VENV = ROOT / ".venv-checkov"
CHECKOV = CHECKOV_VENV / "bin" / "checkov"
UV = ROOT / ".tools" / "bin" / "uv"
CONFIG = ROOT / "manifests" / "checkov.yaml"


@pytest.fixture(scope="module")
def checkov() -> Path:
    """checkov's own venv, created when missing (its pins clash with the project's)."""
    if not CHECKOV.exists():
        subprocess.run(
            [str(UV), "venv", "--allow-existing", "--python", "3.11", str(CHECKOV_VENV)],
            check=True,
            timeout=120,
        )
        subprocess.run(
            [
                str(UV),
                "pip",
                "install",
                "--python",
                str(CHECKOV_VENV / "bin" / "python"),
                f"checkov=={CHECKOV_VERSION}",
            ],
            check=True,
            timeout=600,
        )
    return CHECKOV


def _scan(checkov: Path, *args: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(checkov), "--config-file", str(CONFIG), "--output", "json", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.stdout, result.stderr
    report = json.loads(result.stdout)
    reports: list[dict[str, Any]] = report if isinstance(report, list) else [report]
    return reports


def _failures(reports: list[dict[str, Any]]) -> list[str]:
    return [
        f"{check['check_id']} {check['resource']} ({check['file_path']})"
        for report in reports
        for check in report["results"]["failed_checks"]
    ]


def test_rendered_manifests(checkov: Path, rendered: dict[str, Rendered], tmp_path: Path) -> None:
    for overlay in rendered.values():
        (tmp_path / overlay.path.name).write_text(overlay.path.read_text())
    reports = _scan(checkov, "--directory", str(tmp_path), "--framework", "kubernetes")
    assert _failures(reports) == []
    assert sum(r["summary"]["passed"] for r in reports) > 100
    skipped = {c["check_id"] for r in reports for c in r["results"]["skipped_checks"]}
    # Only the local overlay's pull policy is skipped inline (images loaded, not pulled).
    assert skipped <= {"CKV_K8S_15"}


def test_dockerfiles(checkov: Path) -> None:
    reports = _scan(
        checkov,
        "--file",
        "Dockerfile.api",
        "--file",
        "Dockerfile.client",
        "--framework",
        "dockerfile",
    )
    assert _failures(reports) == []
    assert sum(r["summary"]["passed"] for r in reports) > 10
