"""The alerting rules: valid for Prometheus (promtool check and unit tests), the same in the
plain file and in the monitoring overlay's PrometheusRule, on metrics the sidecar exports.

kubernetes-validate knows no custom resources, so the PrometheusRule is checked here against
the parts of the Prometheus Operator's CRD schema it uses (group, version, kind, the rule
groups' fields and duration pattern), and every other object of the overlay strictly.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest

from sidecar.alertmetrics import AlertGauges
from sidecar.metrics import SidecarMetrics
from tests.conftest import IN_CI
from tests.deploy.kube import BIN, KUBECTL, NAMESPACE, ROOT

RULES = ROOT / "manifests" / "prometheus" / "predlog-rules.yaml"
RULE_TESTS = ROOT / "tests" / "deploy" / "prometheus" / "predlog-rules.test.yaml"
OVERLAY = ROOT / "manifests" / "overlays" / "monitoring"
OPERATOR_KINDS = {"PrometheusRule", "PodMonitor"}
"""The Prometheus Operator's kinds (CRDs kubernetes-validate does not know)."""
DURATION = re.compile(
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
"""The CRD's pattern for ``for`` and ``interval``."""
RULE_FIELDS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if IN_CI:
            pytest.fail("promtool is missing (make system-deps installs Debian's prometheus)")
        pytest.skip("promtool is missing (Debian's prometheus package has it)")
    return found


def test_promtool_checks_the_rules_file() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


def test_each_alert_fires_when_it_should_and_not_before() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", str(RULE_TESTS)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def rendered(tmp_path: Path) -> list[dict[str, Any]]:
    tree = tmp_path / "manifests"
    shutil.copytree(ROOT / "manifests", tree)
    (tree / "overlays" / "production" / "postgres-password.txt").write_text(secrets.token_hex(24))
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(tree / "overlays" / "monitoring")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [o for o in yaml.safe_load_all(result.stdout) if o]


def test_the_overlay_ships_the_same_rules_as_a_prometheus_rule(tmp_path: Path) -> None:
    objects = rendered(tmp_path)
    (rule,) = [o for o in objects if o["kind"] == "PrometheusRule"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == NAMESPACE
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]
    for group in rule["spec"]["groups"]:
        assert set(group) <= {"name", "interval", "rules", "labels", "limit"}
        assert group["name"]
        for each in group["rules"]:
            assert set(each) <= RULE_FIELDS
            assert isinstance(each["expr"], str)
            assert ("alert" in each) != ("record" in each)
            assert DURATION.match(each.get("for", "0"))
            assert all(isinstance(v, str) for v in each.get("labels", {}).values())
            assert all(isinstance(v, str) for v in each.get("annotations", {}).values())

    others = tmp_path / "others.yaml"
    others.write_text(yaml.safe_dump_all([o for o in objects if o["kind"] not in OPERATOR_KINDS]))
    result = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", "--quiet", str(others)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_can_scrape_both_metrics_endpoints(tmp_path: Path) -> None:
    objects = rendered(tmp_path)
    (monitor,) = [o for o in objects if o["kind"] == "PodMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == NAMESPACE
    (api,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "api"]
    pod = api["spec"]["template"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    containers = [*pod["spec"]["containers"], *pod["spec"].get("initContainers", [])]
    ports = {p["name"]: p["containerPort"] for c in containers for p in c.get("ports", [])}
    scraped = {e["port"]: e["path"] for e in monitor["spec"]["podMetricsEndpoints"]}
    assert scraped == {"http": "/metrics", "sidecar-http": "/metrics"}
    assert set(scraped) <= set(ports)
    # the sidecar's /metrics listens on the pod's address (its forward port stays on loopback)
    (sidecar,) = [c for c in containers if c["name"] == "sidecar"]
    assert "--http-host=0.0.0.0" in sidecar["command"]
    assert "--host=127.0.0.1" in sidecar["command"]
    # and a NetworkPolicy lets the monitoring namespace reach it, nothing else
    (policy,) = [o for o in objects if o["metadata"]["name"] == "api-metrics-scrape"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": ports["sidecar-http"]}]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"predlog.io/monitoring": "true"}}}
    ]


def test_the_rules_use_only_metrics_the_sidecar_exports() -> None:
    metrics = SidecarMetrics()
    AlertGauges(metrics.registry, 900).publish({})
    families = {m.name for m in metrics.registry.collect()}
    exported = families | {f"{name}_total" for name in families}
    text = generate_latest(metrics.registry).decode()
    assert "predlog_model_drift_psi_max" in text  # declared even before any version
    groups = yaml.safe_load(RULES.read_text())["groups"]
    exprs = " ".join(rule["expr"] for group in groups for rule in group["rules"])
    used = set(re.findall(r"\b(predlog_[a-z_]+)\b", exprs))
    assert used
    assert used <= exported, used - exported
