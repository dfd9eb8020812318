"""Fake KWOK nodes: at least two per region, in the regions modelserve's users serve from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REGION_LABEL = "topology.kubernetes.io/region"
ZONE_LABEL = "topology.kubernetes.io/zone"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"

# Frankfurt, Singapore, Sao Paulo.
DEFAULT_REGIONS = ("eu-central-1", "ap-southeast-1", "sa-east-1")


@dataclass(frozen=True)
class FakeNode:
    name: str
    region: str
    zone: str
    cpu: str = "32"
    memory: str = "128Gi"
    pods: str = "110"
    gpus: str = "8"  # nvidia.com/gpu: so the vllm runtime's pods (examples/) can be placed
    extra_labels: dict[str, str] = field(default_factory=dict)

    def manifest(self) -> dict:
        capacity = {"cpu": self.cpu, "memory": self.memory, "pods": self.pods, "nvidia.com/gpu": self.gpus}
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "type": "kwok",
                    "kubernetes.io/hostname": self.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "kubernetes.io/role": "agent",
                    "node-role.kubernetes.io/agent": "",
                    REGION_LABEL: self.region,
                    ZONE_LABEL: self.zone,
                    **self.extra_labels,
                },
            },
            "spec": {},
            "status": {"allocatable": capacity, "capacity": capacity},
        }


def nodes_for_region(region: str, count: int = 2, **kwargs: Any) -> list[FakeNode]:
    """`count` nodes in `region`, spread over zones a, b, c..."""
    return [
        FakeNode(name=f"kwok-{region}-{i}", region=region, zone=f"{region}{'abc'[i % 3]}", **kwargs)
        for i in range(count)
    ]


def default_nodes() -> list[FakeNode]:
    """Two nodes in each of eu-central-1, ap-southeast-1 and sa-east-1."""
    return [n for region in DEFAULT_REGIONS for n in nodes_for_region(region)]
