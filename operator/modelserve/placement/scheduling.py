"""Pod scheduling terms that keep a region's replicas in that region and spread them over its zones.

Residency is a hard rule, so the region terms are *required* node affinity only — never `preferred`:
a preferred term lets the scheduler fall back to any node when the region is full, which is exactly
the placement residency forbids. When a region has no room its pods stay Pending instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modelserve.api.constants import LABEL_REGION
from modelserve.placement.model import WHEN_UNSATISFIABLE_CHOICES, PlacementSpec

# The label every pod placed by a RegionPlacement carries: the region it was created for.
REGION_POD_LABEL = LABEL_REGION  # "modelserve.io/region"


def pod_labels_for_region(region: str) -> dict[str, str]:
    """The labels a pod created for `region` carries (merged into the pod template's labels)."""
    if not region:
        raise ValueError("region must be non-empty")
    return {REGION_POD_LABEL: region}


def node_affinity_for_region(
    region: str, region_label: str, denied_regions: Iterable[str] = ()
) -> dict[str, Any]:
    """A core/v1 Affinity requiring nodes whose `region_label` is `region` (and none of `denied_regions`).

    Both expressions sit in ONE nodeSelectorTerm because terms are ORed and expressions within a term
    are ANDed. The NotIn term is redundant with In [region] by construction; it is kept as a second,
    independent guard that shows up in `kubectl get pod -o yaml` for auditors. `In` also excludes
    nodes that lack the label entirely.
    """
    if not region:
        raise ValueError("region must be non-empty")
    if not region_label:
        raise ValueError("region_label must be non-empty")
    denied = sorted(set(denied_regions))
    if region in denied:
        raise ValueError(f"region {region!r} is denied; refusing to build an affinity for it")
    expressions: list[dict[str, Any]] = [{"key": region_label, "operator": "In", "values": [region]}]
    if denied:
        expressions.append({"key": region_label, "operator": "NotIn", "values": denied})
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": expressions}],
            },
        },
    }


def zone_spread(
    zone_label: str, max_skew: int, when_unsatisfiable: str, selector_labels: Mapping[str, str]
) -> list[dict[str, Any]]:
    """One core/v1 TopologySpreadConstraint spreading the pods matching `selector_labels` over zones.

    Pass labels that select only this model's pods *in this region* (include pod_labels_for_region),
    so the skew is counted among the region's own pods. The default nodeAffinityPolicy (Honor) already
    limits the zones counted to those the required region affinity allows.
    """
    if not zone_label:
        raise ValueError("zone_label must be non-empty")
    if isinstance(max_skew, bool) or not isinstance(max_skew, int) or max_skew < 1:
        raise ValueError(f"max_skew must be an integer >= 1, got {max_skew!r}")
    if when_unsatisfiable not in WHEN_UNSATISFIABLE_CHOICES:
        raise ValueError(
            f"when_unsatisfiable must be one of {WHEN_UNSATISFIABLE_CHOICES}, got {when_unsatisfiable!r}"
        )
    if not selector_labels:
        raise ValueError("selector_labels must be non-empty (an empty selector would count every pod)")
    return [
        {
            "maxSkew": max_skew,
            "topologyKey": zone_label,
            "whenUnsatisfiable": when_unsatisfiable,
            "labelSelector": {"matchLabels": dict(sorted(selector_labels.items()))},
        }
    ]


def pod_scheduling_for_region(
    placement: PlacementSpec, region: str, selector_labels: Mapping[str, str]
) -> dict[str, Any]:
    """The pod-spec fragment for `region`'s replicas: {"affinity", "topologySpreadConstraints"}.

    `selector_labels` are the labels that identify the model's pods (e.g. model and revision); the
    region label is added here. Raises ValueError for a region the placement does not list.
    """
    if placement.region(region) is None:
        raise ValueError(f"region {region!r} is not in the placement's regions {placement.region_names}")
    if not placement.residency.permits(region):
        raise ValueError(f"region {region!r} is not permitted by the placement's residency")
    labels = {**selector_labels, **pod_labels_for_region(region)}
    return {
        "affinity": node_affinity_for_region(
            region, placement.region_label, placement.residency.denied_regions
        ),
        "topologySpreadConstraints": zone_spread(
            placement.zone_label,
            placement.zone_spread.max_skew,
            placement.zone_spread.when_unsatisfiable,
            labels,
        ),
    }
