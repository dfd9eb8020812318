"""Judge where each model pod actually runs against the residency rules, and plan what to do about it.

Pure: pod and node bodies + the parsed placement in, verdicts and enforcement actions out.

What is a residency violation: a pod bound to a node whose region label is missing, not in
`residency.allowedRegions`, or in `residency.deniedRegions`. A pod running in an *allowed* region other
than the one it was created for (its `modelserve.io/region` label) is "misplaced", not a violation:
its data stays inside the jurisdiction, so it is reported but never evicted (the required node affinity
makes it rare: it only happens if a node's region label changes under a running pod).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelserve.placement.availability import node_region
from modelserve.placement.model import ENFORCEMENT_EVICT, PlacementSpec
from modelserve.placement.scheduling import REGION_POD_LABEL

# Verdicts on one pod.
VERDICT_COMPLIANT = "Compliant"
VERDICT_VIOLATION = "Violation"
VERDICT_MISPLACED = "Misplaced"  # in an allowed region, but not the one it was created for
VERDICT_PENDING = "Pending"  # not bound to a node yet
VERDICT_UNKNOWN = "Unknown"  # bound to a node we cannot see (deleted, or not in the cache yet)
VERDICT_FINISHED = "Finished"  # Succeeded/Failed: no container runs, nothing to enforce

# Reasons (CamelCase) behind a verdict.
REASON_IN_REGION = "InRegion"
REASON_NODE_REGION_LABEL_MISSING = "NodeRegionLabelMissing"
REASON_REGION_DENIED = "RegionDenied"
REASON_REGION_NOT_ALLOWED = "RegionNotAllowed"
REASON_REGION_MISMATCH = "RegionMismatch"
REASON_NOT_SCHEDULED = "NotScheduled"
REASON_NODE_NOT_FOUND = "NodeNotFound"
REASON_POD_FINISHED = "PodFinished"


# Enforcement actions.
ACTION_EVICT = "evict"  # POST pods/<name>/eviction (honours PodDisruptionBudgets)
ACTION_DELETE = "delete"  # the eviction was refused by a PDB: residency beats availability
ACTION_REPORT = "report"  # enforcement: report — an Event and status only


@dataclass(frozen=True)
class PodPlacement:
    """Where one pod runs and what we make of it. `region` is the node's region (None if unknown)."""

    pod: str
    namespace: str
    node: str | None
    region: str | None
    pod_region: str | None  # the pod's own modelserve.io/region label
    verdict: str
    reason: str
    message: str
    terminating: bool = False


@dataclass(frozen=True)
class Violation:
    """A pod running outside its residency: on a node with no region label, or in a region not allowed."""

    pod: str
    node: str
    region: str | None
    reason: str
    message: str = ""
    namespace: str = ""
    pod_region: str | None = None
    terminating: bool = False  # already being deleted: nothing more to do


@dataclass(frozen=True)
class EnforcementAction:
    """What to do about one violating pod."""

    pod: str
    namespace: str
    action: str
    reason: str
    message: str


def classify_pod(
    pod: Mapping[str, Any], nodes_by_name: Mapping[str, Mapping[str, Any]], placement: PlacementSpec
) -> PodPlacement:
    """The verdict on one pod: where it runs (spec.nodeName -> its node's region label) vs `placement`."""
    metadata = pod.get("metadata") or {}
    name = str(metadata.get("name") or "")
    namespace = str(metadata.get("namespace") or "")
    pod_region = (metadata.get("labels") or {}).get(REGION_POD_LABEL) or None
    terminating = bool(metadata.get("deletionTimestamp"))
    node_name = (pod.get("spec") or {}).get("nodeName") or None
    phase = (pod.get("status") or {}).get("phase")

    def verdict(region: str | None, v: str, reason: str, message: str) -> PodPlacement:
        return PodPlacement(name, namespace, node_name, region, pod_region, v, reason, message, terminating)

    if node_name is None:
        return verdict(None, VERDICT_PENDING, REASON_NOT_SCHEDULED, pending_reason(pod))
    node = nodes_by_name.get(node_name)
    region = node_region(node, placement.region_label) if node is not None else None
    if phase in ("Succeeded", "Failed"):
        return verdict(region, VERDICT_FINISHED, REASON_POD_FINISHED, f"pod {phase}: no container runs")
    if node is None:
        return verdict(None, VERDICT_UNKNOWN, REASON_NODE_NOT_FOUND, f"node {node_name} not found")
    residency = placement.residency
    if region is None:
        return verdict(
            None,
            VERDICT_VIOLATION,
            REASON_NODE_REGION_LABEL_MISSING,
            f"node {node_name} has no {placement.region_label} label: residency cannot be proven",
        )
    if region in residency.denied_regions:
        return verdict(
            region, VERDICT_VIOLATION, REASON_REGION_DENIED, f"node {node_name} is in denied region {region}"
        )
    if region not in residency.allowed_regions:
        return verdict(
            region,
            VERDICT_VIOLATION,
            REASON_REGION_NOT_ALLOWED,
            f"node {node_name} is in region {region}, outside allowed regions "
            f"{', '.join(residency.allowed_regions)}",
        )
    if pod_region is not None and pod_region != region:
        return verdict(
            region,
            VERDICT_MISPLACED,
            REASON_REGION_MISMATCH,
            f"created for region {pod_region} but runs in {region} (allowed; not evicted)",
        )
    return verdict(region, VERDICT_COMPLIANT, REASON_IN_REGION, f"runs in allowed region {region}")


def classify_pods(
    pods: Iterable[Mapping[str, Any]],
    nodes_by_name: Mapping[str, Mapping[str, Any]],
    placement: PlacementSpec,
) -> list[PodPlacement]:
    """classify_pod for every pod, sorted by namespace and name (a stable order for status and reports)."""
    result = [classify_pod(p, nodes_by_name, placement) for p in pods]
    return sorted(result, key=lambda p: (p.namespace, p.pod))


def find_violations(
    pods: Iterable[Mapping[str, Any]],
    nodes_by_name: Mapping[str, Mapping[str, Any]],
    placement: PlacementSpec,
) -> list[Violation]:
    """The pods bound to a node outside the residency (missing region label, not allowed, or denied).

    Misplaced-within-allowed, pending, finished pods and pods on nodes we cannot see are not violations.
    """
    return [
        Violation(
            p.pod, p.node or "", p.region, p.reason, p.message, p.namespace, p.pod_region, p.terminating
        )
        for p in classify_pods(pods, nodes_by_name, placement)
        if p.verdict == VERDICT_VIOLATION
    ]


def pending_reason(pod: Mapping[str, Any]) -> str:
    """Why an unbound pod waits: the scheduler's PodScheduled=False message (or reason), if any."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    scheduled = next((c for c in conditions if c.get("type") == "PodScheduled"), None)
    if scheduled is not None and scheduled.get("status") == "False":
        return str(scheduled.get("message") or scheduled.get("reason") or "Unschedulable")
    return "waiting for the scheduler"


def pending_reasons(pods: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(pod name, the scheduler's reason) for every pod not bound to a node, sorted by name.

    The reason is the PodScheduled=False condition's message, e.g. "0/6 nodes are available: 3 node(s)
    didn't match Pod's node affinity/selector, 3 node(s) were unschedulable."
    """
    result = [
        (str((p.get("metadata") or {}).get("name") or ""), pending_reason(p))
        for p in pods
        if not (p.get("spec") or {}).get("nodeName")
    ]
    return sorted(result)


def plan_enforcement(
    violations: Sequence[Violation],
    enforcement: str = ENFORCEMENT_EVICT,
    eviction_refused: Collection[str] = (),
) -> list[EnforcementAction]:
    """What to do about each violation.

    `enforcement: report` -> ACTION_REPORT for each (an Event and status, nothing removed).
    `enforcement: evict` -> ACTION_EVICT at once, through the Eviction API. When the API refused a
    pod's eviction (429: a PodDisruptionBudget allows no disruption now) the shell passes its name in
    `eviction_refused` and the pod is deleted instead: residency beats availability — a PDB exists to
    protect capacity, not to keep data where the law says it may not be. Pods already terminating get
    no action.
    """
    refused = set(eviction_refused)
    actions = []
    for v in violations:
        if v.terminating:
            continue
        if enforcement != ENFORCEMENT_EVICT:
            actions.append(EnforcementAction(v.pod, v.namespace, ACTION_REPORT, v.reason, v.message))
        elif v.pod in refused:
            actions.append(
                EnforcementAction(
                    v.pod,
                    v.namespace,
                    ACTION_DELETE,
                    v.reason,
                    f"{v.message}; eviction refused by a PodDisruptionBudget, deleting "
                    "(residency beats availability)",
                )
            )
        else:
            actions.append(EnforcementAction(v.pod, v.namespace, ACTION_EVICT, v.reason, v.message))
    return actions
