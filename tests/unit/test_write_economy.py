"""Write economy (issue 18): a new model's start costs one status write and at most one Event; no status
patch repeats what is stored; Events are filtered like client-go's event recorder in a storm."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from modelserve.api.events import EventFilter, EventSpec
from modelserve.k8s.apply import status_patch
from modelserve.planner.modeldeployment import Observed, plan_model_deployment
from modelserve.planner.settle import (
    CLUSTER_LAG_CAP_SECONDS,
    SETTLE_SECONDS,
    ClusterStart,
    cluster_began,
    first_status_delay,
)
from modelserve.reconcile.context import Context
from modelserve.reconcile.shell import reconcile_model_deployment

from tests.unit.test_reconcile_errors import FakeKube

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
CREATED = "2026-12-03T12:00:00Z"


def new_model(replicas: int = 1) -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {
            "name": "eco",
            "namespace": "ml",
            "uid": "u-1",
            "generation": 1,
            "creationTimestamp": CREATED,
        },
        "spec": {
            "model": {"name": "eco", "version": "1", "uri": "s3://m/eco/1", "format": "sklearn"},
            "runtime": {"image": "srv:1"},
            "replicas": replicas,
        },
    }


def make_ready(kube: FakeKube) -> None:
    """What the Deployment controller does: every owned Deployment's pods become ready."""
    for (kind, _), obj in kube.objects.items():
        if kind == "Deployment":
            n = obj["spec"].get("replicas", 1)
            obj["metadata"]["generation"] = 1
            obj["status"] = {
                "observedGeneration": 1,
                "replicas": n,
                "readyReplicas": n,
                "availableReplicas": n,
            }


def test_a_new_model_that_becomes_ready_quickly_costs_one_status_write_and_one_event() -> None:
    kube = FakeKube(new_model())
    clock = [NOW + timedelta(seconds=1)]
    ctx = Context(kube=kube, clock=lambda: clock[0])  # type: ignore[arg-type]
    requeue = reconcile_model_deployment(ctx, "ml", "eco")
    assert kube.status_patches == [] and kube.events == []  # Pending 0/1 is not narrated
    assert requeue is not None and 0 < requeue <= CLUSTER_LAG_CAP_SECONDS  # a fallback: events bring it back
    assert [k for k, _ in kube.objects].count("Deployment") == 1  # owned objects are applied at once
    make_ready(kube)
    clock[0] += timedelta(seconds=2)
    reconcile_model_deployment(ctx, "ml", "eco")
    for _ in range(3):  # resyncs and watch events: nothing more to say
        clock[0] += timedelta(seconds=15)
        reconcile_model_deployment(ctx, "ml", "eco")
    assert len(kube.status_patches) == 1, kube.status_patches
    assert kube.status_patches[0]["phase"] == "Ready"
    assert len(kube.events) == 1, kube.events


def start_pods(kube: FakeKube, bound_at: datetime) -> None:
    """What the Deployment controller and the scheduler do before the model's own start: each owned
    Deployment observed with its pods created, each pod bound to a node at `bound_at`."""
    for (kind, _), obj in list(kube.objects.items()):
        if kind == "Deployment":
            n = obj["spec"].get("replicas", 1)
            obj["metadata"]["generation"] = 1
            obj["status"] = {"observedGeneration": 1, "replicas": n, "unavailableReplicas": n}
            labels = obj["spec"]["template"]["metadata"]["labels"]
            for i in range(n):
                name = f"{obj['metadata']['name']}-{i}"
                kube.objects[("Pod", name)] = {
                    "kind": "Pod",
                    "metadata": {"name": name, "namespace": "ml", "labels": dict(labels)},
                    "spec": {"nodeName": "node-1"},
                    "status": {
                        "phase": "Pending",
                        "conditions": [
                            {
                                "type": "PodScheduled",
                                "status": "True",
                                "lastTransitionTime": bound_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            }
                        ],
                    },
                }


def test_a_new_model_still_pending_after_the_settle_time_gets_its_status() -> None:
    kube = FakeKube(new_model())
    clock = [NOW]
    ctx = Context(kube=kube, clock=lambda: clock[0])  # type: ignore[arg-type]
    reconcile_model_deployment(ctx, "ml", "eco")
    assert kube.status_patches == []
    start_pods(kube, NOW + timedelta(seconds=2))
    clock[0] += timedelta(seconds=3)
    requeue = reconcile_model_deployment(ctx, "ml", "eco")
    assert kube.status_patches == [] and requeue == SETTLE_SECONDS - 1  # ten seconds from the binding
    clock[0] += timedelta(seconds=SETTLE_SECONDS)
    reconcile_model_deployment(ctx, "ml", "eco")
    assert [p["phase"] for p in kube.status_patches] == ["Pending"]


def test_a_lagging_control_plane_holds_the_first_status_at_most_the_cap() -> None:
    kube = FakeKube(new_model())
    clock = [NOW]
    ctx = Context(kube=kube, clock=lambda: clock[0])  # type: ignore[arg-type]
    reconcile_model_deployment(ctx, "ml", "eco")
    clock[0] += timedelta(seconds=SETTLE_SECONDS + 1)
    reconcile_model_deployment(ctx, "ml", "eco")
    assert kube.status_patches == []  # the controller has not even observed its Deployment
    clock[0] = NOW + timedelta(seconds=CLUSTER_LAG_CAP_SECONDS)
    reconcile_model_deployment(ctx, "ml", "eco")
    assert [p["phase"] for p in kube.status_patches] == ["Pending"]


def test_unschedulable_or_failing_replicas_are_news_at_once() -> None:
    dep = {
        "metadata": {"name": "d", "generation": 1},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1, "replicas": 1},
    }
    unschedulable = {
        "spec": {},
        "status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]},
    }
    assert cluster_began(["d"], {"d": dep}, [unschedulable]) == ClusterStart(True, None)
    assert cluster_began(["d"], {"d": dep}, [{"spec": {}, "status": {}}]) == ClusterStart(False)
    failing = copy.deepcopy(dep)
    failing["status"] = {"conditions": [{"type": "ReplicaFailure", "status": "True"}]}
    assert cluster_began(["d"], {"d": failing}, []) == ClusterStart(True, None)
    assert cluster_began(["d"], {}, []) == ClusterStart(False)  # not applied yet
    assert cluster_began(["d"], {"d": {**dep, "status": {}}}, []) == ClusterStart(False)  # not observed


@given(
    created=st.floats(0, 300),
    started=st.one_of(st.none(), st.floats(0, 600)),
    begun=st.booleans(),
    bound=st.one_of(st.none(), st.floats(0, 900)),
    now=st.floats(0, 1200),
)
def test_the_first_status_hold_is_bounded(
    created: float, started: float | None, begun: bool, bound: float | None, now: float
) -> None:
    """Whatever the timings: the hold ends at most the cap after the apply (or creation), and once the
    control plane has begun, at most the settle time after the later of that and the last binding."""
    body = copy.deepcopy(new_model())
    stamp = (NOW + timedelta(seconds=created)).replace(microsecond=0)  # the timestamp has whole seconds
    body["metadata"]["creationTimestamp"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    created = (stamp - NOW).total_seconds()
    at = lambda s: NOW + timedelta(seconds=s)  # noqa: E731
    cluster = ClusterStart(begun, at(bound) if bound is not None else None)
    left = first_status_delay(
        body, {"phase": "Pending"}, at(now), at(started) if started is not None else None, cluster
    )
    origin = min(max(created, started if started is not None else created), now)
    if left is None:
        return
    assert 0 < left <= CLUSTER_LAG_CAP_SECONDS + 1e-6
    end = now + left
    assert end <= origin + CLUSTER_LAG_CAP_SECONDS + 1e-6
    if begun:
        assert end <= max(origin, min(bound if bound is not None else origin, now)) + SETTLE_SECONDS + 1e-6


@given(
    queued=st.floats(0, 600),
    ready_after=st.floats(0, SETTLE_SECONDS - 0.5),
    resyncs=st.integers(0, 3),
)
def test_in_a_storm_a_model_reached_late_still_costs_one_status_write_and_one_event(
    queued: float, ready_after: float, resyncs: int
) -> None:
    """However long a new model waited in the queue before its first reconcile (a thousand created at
    once), the settle time counts from when its objects were first applied: a model whose pods are ready
    within it costs one status write (Ready) and one Event."""
    kube = FakeKube(new_model())
    clock = [NOW + timedelta(seconds=queued)]
    ctx = Context(kube=kube, clock=lambda: clock[0])  # type: ignore[arg-type]
    requeue = reconcile_model_deployment(ctx, "ml", "eco")
    assert kube.status_patches == [] and kube.events == []
    assert requeue is not None and abs(requeue - CLUSTER_LAG_CAP_SECONDS) < 1e-6  # not begun: a fallback
    clock[0] += timedelta(seconds=ready_after)
    make_ready(kube)
    reconcile_model_deployment(ctx, "ml", "eco")
    for _ in range(resyncs):
        clock[0] += timedelta(seconds=60)
        reconcile_model_deployment(ctx, "ml", "eco")
    assert [p["phase"] for p in kube.status_patches] == ["Ready"], kube.status_patches
    assert len(kube.events) <= 1, kube.events
    assert ctx.settling_since == {}


def test_the_settle_time_counts_from_the_first_apply_when_that_is_later() -> None:
    body = new_model()
    pending = {"phase": "Pending", "conditions": []}
    late = NOW + timedelta(seconds=300)
    assert first_status_delay(body, pending, late) is None  # by creation alone: long past
    assert first_status_delay(body, pending, late, started=late) == SETTLE_SECONDS
    assert first_status_delay(body, pending, late, started=late - timedelta(seconds=4)) == SETTLE_SECONDS - 4
    # an earlier `started` (a clock skew) never extends the hold beyond the creation's
    early = NOW - timedelta(seconds=50)
    assert first_status_delay(body, pending, NOW + timedelta(seconds=3), started=early) == SETTLE_SECONDS - 3


def test_the_first_status_is_written_at_once_when_there_is_something_to_say() -> None:
    body = new_model()
    pending = {"phase": "Pending", "conditions": []}
    assert first_status_delay(body, pending, NOW) == SETTLE_SECONDS
    degraded = {"phase": "Pending", "conditions": [{"type": "Degraded", "status": "True"}]}
    assert first_status_delay(body, degraded, NOW) is None
    assert first_status_delay(body, {"phase": "Degraded"}, NOW) is None
    assert first_status_delay({**body, "status": {"observedGeneration": 1}}, pending, NOW) is None
    no_timestamp = copy.deepcopy(body)
    del no_timestamp["metadata"]["creationTimestamp"]
    assert first_status_delay(no_timestamp, pending, NOW) is None  # e.g. `modelserve render`


@given(replicas=st.integers(0, 5), ready=st.integers(0, 5))
def test_the_planned_status_is_a_fixed_point(replicas: int, ready: int) -> None:
    """Planned again on the same observed state, the status it wrote needs no second patch."""
    body = new_model(replicas)
    first = plan_model_deployment(body, Observed(), NOW)
    deployments = {}
    for d in first.desired:
        if d["kind"] == "Deployment":
            live = copy.deepcopy(d)
            live["metadata"]["generation"] = 1
            live["status"] = {
                "observedGeneration": 1,
                "replicas": replicas,
                "readyReplicas": min(ready, replicas),
            }
            deployments[d["metadata"]["name"]] = live
    observed = Observed(deployments=deployments)
    status = plan_model_deployment(body, observed, NOW).status
    again = plan_model_deployment({**body, "status": status}, observed, NOW + timedelta(seconds=30))
    assert status_patch(status, again.status) is None
    assert again.events == []


def test_the_same_event_again_within_the_window_is_dropped() -> None:
    f = EventFilter()
    ready = EventSpec("Normal", "Ready", "Pending -> Ready: 1/1 replicas ready")
    assert f.admit("u-1", ready, 0.0)
    assert not f.admit("u-1", ready, 10.0)
    assert f.admit("u-2", ready, 10.0)  # another object
    assert f.admit("u-1", EventSpec("Normal", "Ready", "Pending -> Ready: 2/2 replicas ready"), 11.0)
    assert f.admit("u-1", ready, f.window + 1)  # the window has passed
    assert f.dropped == 1


@given(st.lists(st.integers(0, 30), min_size=1, max_size=300))
def test_a_storm_on_one_object_is_limited_by_its_bucket(messages: list[int]) -> None:
    """Whatever an object says, one second apart, at most the burst plus one per refill period is posted."""
    f = EventFilter()
    posted = sum(
        f.admit("u-1", EventSpec("Warning", "ReconcileError", f"failure {m}"), float(t))
        for t, m in enumerate(messages)
    )
    assert posted <= f.burst + len(messages) / f.refill_seconds + 1
    assert posted + f.dropped == len(messages)


def test_the_bucket_refills_over_time() -> None:
    f = EventFilter(burst=2, refill_seconds=30)
    assert [f.admit("u", EventSpec("Warning", "X", str(i)), 0.0) for i in range(3)] == [True, True, False]
    assert f.admit("u", EventSpec("Warning", "X", "later"), 30.0)
