"""Violations, pending reasons, enforcement plans, status and the residency report."""

from __future__ import annotations

import pytest
from modelserve.placement.availability import RegionNodes, region_availability
from modelserve.placement.division import divide_replicas
from modelserve.placement.model import SpecError, parse_region_placement
from modelserve.placement.report import format_report, residency_report
from modelserve.placement.status import placement_status
from modelserve.placement.violations import (
    ACTION_DELETE,
    ACTION_EVICT,
    ACTION_REPORT,
    REASON_NODE_REGION_LABEL_MISSING,
    REASON_REGION_DENIED,
    REASON_REGION_NOT_ALLOWED,
    VERDICT_FINISHED,
    VERDICT_MISPLACED,
    VERDICT_PENDING,
    VERDICT_UNKNOWN,
    Violation,
    classify_pods,
    find_violations,
    pending_reasons,
    plan_enforcement,
)

LABEL = "topology.kubernetes.io/region"
SPEC = {
    "residency": {
        "jurisdiction": "EU",
        "allowedRegions": ["eu-west-1", "eu-central-1"],
        "deniedRegions": ["us-east-1"],
    },
    "regions": [{"name": "eu-west-1", "weight": 2}, {"name": "eu-central-1"}],
}
PLACEMENT = parse_region_placement({"kind": "RegionPlacement", "metadata": {"name": "eu"}, "spec": SPEC})


def node(name, region=None):
    labels = {LABEL: region} if region else {}
    return {
        "metadata": {"name": name, "labels": labels},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


NODES = {
    n["metadata"]["name"]: n
    for n in [
        node("w1", "eu-west-1"),
        node("c1", "eu-central-1"),
        node("u1", "us-east-1"),
        node("a1", "ap-south-1"),
        node("x1"),
    ]
}


def pod(
    name, node_name=None, region="eu-west-1", ready=True, phase="Running", deleting=False, conditions=None
):
    metadata = {"name": name, "namespace": "ml", "labels": {"modelserve.io/region": region} if region else {}}
    if deleting:
        metadata["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    spec = {"nodeName": node_name} if node_name else {}
    conds = (
        conditions if conditions is not None else [{"type": "Ready", "status": "True" if ready else "False"}]
    )
    return {"metadata": metadata, "spec": spec, "status": {"phase": phase, "conditions": conds}}


def test_violations_with_distinct_reasons():
    pods = [
        pod("ok", "w1"),
        pod("denied", "u1"),
        pod("outside", "a1"),
        pod("unlabelled-node", "x1"),
        pod("misplaced", "c1", region="eu-west-1"),
        pod("pending"),
        pod("ghost", "gone-node"),
        pod("done", "u1", phase="Failed"),
    ]
    violations = find_violations(pods, NODES, PLACEMENT)
    assert [(v.pod, v.node, v.region, v.reason) for v in violations] == [
        ("denied", "u1", "us-east-1", REASON_REGION_DENIED),
        ("outside", "a1", "ap-south-1", REASON_REGION_NOT_ALLOWED),
        ("unlabelled-node", "x1", None, REASON_NODE_REGION_LABEL_MISSING),
    ]
    verdicts = {p.pod: p.verdict for p in classify_pods(pods, NODES, PLACEMENT)}
    assert verdicts["misplaced"] == VERDICT_MISPLACED
    assert verdicts["pending"] == VERDICT_PENDING
    assert verdicts["ghost"] == VERDICT_UNKNOWN
    assert verdicts["done"] == VERDICT_FINISHED


def test_uses_the_placements_region_label():
    placement = parse_region_placement({**SPEC, "regionLabel": "node-restriction.kubernetes.io/region"})
    # w1 carries only topology.kubernetes.io/region, which a kubelet may set itself: not trusted here
    violations = find_violations([pod("p", "w1")], NODES, placement)
    assert [v.reason for v in violations] == [REASON_NODE_REGION_LABEL_MISSING]


def test_pending_reasons_read_the_schedulers_message():
    message = "0/5 nodes are available: 5 node(s) didn't match Pod's node affinity/selector."
    pods = [
        pod(
            "b",
            conditions=[
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
            ],
        ),
        pod("a", conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]),
        pod("c", conditions=[]),
        pod("bound", "w1"),
    ]
    assert pending_reasons(pods) == [
        ("a", "Unschedulable"),
        ("b", message),
        ("c", "waiting for the scheduler"),
    ]


def test_enforcement_evicts_then_deletes_when_a_pdb_refuses():
    violations = [
        Violation("p1", "u1", "us-east-1", REASON_REGION_DENIED, namespace="ml"),
        Violation("p2", "a1", "ap-south-1", REASON_REGION_NOT_ALLOWED, namespace="ml"),
        Violation("p3", "a1", "ap-south-1", REASON_REGION_NOT_ALLOWED, namespace="ml", terminating=True),
    ]
    assert [(a.pod, a.action) for a in plan_enforcement(violations, "evict")] == [
        ("p1", ACTION_EVICT),
        ("p2", ACTION_EVICT),
    ]
    assert [(a.pod, a.action) for a in plan_enforcement(violations, "evict", eviction_refused={"p2"})] == [
        ("p1", ACTION_EVICT),
        ("p2", ACTION_DELETE),
    ]
    assert {a.action for a in plan_enforcement(violations, "report", eviction_refused={"p2"})} == {
        ACTION_REPORT
    }


def test_status_rows_and_condition():
    pods = [
        pod("w-a", "w1"),
        pod("w-b", "w1", ready=False),
        pod("c-a", "c1", region="eu-central-1"),
        pod("bad", "u1", region="eu-central-1"),
        pod("bad2", "x1", region=None),
    ]
    availability = {"eu-west-1": RegionNodes(1, 1), "eu-central-1": RegionNodes(1, 2)}
    division = divide_replicas(3, PLACEMENT.regions, {"eu-west-1", "eu-central-1"})
    status = placement_status(PLACEMENT, division, availability, pods, NODES)
    assert status.as_status() == {
        "compliant": False,
        "jurisdiction": "EU",
        "regions": [
            {
                "name": "eu-west-1",
                "available": True,
                "nodesAvailable": 1,
                "desired": 2,
                "ready": 1,
                "violations": 0,
            },
            {
                "name": "eu-central-1",
                "available": True,
                "nodesAvailable": 1,
                "desired": 1,
                "ready": 1,
                "violations": 1,
            },
        ],
        "violationsTotal": 2,
    }
    assert status.condition.type == "ResidencyCompliant"
    assert status.condition.status is False
    assert status.condition.reason == "PodsOutsideAllowedRegions"
    assert "bad on u1 (us-east-1: RegionDenied)" in status.condition.message


@pytest.mark.parametrize(
    ("available", "reason"),
    [
        ({"eu-west-1", "eu-central-1"}, "Compliant"),
        ({"eu-west-1"}, "RegionUnavailable"),
        (set(), "NoAllowedRegionAvailable"),
    ],
)
def test_condition_reasons_without_violations(available, reason):
    nodes = [node("w1", "eu-west-1"), node("c1", "eu-central-1")]
    availability = region_availability(
        [n for n in nodes if n["metadata"]["labels"][LABEL] in available], LABEL, PLACEMENT.region_names
    )
    division = divide_replicas(3, PLACEMENT.regions, available)
    status = placement_status(PLACEMENT, division, availability, [pod("w-a", "w1")], NODES)
    assert (status.condition.status, status.condition.reason) == (True, reason)
    assert status.compliant
    if reason == "NoAllowedRegionAvailable":
        assert [r.desired for r in status.regions] == [2, 1]  # held Pending, not dropped


def test_report_table():
    pods = [pod("p-ok", "w1"), pod("p-bad", "u1"), pod("p-wait")]
    rows = residency_report(pods, NODES, PLACEMENT)
    assert [(r.pod, r.verdict) for r in rows] == [
        ("p-bad", "Violation"),
        ("p-ok", "Compliant"),
        ("p-wait", "Pending"),
    ]
    assert format_report(rows) == (
        "POD      NODE     REGION      VERDICT     REASON\n"
        "p-bad    u1       us-east-1   Violation   RegionDenied\n"
        "p-ok     w1       eu-west-1   Compliant   InRegion\n"
        "p-wait   <none>   <none>      Pending     NotScheduled\n"
    )
    assert format_report([]) == "No model pods found.\n"


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"regions": [{"name": "eu-west-1"}]}, "spec.residency"),
        ({**SPEC, "residency": {"allowedRegions": []}}, "spec.residency.allowedRegions"),
        (
            {**SPEC, "residency": {"allowedRegions": ["eu-west-1"], "deniedRegions": ["eu-west-1"]}},
            "spec.residency.deniedRegions",
        ),
        ({**SPEC, "regions": [{"name": "us-east-1"}]}, "spec.regions[0].name"),
        ({**SPEC, "regions": [{"name": "ap-south-1"}]}, "spec.regions[0].name"),
        ({**SPEC, "regions": [{"name": "eu-west-1"}, {"name": "eu-west-1"}]}, "spec.regions[1].name"),
        (
            {**SPEC, "regions": [{"name": "eu-west-1", "minReplicas": 3, "maxReplicas": 2}]},
            "spec.regions[0].maxReplicas",
        ),
        ({**SPEC, "regions": [{"name": "eu-west-1", "weight": 0}]}, "spec.regions[0].weight"),
        ({**SPEC, "regions": [{"name": "eu-west-1", "weight": True}]}, "spec.regions[0].weight"),
        ({**SPEC, "regions": []}, "spec.regions"),
        ({**SPEC, "onRegionUnavailable": "spread"}, "spec.onRegionUnavailable"),
        ({**SPEC, "enforcement": "delete"}, "spec.enforcement"),
        ({**SPEC, "regionLabel": "a/b/c"}, "spec.regionLabel"),
        ({**SPEC, "zoneLabel": LABEL}, "spec.zoneLabel"),
        ({**SPEC, "zoneSpread": {"maxSkew": 0}}, "spec.zoneSpread.maxSkew"),
    ],
)
def test_spec_errors_name_the_field(spec, path):
    with pytest.raises(SpecError) as caught:
        parse_region_placement(spec)
    assert caught.value.field_path == path


def test_parse_applies_defaults():
    p = parse_region_placement(
        {"residency": {"allowedRegions": ["eu-west-1"]}, "regions": [{"name": "eu-west-1"}]}
    )
    assert (p.region_label, p.zone_label, p.on_region_unavailable, p.enforcement) == (
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "redistribute",
        "evict",
    )
    assert (p.zone_spread.max_skew, p.zone_spread.when_unsatisfiable) == (1, "ScheduleAnyway")
    share = p.regions[0]
    assert (share.weight, share.min_replicas, share.max_replicas) == (1, 0, None)
    assert PLACEMENT.name == "eu" and PLACEMENT.residency.denied_regions == ("us-east-1",)
