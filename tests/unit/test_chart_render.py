"""Render the Helm chart (charts/modelserve) and check what it would install.

Needs the helm binary: env HELM, else ~/.cache/modelserve/bin/helm-v3.21.4/helm (built by the Makefile),
else `helm` on PATH. Skips with the reason when none is found.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "modelserve"
HELM_VERSION = "v3.21.4"
# The locally built helm has no Kubernetes version stamped in (it defaults to v1.20, below the chart's
# kubeVersion), so renders pass an explicit one.
KUBE_VERSION = "1.32.0"
RELEASE, NAMESPACE = "modelserve", "modelserve-system"

NON_DEFAULT_VALUES: dict[str, Any] = {
    "image": {"repository": "registry.example.com/modelserve", "tag": "0.1.1", "pullPolicy": "Always"},
    "imagePullSecrets": [{"name": "regcred"}],
    "watchNamespaces": ["ml-prod", "ml-staging"],
    "prometheus": {"url": "http://prometheus-operated.monitoring.svc:9090"},
    "logLevel": "debug",
    "logFormat": "text",
    "peering": {"name": "modelserve-prod"},
    "resources": {"requests": {"cpu": "200m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
    "serviceMonitor": {"enabled": True, "interval": "15s", "labels": {"release": "kube-prometheus-stack"}},
    "grafanaDashboard": {"enabled": True, "labels": {"grafana_dashboard": "1"}},
}

DASHBOARD_METRICS = {
    "modelserve_rollout_canary_weight",
    "modelserve_analysis_verdicts_total",
    "modelserve_replicas_ready",
    "modelserve_forecast_demand",
    "modelserve_predictive_floor",
    "modelserve_slo_attainment_percent",
    "modelserve_slo_error_budget_remaining_percent",
}


def find_helm() -> str | None:
    """Path of a helm binary, or None."""
    candidates = [
        os.environ.get("HELM"),
        str(Path.home() / ".cache" / "modelserve" / "bin" / f"helm-{HELM_VERSION}" / "helm"),
        shutil.which("helm"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


HELM = find_helm()
pytestmark = pytest.mark.skipif(
    HELM is None,
    reason=f"helm not found: set HELM or build it into ~/.cache/modelserve/bin/helm-{HELM_VERSION}/helm",
)


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    assert HELM is not None
    return subprocess.run([HELM, *args], capture_output=True, text=True, check=check, timeout=120)


def render(tmp_path: Path, values: dict[str, Any] | None = None, *extra: str) -> list[dict[str, Any]]:
    """`helm template` the chart; returns the rendered objects (without CRDs)."""
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
    if values is not None:
        values_file = tmp_path / "values.yaml"
        values_file.write_text(yaml.safe_dump(values))
        args += ["--values", str(values_file)]
    result = helm(*args, *extra, check=False)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def rbac_rules(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for obj in objects if obj["kind"] in ("ClusterRole", "Role") for rule in obj["rules"]]


def grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """Flatten RBAC rules into (apiGroup, resource, verb) triples."""
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


@pytest.fixture(scope="module")
def default_objects(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return render(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module")
def custom_objects(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return render(tmp_path_factory.mktemp("custom"), NON_DEFAULT_VALUES)


def test_lint_strict_default_values() -> None:
    result = helm("lint", "--strict", str(CHART), check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_lint_strict_non_default_values(tmp_path: Path) -> None:
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(NON_DEFAULT_VALUES))
    result = helm("lint", "--strict", str(CHART), "--values", str(values_file), check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_default_render_installs_expected_objects(default_objects: list[dict[str, Any]]) -> None:
    kinds_and_names = {(obj["kind"], obj["metadata"]["name"]) for obj in default_objects}
    assert kinds_and_names == {
        ("ServiceAccount", "modelserve"),
        ("ClusterRole", "modelserve"),
        ("ClusterRoleBinding", "modelserve"),
        ("Deployment", "modelserve"),
        ("Service", "modelserve-metrics"),
        ("ClusterKopfPeering", "modelserve"),
    }
    for obj in default_objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "modelserve"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == "modelserve-0.1.0"


def test_no_wildcards_and_no_secrets_in_rbac(
    default_objects: list[dict[str, Any]], custom_objects: list[dict[str, Any]]
) -> None:
    for objects in (default_objects, custom_objects):
        rules = rbac_rules(objects)
        assert rules
        for rule in rules:
            for key in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
                assert "*" not in rule.get(key, []), f"wildcard in {key}: {rule}"
            assert not any("*" in resource for resource in rule.get("resources", [])), rule
        resources = {resource for _, resource, _ in grants(rules)}
        assert "secrets" not in resources
        assert "configmaps" not in resources
        assert not {"clusterroles", "clusterrolebindings", "roles", "rolebindings"} & resources
        verbs = {verb for _, _, verb in grants(rules)}
        assert not {"escalate", "bind", "impersonate", "deletecollection"} & verbs


def test_cluster_wide_rbac_grants_exactly_what_the_operator_needs(
    default_objects: list[dict[str, Any]],
) -> None:
    granted = grants(one(default_objects, "ClusterRole")["rules"])
    full = ("get", "list", "watch", "create", "patch", "update", "delete")
    expected = set()
    for resource in ("modeldeployments", "slapolicies", "regionplacements"):
        expected |= {("modelserve.io", resource, v) for v in ("get", "list", "watch", "patch", "update")}
        expected |= {("modelserve.io", f"{resource}/status", v) for v in ("get", "patch", "update")}
    expected.add(("modelserve.io", "modeldeployments/finalizers", "update"))
    for group, resource in (
        ("apps", "deployments"),
        ("", "services"),
        ("autoscaling", "horizontalpodautoscalers"),
        ("policy", "poddisruptionbudgets"),
        ("gateway.networking.k8s.io", "httproutes"),
        ("networking.istio.io", "virtualservices"),
        ("monitoring.coreos.com", "prometheusrules"),
        ("monitoring.coreos.com", "podmonitors"),
        ("keda.sh", "scaledobjects"),
    ):
        expected |= {(group, resource, v) for v in full}
    expected |= {("", "pods", v) for v in ("get", "list", "watch", "delete")}
    expected.add(("", "pods/eviction", "create"))
    expected |= {(g, "events", v) for g in ("", "events.k8s.io") for v in ("create", "patch")}
    expected |= {("", r, v) for r in ("nodes", "namespaces") for v in ("get", "list", "watch")}
    expected |= {("apiextensions.k8s.io", "customresourcedefinitions", v) for v in ("get", "list", "watch")}
    expected |= {
        ("kopf.dev", r, v)
        for r in ("clusterkopfpeerings", "kopfpeerings")
        for v in ("get", "list", "watch", "patch")
    }
    assert granted == expected
    binding = one(default_objects, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "modelserve",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "modelserve", "namespace": NAMESPACE}]


def test_watch_namespaces_uses_roles_per_namespace(custom_objects: list[dict[str, Any]]) -> None:
    cluster_grants = grants(one(custom_objects, "ClusterRole")["rules"])
    # Only cluster-scoped, read-only access stays cluster-wide.
    assert {resource for _, resource, _ in cluster_grants} == {
        "nodes",
        "namespaces",
        "customresourcedefinitions",
    }
    assert {verb for _, _, verb in cluster_grants} == {"get", "list", "watch"}
    roles = by_kind(custom_objects, "Role")
    bindings = by_kind(custom_objects, "RoleBinding")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["ml-prod", "ml-staging"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["ml-prod", "ml-staging"]
    for role in roles:
        role_grants = grants(role["rules"])
        assert ("apps", "deployments", "create") in role_grants
        assert ("modelserve.io", "modeldeployments/status", "patch") in role_grants
        assert ("kopf.dev", "kopfpeerings", "patch") in role_grants
        assert not {resource for _, resource, _ in role_grants} & {"nodes", "clusterkopfpeerings"}
    for binding in bindings:
        assert binding["roleRef"]["kind"] == "Role"
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "modelserve", "namespace": NAMESPACE}
        ]
    peerings = by_kind(custom_objects, "KopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in peerings) == ["ml-prod", "ml-staging"]
    assert {p["metadata"]["name"] for p in peerings} == {"modelserve-prod"}
    assert not by_kind(custom_objects, "ClusterKopfPeering")


def test_deployment_is_a_single_hardened_operator(default_objects: list[dict[str, Any]]) -> None:
    deployment = one(default_objects, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "modelserve"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/modelserve/modelserve:0.1.0"
    assert "command" not in container, "the image ENTRYPOINT is `modelserve run`"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 65532
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"metrics": 8080, "health": 8081}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
    args = container["args"]
    for flag in (
        "--peering=modelserve",
        "--log-format=json",
        "--log-level=INFO",
        "--metrics-port=8080",
        "--health-port=8081",
        "--resync-seconds=60",
    ):
        assert flag in args
    assert not any(arg.startswith("--namespace") for arg in args), "default is cluster-wide"
    assert "MODELSERVE_PROMETHEUS_URL" not in {env["name"] for env in container.get("env", [])}


def test_non_default_values_reach_the_deployment(custom_objects: list[dict[str, Any]]) -> None:
    pod = one(custom_objects, "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "registry.example.com/modelserve:0.1.1"
    assert container["imagePullPolicy"] == "Always"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["tolerations"][0]["key"] == "dedicated"
    args = container["args"]
    assert "--namespace=ml-prod" in args and "--namespace=ml-staging" in args
    assert "--log-level=DEBUG" in args and "--log-format=text" in args
    assert "--peering=modelserve-prod" in args
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["MODELSERVE_PROMETHEUS_URL"] == "http://prometheus-operated.monitoring.svc:9090"
    assert container["resources"]["limits"] == {"memory": "2Gi"}


def test_service_monitor_and_dashboard(custom_objects: list[dict[str, Any]]) -> None:
    monitor = one(custom_objects, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s"}
    ]
    service = one(custom_objects, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["name"] == "metrics"
    config_map = one(custom_objects, "ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config_map["data"]["modelserve.json"])
    exprs = " ".join(target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", []))
    for metric in DASHBOARD_METRICS:
        assert metric in exprs, metric
    titles = {panel["title"] for panel in dashboard["panels"]}
    assert {"Rollout: canary weight", "SLO error budget remaining"} <= titles


def test_optional_objects_are_off_by_default(default_objects: list[dict[str, Any]]) -> None:
    assert not by_kind(default_objects, "ServiceMonitor")
    assert not by_kind(default_objects, "ConfigMap")


def test_service_monitor_requires_the_metrics_service(tmp_path: Path) -> None:
    values = {"serviceMonitor": {"enabled": True}, "metrics": {"service": {"enabled": False}}}
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    result = helm(
        "template", RELEASE, str(CHART), "--kube-version", KUBE_VERSION, "-f", str(values_file), check=False
    )
    assert result.returncode != 0
    assert "metrics.service.enabled" in result.stderr


@pytest.mark.parametrize(
    "bad_setting",
    [
        "replicaCount=2",
        "replicaCount=0",
        "logLevel=verbose",
        "logFormat=xml",
        "image.pullPolicy=Sometimes",
        "prometheus.url=not-a-url",
        "prometheus.url=ftp://prometheus:9090",
        "watchNamespaces=ml-prod",  # a string, not a list
        "watchNamespaces[0]=Not_A_Namespace",
        "unknownTopLevelKey=1",
        "image.unknown=1",
        "serviceMonitor.enabled=yes-please",
        "serviceMonitor.interval=thirty",
        "metrics.port=70000",
        "peering.name=Bad_Name",
        "resyncSeconds=soon",
    ],
)
def test_schema_rejects_bad_values(bad_setting: str) -> None:
    flag = "--set-string" if bad_setting.startswith("serviceMonitor.enabled") else "--set"
    result = helm(
        "template", RELEASE, str(CHART), "--kube-version", KUBE_VERSION, flag, bad_setting, check=False
    )
    assert result.returncode != 0, f"{bad_setting} was accepted"
    assert "schema" in result.stderr.lower(), result.stderr


def test_schema_accepts_a_prometheus_url(tmp_path: Path) -> None:
    objects = render(tmp_path, {"prometheus": {"url": "https://prom.example.com:9443/prometheus"}})
    assert one(objects, "Deployment")


@pytest.mark.parametrize("values", [None, NON_DEFAULT_VALUES], ids=["default", "non-default"])
def test_operator_cli_accepts_the_rendered_args(tmp_path: Path, values: dict[str, Any] | None) -> None:
    # The image ENTRYPOINT is `modelserve run`, so the container args must parse as its flags.
    from modelserve.cli.main import build_parser

    container = one(render(tmp_path, values), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    parsed = build_parser().parse_args(["run", *container["args"]])
    expected = values or {}
    assert parsed.namespace == (expected.get("watchNamespaces") or None)
    assert parsed.log_format == expected.get("logFormat", "json")
    assert parsed.log_level == expected.get("logLevel", "info").upper()
    assert parsed.peering == expected.get("peering", {}).get("name", "modelserve")
    assert (parsed.metrics_port, parsed.health_port) == (8080, 8081)


def test_leader_election_allows_replicas_and_grants_only_its_lease(tmp_path: Path) -> None:
    """leaderElection.enabled: several replicas, `--leader-elect` with the Lease's name, and a Role in
    the release namespace that can create Leases and read/update only that one."""
    from modelserve.cli.main import build_parser

    objects = render(tmp_path, {"replicaCount": 2, "leaderElection": {"enabled": True, "leaseName": "ms-ha"}})
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    parsed = build_parser().parse_args(["run", *args])
    assert parsed.leader_elect and parsed.leader_election_id == "ms-ha"
    (role,) = [r for r in by_kind(objects, "Role") if r["metadata"]["name"].endswith("-leader-election")]
    assert role["metadata"]["namespace"] == NAMESPACE
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["ms-ha"],
            "verbs": ["get", "update"],
        },
    ]
    (binding,) = [
        b for b in by_kind(objects, "RoleBinding") if b["metadata"]["name"] == role["metadata"]["name"]
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["namespace"] == NAMESPACE


def test_more_than_one_replica_needs_leader_election(tmp_path: Path) -> None:
    result = helm(
        "template",
        RELEASE,
        str(CHART),
        "--kube-version",
        KUBE_VERSION,
        "--set",
        "replicaCount=2",
        check=False,
    )
    assert result.returncode != 0 and "replicaCount" in result.stderr, result.stderr
