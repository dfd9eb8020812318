"""Data-residency placement: divide a model's replicas over regions and keep them inside its jurisdiction.

The pure core (no I/O): parse a RegionPlacement (`model`), see which regions have room
(`availability`), divide replicas by weight (`division`), build the required node affinity and zone
spread for each region's pods (`scheduling`), judge where pods actually run and plan enforcement
(`violations`), and summarise it for status (`status`) and `kubectl modelserve residency` (`report`).
See docs/placement.md.
"""

from modelserve.placement.availability import (
    RegionNodes,
    available_regions,
    node_is_schedulable,
    region_availability,
)
from modelserve.placement.division import Division, RegionAllocation, divide_replicas, exact_shares
from modelserve.placement.model import (
    PlacementSpec,
    RegionShare,
    Residency,
    SpecError,
    ZoneSpread,
    parse_region_placement,
)
from modelserve.placement.report import ReportRow, format_report, residency_report
from modelserve.placement.scheduling import (
    REGION_POD_LABEL,
    node_affinity_for_region,
    pod_labels_for_region,
    pod_scheduling_for_region,
    zone_spread,
)
from modelserve.placement.status import PlacementStatus, RegionStatus, placement_status, residency_condition
from modelserve.placement.violations import (
    EnforcementAction,
    PodPlacement,
    Violation,
    classify_pods,
    find_violations,
    pending_reasons,
    plan_enforcement,
)

__all__ = [
    "REGION_POD_LABEL",
    "Division",
    "EnforcementAction",
    "PlacementSpec",
    "PlacementStatus",
    "PodPlacement",
    "RegionAllocation",
    "RegionNodes",
    "RegionShare",
    "RegionStatus",
    "ReportRow",
    "Residency",
    "SpecError",
    "Violation",
    "ZoneSpread",
    "available_regions",
    "classify_pods",
    "divide_replicas",
    "exact_shares",
    "find_violations",
    "format_report",
    "node_affinity_for_region",
    "node_is_schedulable",
    "parse_region_placement",
    "pending_reasons",
    "placement_status",
    "plan_enforcement",
    "pod_labels_for_region",
    "pod_scheduling_for_region",
    "region_availability",
    "residency_condition",
    "residency_report",
    "zone_spread",
]
