"""A reconcile lists the model's pods only when they can tell it something (planner/model_fetch.py
`pods_needed`): placement, a Deployment not settled, or a ModelFetchFailed to clear."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from modelserve.api import constants as c
from modelserve.planner.model_fetch import deployment_settled, pods_needed
from modelserve.reconcile.context import Context
from modelserve.reconcile.shell import observe

from tests.unit.test_reconcile_errors import FakeKube


def deployment(
    name: str, replicas: int = 2, available: int = 2, generation: int = 1, observed: int = 1
) -> dict:
    return {
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": "ml",
            "generation": generation,
            "labels": {c.LABEL_INSTANCE: "geo", c.LABEL_MANAGED_BY: c.MANAGED_BY},
            "ownerReferences": [{"uid": "u-1"}],
        },
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": observed,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": available,
            "availableReplicas": available,
            **({"unavailableReplicas": replicas - available} if available < replicas else {}),
        },
    }


FETCH_FAILED = {"conditions": [{"type": c.COND_MODEL_FETCH_FAILED, "status": "True"}]}


def test_settled_deployments_without_placement_need_no_pods() -> None:
    settled = {"geo-a": deployment("geo-a"), "geo-b": deployment("geo-b", replicas=0, available=0)}
    assert not pods_needed(settled, placement=False, status={})
    assert pods_needed(settled, placement=True, status={})
    assert pods_needed(settled, placement=False, status=FETCH_FAILED)
    cleared = {"conditions": [{"type": c.COND_MODEL_FETCH_FAILED, "status": "False"}]}
    assert not pods_needed(settled, placement=False, status=cleared)
    assert not pods_needed({}, placement=False, status={})


def test_a_deployment_not_settled_needs_the_pods() -> None:
    assert not deployment_settled(deployment("d", available=1))  # a pod failing its init container
    assert not deployment_settled(deployment("d", generation=2, observed=1))  # spec change not seen yet
    assert not deployment_settled({"metadata": {"name": "new"}, "spec": {"replicas": 1}})  # no status yet
    assert pods_needed({"a": deployment("a"), "b": deployment("b", available=0)}, placement=False, status={})


@given(replicas=st.integers(0, 20), available=st.integers(0, 20), behind=st.booleans())
def test_settled_exactly_when_every_replica_is_available_and_observed(
    replicas: int, available: int, behind: bool
) -> None:
    available = min(available, replicas)
    d = deployment("d", replicas, available, generation=2, observed=1 if behind else 2)
    assert deployment_settled(d) == (available == replicas and not behind)


class RecordingKube(FakeKube):
    def __init__(self, *objects: dict):
        super().__init__(*objects)
        self.listed: list[str] = []

    def list(self, kind: str, namespace: str | None = None, label_selector: str | None = None) -> list[dict]:
        self.listed.append(kind)
        return super().list(kind, namespace, label_selector)


def body(status: dict | None = None) -> dict[str, Any]:
    return {
        "kind": "ModelDeployment",
        "metadata": {"name": "geo", "namespace": "ml", "uid": "u-1", "generation": 1},
        "spec": {"model": {"name": "geo", "version": "1", "uri": "s3://m/geo/1", "format": "sklearn"}},
        "status": status or {},
    }


def test_observe_skips_the_pod_list_of_a_settled_model() -> None:
    pod = {"kind": "Pod", "metadata": {"name": "geo-a-1", "namespace": "ml"}}
    kube = RecordingKube(deployment("geo-a"), pod)
    observed, _ = observe(Context(kube=kube), body())  # type: ignore[arg-type]
    assert "Pod" not in kube.listed and observed.pods == []
    kube = RecordingKube(deployment("geo-a", available=1), pod)
    observed, _ = observe(Context(kube=kube), body())  # type: ignore[arg-type]
    assert "Pod" in kube.listed and [p["metadata"]["name"] for p in observed.pods] == ["geo-a-1"]
    kube = RecordingKube(deployment("geo-a"), pod)
    observe(Context(kube=kube), body(FETCH_FAILED))  # type: ignore[arg-type]
    assert "Pod" in kube.listed
