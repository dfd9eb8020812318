"""What the reactive-autoscaling e2e tests share (prometheus-adapter's path and KEDA's): the model,
how its Deployments and status are read, and the operator's writes of `spec.replicas`."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.e2e.conftest import OPERATOR_USER
from tests.e2e.harness import Kube, operator_writes, wait_until

NAME = "reactive"


def model(version: str, *, name: str = NAME, engine: str | None = None) -> dict:
    """Target 5 req/s per pod, min 1, max 8; a canary that pauses at 25 %."""
    autoscaling: dict = {
        "minReplicas": 1,
        "maxReplicas": 8,
        "target": {"metric": "requestsPerSecond", "averageValue": 5},
    }
    if engine is not None:
        autoscaling["engine"] = engine
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {
                "name": name,
                "version": version,
                "uri": f"s3://models/{name}/{version}",
                "format": "sklearn",
            },
            "runtime": {
                "image": "registry.example.com/sklearn-server:1.4",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                "startupSeconds": 5,
            },
            "autoscaling": autoscaling,
            "rollout": {"strategy": "canary", "canary": {"steps": [{"setWeight": 25}, {"pause": {}}]}},
        },
    }


def deployments(kube: Kube, namespace: str, name: str = NAME) -> dict[str, dict]:
    """The model's Deployments by revision."""
    return {
        d["metadata"]["labels"]["modelserve.io/revision"]: d
        for d in kube.items("deployments", namespace, f"app.kubernetes.io/instance={name}")
    }


def replicas(kube: Kube, namespace: str, revision: str, name: str = NAME) -> int:
    dep = deployments(kube, namespace, name).get(revision)
    return int((dep or {}).get("spec", {}).get("replicas") or 0)


def status(kube: Kube, namespace: str, name: str = NAME) -> dict:
    return (kube.get("modeldeployment", name, namespace) or {}).get("status") or {}


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


def assert_no_replica_write_reversed_the_autoscaler(
    kube: Kube, audit_log: Path, since: float, namespace: str
) -> None:
    """The operator never wrote spec.replicas of a Deployment an HPA scales: only at creation (201) or as
    the handover's restatement of the live count; and its applied fields never include it."""
    writes = replica_writes(audit_log, since, namespace)
    assert writes, "the audit log shows the Deployments' creation"
    for name, count, manager, code in writes:
        assert code == 201 or manager == "modelserve-handover", (name, count, manager, code)
    for dep in deployments(kube, namespace).values():
        for entry in dep["metadata"].get("managedFields") or []:
            if entry.get("manager") == "modelserve" and entry.get("operation") == "Apply":
                assert "f:replicas" not in (entry.get("fieldsV1") or {}).get("f:spec", {}), dep["metadata"][
                    "name"
                ]


def scale_both_revisions_with_demand(
    kube: Kube, namespace: str, sim: Any, stable: str, candidate: str, *, timeout: float
) -> None:
    """During the canary at 25 %: demand doubles to 28 req/s and both revisions scale up; it falls to
    2 req/s and both scale down to one pod after the (shortened) window; the weight never moves, and
    no request was routed to a revision without a ready pod."""
    before = {stable: replicas(kube, namespace, stable), candidate: replicas(kube, namespace, candidate)}
    sim.set_rps(28.0)
    wait_until(
        lambda: (
            replicas(kube, namespace, stable) > before[stable]
            and replicas(kube, namespace, candidate) > before[candidate]
        ),
        timeout,
        what=f"both revisions scaling up from {before}",
    )
    assert status(kube, namespace).get("canaryWeight") == 25

    sim.set_rps(2.0)
    wait_until(
        lambda: replicas(kube, namespace, stable) == 1 and replicas(kube, namespace, candidate) == 1,
        timeout,
        what="both revisions scaling back down to 1",
    )
    assert status(kube, namespace).get("canaryWeight") == 25

    unserved = [r for r in sim.history(NAME) if r.unserved]
    assert not unserved, unserved
