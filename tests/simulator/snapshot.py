"""What the simulator reads about one ModelDeployment, and the (pure) decision of where its requests go."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.simulator.split import (
    EMPTY_SPLIT,
    INSTANCE_LABEL,
    Group,
    TrafficSplit,
    known_groups,
    node_regions,
    service_map,
    split_from_http_routes,
    split_from_service,
    split_from_virtual_services,
)

ROUTER_REPLICAS = "replicas"
ROUTER_GATEWAY_API = "gatewayAPI"
ROUTER_ISTIO = "istio"


@dataclass(frozen=True)
class ModelSnapshot:
    """Live bodies for one ModelDeployment ``name`` in ``namespace`` (lists may hold unrelated objects;
    route lists are filtered here)."""

    namespace: str
    name: str
    model_deployment: dict[str, Any] | None = None
    services: list[dict[str, Any]] = field(default_factory=list)
    pods: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    http_routes: list[dict[str, Any]] = field(default_factory=list)
    virtual_services: list[dict[str, Any]] = field(default_factory=list)

    @property
    def spec(self) -> dict[str, Any]:
        return (self.model_deployment or {}).get("spec") or {}

    @property
    def status(self) -> dict[str, Any]:
        return (self.model_deployment or {}).get("status") or {}

    @property
    def router(self) -> str:
        return (self.spec.get("traffic") or {}).get("router") or ROUTER_REPLICAS

    @property
    def stable_revision(self) -> str | None:
        return self.status.get("stableRevision") or None

    @property
    def candidate_revision(self) -> str | None:
        return self.status.get("candidateRevision") or None

    @property
    def preview_service_name(self) -> str:
        blue_green = (self.spec.get("rollout") or {}).get("blueGreen") or {}
        return blue_green.get("previewServiceName") or f"{self.name}-preview"


def _labelled_for(obj: dict[str, Any], name: str) -> bool:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(INSTANCE_LABEL) == name


def _named(obj: dict[str, Any], name: str | None) -> bool:
    return bool(name) and (obj.get("metadata") or {}).get("name") == name


def routes_for(snapshot: ModelSnapshot) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """HTTPRoutes and VirtualServices of this ModelDeployment: labelled
    ``app.kubernetes.io/instance=<md>`` (owned mode) or named by ``spec.traffic.gatewayAPI.routeName`` /
    ``istio.virtualServiceName`` (user mode)."""
    traffic = snapshot.spec.get("traffic") or {}
    route_name = (traffic.get("gatewayAPI") or {}).get("routeName")
    vs_name = (traffic.get("istio") or {}).get("virtualServiceName")
    routes = [r for r in snapshot.http_routes if _labelled_for(r, snapshot.name) or _named(r, route_name)]
    vss = [v for v in snapshot.virtual_services if _labelled_for(v, snapshot.name) or _named(v, vs_name)]
    return routes, vss


def main_split(snapshot: ModelSnapshot) -> TrafficSplit:
    """Where the model's production requests go, read the way the configured router's data plane would:
    the route object for ``gatewayAPI``/``istio`` (falling back to the main Service while no route names our
    Services), the main Service ``<md>`` for ``replicas``."""
    services = service_map(snapshot.services)
    regions = node_regions(snapshot.nodes)
    routes, vss = routes_for(snapshot)
    split: TrafficSplit | None = None
    if snapshot.router == ROUTER_GATEWAY_API:
        split = split_from_http_routes(routes, services, snapshot.pods, regions)
    elif snapshot.router == ROUTER_ISTIO:
        split = split_from_virtual_services(vss, snapshot.namespace, services, snapshot.pods, regions)
    if split is None:
        if snapshot.name not in services:
            return EMPTY_SPLIT
        split = split_from_service(snapshot.name, services, snapshot.pods, regions)
    return split


def preview_split(snapshot: ModelSnapshot) -> TrafficSplit:
    """Smoke traffic for blue-green: the preview Service's ready pods (empty while there is none)."""
    services = service_map(snapshot.services)
    name = snapshot.preview_service_name
    if name not in services:
        return EMPTY_SPLIT
    split = split_from_service(name, services, snapshot.pods, node_regions(snapshot.nodes))
    return TrafficSplit(shares=split.shares, source=split.source)  # unserved preview is not a routing bug


def groups_present(snapshot: ModelSnapshot) -> set[Group]:
    """Every (revision, region) with a pod, ready or not (their series are created at zero)."""
    return known_groups(snapshot.pods, node_regions(snapshot.nodes))
