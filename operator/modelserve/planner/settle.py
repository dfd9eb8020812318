"""When to write a new model's first status: not before it has had a moment to become Ready.

A model that converges in a few seconds would otherwise cost a status write (and an Event) for
every step of its start — Pending with 0/1 ready, the ReplicaSet's counts, Ready — where the user
needs one: the result. So while a model that has never had a status is only Pending (nothing failed,
nothing degraded) and younger than `SETTLE_SECONDS`, the reconcile applies its owned objects but
writes neither status nor Events, and runs again when the time is up; the watch on its Deployment
brings it back as soon as the pods are ready. A model still Pending after that gets its status then.

The time counts from the later of its creation and `started`, the moment this operator process first
applied its objects: in a storm (a thousand models created at once) a model waits in the work queue
longer than the settle time, and counting from its creation alone would narrate the start of every
model reached late (Pending, then Ready: two status writes and two Events instead of one of each).

For the same reason it counts from when the control plane began the model's start, once that is later
(`cluster_began`): every Deployment observed by its controller with all its pods created, and every
pod bound to a node (or found unschedulable, which is news). In a storm of thousands the
controller-manager and the scheduler run a minute or two behind, and ten seconds from the apply expired
before the model's own start (pulling, loading, readiness) had begun. While the control plane has not
begun, the hold lasts at most `CLUSTER_LAG_CAP_SECONDS` from the apply; the Deployment's progress
brings the model back, the cap is only a fallback.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from modelserve.api import constants as c
from modelserve.rollout.state import parse_time

SETTLE_SECONDS = 10.0
CLUSTER_LAG_CAP_SECONDS = 120.0


@dataclass(frozen=True)
class ClusterStart:
    """Whether the control plane has begun a model's start, and when its last pod was bound (None when
    no pod says)."""

    begun: bool
    at: datetime | None = None


def cluster_began(
    wanted: Iterable[str], deployments: Mapping[str, Mapping[str, Any]], pods: Iterable[Mapping[str, Any]]
) -> ClusterStart:
    """Whether each wanted Deployment (by name) exists, has been observed by its controller and has
    created its pods (or says it cannot: ReplicaFailure), and every pod of the model (`pods`) is bound
    to a node or unschedulable; with the latest binding time."""
    wanted_pods = 0
    for name in wanted:
        dep = deployments.get(name)
        if dep is None:
            return ClusterStart(False)
        meta, spec, status = dep.get("metadata") or {}, dep.get("spec") or {}, dep.get("status") or {}
        if any(
            k.get("type") == "ReplicaFailure" and k.get("status") == "True"
            for k in status.get("conditions") or ()
        ):
            return ClusterStart(True)  # it cannot create its pods: news for the user
        replicas = int(spec.get("replicas", 1) or 0)
        if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 1):
            return ClusterStart(False)
        if int(status.get("replicas") or 0) < replicas:
            return ClusterStart(False)
        wanted_pods += replicas
    pods = list(pods)
    if len(pods) < wanted_pods:  # created, but not yet in what we read
        return ClusterStart(False)
    latest: datetime | None = None
    for pod in pods:
        conditions = (pod.get("status") or {}).get("conditions") or ()
        scheduled: Mapping[str, Any] = next((k for k in conditions if k.get("type") == "PodScheduled"), {})
        if not (pod.get("spec") or {}).get("nodeName"):
            if scheduled.get("reason") == "Unschedulable":
                continue  # news for the user: no hold for the cluster
            return ClusterStart(False)
        at = _timestamp(scheduled.get("lastTransitionTime"))
        if at is not None and (latest is None or at > latest):
            latest = at
    return ClusterStart(True, latest)


def first_status_delay(
    body: Mapping[str, Any],
    new_status: Mapping[str, Any],
    now: datetime,
    started: datetime | None = None,
    cluster: ClusterStart | None = None,
) -> float | None:
    """Seconds to hold back the first status write of `body` (whose planned status is `new_status`),
    or None to write now. `started`: when this process first applied the model's objects, if known;
    `cluster`: whether (and when) the control plane began the model's start, if known."""
    if (body.get("status") or {}).get("observedGeneration") is not None:
        return None  # not the first status
    if new_status.get("phase") != c.PHASE_PENDING:
        return None
    if any(
        cond.get("type") == c.COND_DEGRADED and cond.get("status") == "True"
        for cond in new_status.get("conditions") or []
    ):
        return None
    origin = _timestamp((body.get("metadata") or {}).get("creationTimestamp"))
    if origin is None:
        return None
    if started is not None and started > origin:
        origin = started
    origin = min(origin, now)  # a creation stamped ahead of our clock holds no longer than the cap
    cap = origin + timedelta(seconds=CLUSTER_LAG_CAP_SECONDS)
    if cluster is not None and not cluster.begun:
        deadline = cap
    else:
        begun = origin
        if cluster is not None and cluster.at is not None:
            begun = max(origin, min(cluster.at, now))
        deadline = min(begun + timedelta(seconds=SETTLE_SECONDS), cap)
    left = (deadline - now).total_seconds()
    return left if left > 0 else None


def _timestamp(value: Any) -> datetime | None:
    """An RFC 3339 time from an object (rollout/state.py `parse_time`), None when absent or malformed."""
    try:
        return parse_time(value)
    except ValueError:
        return None
