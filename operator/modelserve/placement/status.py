"""Status of a placement: per-region rows and the ResidencyCompliant condition, computed purely.

`compliant` (and the condition's status) means one thing only: no model pod runs outside the
residency. An unavailable region is not a breach — its pods wait (Pending) or move to another allowed
region — so it keeps the condition True and only changes its reason, which tells the operator of the
cluster what to look at.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelserve.api.conditions import Condition
from modelserve.api.constants import COND_RESIDENCY
from modelserve.placement.availability import RegionNodes
from modelserve.placement.division import Division
from modelserve.placement.model import ENFORCEMENT_EVICT, ON_UNAVAILABLE_HOLD, PlacementSpec
from modelserve.placement.violations import (
    VERDICT_COMPLIANT,
    VERDICT_MISPLACED,
    VERDICT_VIOLATION,
    PodPlacement,
    classify_pod,
)

# ResidencyCompliant condition reasons.
REASON_COMPLIANT = "Compliant"
REASON_PODS_OUTSIDE_ALLOWED_REGIONS = "PodsOutsideAllowedRegions"
REASON_NO_ALLOWED_REGION_AVAILABLE = "NoAllowedRegionAvailable"
REASON_REGION_UNAVAILABLE = "RegionUnavailable"

_MAX_LISTED = 5  # pods named in a condition message; the rest are counted


@dataclass(frozen=True)
class RegionStatus:
    """One row of status.regions."""

    name: str
    available: bool
    nodes_available: int
    desired: int
    ready: int
    violations: int
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The RegionPlacement status.regions[] entry."""
        return {
            "name": self.name,
            "available": self.available,
            "nodesAvailable": self.nodes_available,
            "desired": self.desired,
            "ready": self.ready,
            "violations": self.violations,
        }

    def as_model_dict(self) -> dict[str, Any]:
        """The ModelDeployment status.placement.regions[] entry."""
        return {
            "name": self.name,
            "desired": self.desired,
            "ready": self.ready,
            "nodesAvailable": self.nodes_available,
            "violations": self.violations,
            "message": self.message,
        }


@dataclass(frozen=True)
class PlacementStatus:
    regions: tuple[RegionStatus, ...]
    violations_total: int
    condition: Condition
    jurisdiction: str = ""
    name: str = ""

    @property
    def compliant(self) -> bool:
        return self.violations_total == 0

    def as_status(self) -> dict[str, Any]:
        """Fields of the RegionPlacement status (conditions are merged separately by the shell)."""
        return {
            "compliant": self.compliant,
            "jurisdiction": self.jurisdiction,
            "regions": [r.as_dict() for r in self.regions],
            "violationsTotal": self.violations_total,
        }

    def as_model_status(self) -> dict[str, Any]:
        """The ModelDeployment status.placement object."""
        return {
            "name": self.name,
            "jurisdiction": self.jurisdiction,
            "regions": [r.as_model_dict() for r in self.regions],
        }


def placement_status(
    placement: PlacementSpec,
    divisions: Division | Sequence[Division],
    availability: Mapping[str, RegionNodes],
    pods: Iterable[Mapping[str, Any]],
    nodes_by_name: Mapping[str, Mapping[str, Any]],
) -> PlacementStatus:
    """Per-region rows {name, available, nodesAvailable, desired, ready, violations} and the condition.

    `divisions`: one Division per model using this placement (desired is their sum; one Division for a
    ModelDeployment's own status). `pods`: those models' pods. A region's `ready` counts Ready pods
    running on its nodes; its `violations` counts violating pods created for it (their
    modelserve.io/region label); violations of pods without that label count only in the total.
    """
    division_list = [divisions] if isinstance(divisions, Division) else list(divisions)
    judged = [(classify_pod(p, nodes_by_name, placement), _pod_ready(p)) for p in pods]
    violations = sorted((j for j, _ in judged if j.verdict == VERDICT_VIOLATION), key=lambda j: j.pod)

    rows = []
    for share in placement.regions:
        nodes = availability.get(share.name, RegionNodes(0, 0))
        allocations = [a for d in division_list if (a := d.allocation(share.name)) is not None]
        rows.append(
            RegionStatus(
                name=share.name,
                available=nodes.available,
                nodes_available=nodes.schedulable_count,
                desired=sum(a.replicas for a in allocations),
                ready=sum(
                    1
                    for j, ready in judged
                    if ready
                    and j.region == share.name
                    and j.verdict in (VERDICT_COMPLIANT, VERDICT_MISPLACED)
                ),
                violations=sum(1 for v in violations if v.pod_region == share.name),
                message="; ".join(dict.fromkeys(a.message for a in allocations)),
            )
        )
    return PlacementStatus(
        regions=tuple(rows),
        violations_total=len(violations),
        condition=residency_condition(placement, rows, violations),
        jurisdiction=placement.residency.jurisdiction,
        name=placement.name,
    )


def residency_condition(
    placement: PlacementSpec, rows: Sequence[RegionStatus], violations: Sequence[PodPlacement]
) -> Condition:
    """ResidencyCompliant: False with PodsOutsideAllowedRegions when any pod runs outside the residency;
    otherwise True with NoAllowedRegionAvailable, RegionUnavailable or Compliant."""
    if violations:
        listed = ", ".join(
            f"{v.pod} on {v.node} ({v.region or 'no region label'}: {v.reason})"
            for v in violations[:_MAX_LISTED]
        )
        more = f" and {len(violations) - _MAX_LISTED} more" if len(violations) > _MAX_LISTED else ""
        action = (
            "evicting them"
            if placement.enforcement == ENFORCEMENT_EVICT
            else "enforcement is report: not evicting"
        )
        return Condition(
            COND_RESIDENCY,
            False,
            REASON_PODS_OUTSIDE_ALLOWED_REGIONS,
            f"{len(violations)} pod(s) outside allowed regions: {listed}{more}; {action}",
        )
    unavailable = [r.name for r in rows if not r.available]
    if rows and len(unavailable) == len(rows):
        held = sum(r.desired for r in rows)
        return Condition(
            COND_RESIDENCY,
            True,
            REASON_NO_ALLOWED_REGION_AVAILABLE,
            f"no schedulable node labelled {placement.region_label} in any of {', '.join(unavailable)}; "
            f"{held} replica(s) held Pending, none placed elsewhere",
        )
    if unavailable:
        what = (
            "their replicas stay Pending"
            if placement.on_region_unavailable == ON_UNAVAILABLE_HOLD
            else "their replicas moved to the available regions"
        )
        return Condition(
            COND_RESIDENCY,
            True,
            REASON_REGION_UNAVAILABLE,
            f"no schedulable node in region(s) {', '.join(unavailable)}: {what}",
        )
    return Condition(
        COND_RESIDENCY,
        True,
        REASON_COMPLIANT,
        f"all pods run in allowed regions ({', '.join(placement.residency.allowed_regions)})",
    )


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
