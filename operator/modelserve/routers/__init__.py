"""Traffic routers: turn desired weights into HTTPRoutes, VirtualServices or Service selectors.

Like Flagger's ``pkg/router``: each router implements the small interface ``base.TrafficRouter``
(desired objects for weights, read weights back, finalize), the two mesh routers share their
owned-versus-user route logic through ``base.MeshRouter``, and ``router_for(name)`` is the factory
that picks one for ``spec.traffic.router``. Adding a router is one new module and one line here.
"""

from modelserve.routers.base import (
    ALL_STABLE,
    REVISION_LABEL,
    MeshRouter,
    RouteContext,
    RouterCleanup,
    TrafficRouter,
    Weights,
    revision_service_name,
)
from modelserve.routers.gateway_api import GatewayApiRouter
from modelserve.routers.istio import IstioRouter
from modelserve.routers.replicas import ReplicaRatioRouter

ROUTERS: dict[str, type[TrafficRouter]] = {
    cls.name: cls for cls in (GatewayApiRouter, IstioRouter, ReplicaRatioRouter)
}


def router_for(name: str) -> TrafficRouter:
    """The router for ``spec.traffic.router`` (``gatewayAPI``, ``istio`` or ``replicas``).

    Raises ``ValueError`` naming the field when the name is unknown.
    """
    try:
        return ROUTERS[name]()
    except KeyError:
        raise ValueError(
            f"spec.traffic.router: unknown router {name!r}; use one of {', '.join(ROUTERS)}"
        ) from None


__all__ = [
    "ALL_STABLE",
    "REVISION_LABEL",
    "ROUTERS",
    "GatewayApiRouter",
    "IstioRouter",
    "MeshRouter",
    "ReplicaRatioRouter",
    "RouteContext",
    "RouterCleanup",
    "TrafficRouter",
    "Weights",
    "revision_service_name",
    "router_for",
]
