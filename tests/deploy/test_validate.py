"""Every overlay renders and is valid Kubernetes, strictly (no unknown fields)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.kube import BIN, KUBECTL, ROOT, Rendered

# Native sidecars (init containers with restartPolicy: Always) are on by default from 1.29.
VERSIONS = ["1.29.0", None]


@pytest.mark.parametrize("version", VERSIONS, ids=["k8s-1.29", "k8s-latest"])
def test_kubernetes_validate_strict(overlay: Rendered, version: str | None) -> None:
    cmd = [str(BIN / "kubernetes-validate"), "--strict", "--quiet"]
    if version:
        cmd += ["--kubernetes-version", version]
    result = subprocess.run(
        [*cmd, str(overlay.path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout


def test_every_namespaced_object_is_in_predlog(overlay: Rendered) -> None:
    for obj in overlay.objects:
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == "predlog"
        else:
            assert obj["metadata"].get("namespace") == "predlog", obj["metadata"]["name"]


def test_the_documented_external_postgresql_overlay_renders(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "deploy.md").read_text()
    marker = "```yaml\n# manifests/overlays/external/kustomization.yaml\n"
    kustomization = doc.split(marker, 1)[1].split("```", 1)[0]
    shutil.copytree(ROOT / "manifests", tmp_path / "manifests")
    overlay = tmp_path / "manifests" / "overlays" / "external"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(kustomization)
    (overlay / "store-url.txt").write_text(
        "postgresql+psycopg://predlog:pw@db.example:5432/predlog"
    )
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    assert not [o for o in objects if o["kind"] == "StatefulSet"]
    kinds = {o["kind"] for o in objects}
    assert {"HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds
    api = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "api")
    for c in api["spec"]["template"]["spec"]["initContainers"]:
        assert c["env"][0]["name"] == "PREDLOG_STORE_URL"
        assert c["env"][0]["valueFrom"]["secretKeyRef"]["key"] == "url"


def test_the_admin_access_component_opens_the_admin_port_only(tmp_path: Path) -> None:
    """The documented overlay with components/admin-access: the admin port is open to the
    namespaces labelled for it, the rest as in the base; valid Kubernetes, strictly."""
    doc = (ROOT / "docs" / "deploy.md").read_text()
    marker = "```yaml\n# manifests/overlays/admin-open/kustomization.yaml\n"
    kustomization = doc.split(marker, 1)[1].split("```", 1)[0]
    shutil.copytree(ROOT / "manifests", tmp_path / "manifests")
    overlays = tmp_path / "manifests" / "overlays"
    (overlays / "production" / "postgres-password.txt").write_text("0123456789abcdef")
    overlay = overlays / "admin-open"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(kustomization)
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rendered = tmp_path / "admin-open.yaml"
    rendered.write_text(result.stdout)
    validated = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", "--quiet", str(rendered)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    policy = next(
        o for o in objects if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "api"
    )
    opened = [
        rule
        for rule in policy["spec"]["ingress"]
        if any("namespaceSelector" in peer for peer in rule.get("from", []))
    ]
    assert opened == [
        {
            "from": [
                {"namespaceSelector": {"matchLabels": {"predlog.io/admin-access": "allowed"}}}
            ],
            "ports": [{"protocol": "TCP", "port": 8001}],
        }
    ]
    assert [r["ports"][0]["port"] for r in policy["spec"]["ingress"]] == [8000, 8001, 24224, 8001]
