"""The rendered objects hold what the deployment promises: sidecar, probes, hardening, policies."""

from __future__ import annotations

import pytest

from tests.deploy.kube import (
    Obj,
    Rendered,
    all_containers,
    container,
    env_value,
    long_running,
    pod_labels,
    pod_spec,
    selects,
    workloads,
)

PREDLOG_IMAGES = ("ghcr.io/predlog/predlog-api:", "ghcr.io/predlog/predlog-client:")


def test_the_sidecar_is_native_and_shares_the_spool_with_the_api(overlay: Rendered) -> None:
    spec = pod_spec(overlay.get("Deployment", "api"))
    init = [c["name"] for c in spec["initContainers"]]
    # The schema is migrated first (a plain init container), then the sidecar starts.
    assert init == ["migrate", "sidecar"]
    migrate, sidecar = spec["initContainers"]
    assert "restartPolicy" not in migrate
    assert migrate["command"] == ["predlog", "db", "upgrade"]
    assert sidecar["restartPolicy"] == "Always"
    assert sidecar["command"][:2] == ["predlog", "sidecar"]
    assert {"--host=127.0.0.1", "--port=24224", "--http-port=24225"} <= set(sidecar["command"])
    api = container(spec, "api")
    assert api["command"] == [
        "predlog", "api", "--host=0.0.0.0", "--port=8000", "--admin-port=8001", "--workers=2"
    ]  # fmt: skip
    spool = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
    mounts = {
        name: {m["name"]: m["mountPath"] for m in container(spec, name)["volumeMounts"]}
        for name in ("api", "sidecar")
    }
    assert mounts["api"]["spool"] == mounts["sidecar"]["spool"] == "/spool"
    assert "spool" in spool
    settings = overlay.get("ConfigMap", "predlog-settings")["data"]
    assert settings["PREDLOG_SPOOL_DIR"] == "/spool"
    assert settings["PREDLOG_FORWARD"] == "127.0.0.1:24224"


def test_commands_of_the_other_workloads(overlay: Rendered) -> None:
    dashboard = container(pod_spec(overlay.get("Deployment", "dashboard")), "dashboard")
    assert dashboard["command"] == ["predlog", "dashboard", "--host=0.0.0.0", "--port=8501"]
    client = overlay.get("Pod", "client")
    assert client["spec"]["containers"][0]["command"] == ["sleep", "infinity"]
    load_url = env_value(client["spec"]["containers"][0], "PREDLOG_LOAD_URL")
    assert load_url == {"name": "PREDLOG_LOAD_URL", "value": "http://api:8000"}


def test_probes_on_every_long_running_container(overlay: Rendered) -> None:
    for obj in workloads(overlay):
        for c in long_running(pod_spec(obj)):
            for probe in ("readinessProbe", "livenessProbe"):
                assert probe in c, f"{obj['metadata']['name']}/{c['name']} has no {probe}"
    spec = pod_spec(overlay.get("Deployment", "api"))
    api = container(spec, "api")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert api[probe]["httpGet"] == {"path": "/health", "port": "http"}
        sidecar_probe = container(spec, "sidecar")[probe]["exec"]["command"]
        assert "http://127.0.0.1:24225/healthz" in sidecar_probe[-1]
        dashboard = container(pod_spec(overlay.get("Deployment", "dashboard")), "dashboard")
        assert dashboard[probe]["httpGet"] == {"path": "/_stcore/health", "port": "http"}
    assert {p["name"]: p["containerPort"] for p in api["ports"]} == {"http": 8000, "admin": 8001}


def test_pod_and_container_security(overlay: Rendered) -> None:
    for obj in workloads(overlay):
        spec = pod_spec(obj)
        name = obj["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False, name
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for c in all_containers(spec):
            sc = c["securityContext"]
            where = f"{name}/{c['name']}"
            assert sc["runAsNonRoot"] is True, where
            assert sc["runAsUser"] >= 10000, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert sc.get("privileged", False) is False, where


def test_every_container_has_a_writable_tmp(overlay: Rendered) -> None:
    for obj in workloads(overlay):
        spec = pod_spec(obj)
        empty_dirs = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        for c in all_containers(spec):
            tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert len(tmp) == 1, f"{obj['metadata']['name']}/{c['name']}"
            assert tmp[0]["name"] in empty_dirs


def test_prometheus_multiprocess_dir_is_a_writable_memory_dir(overlay: Rendered) -> None:
    # `predlog api` makes its multiprocess directory with tempfile, that is under /tmp.
    spec = pod_spec(overlay.get("Deployment", "api"))
    api = container(spec, "api")
    mount = next(m for m in api["volumeMounts"] if m["mountPath"] == "/tmp")
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert volume["emptyDir"]["medium"] == "Memory"
    assert not mount.get("readOnly", False)


def test_requests_and_limits_on_every_container(overlay: Rendered) -> None:
    for obj in workloads(overlay):
        for c in all_containers(pod_spec(obj)):
            resources = c["resources"]
            for kind in ("requests", "limits"):
                assert set(resources[kind]) >= {"cpu", "memory"}, f"{c['name']} {kind}"


def test_the_grace_period_covers_the_sidecars_drain(overlay: Rendered) -> None:
    spec = pod_spec(overlay.get("Deployment", "api"))
    drain = float(
        overlay.get("ConfigMap", "predlog-settings")["data"]["PREDLOG_SIDECAR_DRAIN_TIMEOUT"]
    )
    assert spec["terminationGracePeriodSeconds"] >= drain + 15


def test_settings_come_from_the_generated_config_map(overlay: Rendered) -> None:
    name = overlay.get("ConfigMap", "predlog-settings")["metadata"]["name"]
    data = overlay.get("ConfigMap", "predlog-settings")["data"]
    assert all(key.startswith("PREDLOG_") for key in data)
    for obj in workloads(overlay):
        if obj["metadata"]["name"] in {"client", "postgres"}:
            continue
        for c in all_containers(pod_spec(obj)):
            assert {"configMapRef": {"name": name}} in c["envFrom"], c["name"]


def test_images_are_named_in_one_place(overlay: Rendered) -> None:
    for obj in workloads(overlay):
        for c in all_containers(pod_spec(obj)):
            image = c["image"]
            assert ":" in image, image
            assert not image.endswith(":latest"), image
            if obj["metadata"]["name"] != "postgres":
                assert image.startswith(PREDLOG_IMAGES), image


def test_services_select_their_pods(overlay: Rendered) -> None:
    for name, port, workload, target in (
        ("api", 8000, "api", "http"),
        ("api-admin", 8001, "api", "admin"),
        ("dashboard", 8501, "dashboard", "http"),
    ):
        service = overlay.get("Service", name)
        assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(port, target)]
        labels = pod_labels(overlay.get("Deployment", workload))
        assert all(labels.get(k) == v for k, v in service["spec"]["selector"].items())


def _policies_for(overlay: Rendered, labels: dict[str, str]) -> list[Obj]:
    return [p for p in overlay.kinds("NetworkPolicy") if selects(p["spec"]["podSelector"], labels)]


def _open_ports(overlay: Rendered, target: str, source: str | None) -> set[int]:
    """Ports of pods ``target`` that pods ``source`` (None: anything) may reach."""
    target_labels = pod_labels(
        next(o for o in workloads(overlay) if o["metadata"]["name"] == target)
    )
    source_labels = (
        pod_labels(next(o for o in workloads(overlay) if o["metadata"]["name"] == source))
        if source
        else {}
    )
    ports: set[int] = set()
    for policy in _policies_for(overlay, target_labels):
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from")
            allowed = peers is None or any(
                set(peer) == {"podSelector"}
                and source
                and selects(peer["podSelector"], source_labels)
                for peer in peers
            )
            if allowed:
                ports |= {p["port"] for p in rule["ports"]}
    return ports


def test_network_policies(overlay: Rendered) -> None:
    deny = overlay.get("NetworkPolicy", "default-deny-ingress")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}
    # Anyone reaches the api's HTTP port; nothing else from outside the namespace: not the
    # admin port (8001, /admin), not the dashboard (both by kubectl port-forward).
    assert _open_ports(overlay, "api", None) == {8000}
    assert _open_ports(overlay, "dashboard", None) == set()
    assert _open_ports(overlay, "client", None) == set()
    # The pods of the namespace reach the admin port and the dashboard.
    assert {8000, 8001} <= _open_ports(overlay, "api", "client")
    assert _open_ports(overlay, "dashboard", "client") == {8501}
    for policy in overlay.kinds("NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                assert set(peer) == {"podSelector"}, "no peer outside the namespace"
    # The sidecar's forward port: api pods only.
    assert 24224 in _open_ports(overlay, "api", "api")
    assert 24224 not in _open_ports(overlay, "api", "client")
    assert 24224 not in _open_ports(overlay, "api", "dashboard")
    if overlay.overlay == "production":
        assert _open_ports(overlay, "postgres", "api") == {5432}
        assert _open_ports(overlay, "postgres", "dashboard") == {5432}
        assert _open_ports(overlay, "postgres", "client") == set()
        assert _open_ports(overlay, "postgres", None) == set()


def test_local_overlay_keeps_sqlite_on_one_volume(rendered: dict[str, Rendered]) -> None:
    local = rendered["local"]
    api = local.get("Deployment", "api")
    assert api["spec"]["replicas"] == 1
    url = local.get("ConfigMap", "predlog-settings")["data"]["PREDLOG_STORE_URL"]
    assert url == "sqlite:////data/predlog.db"
    claim = local.get("PersistentVolumeClaim", "store")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    dashboard = local.get("Deployment", "dashboard")
    for spec, name in ((pod_spec(api), "migrate"), (pod_spec(api), "sidecar")):
        assert {"name": "store", "mountPath": "/data"} in container(spec, name)["volumeMounts"]
    d_spec = pod_spec(dashboard)
    assert {"name": "store", "mountPath": "/data"} in container(d_spec, "dashboard")["volumeMounts"]
    for spec in (pod_spec(api), d_spec):
        volume = next(v for v in spec["volumes"] if v["name"] == "store")
        assert volume["persistentVolumeClaim"]["claimName"] == "store"
    # A ReadWriteOnce volume is mounted on one node: the dashboard must run beside the api.
    affinity = d_spec["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert affinity[0]["topologyKey"] == "kubernetes.io/hostname"
    assert selects(affinity[0]["labelSelector"], pod_labels(api))
    assert not local.kinds("StatefulSet")
    assert not local.kinds("HorizontalPodAutoscaler")


def test_production_overlay_scales_on_postgresql(rendered: dict[str, Rendered]) -> None:
    prod = rendered["production"]
    api = prod.get("Deployment", "api")
    assert api["spec"]["replicas"] >= 2
    hpa = prod.get("HorizontalPodAutoscaler", "api")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "api",
    }
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    pdb = prod.get("PodDisruptionBudget", "api")
    assert selects(pdb["spec"]["selector"], pod_labels(api))
    postgres = prod.get("StatefulSet", "postgres")
    claims = postgres["spec"]["volumeClaimTemplates"]
    assert [c["metadata"]["name"] for c in claims] == ["data"]
    mounts = container(pod_spec(postgres), "postgres")["volumeMounts"]
    assert {"name": "data", "mountPath": "/var/lib/postgresql/data"} in mounts
    service = prod.get("Service", "postgres")
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(postgres))


def test_production_password_is_only_in_the_secret(rendered: dict[str, Rendered]) -> None:
    prod = rendered["production"]
    secret = prod.get("Secret", "postgres")
    assert set(secret["data"]) == {"password"}
    assert "PREDLOG_STORE_URL" not in prod.get("ConfigMap", "predlog-settings")["data"]
    api_spec = pod_spec(prod.get("Deployment", "api"))
    dashboard_spec = pod_spec(prod.get("Deployment", "dashboard"))
    for c in (
        container(api_spec, "migrate"),
        container(api_spec, "sidecar"),
        container(dashboard_spec, "dashboard"),
    ):
        password = env_value(c, "POSTGRES_PASSWORD")
        assert password is not None
        assert password["valueFrom"]["secretKeyRef"] == {
            "name": secret["metadata"]["name"],
            "key": "password",
        }
        url = env_value(c, "PREDLOG_STORE_URL")
        assert url is not None
        assert url["value"].startswith(
            "postgresql+psycopg://predlog:$(POSTGRES_PASSWORD)@postgres:5432/"
        )
        # $(VAR) expands only from variables defined earlier in the list.
        names = [e["name"] for e in c["env"]]
        assert names.index("POSTGRES_PASSWORD") < names.index("PREDLOG_STORE_URL")
    pg = container(pod_spec(prod.get("StatefulSet", "postgres")), "postgres")
    assert env_value(pg, "POSTGRES_PASSWORD") is None
    file_env = env_value(pg, "POSTGRES_PASSWORD_FILE")
    assert file_env is not None
    secret_volume = next(
        v for v in pod_spec(prod.get("StatefulSet", "postgres"))["volumes"] if "secret" in v
    )
    assert secret_volume["secret"]["secretName"] == secret["metadata"]["name"]


@pytest.mark.parametrize(
    "kind", ["HorizontalPodAutoscaler", "PodDisruptionBudget", "StatefulSet", "Secret"]
)
def test_production_only_objects(rendered: dict[str, Rendered], kind: str) -> None:
    assert rendered["production"].kinds(kind)
    assert not rendered["local"].kinds(kind)
