"""config/default (kubectl apply -k) must install what the Helm chart installs with default values.

Compares the (kind, name, namespace) set, the RBAC rules and the operator Deployment of
`kubectl kustomize config/default` and `helm template modelserve charts/modelserve -n modelserve-system`.
Needs kubectl (kustomize built in) and helm; skips with the reason when one is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HELM_VERSION = "v3.21.4"
KUBE_VERSION = "1.32.0"


def find_helm() -> str | None:
    for candidate in (
        os.environ.get("HELM"),
        str(Path.home() / ".cache" / "modelserve" / "bin" / f"helm-{HELM_VERSION}" / "helm"),
        shutil.which("helm"),
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


HELM = find_helm()
KUBECTL = os.environ.get("KUBECTL") or shutil.which("kubectl")


def run(*args: str) -> list[dict[str, Any]]:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def kustomized() -> list[dict[str, Any]]:
    if KUBECTL is None:
        pytest.skip("kubectl not found (needed for `kubectl kustomize`)")
    return run(KUBECTL, "kustomize", str(ROOT / "config" / "default"))


@pytest.fixture(scope="module")
def helm_default() -> list[dict[str, Any]]:
    if HELM is None:
        pytest.skip(f"helm not found: set HELM or build ~/.cache/modelserve/bin/helm-{HELM_VERSION}/helm")
    return run(
        HELM,
        "template",
        "modelserve",
        str(ROOT / "charts" / "modelserve"),
        "--namespace",
        "modelserve-system",
        "--kube-version",
        KUBE_VERSION,
    )


def identities(objects: list[dict[str, Any]]) -> set[tuple[str, str, str | None]]:
    return {(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in objects}


def grants(objects: list[dict[str, Any]]) -> set[tuple[str, str, str, str]]:
    return {
        (obj["kind"], group, resource, verb)
        for obj in objects
        if obj["kind"] in ("ClusterRole", "Role")
        for rule in obj["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def only(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def test_same_objects(kustomized: list[dict[str, Any]], helm_default: list[dict[str, Any]]) -> None:
    # The chart leaves the namespace to `helm install --create-namespace`; kustomize creates it.
    assert identities(kustomized) - identities(helm_default) == {("Namespace", "modelserve-system", None)}
    assert identities(helm_default) - identities(kustomized) == set()


def test_same_rbac(kustomized: list[dict[str, Any]], helm_default: list[dict[str, Any]]) -> None:
    assert grants(kustomized) == grants(helm_default)
    assert (
        only(kustomized, "ClusterRoleBinding")["subjects"]
        == only(helm_default, "ClusterRoleBinding")["subjects"]
    )
    assert (
        only(kustomized, "ClusterRoleBinding")["roleRef"]
        == only(helm_default, "ClusterRoleBinding")["roleRef"]
    )


def test_same_operator_pod(kustomized: list[dict[str, Any]], helm_default: list[dict[str, Any]]) -> None:
    k_deploy, h_deploy = only(kustomized, "Deployment"), only(helm_default, "Deployment")
    assert k_deploy["spec"]["strategy"] == h_deploy["spec"]["strategy"] == {"type": "Recreate"}
    assert k_deploy["spec"]["replicas"] == h_deploy["spec"]["replicas"] == 1
    assert k_deploy["spec"]["selector"] == h_deploy["spec"]["selector"]
    k_pod, h_pod = k_deploy["spec"]["template"]["spec"], h_deploy["spec"]["template"]["spec"]
    for key in ("serviceAccountName", "securityContext", "volumes"):
        assert k_pod[key] == h_pod[key], key
    (k_container,), (h_container,) = k_pod["containers"], h_pod["containers"]
    for key in (
        "name",
        "image",
        "imagePullPolicy",
        "args",
        "ports",
        "livenessProbe",
        "resources",
        "securityContext",
        "volumeMounts",
    ):
        assert k_container[key] == h_container[key], key
    # Kustomize sets a default Prometheus URL (the chart leaves prometheus.url empty); the rest is equal.
    k_env = [e for e in k_container["env"] if e["name"] != "MODELSERVE_PROMETHEUS_URL"]
    assert k_env == h_container["env"]


def test_same_metrics_service(kustomized: list[dict[str, Any]], helm_default: list[dict[str, Any]]) -> None:
    assert only(kustomized, "Service")["spec"] == only(helm_default, "Service")["spec"]


def test_namespace_is_restricted_pod_security(kustomized: list[dict[str, Any]]) -> None:
    labels = only(kustomized, "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_ha_overlay_matches_the_chart_with_leader_election() -> None:
    """config/ha (two replicas, leader election) installs what the chart installs with
    replicaCount=2 and leaderElection.enabled: the same objects, RBAC and operator flags."""
    if KUBECTL is None or HELM is None:
        pytest.skip("kubectl and helm are needed")
    ha = run(KUBECTL, "kustomize", str(ROOT / "config" / "ha"))
    chart = run(
        HELM,
        "template",
        "modelserve",
        str(ROOT / "charts" / "modelserve"),
        "--namespace",
        "modelserve-system",
        "--kube-version",
        KUBE_VERSION,
        "--set",
        "replicaCount=2,leaderElection.enabled=true",
    )
    assert identities(ha) - identities(chart) == {("Namespace", "modelserve-system", None)}
    assert identities(chart) - identities(ha) == set()
    assert grants(ha) == grants(chart)
    assert ("Role", "coordination.k8s.io", "leases", "update") in grants(ha)
    k_deploy, h_deploy = only(ha, "Deployment"), only(chart, "Deployment")
    assert k_deploy["spec"]["replicas"] == h_deploy["spec"]["replicas"] == 2
    k_args = k_deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    h_args = h_deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    assert sorted(k_args) == sorted(h_args)
    assert "--leader-elect" in k_args
    bindings = {b["metadata"]["name"]: b for b in ha if b["kind"] == "RoleBinding"}
    chart_bindings = {b["metadata"]["name"]: b for b in chart if b["kind"] == "RoleBinding"}
    assert (
        bindings["modelserve-leader-election"]["subjects"]
        == chart_bindings["modelserve-leader-election"]["subjects"]
    )
