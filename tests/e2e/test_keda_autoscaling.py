"""Reactive autoscaling through KEDA: the operator writes ScaledObjects, KEDA makes and feeds the HPAs.

KEDA (its operator and its external.metrics.k8s.io server) is built from its Go module and runs out of
cluster against the local control plane (localcluster/keda.py). Not part of `make test` (a cold KEDA
build takes long: docs/autoscaling.md): `make e2e-keda` builds KEDA and runs this file (marker `keda`,
deselected by default in pyproject.toml).

The scenario of test_reactive_autoscaling.py with `spec.autoscaling.engine: keda`:

0. applied before KEDA is installed, the model is Degraded naming `spec.autoscaling.engine`; KEDA is
   started (its CRDs appear) and the operator picks the model up by itself;
1. the operator writes a ScaledObject (a Prometheus trigger on the revision's demand, AverageValue 5
   per pod, `minReplicaCount` the floor) and no HPA of its own; KEDA creates `keda-hpa-<name>`;
2. demand 14 req/s on one pod: KEDA's HPA scales up to at least 3;
3. a canary at 25 %: a ScaledObject (and so a KEDA HPA) per revision;
4. demand doubles to 28 req/s: both revisions scale up;
5. demand falls to 2 req/s: both scale down after the stabilisation window (shortened by the test to
   15 s in the ScaledObjects' `spec.advanced`, with its own field manager) to one pod each.
Throughout, no request is routed to a revision without a ready pod, and no operator write sets
`spec.replicas` of a Deployment KEDA's HPA scales (the audit log).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from modelserve.localcluster.keda import LocalKeda

from tests.e2e.harness import Kube, condition, wait_until
from tests.e2e.reactive import (
    NAME,
    assert_no_replica_write_reversed_the_autoscaler,
    model,
    replicas,
    scale_both_revisions_with_demand,
    status,
)

pytestmark = pytest.mark.keda


def scaled_objects(kube: Kube, namespace: str) -> dict[str, dict]:
    return {s["metadata"]["name"]: s for s in kube.items("scaledobjects.keda.sh", namespace)}


def keda_hpas(kube: Kube, namespace: str) -> dict[str, dict]:
    """The HPAs by ScaledObject name; every HPA in the namespace must be KEDA's."""
    hpas = kube.items("hpa", namespace)
    assert all(h["metadata"]["name"].startswith("keda-hpa-") for h in hpas), [
        h["metadata"]["name"] for h in hpas
    ]
    return {h["metadata"]["name"].removeprefix("keda-hpa-"): h for h in hpas}


def shorten_scale_down(kube: Kube, namespace: str) -> None:
    """Every ScaledObject's HPA scale-down stabilisation to 15 s (the test's own field manager; the
    operator does not own `spec.advanced`), then wait until KEDA has carried it into its HPAs."""
    names = sorted(scaled_objects(kube, namespace))
    for name in names:
        patch = {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "advanced": {
                    "horizontalPodAutoscalerConfig": {
                        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 15}}
                    }
                }
            },
        }
        kube.run("apply", "--server-side", "--field-manager=e2e-test", "-f", "-", input=yaml.safe_dump(patch))

    def carried() -> bool:
        hpas = keda_hpas(kube, namespace)
        return all(
            ((hpas.get(n) or {}).get("spec", {}).get("behavior") or {})
            .get("scaleDown", {})
            .get("stabilizationWindowSeconds")
            == 15
            for n in names
        )

    wait_until(carried, 60, what="KEDA's HPAs with the shortened scale-down window")


def test_keda_scales_from_prometheus_and_through_a_canary(
    kube: Kube, cluster: object, namespace: str, workdir: Path, operator: object, simulator: object
) -> None:
    started = time.time()
    # 0. Before KEDA is installed, engine: keda is an invalid spec naming the field; once KEDA's CRDs
    # appear, the operator picks the model up again by itself (its catalogue refresh, every 15 s).
    kube.apply(model("1", engine="keda"), namespace)
    wait_until(
        lambda: (
            "spec.autoscaling.engine"
            in ((condition(md(kube, namespace), "Degraded") or {}).get("message") or "")
        ),
        60,
        what="Degraded naming spec.autoscaling.engine without KEDA",
    )
    with LocalKeda(cluster, workdir / f"keda-{namespace}") as keda:  # type: ignore[arg-type]
        try:
            _scenario(kube, cluster, namespace, simulator, started)
        except BaseException:
            # What a failure needs to be understood afterwards (CI keeps no work directory).
            print("status:", yaml.safe_dump(status(kube, namespace)))
            print("scaledobjects:", yaml.safe_dump(scaled_objects(kube, namespace)))
            print("hpas:", yaml.safe_dump(kube.items("hpa", namespace)))
            print("keda-operator:", keda.operator.tail(40) if keda.operator else "")
            print("keda-adapter:", keda.adapter.tail(20) if keda.adapter else "")
            raise
        finally:
            # KEDA's finalizer on the ScaledObjects: let KEDA remove them while it still runs.
            kube.run("delete", "modeldeployment", NAME, "-n", namespace, "--ignore-not-found", check=False)
            wait_until(lambda: not scaled_objects(kube, namespace), 60, what="the ScaledObjects deleted")


def md(kube: Kube, namespace: str) -> dict | None:
    return kube.get("modeldeployment", NAME, namespace)


def _scenario(kube: Kube, cluster: object, namespace: str, simulator: object, started: float) -> None:
    wait_until(lambda: status(kube, namespace).get("phase") == "Ready", 90, what="the model Ready with KEDA")
    stable = status(kube, namespace)["stableRevision"]

    # 1. A ScaledObject, and KEDA's HPA from it.
    wait_until(lambda: NAME in keda_hpas(kube, namespace), 60, what="KEDA's HPA keda-hpa-reactive")
    so = scaled_objects(kube, namespace)[NAME]
    assert so["spec"]["minReplicaCount"] == 1 and so["spec"]["maxReplicaCount"] == 8
    (trigger,) = so["spec"]["triggers"]
    assert trigger["type"] == "prometheus" and f'revision="{stable}"' in trigger["metadata"]["query"]
    assert keda_hpas(kube, namespace)[NAME]["spec"]["minReplicas"] == 1
    shorten_scale_down(kube, namespace)
    sim = simulator(NAME, rps=14.0, per_pod=True)  # type: ignore[operator]

    # 2. Up: 14 req/s over one pod against a target of 5 per pod.
    wait_until(lambda: replicas(kube, namespace, stable) >= 3, 150, what="KEDA's HPA scaling up to 3")

    # 3. A canary at 25 %: a ScaledObject and a KEDA HPA per revision.
    kube.apply(model("2", engine="keda"), namespace)
    wait_until(lambda: status(kube, namespace).get("canaryWeight") == 25, 90, what="the canary at 25 %")
    candidate = status(kube, namespace)["candidateRevision"]
    wait_until(lambda: len(keda_hpas(kube, namespace)) == 2, 60, what="a KEDA HPA per revision")
    assert len(scaled_objects(kube, namespace)) == 2
    shorten_scale_down(kube, namespace)

    # 4. Demand doubles: both revisions scale up; 5. it falls: both scale down. No unserved request.
    scale_both_revisions_with_demand(kube, namespace, sim, stable, candidate, timeout=150)
    assert_no_replica_write_reversed_the_autoscaler(kube, Path(cluster.audit_log), started, namespace)  # type: ignore[attr-defined]
