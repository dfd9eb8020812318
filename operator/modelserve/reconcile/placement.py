"""RegionPlacement's own status: per region, what the ModelDeployments using it want and get."""

from __future__ import annotations

import logging
from datetime import datetime

from modelserve.api import constants as c
from modelserve.api.conditions import Condition, merge_conditions
from modelserve.api.errors import SpecError
from modelserve.k8s.apply import merge_patch
from modelserve.placement import parse_region_placement, placement_status, region_availability
from modelserve.placement.division import Division, RegionAllocation
from modelserve.reconcile.context import Context

log = logging.getLogger(__name__)


def _division_from_model_status(md: dict) -> Division | None:
    """What a ModelDeployment's status says it wants per region (its own planner divided it)."""
    rows = ((md.get("status") or {}).get("placement") or {}).get("regions") or []
    if not rows:
        return None
    allocations = tuple(RegionAllocation(r["name"], int(r.get("desired") or 0), "", "") for r in rows)
    total = sum(a.replicas for a in allocations)
    return Division(
        allocations=allocations,
        requested=total,
        placed=total,
        unplaced=0,
        no_region_available=False,
        message="",
    )


def plan_placement_status(
    body: dict, models: list[dict], pods: list[dict], nodes: list[dict], now: datetime
) -> tuple[dict, list[tuple[str, str, str]]]:
    """The RegionPlacement status and the events its transitions deserve (pure)."""
    meta = body["metadata"]
    old = dict(body.get("status") or {})
    generation = meta.get("generation")
    try:
        placement = parse_region_placement(body)
    except (SpecError, ValueError) as exc:
        status = {
            **old,
            "observedGeneration": generation,
            "compliant": False,
            "conditions": merge_conditions(
                old.get("conditions"),
                [Condition(c.COND_READY, False, c.REASON_INVALID_SPEC, str(exc))],
                now,
                generation,
            ),
        }
        return status, [(c.EVENT_WARNING, c.REASON_INVALID_SPEC, str(exc))]
    availability = region_availability(nodes, placement.region_label, [r.name for r in placement.regions])
    divisions = [d for d in (_division_from_model_status(m) for m in models) if d is not None]
    pstatus = placement_status(
        placement, divisions, availability, pods, {n["metadata"]["name"]: n for n in nodes}
    )
    as_status = pstatus.as_status()
    compliant = pstatus.condition.status is True
    any_available = any(r.available for r in pstatus.regions)
    ready = Condition(
        c.COND_READY,
        any_available,
        "RegionsAvailable" if any_available else "NoAllowedRegionAvailable",
        "at least one allowed region has schedulable nodes"
        if any_available
        else f"no allowed region ({', '.join(placement.residency.allowed_regions)}) has a schedulable node",
    )
    status = {
        **{k: v for k, v in old.items() if k == "kopf"},
        **as_status,
        "observedGeneration": generation,
        "compliant": compliant,
        "models": sorted(m["metadata"]["name"] for m in models),
    }
    status["conditions"] = merge_conditions(
        old.get("conditions"), [pstatus.condition, ready], now, generation
    )
    events = []
    old_cond = {x["type"]: x for x in old.get("conditions") or []}
    for cond in status["conditions"]:
        before = old_cond.get(cond["type"])
        if before is not None and before.get("status") != cond["status"]:
            kind = c.EVENT_WARNING if cond["status"] == "False" else c.EVENT_NORMAL
            events.append((kind, cond["reason"], cond["message"]))
    return status, events


def reconcile_region_placement(ctx: Context, namespace: str, name: str) -> float | None:
    body = ctx.kube.get("RegionPlacement", namespace, name)
    if body is None:
        return None
    body.setdefault("apiVersion", "modelserve.io/v1alpha1")
    body.setdefault("kind", "RegionPlacement")
    models = [
        m
        for m in ctx.kube.list("ModelDeployment", namespace)
        if ((m.get("spec") or {}).get("placementRef") or {}).get("name") == name
    ]
    pods: list[dict] = []
    for m in models:
        pods.extend(
            ctx.kube.list("Pod", namespace, label_selector=f"{c.LABEL_INSTANCE}={m['metadata']['name']}")
        )
    nodes = ctx.kube.list("Node")
    status, events = plan_placement_status(body, models, pods, nodes, ctx.clock())
    patch = merge_patch(body.get("status") or {}, status)
    if patch:
        ctx.kube.patch_status("RegionPlacement", namespace, name, patch)
    for type_, reason, message in events:
        ctx.kube.post_event(body, type_, reason, message)
    return None
