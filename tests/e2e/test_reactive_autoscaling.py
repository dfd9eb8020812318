"""Reactive autoscaling for real: prometheus-adapter serves the HPA's per-pod metric from Prometheus.

The adapter is built from its Go module (hack/build-binaries.sh), registered as the APIService of
custom.metrics.k8s.io (localcluster/adapter.py) and runs with the rules the chart ships
(`prometheusAdapter.rules.custom` in charts/modelserve/values.yaml). The traffic simulator counts
`modelserve_requests_total` per ready pod, as a scraped model server does; the real HPA controller
reads the adapter's rates and scales the Deployment the operator created.

One scenario, one ModelDeployment (target 5 req/s per pod, min 1, max 8):

1. demand 14 req/s on one pod: the HPA scales up to at least 3;
2. a canary at 25 % (replica-ratio router): one HPA per revision;
3. demand doubles to 28 req/s: both revisions' HPAs scale their Deployments up;
4. demand falls to 2 req/s: both scale down after their stabilisation window (shortened by the test
   to 15 s with its own field manager; the operator does not own `spec.behavior`) to one pod each.
Throughout, no request is routed to a revision without a ready pod, and the operator's writes (the
audit log) never set `spec.replicas` of a Deployment an HPA scales (only when creating one, or the
handover's restatement of the live count).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from modelserve.localcluster.adapter import MetricsAdapter

from tests.e2e.conftest import OPERATOR_USER
from tests.e2e.harness import REPO, Kube, operator_writes, wait_until

METRIC = "modelserve_requests_per_second"
NAME = "reactive"


def chart_rules() -> list[dict]:
    """The adapter rules exactly as the chart ships them (one source for users and this test)."""
    values = yaml.safe_load((REPO / "charts" / "modelserve" / "values.yaml").read_text())
    return values["prometheusAdapter"]["rules"]["custom"]


@pytest.fixture
def adapter(cluster: object, prometheus: object, workdir: Path) -> Iterator[MetricsAdapter]:
    with MetricsAdapter(cluster, prometheus.url, chart_rules(), workdir / "adapter") as running:  # type: ignore[arg-type,attr-defined]
        yield running


def model(version: str) -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": NAME},
        "spec": {
            "model": {
                "name": NAME,
                "version": version,
                "uri": f"s3://models/{NAME}/{version}",
                "format": "sklearn",
            },
            "runtime": {
                "image": "registry.example.com/sklearn-server:1.4",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                "startupSeconds": 5,
            },
            "autoscaling": {
                "minReplicas": 1,
                "maxReplicas": 8,
                "target": {"metric": "requestsPerSecond", "averageValue": 5},
            },
            "rollout": {"strategy": "canary", "canary": {"steps": [{"setWeight": 25}, {"pause": {}}]}},
        },
    }


def deployments(kube: Kube, namespace: str) -> dict[str, dict]:
    return {
        d["metadata"]["labels"]["modelserve.io/revision"]: d
        for d in kube.items("deployments", namespace, f"app.kubernetes.io/instance={NAME}")
    }


def replicas(kube: Kube, namespace: str, revision: str) -> int:
    dep = deployments(kube, namespace).get(revision)
    return int((dep or {}).get("spec", {}).get("replicas") or 0)


def shorten_scale_down(kube: Kube, namespace: str) -> None:
    """The HPAs' scale-down stabilisation to 15 s, applied by the test (its own field manager)."""
    for hpa in kube.items("hpa", namespace):
        patch = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": hpa["metadata"]["name"], "namespace": namespace},
            "spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 15}}},
        }
        kube.run("apply", "--server-side", "--field-manager=e2e-test", "-f", "-", input=yaml.safe_dump(patch))


def status(kube: Kube, namespace: str) -> dict:
    return (kube.get("modeldeployment", NAME, namespace) or {}).get("status") or {}


def replica_writes(audit_log: Path, since: float, namespace: str) -> list[tuple[str, int, str, int]]:
    """(deployment, spec.replicas, field manager, response code) of every operator write that set it,
    in this test's namespace (other tests' models may still be winding down)."""
    out = []
    for entry in operator_writes(audit_log, OPERATOR_USER, since):
        ref = entry.get("objectRef") or {}
        if ref.get("resource") != "deployments" or ref.get("namespace") != namespace:
            continue
        spec = (entry.get("requestObject") or {}).get("spec") or {}
        if "replicas" in spec or ref.get("subresource") == "scale":
            manager = parse_qs(urlparse(entry.get("requestURI", "")).query).get("fieldManager", [""])[0]
            code = int((entry.get("responseStatus") or {}).get("code") or 0)
            out.append((ref.get("name", ""), int(spec.get("replicas") or 0), manager, code))
    return out


def test_hpa_scales_from_the_adapters_metric_and_through_a_canary(
    kube: Kube, cluster: object, namespace: str, operator: object, simulator: object, adapter: MetricsAdapter
) -> None:
    started = time.time()
    kube.apply(model("1"), namespace)
    wait_until(lambda: status(kube, namespace).get("phase") == "Ready", 60, what="the model Ready")
    stable = status(kube, namespace)["stableRevision"]
    wait_until(lambda: kube.items("hpa", namespace), 30, what="the HPA")
    shorten_scale_down(kube, namespace)
    sim = simulator(NAME, rps=14.0, per_pod=True)  # type: ignore[operator]
    selector = f"app.kubernetes.io/instance={NAME}"

    # 1. Up: 14 req/s over one pod is 14 per pod against a target of 5.
    wait_until(
        lambda: adapter.pod_metric(namespace, METRIC, selector), 90, what="the adapter serving the metric"
    )
    wait_until(lambda: replicas(kube, namespace, stable) >= 3, 90, what="the HPA scaling up to 3")

    # 2. A canary at 25 %: an HPA per revision.
    kube.apply(model("2"), namespace)
    wait_until(lambda: status(kube, namespace).get("canaryWeight") == 25, 90, what="the canary at 25 %")
    candidate = status(kube, namespace)["candidateRevision"]
    wait_until(lambda: len(kube.items("hpa", namespace)) == 2, 30, what="an HPA per revision")
    shorten_scale_down(kube, namespace)

    # 3. Demand doubles: both revisions scale up.
    before = {stable: replicas(kube, namespace, stable), candidate: replicas(kube, namespace, candidate)}
    sim.set_rps(28.0)
    wait_until(
        lambda: (
            replicas(kube, namespace, stable) > before[stable]
            and replicas(kube, namespace, candidate) > before[candidate]
        ),
        120,
        what=f"both revisions scaling up from {before}",
    )
    assert status(kube, namespace).get("canaryWeight") == 25

    # 4. Demand falls: both scale down after the (shortened) stabilisation window, to one pod each.
    sim.set_rps(2.0)
    wait_until(
        lambda: replicas(kube, namespace, stable) == 1 and replicas(kube, namespace, candidate) == 1,
        120,
        what="both revisions scaling back down to 1",
    )
    assert status(kube, namespace).get("canaryWeight") == 25

    # Nothing was routed to a revision without a ready pod.
    unserved = [r for r in sim.history(NAME) if r.unserved]
    assert not unserved, unserved
    # The operator never wrote spec.replicas of a Deployment an HPA scales: only at creation (201) or
    # as the handover's restatement of the live count.
    writes = replica_writes(Path(cluster.audit_log), started, namespace)  # type: ignore[attr-defined]
    assert writes, "the audit log shows the Deployments' creation"
    for name, count, manager, code in writes:
        assert code == 201 or manager == "modelserve-handover", (name, count, manager, code)
    for dep in deployments(kube, namespace).values():
        for entry in dep["metadata"].get("managedFields") or []:
            if entry.get("manager") == "modelserve" and entry.get("operation") == "Apply":
                assert "f:replicas" not in (entry.get("fieldsV1") or {}).get("f:spec", {}), dep["metadata"][
                    "name"
                ]
