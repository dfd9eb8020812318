"""Required node affinity per region, zone spread, region pod labels: exact structures."""

from __future__ import annotations

import json

import pytest
from modelserve.placement.model import parse_region_placement
from modelserve.placement.scheduling import (
    node_affinity_for_region,
    pod_labels_for_region,
    pod_scheduling_for_region,
    zone_spread,
)

PLACEMENT = parse_region_placement(
    {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "RegionPlacement",
        "metadata": {"name": "eu-only"},
        "spec": {
            "regionLabel": "node-restriction.kubernetes.io/region",
            "residency": {
                "jurisdiction": "EU",
                "allowedRegions": ["eu-west-1", "eu-central-1"],
                "deniedRegions": ["us-east-1", "ap-south-1"],
            },
            "regions": [{"name": "eu-west-1", "weight": 2}, {"name": "eu-central-1"}],
            "zoneSpread": {"maxSkew": 2, "whenUnsatisfiable": "DoNotSchedule"},
        },
    }
)


def test_required_affinity_with_in_and_not_in_in_one_term():
    affinity = node_affinity_for_region(
        "eu-west-1", "topology.kubernetes.io/region", ["us-east-1", "ap-south-1"]
    )
    assert affinity == {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {
                                "key": "topology.kubernetes.io/region",
                                "operator": "In",
                                "values": ["eu-west-1"],
                            },
                            {
                                "key": "topology.kubernetes.io/region",
                                "operator": "NotIn",
                                "values": ["ap-south-1", "us-east-1"],
                            },
                        ]
                    }
                ]
            }
        }
    }


def test_no_not_in_expression_without_denied_regions():
    affinity = node_affinity_for_region("eu-west-1", "topology.kubernetes.io/region", [])
    terms = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [
        {
            "matchExpressions": [
                {"key": "topology.kubernetes.io/region", "operator": "In", "values": ["eu-west-1"]}
            ]
        }
    ]


def test_never_a_preferred_term():
    fragment = pod_scheduling_for_region(PLACEMENT, "eu-central-1", {"modelserve.io/model": "fraud"})
    assert "preferred" not in json.dumps(fragment).lower()
    assert list(fragment["affinity"]) == ["nodeAffinity"]
    assert list(fragment["affinity"]["nodeAffinity"]) == ["requiredDuringSchedulingIgnoredDuringExecution"]


def test_refuses_an_affinity_for_a_denied_region():
    with pytest.raises(ValueError, match="denied"):
        node_affinity_for_region("us-east-1", "topology.kubernetes.io/region", ["us-east-1"])
    with pytest.raises(ValueError):
        node_affinity_for_region("", "topology.kubernetes.io/region", [])


def test_zone_spread_structure():
    assert zone_spread("topology.kubernetes.io/zone", 1, "ScheduleAnyway", {"b": "2", "a": "1"}) == [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"a": "1", "b": "2"}},
        }
    ]


@pytest.mark.parametrize(
    "args",
    [
        ("", 1, "ScheduleAnyway", {"a": "1"}),
        ("zone", 0, "ScheduleAnyway", {"a": "1"}),
        ("zone", True, "ScheduleAnyway", {"a": "1"}),
        ("zone", 1, "Sometimes", {"a": "1"}),
        ("zone", 1, "DoNotSchedule", {}),
    ],
)
def test_zone_spread_rejects_bad_arguments(args):
    with pytest.raises(ValueError):
        zone_spread(*args)


def test_pod_labels_for_region():
    assert pod_labels_for_region("eu-west-1") == {"modelserve.io/region": "eu-west-1"}


def test_pod_scheduling_for_region_uses_the_placement():
    fragment = pod_scheduling_for_region(PLACEMENT, "eu-west-1", {"modelserve.io/model": "fraud"})
    assert fragment == {
        "affinity": node_affinity_for_region(
            "eu-west-1", "node-restriction.kubernetes.io/region", ["us-east-1", "ap-south-1"]
        ),
        "topologySpreadConstraints": [
            {
                "maxSkew": 2,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {
                    "matchLabels": {"modelserve.io/model": "fraud", "modelserve.io/region": "eu-west-1"}
                },
            }
        ],
    }
    with pytest.raises(ValueError):
        pod_scheduling_for_region(PLACEMENT, "us-east-1", {"modelserve.io/model": "fraud"})
