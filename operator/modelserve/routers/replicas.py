"""Replica-ratio router: no mesh, one Service, weights approximated by how many pods each revision runs.

The main Service ``<md>`` selects every revision while traffic is split, so kube-proxy spreads
requests over ready pods: candidate share ~= candidate_ready / (stable_ready + candidate_ready).
When one revision must take everything (weight 0 or 100) the Service selects that revision only, so
a rollback takes traffic off the candidate at once even though its pods are still running.
Mirroring is impossible without a proxy, so the shadow strategy needs a mesh router.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from modelserve.routers.base import (
    RouteContext,
    RouterCleanup,
    TrafficRouter,
    Weights,
    find_object,
    main_service,
    object_ref,
    preview_services,
)


def candidate_share(total_replicas: int, weight: int) -> int:
    """Candidate replicas needed to carry ``weight`` percent of a ``total_replicas``-sized load.

    ``ceil(total * weight / 100)``, at least 1 when the weight is positive, 0 for weight 0.
    """
    if weight <= 0:
        return 0
    return max(1, math.ceil(total_replicas * weight / 100))


def replicas_for_weight(total_replicas: int, weight: int) -> tuple[int, int]:
    """(stable, candidate) pod counts whose ratio approximates ``weight`` percent to the candidate.

    The candidate gets ``ceil(total * weight / 100)`` (at least 1 for a positive weight); the stable
    keeps the rest but at least 1 while it still takes traffic, so the total can exceed
    ``total_replicas`` by one for tiny deployments.
    """
    candidate = candidate_share(total_replicas, weight)
    if weight >= 100:
        return 0, candidate
    if total_replicas <= 0 and weight <= 0:
        return 0, 0
    return max(total_replicas - candidate, 1), candidate


def effective_weight(stable_ready: int, candidate_ready: int) -> int:
    """The candidate's approximate share in percent given ready pods (0 when nothing is ready)."""
    total = stable_ready + candidate_ready
    if total <= 0:
        return 0
    return round(100 * candidate_ready / total)


class ReplicaRatioRouter(TrafficRouter):
    """``spec.traffic.router: replicas`` -- the default; no mesh or gateway required."""

    name: ClassVar[str] = "replicas"
    approximate: ClassVar[bool] = True

    def desired_objects(self, ctx: RouteContext, weights: Weights) -> list[dict[str, Any]]:
        if weights.mirror_percent:
            raise ValueError(
                "spec.rollout.strategy: shadow mirroring needs spec.traffic.router gatewayAPI or istio"
            )
        return [main_service(ctx, weights), *preview_services(ctx)]

    def read_weights(self, ctx: RouteContext, live_objects: Sequence[Mapping[str, Any]]) -> Weights | None:
        service = find_object(live_objects, "Service", ctx.name)
        if service is None:
            return None
        selected = ((service.get("spec") or {}).get("selector") or {}).get(ctx.revision_label_key)
        if selected is None:
            # Split by pod ratio: only effective_weight(ready counts) can tell.
            return None
        if selected == ctx.candidate_revision:
            return Weights(0, 100)
        if selected == ctx.stable_revision:
            return Weights(100, 0)
        return None

    def finalize(self, ctx: RouteContext) -> RouterCleanup:
        objects = [main_service(ctx, Weights()), *preview_services(ctx)]
        return RouterCleanup(delete=tuple(object_ref(o) for o in objects))
