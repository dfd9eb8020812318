"""Traffic routers: turn desired weights into HTTPRoutes, VirtualServices or Service selectors.

``router_for(name)`` picks the implementation for ``spec.traffic.router``; see ``base.TrafficRouter``.
"""

from modelserve.routers.base import (
    ALL_STABLE,
    REVISION_LABEL,
    RouteContext,
    RouterCleanup,
    TrafficRouter,
    Weights,
    revision_service_name,
    router_for,
    router_names,
)

__all__ = [
    "ALL_STABLE",
    "REVISION_LABEL",
    "RouteContext",
    "RouterCleanup",
    "TrafficRouter",
    "Weights",
    "revision_service_name",
    "router_for",
    "router_names",
]
