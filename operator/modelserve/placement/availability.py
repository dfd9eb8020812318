"""Which regions have somewhere to run a pod, read from v1 Node bodies.

Pure: node bodies in, per-region counts out. A region is *available* when at least one of its nodes
is schedulable for our pods; `divide_replicas` uses that to decide where replicas go.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Taints that make a node refuse new pods (PreferNoSchedule is only a scoring hint).
BLOCKING_TAINT_EFFECTS = ("NoSchedule", "NoExecute")

# The tolerations every pod gets by default: the DefaultTolerationSeconds admission plugin adds these
# two (NoExecute, 300 s) to each pod that does not set them. They are the only "well-known tolerated"
# taints: a taint our pods do not tolerate (control-plane, ToBeDeletedByClusterAutoscaler,
# node.kubernetes.io/unschedulable, network-unavailable, uninitialized, ...) keeps the scheduler away,
# so such a node must not count as room. In practice nodes with these two taints also fail the Ready
# check; tolerating them here keeps a Ready node whose taint has not been removed yet countable.
DEFAULT_POD_TOLERATIONS: tuple[Mapping[str, Any], ...] = (
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
)


@dataclass(frozen=True)
class RegionNodes:
    """Nodes labelled with one region: how many exist and how many can take a new pod now."""

    schedulable_count: int
    total_count: int

    @property
    def available(self) -> bool:
        return self.schedulable_count > 0


def region_availability(
    nodes: Sequence[Mapping[str, Any]],
    region_label: str,
    regions: Iterable[str],
    tolerations: Sequence[Mapping[str, Any]] = DEFAULT_POD_TOLERATIONS,
) -> dict[str, RegionNodes]:
    """Count, for each of `regions`, the nodes labelled `region_label=<region>` and the schedulable ones.

    A node is schedulable when it is not cordoned (spec.unschedulable), its Ready condition is True,
    it is not being deleted (metadata.deletionTimestamp), and it has no NoSchedule/NoExecute taint
    that `tolerations` (default: what every pod tolerates) do not tolerate. Nodes without the label
    or in other regions are ignored; a listed region with no nodes gets RegionNodes(0, 0).
    """
    wanted = list(dict.fromkeys(regions))
    total = dict.fromkeys(wanted, 0)
    schedulable = dict.fromkeys(wanted, 0)
    for node in nodes:
        region = node_region(node, region_label)
        if region not in total:
            continue
        total[region] += 1
        if node_is_schedulable(node, tolerations):
            schedulable[region] += 1
    return {r: RegionNodes(schedulable_count=schedulable[r], total_count=total[r]) for r in wanted}


def available_regions(availability: Mapping[str, RegionNodes]) -> set[str]:
    """The regions with at least one schedulable node."""
    return {region for region, nodes in availability.items() if nodes.available}


def node_region(node: Mapping[str, Any], region_label: str) -> str | None:
    """The node's value for `region_label`, or None when the label is missing or empty."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    value = labels.get(region_label)
    return value if isinstance(value, str) and value else None


def node_is_schedulable(
    node: Mapping[str, Any], tolerations: Sequence[Mapping[str, Any]] = DEFAULT_POD_TOLERATIONS
) -> bool:
    """True when the scheduler could place a new pod (with `tolerations`) on this node."""
    metadata = node.get("metadata") or {}
    spec = node.get("spec") or {}
    if metadata.get("deletionTimestamp"):
        return False
    if spec.get("unschedulable"):
        return False
    if not _is_ready(node):
        return False
    for taint in spec.get("taints") or []:
        if taint.get("effect") in BLOCKING_TAINT_EFFECTS and not any(
            _tolerates(t, taint) for t in tolerations
        ):
            return False
    return True


def _is_ready(node: Mapping[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    return ready is not None and ready.get("status") == "True"


def _tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """core/v1 Toleration.ToleratesTaint: effect (empty = all), key (empty + Exists = all), value."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if not key:
        return operator == "Exists"
    if key != taint.get("key"):
        return False
    if operator == "Exists":
        return True
    return (toleration.get("value") or "") == (taint.get("value") or "")
