"""``spec.traffic``: which router splits traffic between revisions, and its settings, typed.

Parsed once with the rest of the spec; the routers (``modelserve.routers``) read these fields. A mesh
router either owns a route named after the ModelDeployment or writes its rules into the user's route
named by ``gatewayAPI.routeName`` / ``istio.virtualServiceName``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelserve.api.constants import DEFAULT_ROUTER
from modelserve.api.errors import SpecError, object_field

TRAFFIC_PATH = "spec.traffic"


@dataclass(frozen=True)
class GatewayApiTraffic:
    """``spec.traffic.gatewayAPI``: an owned HTTPRoute on ``parent_refs`` (+ ``hostnames``), matching
    ``path``; or ``route_name``, the user's HTTPRoute whose ``spec.rules`` modelserve writes."""

    parent_refs: tuple[Mapping[str, Any], ...] = ()
    hostnames: tuple[str, ...] = ()
    path: str = "/"
    route_name: str | None = None


@dataclass(frozen=True)
class IstioTraffic:
    """``spec.traffic.istio``: an owned VirtualService for ``hosts`` (default: the model's Service)
    through ``gateways``; or ``virtual_service_name``, the user's VirtualService whose ``spec.http``
    modelserve writes."""

    hosts: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()
    virtual_service_name: str | None = None


@dataclass(frozen=True)
class Traffic:
    """``spec.traffic`` with the API's defaults (``router: replicas``)."""

    router: str = DEFAULT_ROUTER
    gateway_api: GatewayApiTraffic = GatewayApiTraffic()
    istio: IstioTraffic = IstioTraffic()


def _strings(body: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
    value = body.get(key) or ()
    if isinstance(value, str | bytes) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{path}.{key}", "must be a list of strings")
    return tuple(value)


def parse_traffic(traffic: Mapping[str, Any] | None) -> Traffic:
    """``spec.traffic`` (a dict, or None) -> ``Traffic``. Raises SpecError naming the field.

    The router's name is checked where the routers are (``routers.router_for``)."""
    traffic = traffic or {}
    path = TRAFFIC_PATH
    if not isinstance(traffic, Mapping):
        raise SpecError(path, "must be an object")
    gateway = object_field(traffic, "gatewayAPI", path)
    istio = object_field(traffic, "istio", path)
    parent_refs = gateway.get("parentRefs") or ()
    if not all(isinstance(ref, Mapping) for ref in parent_refs):
        raise SpecError(f"{path}.gatewayAPI.parentRefs", "must be a list of objects")
    return Traffic(
        router=str(traffic.get("router") or DEFAULT_ROUTER),
        gateway_api=GatewayApiTraffic(
            parent_refs=tuple(dict(ref) for ref in parent_refs),
            hostnames=_strings(gateway, "hostnames", f"{path}.gatewayAPI"),
            path=str(gateway.get("path") or "/"),
            route_name=gateway.get("routeName") or None,
        ),
        istio=IstioTraffic(
            hosts=_strings(istio, "hosts", f"{path}.istio"),
            gateways=_strings(istio, "gateways", f"{path}.istio"),
            virtual_service_name=istio.get("virtualServiceName") or None,
        ),
    )
