"""region_availability: which nodes count as room for a new pod."""

from __future__ import annotations

import pytest
from modelserve.placement.availability import (
    RegionNodes,
    available_regions,
    node_is_schedulable,
    region_availability,
)

LABEL = "topology.kubernetes.io/region"


def node(name, region=None, ready="True", unschedulable=False, taints=(), deleting=False, label=LABEL):
    labels = {label: region} if region is not None else {}
    metadata = {"name": name, "labels": labels}
    if deleting:
        metadata["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    spec = {"taints": list(taints)} if taints else {}
    if unschedulable:
        spec["unschedulable"] = True
    conditions = [{"type": "MemoryPressure", "status": "False"}]
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready})
    return {"metadata": metadata, "spec": spec, "status": {"conditions": conditions}}


def test_counts_schedulable_and_total_per_region():
    nodes = [
        node("w1", "eu-west-1"),
        node("w2", "eu-west-1", unschedulable=True),
        node("w3", "eu-west-1", ready="False"),
        node("c1", "eu-central-1", ready="Unknown"),
        node("n1", "eu-north-1", deleting=True),
        node("u1", "us-east-1"),
        node("x1"),
    ]
    result = region_availability(nodes, LABEL, ["eu-west-1", "eu-central-1", "eu-north-1", "ap-south-1"])
    assert result == {
        "eu-west-1": RegionNodes(1, 3),
        "eu-central-1": RegionNodes(0, 1),
        "eu-north-1": RegionNodes(0, 1),
        "ap-south-1": RegionNodes(0, 0),
    }
    assert available_regions(result) == {"eu-west-1"}


def test_uses_the_configured_region_label_only():
    nodes = [node("a", "eu-west-1", label="node-restriction.kubernetes.io/region"), node("b", "eu-west-1")]
    result = region_availability(nodes, "node-restriction.kubernetes.io/region", ["eu-west-1"])
    assert result == {"eu-west-1": RegionNodes(1, 1)}


def test_node_without_ready_condition_is_not_schedulable():
    assert not node_is_schedulable(node("a", "eu-west-1", ready=None))


@pytest.mark.parametrize(
    ("taint", "schedulable"),
    [
        ({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}, False),
        ({"key": "ToBeDeletedByClusterAutoscaler", "value": "1700000000", "effect": "NoSchedule"}, False),
        ({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}, False),
        ({"key": "dedicated", "value": "gpu", "effect": "NoExecute"}, False),
        ({"key": "DeletionCandidateOfClusterAutoscaler", "effect": "PreferNoSchedule"}, True),
        # tolerated by every pod (DefaultTolerationSeconds admission plugin)
        ({"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}, True),
        ({"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}, True),
        ({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}, False),
    ],
)
def test_taints(taint, schedulable):
    assert node_is_schedulable(node("a", "eu-west-1", taints=[taint])) is schedulable


def test_custom_tolerations():
    gpu = node("g", "eu-west-1", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    assert not node_is_schedulable(
        gpu, tolerations=[{"key": "dedicated", "operator": "Equal", "value": "cpu"}]
    )
    assert node_is_schedulable(gpu, tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu"}])
    assert node_is_schedulable(gpu, tolerations=[{"key": "dedicated", "operator": "Exists"}])
    assert node_is_schedulable(gpu, tolerations=[{"operator": "Exists"}])
    assert not node_is_schedulable(gpu, tolerations=[{"operator": "Exists", "effect": "NoExecute"}])
