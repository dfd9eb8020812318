"""The imperative shell around the planners: read, plan, apply what differs, write status if changed."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from modelserve import FIELD_MANAGER
from modelserve.analysis.contract import preset_for_runtime
from modelserve.api import constants as c
from modelserve.api.conditions import Condition, merge_conditions
from modelserve.api.errors import SpecError
from modelserve.api.modeldeployment import parse_model_deployment
from modelserve.api.revisions import spec_revision
from modelserve.k8s.apply import HANDOVER_FIELD_MANAGER, replicas_handover, stamp_intent, status_patch
from modelserve.k8s.compare import is_subset
from modelserve.k8s.transport import ApiException
from modelserve.observability import metrics
from modelserve.placement import find_violations, parse_region_placement, plan_enforcement
from modelserve.planner.inputs import inputs_fingerprint, resync_digests
from modelserve.planner.model_fetch import pods_needed
from modelserve.planner.modeldeployment import (
    OWNED_KINDS,
    EventSpec,
    Observed,
    Plan,
    plan_model_deployment,
    rollout_spec_for,
    runtime_of,
)
from modelserve.planner.settle import cluster_began, first_status_delay
from modelserve.reconcile.analysis_run import analysis_due, run_analysis
from modelserve.reconcile.context import Context
from modelserve.reconcile.failures import report_reconcile_error
from modelserve.reconcile.finalize import sync_route_hold
from modelserve.rollout.state import state_from_status
from modelserve.routers.user_routes import user_route
from modelserve.slo.view import SLAView

log = logging.getLogger(__name__)


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
        reader = ctx.cache if ctx.cache is not None and ctx.cache.covers(kind) else ctx.kube
        items = reader.list(kind, ns, label_selector=owned_selector(name))
        owned[kind] = {o["metadata"]["name"]: o for o in items if _owned_by(o, uid)}
    spec = body.get("spec") or {}
    observed = Observed(deployments=owned["Deployment"], hpas=owned["HorizontalPodAutoscaler"])
    ref = (spec.get("placementRef") or {}).get("name")
    if ref:
        observed.placement = ctx.kube.get("RegionPlacement", ns, ref)
        observed.placement_missing = observed.placement is None
        if observed.placement is not None:
            observed.nodes = ctx.kube.list("Node")
    # The pods: where they run (placement) and whether their model download failed (ModelFetchFailed);
    # listed only when they can tell something (planner/model_fetch.pods_needed).
    # From the read cache unless placed: a storm of new models read each one's pods while its Deployment
    # was not settled, a LIST the API server answers by scanning every pod of the namespace. A placed
    # model reads them as stored: it evicts by what it sees, and must not see a pod already evicted.
    if pods_needed(observed.deployments, bool(ref), body.get("status") or {}):
        if not ref and ctx.cache is not None and ctx.cache.covers("Pod"):
            observed.pods = ctx.cache.list("Pod", ns, label_selector=owned_selector(name))
        else:
            observed.pods = ctx.kube.list("Pod", ns, label_selector=f"{c.LABEL_INSTANCE}={name}")
    if ctx.runtimes is not None:
        observed.runtimes = ctx.runtimes.current()
        observed.pod_monitor_supported = ctx.runtimes.pod_monitor_supported
        observed.scaled_object_supported = ctx.runtimes.scaled_object_supported
    observed.prometheus_url = ctx.prometheus_url
    ref = (spec.get("slaPolicyRef") or {}).get("name")
    if ref:
        observed.sla_policy = ctx.kube.get("SLAPolicy", ns, ref)
        observed.sla_policy_missing = observed.sla_policy is None
    route = user_route(ns, name, spec)
    if route is not None:
        # Read once: apply_plan compares our rules with this copy instead of reading it again.
        observed.user_route = ctx.kube.get(route.kind, ns, route.name)
        if observed.user_route is None:
            observed.user_route_missing = str(route)
    observed.sla = _sla_view(ctx, body)
    if ctx.floors is not None:
        observed.predictive = ctx.floors.floors_for(ns, name)
    return observed, owned


def _sla_view(ctx: Context, body: dict) -> SLAView | None:
    if ctx.sla_views is None:
        return None
    try:
        return ctx.sla_views.view_for(body)
    except Exception:  # the SLA view is advisory: never block serving on it
        log.exception(
            "SLA view for %s/%s failed", body["metadata"].get("namespace"), body["metadata"]["name"]
        )
        return None


def maybe_analyse(ctx: Context, body: dict, observed: Observed, now: datetime) -> None:
    """Run the analysis when it is due; its outcome goes into `observed.analysis`."""
    try:
        spec = parse_model_deployment(body.get("spec") or {})
        revision = spec_revision(spec, observed.deployments)
        rspec = rollout_spec_for(
            spec, dict(body["metadata"].get("annotations") or {}), revision, observed.sla
        )
        runtime = runtime_of(spec, observed.runtimes)
    except (SpecError, ValueError):
        return
    status = body.get("status") or {}
    state = state_from_status(status)
    start = analysis_due(rspec, state, now)
    if start is None:
        return
    gates = observed.sla.gates if observed.sla else ()
    try:
        observed.analysis = run_analysis(
            ctx.prometheus_url,
            body["metadata"]["namespace"],
            body["metadata"]["name"],
            rspec,
            spec.rollout.analysis,
            tuple(gates),
            state,
            status.get("rollout") or {},
            start,
            now,
            runtime_preset=preset_for_runtime(runtime),
        )
    except ValueError as exc:  # a gate the judge cannot use: reported as a Degraded condition by the planner
        log.warning("analysis of %s skipped: %s", body["metadata"]["name"], exc)


def apply_plan(
    ctx: Context, body: dict, plan: Plan, owned: dict[str, dict[str, dict]], user_route: dict | None = None
) -> int:
    """Apply desired objects that differ from what is live, delete owned objects no longer desired.

    ``owned``: the owned objects observe() listed; ``user_route``: the user-owned route it read
    (``Observed.user_route``), so neither is read again. Returns how many writes were made."""
    writes = 0
    for obj, live in _against_owned(plan, owned, user_route):
        kind, name = obj["kind"], obj["metadata"]["name"]
        if live is None and not (ctx.cache is not None and ctx.cache.covers(kind)):  # not ours yet
            # (A cached kind holds every object with our label: absent there, it is absent or not ours.)
            live = ctx.kube.get(kind, obj["metadata"].get("namespace"), name)
        if _in_sync(obj, live):
            continue
        handover = replicas_handover(obj, live, FIELD_MANAGER)
        if handover is not None:  # an HPA takes spec.replicas over: keep its value meanwhile
            _remember(ctx, ctx.kube.apply(handover, field_manager=HANDOVER_FIELD_MANAGER), kind)
            writes += 1
        _remember(ctx, ctx.kube.apply(obj), kind)
        writes += 1
    for kind, name in _unwanted(plan, owned):
        ctx.kube.delete(kind, body["metadata"]["namespace"], name)
        if ctx.cache is not None:
            ctx.cache.forget(kind, body["metadata"]["namespace"], name)
        writes += 1
    return writes


def _against_owned(
    plan: Plan, owned: dict[str, dict[str, dict]], user_route: dict | None
) -> Iterator[tuple[dict, dict | None]]:
    """Each desired object (with its intent stamped) and the live one observed for it, if any."""
    for obj in plan.desired:
        obj = stamp_intent(obj)
        live = owned.get(obj["kind"], {}).get(obj["metadata"]["name"])
        if live is None and _same_object(user_route, obj):
            live = user_route
        yield obj, live


def _unwanted(plan: Plan, owned: dict[str, dict[str, dict]]) -> list[tuple[str, str]]:
    """The owned objects the plan no longer wants (kinds it keeps aside)."""
    wanted = {(o["kind"], o["metadata"]["name"]) for o in plan.desired}
    return [
        (kind, name)
        for kind, objects in owned.items()
        if kind not in plan.keep_kinds
        for name in objects
        if (kind, name) not in wanted
    ]


def _in_sync(obj: dict, live: dict | None) -> bool:
    """Whether the live object already is as `obj` wants it (list items carry no apiVersion/kind)."""
    wanted = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    return live is not None and is_subset(wanted, live)


def pending_writes(plan: Plan, owned: dict[str, dict[str, dict]], user_route: dict | None = None) -> bool:
    """Whether `apply_plan` would write anything for `plan` over `owned`: a desired object not in sync
    (or not among what was observed: it would be read, then perhaps written) or an owned one to delete."""
    desired = _against_owned(plan, owned, user_route)
    return any(not _in_sync(obj, live) for obj, live in desired) or bool(_unwanted(plan, owned))


def _record_resync_digest(ctx: Context, body: dict, owned: dict[str, dict[str, dict]]) -> None:
    """A settled reconcile that wrote nothing records the resync's digest of what it read (the model,
    its labelled objects, its namespace's SLAPolicies: planner/inputs.py `resync_digests`), so the next
    resync does not reconcile the model again for changes this reconcile has already seen (after a
    storm, every model's digest differs from the previous resync's: 1,000 reconciles in the first
    minute of rest). Only from the read cache: without it the SLAPolicies would cost a list."""
    if ctx.cache is None or not ctx.cache.covers("SLAPolicy"):
        return
    meta = body["metadata"]
    objects = [{**o, "kind": kind} for kind, objs in owned.items() for o in objs.values()]
    policies = ctx.cache.list("SLAPolicy", meta["namespace"])
    for policy in policies:
        policy.setdefault("metadata", {}).setdefault("namespace", meta["namespace"])
    digest = resync_digests([body], objects, policies).get((meta["namespace"], meta["name"]))
    if digest is not None:
        ctx.resync_seen[(meta["namespace"], meta["name"])] = digest


def _remember(ctx: Context, applied: Any, kind: str) -> None:
    """Write-through: the next reconcile reads what we just wrote, even before its watch event."""
    if ctx.cache is not None and isinstance(applied, dict):
        ctx.cache.record(applied, kind)


def _same_object(live: dict | None, obj: dict) -> bool:
    return (
        live is not None
        and live.get("kind", obj["kind"]) == obj["kind"]
        and (live.get("metadata") or {}).get("name") == obj["metadata"]["name"]
    )


def enforce_residency(ctx: Context, body: dict, observed: Observed) -> list[EventSpec]:
    """Evict (or delete, when a PDB refuses) pods bound outside their allowed regions."""
    if observed.placement is None or not observed.pods:
        return []
    placement = parse_region_placement(observed.placement)
    nodes = {n["metadata"]["name"]: n for n in observed.nodes or []}
    violations = find_violations(observed.pods, nodes, placement)
    events: list[EventSpec] = []
    refused: set[str] = set()
    ns = body["metadata"]["namespace"]
    for _ in range(2):
        actions = plan_enforcement(violations, placement.enforcement, refused)
        retry = False
        for action in actions:
            if action.action == "evict":
                try:
                    ctx.kube.evict(ns, action.pod)
                except ApiException as exc:
                    if exc.status == 429:
                        refused.add(action.pod)
                        retry = True
                        continue
                    if exc.status != 404:
                        raise
            elif action.action == "delete":
                ctx.kube.delete("Pod", ns, action.pod)
            else:
                continue
        if not retry:
            break
    for v in violations:
        metrics.RESIDENCY_VIOLATIONS.labels(ns, body["metadata"]["name"], v.region or "none").inc()
        events.append(
            EventSpec(
                c.EVENT_WARNING,
                "ResidencyViolation",
                f"pod {v.pod} on node {v.node} in region {v.region or '<none>'}: {v.message}; "
                f"{'evicted' if placement.enforcement == 'evict' else 'reported'}",
            )
        )
    return events


def post_events(ctx: Context, body: dict, events: list[EventSpec]) -> None:
    for ev in events:
        ctx.kube.post_event(body, ev.type, ev.reason, ev.message)


def _read_model(ctx: Context, namespace: str, name: str) -> dict | None:
    """The model as stored, never from the cache: its status is the rollout's state (operator.py
    CACHED_KINDS); but while it has no status, as its latest watch event showed it (model_events.py).
    None, after forgetting what was kept of it: it is gone."""
    key = (namespace, name)
    body = ctx.model_events.read(key)
    if body is None:
        body = ctx.kube.get("ModelDeployment", namespace, name)
    if body is None:
        ctx.model_events.forget(key)
        metrics.forget_model(namespace, name)
        ctx.planned.pop(key, None)
        ctx.settling_since.pop(key, None)
        ctx.resync_seen.pop(key, None)
        return None
    body.setdefault("apiVersion", "modelserve.io/v1alpha1")
    body.setdefault("kind", "ModelDeployment")
    return body


def _hold_routes(ctx: Context, key: tuple[str, str], body: dict) -> None:
    """A user's route we write into is recorded (finalizer) before any write, and released on delete;
    a write to the model ends the reconciles' use of its watch events' copy (model_events.py)."""
    try:
        meta = sync_route_hold(ctx.kube, body, ctx.clock())
    except Exception:
        ctx.model_events.wrote(key)  # it may have written to the model
        raise
    if meta.get("resourceVersion") != body["metadata"].get("resourceVersion"):
        ctx.model_events.wrote(key, meta.get("resourceVersion"))


def reconcile_model_deployment(ctx: Context, namespace: str, name: str) -> float | None:
    """One level-based reconcile of a ModelDeployment. Returns seconds until it should run again."""
    started = time.monotonic()
    body = _read_model(ctx, namespace, name)
    if body is None:
        return None
    key = (namespace, name)
    _hold_routes(ctx, key, body)
    if body["metadata"].get("deletionTimestamp"):
        return None  # owner references make the garbage collector remove what we own
    try:
        now = ctx.clock()
        try:
            observed, owned = observe(ctx, body)
            maybe_analyse(ctx, body, observed, now)
            fingerprint = inputs_fingerprint(body, observed, owned)
            if ctx.planned.get((namespace, name)) == fingerprint:
                metrics.RECONCILES.labels("ModelDeployment", "unchanged").inc()
                return None  # same inputs as a plan that wrote nothing more: the same plan (inputs.py)
            ctx.planned.pop((namespace, name), None)
            plan = plan_model_deployment(body, observed, now)
        except Exception as exc:  # never silent: a condition, one Event, then the queue's backoff
            report_reconcile_error(ctx, body, exc, now)
            raise
        apply_error = None
        writes = 0
        residency: list[EventSpec] = []
        try:
            writes = apply_plan(ctx, body, plan, owned, observed.user_route)
            residency = enforce_residency(ctx, body, observed)
            plan.events.extend(residency)
        except Exception as exc:  # report in status, retry with backoff
            if isinstance(exc, ApiException) and exc.namespace_terminating:
                raise  # nothing can be created there; the namespace's deletion takes the model
            apply_error = exc
            _record_apply_error(plan, exc, now)
        # A new model's start is not narrated step by step: its first status waits to settle (settle.py).
        settling = None
        if apply_error is None and (body.get("status") or {}).get("observedGeneration") is None:
            since = ctx.settling_since.setdefault((namespace, name), now)
            wanted = [o["metadata"]["name"] for o in plan.desired if o.get("kind") == "Deployment"]
            cluster = cluster_began(wanted, observed.deployments, observed.pods)
            settling = first_status_delay(body, plan.status, now, since, cluster)
        if settling is None:
            ctx.settling_since.pop((namespace, name), None)
        patch = status_patch(body.get("status") or {}, plan.status)
        stored = None
        if patch and settling is None:
            stored = ctx.kube.patch_status("ModelDeployment", namespace, name, patch)
            ctx.model_events.wrote(key, ((stored or {}).get("metadata") or {}).get("resourceVersion"))
        if settling is None:
            post_events(ctx, body, plan.events)
        metrics.set_model_gauges(
            namespace,
            name,
            {kind: len(objs) for kind, objs in owned.items()},
            plan.status.get("readyReplicas") or 0,
            plan.status.get("canaryWeight") or 0,
        )
        if apply_error is not None:
            raise apply_error
        metrics.RECONCILES.labels("ModelDeployment", "ok").inc()
        if settling is not None:
            return min(plan.requeue_after or settling, settling)
        if plan.requeue_after is None:  # nothing waits on the clock: the same inputs give this plan again
            ctx.planned[(namespace, name)] = fingerprint
            if writes == 0 and not patch:
                _record_resync_digest(ctx, body, owned)
            elif writes == 0 and not residency and isinstance(stored, dict):
                _settle_own_write(ctx, stored, observed, owned, now)
        return plan.requeue_after
    except Exception:
        ctx.model_events.wrote(key)  # an error report may have written to the model
        metrics.RECONCILES.labels("ModelDeployment", "error").inc()
        metrics.RECONCILE_ERRORS.labels("ModelDeployment").inc()
        raise
    finally:
        metrics.RECONCILE_DURATION.labels("ModelDeployment").observe(time.monotonic() - started)


def _settle_own_write(
    ctx: Context, stored: dict, observed: Observed, owned: dict[str, dict[str, dict]], now: datetime
) -> None:
    """After a settled reconcile whose only write was the model's status: plan again from the stored
    model (the patch's response). When that plan writes nothing (no object, no status, no Event, no
    wake-up), record it as this model's settled plan, so the watch event of our own write (the echo)
    queues nothing and the next resync skips the model (model_events.py). Otherwise the echo is
    reconciled as any other event."""
    stored.setdefault("apiVersion", "modelserve.io/v1alpha1")
    stored.setdefault("kind", "ModelDeployment")
    try:
        again = plan_model_deployment(stored, observed, now)
    except Exception:  # the echo's reconcile will report it
        return
    if again.requeue_after is not None or again.events:
        return
    if status_patch(stored.get("status") or {}, again.status):
        return
    if pending_writes(again, owned, observed.user_route):
        return
    meta = stored["metadata"]
    key = (meta["namespace"], meta["name"])
    ctx.planned[key] = inputs_fingerprint(stored, observed, owned)
    _record_resync_digest(ctx, stored, owned)
    ctx.model_events.expect_echo(key, meta.get("resourceVersion"))


def _record_apply_error(plan: Plan, exc: Exception, now: datetime) -> None:
    message = f"applying owned objects failed: {getattr(exc, 'reason', '')} {str(exc)[:300]}".strip()
    plan.status["conditions"] = merge_conditions(
        plan.status.get("conditions"),
        [Condition(c.COND_DEGRADED, True, c.REASON_APPLY_FAILED, message)],
        now,
        plan.status.get("observedGeneration"),
    )
    plan.events.append(EventSpec(c.EVENT_WARNING, c.REASON_APPLY_FAILED, message))
