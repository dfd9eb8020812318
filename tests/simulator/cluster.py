"""The simulator's only I/O towards Kubernetes: read one ModelDeployment's snapshot."""

from __future__ import annotations

import time
from typing import Protocol

from modelserve.k8s.client import KubeClient

from tests.simulator.snapshot import ROUTER_GATEWAY_API, ROUTER_ISTIO, ModelSnapshot
from tests.simulator.split import INSTANCE_LABEL

NODE_CACHE_SECONDS = 30.0


class SnapshotReader(Protocol):
    def read(self, namespace: str, name: str) -> ModelSnapshot: ...


class KubeSnapshotReader:
    """Reads with modelserve's own small client (list/get over the REST transport); nodes are cached
    because regions rarely change. Route kinds that are not installed read as empty lists."""

    def __init__(self, kube: KubeClient):
        self.kube = kube
        self._nodes: list[dict] = []
        self._nodes_at = -NODE_CACHE_SECONDS

    @classmethod
    def from_kubeconfig(cls, kubeconfig: str | None) -> KubeSnapshotReader:
        return cls(KubeClient.from_environment(kubeconfig))

    def nodes(self) -> list[dict]:
        if time.monotonic() - self._nodes_at >= NODE_CACHE_SECONDS:
            self._nodes = self.kube.list("Node")
            self._nodes_at = time.monotonic()
        return self._nodes

    def read(self, namespace: str, name: str) -> ModelSnapshot:
        md = self.kube.get("ModelDeployment", namespace, name)
        selector = f"{INSTANCE_LABEL}={name}"
        router = (((md or {}).get("spec") or {}).get("traffic") or {}).get("router")
        return ModelSnapshot(
            namespace=namespace,
            name=name,
            model_deployment=md,
            services=self.kube.list("Service", namespace, label_selector=selector),
            pods=self.kube.list("Pod", namespace, label_selector=selector),
            nodes=self.nodes(),
            # User-owned routes carry no label of ours, so list the namespace and filter by name too.
            http_routes=self.kube.list("HTTPRoute", namespace) if router == ROUTER_GATEWAY_API else [],
            virtual_services=self.kube.list("VirtualService", namespace) if router == ROUTER_ISTIO else [],
        )
