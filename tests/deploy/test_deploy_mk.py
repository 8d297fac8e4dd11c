"""deploy.mk's targets, as make would run them (dry run: no docker, no cluster)."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import yaml

from tests.deploy.kube import ROOT


def _dry_run(*args: str) -> str:
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-f",
            "deploy.mk",
            "-n",
            "BIN=.venv/bin",
            "UV=.tools/bin/uv",
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_images_are_named_once_and_flow_into_build_push_and_deploy() -> None:
    out = _dry_run("build_all", "push_all", "deploy", "REGISTRY=registry.example/team", "TAG=9.9.9")
    assert "docker build -f Dockerfile.api -t registry.example/team/predlog-api:9.9.9 ." in out
    assert (
        "docker build -f Dockerfile.client -t registry.example/team/predlog-client:9.9.9 ." in out
    )
    assert "docker push registry.example/team/predlog-api:9.9.9" in out
    assert "'    newName: registry.example/team/predlog-api'" in out
    assert "'    newTag: \"9.9.9\"'" in out
    assert "apply -k build/deploy/local" in out


def test_deploy_and_delete_use_the_users_kubectl_and_render_the_pinned_one() -> None:
    venv_kubectl = str(ROOT / ".venv" / "bin" / "kubectl")
    deploy = _dry_run("deploy", "OVERLAY=production")
    delete = _dry_run("delete", "OVERLAY=production")
    assert "kubectl apply -k build/deploy/production" in deploy
    assert "kubectl delete -k build/deploy/production --ignore-not-found" in delete
    assert venv_kubectl not in deploy + delete
    assert ".venv/bin/kubectl" not in deploy + delete
    render = _dry_run("render")
    for overlay in ("local", "production"):
        assert (
            f".venv/bin/kubectl kustomize build/deploy/{overlay} > build/manifests/{overlay}.yaml"
            in render
        )


def test_checkov_env_is_pinned() -> None:
    out = _dry_run("checkov-env", "CHECKOV_VENV=build/checkov-dry-run")
    assert 'checkov==3.3.30"' in out


def test_render_writes_every_overlay_with_the_images_set(tmp_path: Path) -> None:
    # A real run: it writes build/deploy/ and, when missing, the (git-ignored) password file.
    result = subprocess.run(
        [
            "make", "--no-print-directory", "-f", "deploy.mk", "BIN=.venv/bin", "UV=.tools/bin/uv",
            "render", f"RENDER_DIR={tmp_path}", "REGISTRY=registry.example/team", "TAG=9.9.9",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    password = ROOT / "manifests" / "overlays" / "production" / "postgres-password.txt"
    assert len(password.read_text()) == 48
    assert oct(password.stat().st_mode & 0o777) == "0o600"
    for overlay in ("local", "production"):
        objects = [o for o in yaml.safe_load_all((tmp_path / f"{overlay}.yaml").read_text()) if o]
        images = {
            c["image"]
            for o in objects
            if o["kind"] in {"Deployment", "Pod"}
            for c in [
                *o.get("spec", {})
                .get("template", {})
                .get("spec", o["spec"])
                .get("initContainers", []),
                *o.get("spec", {}).get("template", {}).get("spec", o["spec"])["containers"],
            ]
        }
        assert images == {
            "registry.example/team/predlog-api:9.9.9",
            "registry.example/team/predlog-client:9.9.9",
        }


def _make_var(name: str) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", "-f", "deploy.mk", "BIN=.venv/bin", "UV=.tools/bin/uv",
         "--eval", "print-%: ; @echo $($*)", f"print-{name}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return result.stdout.strip()


def test_the_manifests_defaults_agree_with_deploy_mk() -> None:
    base = yaml.safe_load((ROOT / "manifests" / "base" / "kustomization.yaml").read_text())
    images = {i["name"]: i for i in base["images"]}
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert _make_var("TAG") == version
    for name, var in (("predlog-api", "API_IMAGE"), ("predlog-client", "CLIENT_IMAGE")):
        assert images[name]["newName"] == _make_var(f"MANIFEST_{var}") == _make_var(var)
        assert images[name]["newTag"] == version
