"""Install paths against the local control plane: the Helm chart as users install it, and the operator running
under exactly the chart's least-privilege RBAC.

- server-side dry run of `helm template` (default and non-default values)
- helm install / upgrade / uninstall: objects appear, change and disappear
- `modelserve run` authenticated as the chart's ServiceAccount (a TokenRequest token, not impersonation, so
  the API server evaluates the real identity) makes a ModelDeployment Ready, with no request forbidden
- `kubectl auth can-i --as=system:serviceaccount:...`: what the chart must not grant is denied

Every test uses its own release name and peering name, and removes what it installed.
"""

from __future__ import annotations

import copy
import json
import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.harness import REPO, Kube, OperatorProcess, condition, operator_writes, wait_until

pytestmark = pytest.mark.e2e

CHART = REPO / "charts" / "modelserve"
# The cached helm may have no Kubernetes version stamped in; `helm template` needs one >= the chart's
# kubeVersion.
KUBE_VERSION = "1.35.0"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def docs(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def helm_ok(cluster: Any, *args: str) -> str:
    result = cluster.helm(*args, check=False)
    assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def has_api(cluster: Any, group: str, resource: str) -> bool:
    result = cluster.kubectl("api-resources", f"--api-group={group}", "-o", "name", check=False)
    return any(line.split(".")[0] == resource for line in result.stdout.split())


def can_i(
    cluster: Any,
    user: str,
    verb: str,
    resource: str,
    namespace: str | None = None,
    subresource: str | None = None,
) -> bool:
    args = ["auth", "can-i", verb, resource, f"--as={user}"]
    args += ["-n", namespace] if namespace else ["--all-namespaces"]
    if subresource:
        args += [f"--subresource={subresource}"]
    result = cluster.kubectl(*args, check=False)
    answer = result.stdout.strip()
    assert answer in ("yes", "no"), f"kubectl {' '.join(args)}: {result.stdout} {result.stderr}"
    return answer == "yes"


@pytest.fixture
def other_namespace(kube: Kube) -> Iterator[str]:
    name = unique("t-other")
    kube.run("create", "namespace", name)
    yield name
    kube.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def release(cluster: Any, namespace: str) -> Iterator[dict[str, str]]:
    """Names for one Helm release in `namespace`; uninstalls it afterwards if a test left it installed."""
    info = {"name": unique("rel"), "namespace": namespace, "peering": unique("e2e-peering")}
    info["fullname"] = f"{info['name']}-modelserve"
    info["user"] = f"system:serviceaccount:{namespace}:{info['fullname']}"
    yield info
    cluster.helm("uninstall", info["name"], "-n", namespace, "--wait", "--timeout=60s", check=False)


# ----------------------------------------------------------------------------------------------------
# Server-side dry run of the rendered chart


def dry_run(cluster: Any, manifests: str) -> None:
    result = cluster.kubectl(
        "apply", "--dry-run=server", "--validate=strict", "-f", "-", input=manifests, check=False
    )
    assert result.returncode == 0, f"server-side dry run failed:\n{result.stderr}\n{result.stdout}"


def test_server_side_dry_run_default_values(cluster: Any, namespace: str) -> None:
    name = unique("dry")
    rendered = helm_ok(
        cluster,
        "template",
        name,
        str(CHART),
        "-n",
        namespace,
        "--kube-version",
        KUBE_VERSION,
        "--set",
        f"peering.name={unique('dry-peering')}",
    )
    kinds = {doc["kind"] for doc in docs(rendered)}
    assert {
        "Deployment",
        "ClusterRole",
        "ClusterRoleBinding",
        "ServiceAccount",
        "ClusterKopfPeering",
    } <= kinds
    dry_run(cluster, rendered)


def test_server_side_dry_run_non_default_values(
    cluster: Any, namespace: str, other_namespace: str, tmp_path: Path
) -> None:
    values = {
        "watchNamespaces": [namespace, other_namespace],
        "prometheus": {"url": "http://prometheus-operated.monitoring.svc:9090"},
        "logLevel": "debug",
        "logFormat": "text",
        "peering": {"name": unique("dry-peering")},
        "imagePullSecrets": [{"name": "regcred"}],
        "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
        "grafanaDashboard": {"enabled": True},
        "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}},
    }
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    rendered = docs(
        helm_ok(
            cluster,
            "template",
            unique("dry"),
            str(CHART),
            "-n",
            namespace,
            "--kube-version",
            KUBE_VERSION,
            "-f",
            str(values_file),
        )
    )
    assert sorted(d["metadata"]["namespace"] for d in rendered if d["kind"] == "Role") == sorted(
        [namespace, other_namespace]
    )
    if not has_api(cluster, "monitoring.coreos.com", "servicemonitors"):
        # prometheus-operator is not part of the local control plane; the unit tests check the ServiceMonitor.
        rendered = [d for d in rendered if d["kind"] != "ServiceMonitor"]
    dry_run(cluster, yaml.safe_dump_all(rendered))


# ----------------------------------------------------------------------------------------------------
# helm install / upgrade / uninstall


def test_helm_install_upgrade_uninstall(cluster: Any, kube: Kube, release: dict[str, str]) -> None:
    name, ns, fullname = release["name"], release["namespace"], release["fullname"]
    helm_ok(
        cluster,
        "install",
        name,
        str(CHART),
        "-n",
        ns,
        "--set",
        f"peering.name={release['peering']}",
        "--set",
        "prometheus.url=http://prometheus.example:9090",
    )

    assert kube.get("serviceaccount", fullname, ns)
    assert kube.get("clusterrole", fullname)
    assert kube.get("clusterrolebinding", fullname)
    assert kube.get("service", f"{fullname}-metrics", ns)
    assert kube.get("clusterkopfpeering", release["peering"])
    deployment = kube.get("deployment", fullname, ns)
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert any(arg.lower() == "--log-level=info" for arg in args)

    helm_ok(cluster, "upgrade", name, str(CHART), "-n", ns, "--reuse-values", "--set", "logLevel=debug")
    status = json.loads(helm_ok(cluster, "status", name, "-n", ns, "-o", "json"))
    assert status["version"] == 2 and status["info"]["status"] == "deployed"
    args = kube.get("deployment", fullname, ns)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert any(arg.lower() == "--log-level=debug" for arg in args)
    env = kube.get("deployment", fullname, ns)["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "MODELSERVE_PROMETHEUS_URL", "value": "http://prometheus.example:9090"} in env

    helm_ok(cluster, "uninstall", name, "-n", ns, "--wait", "--timeout=60s")
    wait_until(lambda: kube.get("deployment", fullname, ns) is None, 60, what="Deployment removed")
    assert kube.get("clusterrole", fullname) is None
    assert kube.get("clusterrolebinding", fullname) is None
    assert kube.get("serviceaccount", fullname, ns) is None
    assert kube.get("clusterkopfpeering", release["peering"]) is None
    # Helm never deletes crds/: the models survive an uninstall.
    assert kube.get("crd", "modeldeployments.modelserve.io")


# ----------------------------------------------------------------------------------------------------
# The operator under exactly the chart's RBAC


def service_account_kubeconfig(cluster: Any, namespace: str, service_account: str, path: Path) -> Path:
    """A kubeconfig that authenticates with a short-lived token of the ServiceAccount (TokenRequest API)."""
    token = cluster.kubectl(
        "create", "token", service_account, "-n", namespace, "--duration=1h"
    ).stdout.strip()
    config = copy.deepcopy(yaml.safe_load(Path(cluster.kubeconfig).read_text()))
    for user in config["users"]:
        user["user"] = {"token": token}
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def model_deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"name": name, "version": "1", "uri": f"s3://models/{name}/1", "format": "sklearn"},
            "runtime": {
                "image": "registry.example.com/sklearn-server:1.4",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
            },
            "replicas": 1,
        },
    }


def healthy(op: OperatorProcess) -> bool:
    if not op.alive():
        raise AssertionError("operator exited:\n" + op.log()[-3000:])
    with urllib.request.urlopen(f"http://127.0.0.1:{op.health_port}/healthz", timeout=2) as resp:
        return resp.status == 200


def test_operator_runs_with_exactly_the_chart_rbac(
    cluster: Any, kube: Kube, release: dict[str, str], tmp_path: Path, operator: OperatorProcess
) -> None:
    # The session operator (system:masters) watches every namespace: freeze it, so everything below is
    # done by the operator that authenticates as the chart's ServiceAccount, under exactly its RBAC.
    operator.pause()
    try:
        _operator_runs_with_exactly_the_chart_rbac(cluster, kube, release, tmp_path)
    finally:
        operator.resume()


def _operator_runs_with_exactly_the_chart_rbac(
    cluster: Any, kube: Kube, release: dict[str, str], tmp_path: Path
) -> None:
    name, ns, fullname, user = release["name"], release["namespace"], release["fullname"], release["user"]
    # Namespaced mode: only this namespace, so the test neither sees nor touches other tests' objects.
    helm_ok(
        cluster,
        "install",
        name,
        str(CHART),
        "-n",
        ns,
        "--set",
        f"watchNamespaces={{{ns}}}",
        "--set",
        f"peering.name={release['peering']}",
    )
    assert kube.get("role", fullname, ns) and kube.get("rolebinding", fullname, ns)
    assert kube.get("kopfpeering", release["peering"], ns)

    kubeconfig = service_account_kubeconfig(cluster, ns, fullname, tmp_path / "sa.kubeconfig")
    whoami = cluster.kubectl(f"--kubeconfig={kubeconfig}", "auth", "whoami", "-o", "json", check=False)
    if whoami.returncode == 0:
        assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == user

    started = time.time()
    md_name = unique("md")
    op = OperatorProcess(
        kubeconfig,
        tmp_path,
        namespaces=[ns],
        extra_args=("--peering", release["peering"]),
        name="operator-chart-rbac",
    )
    try:
        wait_until(lambda: healthy(op), 60, what="operator liveness endpoint")
        kube.apply(model_deployment(md_name), namespace=ns)

        def ready() -> dict[str, Any] | None:
            md = kube.get("modeldeployment", md_name, ns)
            cond = condition(md, "Ready")
            if md and cond and cond["status"] == "True" and md["status"].get("phase") == "Ready":
                return md
            return None

        md = wait_until(ready, 120, what=f"ModelDeployment {ns}/{md_name} Ready under the chart's RBAC")
        deployments = [
            d
            for d in kube.items("deployments", ns)
            if any(
                ref.get("uid") == md["metadata"]["uid"] for ref in d["metadata"].get("ownerReferences", [])
            )
        ]
        assert deployments, "no Deployment owned by the ModelDeployment"

        # Residency under the chart's RBAC: nodes are read, pods placed by region.
        kube.apply(
            {
                "apiVersion": "modelserve.io/v1alpha1",
                "kind": "RegionPlacement",
                "metadata": {"name": "eu-only"},
                "spec": {
                    "residency": {"allowedRegions": ["eu-central-1"]},
                    "regions": [{"name": "eu-central-1"}],
                },
            },
            namespace=ns,
        )
        placed = model_deployment(md_name + "-eu")
        placed["spec"]["placementRef"] = {"name": "eu-only"}
        kube.apply(placed, namespace=ns)
        wait_until(
            lambda: (
                (m := kube.get("modeldeployment", md_name + "-eu", ns))
                and (m.get("status") or {}).get("phase") == "Ready"
            ),
            120,
            what="placed model Ready under the chart's RBAC",
        )

        # A rollout and an abort under the chart's RBAC: candidate Deployment, Services, Events.
        rolled = model_deployment(md_name)
        rolled["spec"]["model"]["version"] = "2"
        rolled["spec"]["rollout"] = {
            "strategy": "canary",
            "canary": {"steps": [{"setWeight": 50}, {"pause": {}}]},
        }
        kube.apply(rolled, namespace=ns)
        wait_until(
            lambda: (kube.get("modeldeployment", md_name, ns).get("status") or {}).get("canaryWeight") == 50,
            120,
            what="canary at 50% under the chart's RBAC",
        )
        kube.run("annotate", "modeldeployment", md_name, "-n", ns, "modelserve.io/abort=true")
        wait_until(
            lambda: (
                (kube.get("modeldeployment", md_name, ns).get("status") or {}).get("phase") == "RolledBack"
            ),
            120,
            what="abort under the chart's RBAC",
        )
        assert any(e["reason"] == "RolledBack" for e in kube.items("events", ns))
        kube.run("delete", "modeldeployment", md_name + "-eu", "-n", ns, "--wait=true", "--timeout=60s")

        kube.run("delete", "modeldeployment", md_name, "-n", ns, "--wait=true", "--timeout=60s")
    finally:
        op.stop()
        # If the test failed half-way, do not leave a finalizer that blocks the namespace deletion.
        kube.run(
            "patch",
            "modeldeployment",
            md_name,
            "-n",
            ns,
            "--type=merge",
            "-p",
            '{"metadata":{"finalizers":null}}',
            check=False,
        )

    log = op.log()
    rbac_trouble = re.search(r"forbidden|not enough permissions", log, re.IGNORECASE)
    assert rbac_trouble is None, (
        f"operator hit RBAC ({rbac_trouble and rbac_trouble.group(0)!r}):\n{log[-3000:]}"
    )
    writes = operator_writes(Path(cluster.audit_log), user, since=started - 1, exclude_resources=())
    assert writes, "no write requests from the ServiceAccount in the audit log"
    denied = [w for w in writes if (w.get("responseStatus") or {}).get("code", 200) == 403]
    assert not denied, f"forbidden writes: {[(w['verb'], w.get('objectRef')) for w in denied]}"


@pytest.mark.parametrize("mode", ["cluster-wide", "namespaced"])
def test_chart_rbac_denies_what_the_operator_must_not_do(
    cluster: Any, release: dict[str, str], other_namespace: str, mode: str
) -> None:
    name, ns, user = release["name"], release["namespace"], release["user"]
    args = ["install", name, str(CHART), "-n", ns, "--set", f"peering.name={release['peering']}"]
    if mode == "namespaced":
        args += ["--set", f"watchNamespaces={{{ns}}}"]
    helm_ok(cluster, *args)

    def wait_granted() -> bool:
        return can_i(cluster, user, "list", "nodes")

    wait_until(wait_granted, 30, what="RBAC of the release to take effect")

    # Needed, and granted.
    assert can_i(cluster, user, "watch", "nodes")
    assert can_i(cluster, user, "create", "deployments.apps", ns)
    assert can_i(cluster, user, "delete", "pods", ns)
    assert can_i(cluster, user, "create", "pods", ns, subresource="eviction")
    assert can_i(cluster, user, "patch", "modeldeployments.modelserve.io", ns, subresource="status")
    assert can_i(cluster, user, "patch", "horizontalpodautoscalers.autoscaling", ns)
    assert can_i(cluster, user, "create", "events", ns)

    # Never granted.
    assert not can_i(cluster, user, "delete", "nodes")
    assert not can_i(cluster, user, "patch", "nodes")
    assert not can_i(cluster, user, "get", "secrets", ns)
    assert not can_i(cluster, user, "list", "secrets")
    assert not can_i(cluster, user, "get", "configmaps", ns)
    assert not can_i(cluster, user, "create", "clusterroles.rbac.authorization.k8s.io")
    assert not can_i(cluster, user, "create", "rolebindings.rbac.authorization.k8s.io", ns)
    assert not can_i(cluster, user, "create", "pods", ns)
    assert not can_i(cluster, user, "create", "modeldeployments.modelserve.io", ns)
    assert not can_i(cluster, user, "delete", "customresourcedefinitions.apiextensions.k8s.io")
    assert not can_i(cluster, user, "impersonate", "users")

    if mode == "namespaced":
        assert not can_i(cluster, user, "create", "deployments.apps", other_namespace)
        assert not can_i(cluster, user, "list", "modeldeployments.modelserve.io", other_namespace)
        assert not can_i(cluster, user, "patch", "clusterkopfpeerings.kopf.dev")
    else:
        assert can_i(cluster, user, "create", "deployments.apps", other_namespace)
        assert can_i(cluster, user, "patch", "clusterkopfpeerings.kopf.dev")
