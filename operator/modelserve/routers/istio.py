"""Istio router: a VirtualService (networking.istio.io/v1) with weighted route destinations.

Destinations are the per-revision Services by FQDN (no DestinationRule subsets to keep in sync).
Shadow uses ``mirror`` + ``mirrorPercentage``. Like the Gateway API router there are two modes: an
owned VirtualService ``<md>`` (hosts default to the ``<md>`` Service FQDN), or the user's
``virtualServiceName``, of which modelserve server-side applies ``spec.http`` only -- an atomic list,
so owned whole; the user's manifest keeps ``hosts``/``gateways`` and leaves ``http`` out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from modelserve.routers.base import MeshRouter, RouteContext, Weights, percent_weights

VIRTUAL_SERVICE_API_VERSION = "networking.istio.io/v1"
ROUTE_NAME = "modelserve"


class IstioRouter(MeshRouter):
    """``spec.traffic.router: istio``."""

    name: ClassVar[str] = "istio"
    approximate: ClassVar[bool] = False
    KIND: ClassVar[str] = "VirtualService"
    API_VERSION: ClassVar[str] = VIRTUAL_SERVICE_API_VERSION
    RULES_FIELD: ClassVar[str] = "http"

    def user_route_name(self, ctx: RouteContext) -> str | None:
        return ctx.traffic.istio.virtual_service_name

    def owned_route_spec(self, ctx: RouteContext) -> dict[str, Any]:
        settings = ctx.traffic.istio
        spec: dict[str, Any] = {"hosts": list(settings.hosts or [ctx.fqdn(ctx.name)])}
        if settings.gateways:
            spec["gateways"] = list(settings.gateways)
        return spec

    def rules(self, ctx: RouteContext, weights: Weights) -> list[dict[str, Any]]:
        return [self.http_route(ctx, weights)]

    def http_route(self, ctx: RouteContext, weights: Weights) -> dict[str, Any]:
        port = {"number": ctx.service_port}
        route = [
            {
                "destination": {"host": ctx.fqdn(ctx.stable_service_name), "port": port},
                "weight": weights.stable,
            }
        ]
        candidate_service = ctx.candidate_service_name
        if candidate_service is not None:
            route.append(
                {
                    "destination": {"host": ctx.fqdn(candidate_service), "port": port},
                    "weight": weights.candidate,
                }
            )
        http: dict[str, Any] = {"name": ROUTE_NAME, "route": route}
        if weights.mirror_percent and candidate_service is not None:
            http["mirror"] = {"host": ctx.fqdn(candidate_service), "port": port}
            http["mirrorPercentage"] = {"value": float(weights.mirror_percent)}
        return http

    def read_weights(self, ctx: RouteContext, live_objects: Sequence[Mapping[str, Any]]) -> Weights | None:
        vs = self.live_route(ctx, live_objects)
        if vs is None:
            return None
        stable_host = ctx.fqdn(ctx.stable_service_name)
        candidate_service = ctx.candidate_service_name
        candidate_host = ctx.fqdn(candidate_service) if candidate_service else None
        for http in (vs.get("spec") or {}).get("http") or ():
            by_host = {(d.get("destination") or {}).get("host"): d for d in http.get("route") or ()}
            if stable_host not in by_host and candidate_host not in by_host:
                continue
            stable = _weight(by_host.get(stable_host), alone=len(by_host) == 1)
            candidate = _weight(by_host.get(candidate_host), alone=len(by_host) == 1) if candidate_host else 0
            mirror = 0
            if candidate_host and (http.get("mirror") or {}).get("host") == candidate_host:
                # Istio mirrors 100 % when mirrorPercentage is absent.
                mirror = round(float((http.get("mirrorPercentage") or {}).get("value", 100.0)))
            return percent_weights(stable, candidate, mirror)
        return None


def _weight(destination: Mapping[str, Any] | None, *, alone: bool) -> int:
    if destination is None:
        return 0
    weight = destination.get("weight")
    # Istio: a lone destination without weight takes everything.
    if weight is None:
        return 100 if alone else 0
    return int(weight)
