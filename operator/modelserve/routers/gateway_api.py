"""Gateway API router: an HTTPRoute (gateway.networking.k8s.io/v1) splitting traffic by backendRef weights.

Backends are the per-revision Services ``<md>-<revision>`` (a promotion only changes weights, never a
Service selector, so no endpoint churn on the traffic path). Shadow uses the ``RequestMirror`` filter;
``requestMirror.percent`` is Standard since Gateway API v1.3.0 (Extended feature
``HTTPRouteRequestPercentageMirror``), so it is written only below 100 % -- a full mirror stays valid on
older Gateways.

Two modes:
- owned route (``parentRefs`` [+ ``hostnames``]): an HTTPRoute named ``<md>`` that we own outright;
- user route (``routeName``): the user's HTTPRoute keeps its metadata, ``parentRefs`` and
  ``hostnames``; modelserve server-side applies ``spec.rules`` only. ``spec.rules`` is an atomic list
  (no ``x-kubernetes-list-type: map``), so SSA can only own it whole: the user's manifest must leave
  ``rules`` out (put other rules in another HTTPRoute on the same parent). GitOps tools then never see a
  diff on a field they do not declare, and nobody else's apply touches ours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from modelserve.routers.base import MeshRouter, RouteContext, Weights, percent_weights

HTTPROUTE_API_VERSION = "gateway.networking.k8s.io/v1"
PARENT_REF_KEYS = ("group", "kind", "namespace", "name", "sectionName", "port")
# Gateway API's default backendRef weight when the field is absent.
DEFAULT_BACKEND_WEIGHT = 1


class GatewayApiRouter(MeshRouter):
    """``spec.traffic.router: gatewayAPI``."""

    name: ClassVar[str] = "gatewayAPI"
    approximate: ClassVar[bool] = False
    KIND: ClassVar[str] = "HTTPRoute"
    API_VERSION: ClassVar[str] = HTTPROUTE_API_VERSION
    RULES_FIELD: ClassVar[str] = "rules"

    def user_route_name(self, ctx: RouteContext) -> str | None:
        return ctx.traffic.gateway_api.route_name

    def owned_route_spec(self, ctx: RouteContext) -> dict[str, Any]:
        settings = ctx.traffic.gateway_api
        spec: dict[str, Any] = {
            "parentRefs": [
                {k: ref[k] for k in PARENT_REF_KEYS if ref.get(k) is not None} for ref in settings.parent_refs
            ]
        }
        if settings.hostnames:
            spec["hostnames"] = list(settings.hostnames)
        return spec

    def rules(self, ctx: RouteContext, weights: Weights) -> list[dict[str, Any]]:
        return [self.rule(ctx, weights)]

    def rule(self, ctx: RouteContext, weights: Weights) -> dict[str, Any]:
        backend_refs = [{"name": ctx.stable_service_name, "port": ctx.service_port, "weight": weights.stable}]
        candidate_service = ctx.candidate_service_name
        if candidate_service is not None:
            # Listed even at weight 0 so each step changes one number, not the list's shape.
            backend_refs.append(
                {"name": candidate_service, "port": ctx.service_port, "weight": weights.candidate}
            )
        rule: dict[str, Any] = {
            "matches": [{"path": {"type": "PathPrefix", "value": ctx.traffic.gateway_api.path}}],
        }
        if weights.mirror_percent and candidate_service is not None:
            mirror: dict[str, Any] = {"backendRef": {"name": candidate_service, "port": ctx.service_port}}
            if weights.mirror_percent < 100:
                mirror["percent"] = weights.mirror_percent
            rule["filters"] = [{"type": "RequestMirror", "requestMirror": mirror}]
        rule["backendRefs"] = backend_refs
        return rule

    def read_weights(self, ctx: RouteContext, live_objects: Sequence[Mapping[str, Any]]) -> Weights | None:
        route = self.live_route(ctx, live_objects)
        if route is None:
            return None
        stable_name, candidate_name = ctx.stable_service_name, ctx.candidate_service_name
        for rule in (route.get("spec") or {}).get("rules") or ():
            refs = {ref.get("name"): ref for ref in rule.get("backendRefs") or ()}
            if stable_name not in refs and candidate_name not in refs:
                continue
            stable = _weight(refs.get(stable_name))
            candidate = _weight(refs.get(candidate_name)) if candidate_name else 0
            return percent_weights(stable, candidate, _mirror_percent(rule, candidate_name))
        return None


def _weight(ref: Mapping[str, Any] | None) -> int:
    if ref is None:
        return 0
    weight = ref.get("weight")
    return DEFAULT_BACKEND_WEIGHT if weight is None else int(weight)


def _mirror_percent(rule: Mapping[str, Any], candidate_name: str | None) -> int:
    for flt in rule.get("filters") or ():
        mirror = flt.get("requestMirror") if flt.get("type") == "RequestMirror" else None
        if not mirror or (mirror.get("backendRef") or {}).get("name") != candidate_name:
            continue
        if mirror.get("percent") is not None:
            return int(mirror["percent"])
        fraction = mirror.get("fraction")
        if fraction:
            denominator = fraction.get("denominator") or 100
            return round(100 * fraction.get("numerator", 0) / denominator)
        return 100
    return 0
