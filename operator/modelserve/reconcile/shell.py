"""The imperative shell around the planners: read, plan, apply what differs, write status if changed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from modelserve.api import constants as c
from modelserve.k8s.client import KubeClient
from modelserve.k8s.compare import is_subset
from modelserve.observability import metrics
from modelserve.reconcile.plan import OWNED_KINDS, EventSpec, Observed, Plan, plan_model_deployment

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What a reconcile needs besides the key: the API client, settings and the clock."""

    kube: KubeClient
    prometheus_url: str | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def owned_selector(name: str) -> str:
    return f"{c.LABEL_INSTANCE}={name},{c.LABEL_MANAGED_BY}={c.MANAGED_BY}"


def _owned_by(obj: dict, uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj.get("metadata", {}).get("ownerReferences") or [])


def observe(ctx: Context, body: dict) -> tuple[Observed, dict[str, dict[str, dict]]]:
    """Read the owned objects (by kind, by name) and the referenced resources of one ModelDeployment."""
    meta = body["metadata"]
    ns, name, uid = meta["namespace"], meta["name"], meta.get("uid", "")
    owned: dict[str, dict[str, dict]] = {}
    for kind in OWNED_KINDS:
        items = ctx.kube.list(kind, ns, label_selector=owned_selector(name))
        owned[kind] = {o["metadata"]["name"]: o for o in items if _owned_by(o, uid)}
    spec = body.get("spec") or {}
    observed = Observed(deployments=owned["Deployment"], hpas=owned["HorizontalPodAutoscaler"])
    ref = (spec.get("placementRef") or {}).get("name")
    if ref:
        observed.placement = ctx.kube.get("RegionPlacement", ns, ref)
        observed.placement_missing = observed.placement is None
    ref = (spec.get("slaPolicyRef") or {}).get("name")
    if ref:
        observed.sla_policy = ctx.kube.get("SLAPolicy", ns, ref)
        observed.sla_policy_missing = observed.sla_policy is None
    return observed, owned


def apply_plan(ctx: Context, body: dict, plan: Plan, owned: dict[str, dict[str, dict]]) -> int:
    """Apply desired objects that differ from what is live, delete owned objects no longer desired.
    Returns how many writes were made."""
    writes = 0
    wanted: dict[str, set[str]] = {}
    for obj in plan.desired:
        kind, name = obj["kind"], obj["metadata"]["name"]
        wanted.setdefault(kind, set()).add(name)
        live = owned.get(kind, {}).get(name)
        if live is None and kind not in owned:
            live = ctx.kube.get(kind, obj["metadata"].get("namespace"), name)
        # List items carry no apiVersion/kind; everything else must already be as we want it.
        if live is not None and is_subset(
            {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}, live
        ):
            continue
        ctx.kube.apply(obj)
        writes += 1
    for kind, objects in owned.items():
        if kind in plan.keep_kinds:
            continue
        for name in objects:
            if name not in wanted.get(kind, set()):
                ctx.kube.delete(kind, body["metadata"]["namespace"], name)
                writes += 1
    return writes


def status_patch(old: dict, new: dict) -> dict | None:
    """The merge patch that turns `old` status into `new` (None when they are equal).
    Keys we no longer set are removed; kopf's own bookkeeping under `kopf` is left alone."""
    patch: dict = {}
    for key, value in new.items():
        if old.get(key) != value:
            patch[key] = value
    for key in old:
        if key not in new and key != "kopf":
            patch[key] = None
    return patch or None


def post_events(ctx: Context, body: dict, events: list[EventSpec]) -> None:
    for ev in events:
        ctx.kube.post_event(body, ev.type, ev.reason, ev.message)


def reconcile_model_deployment(ctx: Context, namespace: str, name: str) -> float | None:
    """One level-based reconcile of a ModelDeployment. Returns seconds until it should run again."""
    started = time.monotonic()
    body = ctx.kube.get("ModelDeployment", namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return None  # owner references make the garbage collector remove what we own
    body.setdefault("apiVersion", "modelserve.io/v1alpha1")
    body.setdefault("kind", "ModelDeployment")
    try:
        observed, owned = observe(ctx, body)
        plan = plan_model_deployment(body, observed, ctx.clock())
        apply_error = None
        try:
            apply_plan(ctx, body, plan, owned)
        except Exception as exc:  # report in status, retry with backoff
            apply_error = exc
            _record_apply_error(plan, exc, ctx.clock())
        patch = status_patch(body.get("status") or {}, plan.status)
        if patch:
            ctx.kube.patch_status("ModelDeployment", namespace, name, patch)
        post_events(ctx, body, plan.events)
        for kind, objs in owned.items():
            metrics.OWNED_OBJECTS.labels(namespace, name, kind).set(len(objs))
        metrics.REPLICAS_READY.labels(namespace, name).set(plan.status.get("readyReplicas") or 0)
        metrics.CANARY_WEIGHT.labels(namespace, name).set(plan.status.get("canaryWeight") or 0)
        if apply_error is not None:
            raise apply_error
        metrics.RECONCILES.labels("ModelDeployment", "ok").inc()
        return plan.requeue_after
    except Exception:
        metrics.RECONCILES.labels("ModelDeployment", "error").inc()
        metrics.RECONCILE_ERRORS.labels("ModelDeployment").inc()
        raise
    finally:
        metrics.RECONCILE_DURATION.labels("ModelDeployment").observe(time.monotonic() - started)


def _record_apply_error(plan: Plan, exc: Exception, now: datetime) -> None:
    from modelserve.api.conditions import Condition, merge_conditions

    message = f"applying owned objects failed: {getattr(exc, 'reason', '')} {str(exc)[:300]}".strip()
    plan.status["conditions"] = merge_conditions(
        plan.status.get("conditions"),
        [Condition(c.COND_DEGRADED, True, c.REASON_APPLY_FAILED, message)],
        now,
        plan.status.get("observedGeneration"),
    )
    plan.events.append(EventSpec(c.EVENT_WARNING, c.REASON_APPLY_FAILED, message))
