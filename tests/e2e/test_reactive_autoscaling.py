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

import pytest
import yaml
from modelserve.localcluster.adapter import MetricsAdapter

from tests.e2e.harness import REPO, Kube, wait_until
from tests.e2e.reactive import (
    NAME,
    assert_no_replica_write_reversed_the_autoscaler,
    model,
    replicas,
    scale_both_revisions_with_demand,
    status,
)

METRIC = "modelserve_requests_per_second"


def chart_rules() -> list[dict]:
    """The adapter rules exactly as the chart ships them (one source for users and this test)."""
    values = yaml.safe_load((REPO / "charts" / "modelserve" / "values.yaml").read_text())
    return values["prometheusAdapter"]["rules"]["custom"]


@pytest.fixture
def adapter(cluster: object, prometheus: object, workdir: Path) -> Iterator[MetricsAdapter]:
    with MetricsAdapter(cluster, prometheus.url, chart_rules(), workdir / "adapter") as running:  # type: ignore[arg-type,attr-defined]
        yield running


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


@pytest.mark.side_lane  # 2.5 minutes, paced by the HPA's sync and stabilization (hack/e2e-lanes.sh)
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

    # 3. Demand doubles: both revisions scale up; 4. it falls: both scale down. No unserved request.
    scale_both_revisions_with_demand(kube, namespace, sim, stable, candidate, timeout=120)

    # The operator never wrote spec.replicas of a Deployment an HPA scales.
    assert_no_replica_write_reversed_the_autoscaler(kube, Path(cluster.audit_log), started, namespace)  # type: ignore[attr-defined]
