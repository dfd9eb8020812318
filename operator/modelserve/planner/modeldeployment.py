"""plan_model_deployment: spec + observed state + clock in, desired objects + status + events out.

Pure: no I/O. The shell (modelserve.reconcile.shell) reads the cluster and runs the analysis
queries, calls this, applies the desired objects that differ from what is live, deletes owned
objects no longer desired and writes status only when it changed.

The pieces it composes, each pure and tested on its own:
- the rollout state machine (modelserve.rollout) decides revisions, replica counts and weights;
- the traffic router (modelserve.routers) turns weights into Services and routes;
- the placement core (modelserve.placement) splits each revision's replicas over regions;
- the SLA and predictive controllers hand over their decisions as views (modelserve.slo.view,
  modelserve.forecasting.cycle).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from modelserve.analysis.contract import get_preset, preset_for_runtime, preset_supports
from modelserve.api import constants as c
from modelserve.api.conditions import Condition, merge_conditions
from modelserve.api.constants import (
    EVENT_FROZEN,
)
from modelserve.api.events import EventSpec
from modelserve.api.modeldeployment import (
    ModelDeploymentSpec,
    SpecError,
    parse_model_deployment,
)
from modelserve.api.revisions import spec_revision, specs_by_revision
from modelserve.builders.common import Owner, base_labels, deployment_name
from modelserve.builders.monitoring import build_pod_monitor
from modelserve.builders.workloads import (
    RevisionWorkload,
    ScaledObjectTarget,
    build_deployment,
    build_hpa,
    build_pdb,
    build_scaled_object,
)
from modelserve.forecasting.cycle import PredictiveFloor
from modelserve.placement import (
    PlacementSpec,
    available_regions,
    divide_replicas,
    parse_region_placement,
    pending_reasons,
    placement_status,
    pod_scheduling_for_region,
    region_availability,
)
from modelserve.placement.bounds import RegionBounds, regional_bounds
from modelserve.planner.model_fetch import FetchFailure, fetch_condition, fetch_events, fetch_failures
from modelserve.rollout import (
    CandidateFetchFailure,
    ObservedRevisions,
    RevisionReplicas,
    RolloutSpec,
    plan_rollout,
    rollout_spec_from_api,
)
from modelserve.rollout.machine import AnalysisOutcome
from modelserve.rollout.scaling import ScaleBounds, model_replicas, split_bounds
from modelserve.rollout.state import RolloutState, state_from_status
from modelserve.routers import RouteContext, router_for
from modelserve.runtimes import Catalogue, RuntimeEntry, builtin_catalogue, requests_series, resolve_runtime
from modelserve.slo.view import SLAView

OWNED_KINDS = (
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "HTTPRoute",
    "VirtualService",
    "PodMonitor",
    "ScaledObject",
)
HISTORY_LIMIT = 20
# The spec field that names a user-owned route, by the route's kind.
USER_ROUTE_FIELDS = {
    "HTTPRoute": "spec.traffic.gatewayAPI.routeName",
    "VirtualService": "spec.traffic.istio.virtualServiceName",
}


@dataclass(frozen=True)
class AnalysisRun:
    """One analysis the shell ran against Prometheus before planning."""

    outcome: AnalysisOutcome
    counters: dict  # status.rollout counter fields after this analysis
    history: tuple[dict, ...]  # new status.analysisHistory entries
    events: tuple[EventSpec, ...] = ()


@dataclass
class Observed:
    """What the shell read from the cluster (and Prometheus) for one ModelDeployment."""

    deployments: dict[str, dict] = field(default_factory=dict)  # owned Deployments by name
    hpas: dict[str, dict] = field(default_factory=dict)
    placement: dict | None = None  # the referenced RegionPlacement body, when found
    placement_missing: bool = False
    nodes: list[dict] | None = None  # read when a placement is used
    pods: list[dict] = field(default_factory=list)  # the model's pods
    sla_policy: dict | None = None
    sla_policy_missing: bool = False
    # The user-owned route spec.traffic names, when it does not exist ("HTTPRoute/shop"): never created
    # by us (it is the user's), reported instead.
    user_route_missing: str | None = None
    user_route: dict | None = None  # the live user-owned route spec.traffic names, when it exists
    sla: SLAView | None = None  # from the SLA controller (modelserve.reconcile.sla)
    predictive: dict[str | None, PredictiveFloor] = field(default_factory=dict)  # by region
    analysis: AnalysisRun | None = None
    runtimes: Catalogue = field(default_factory=builtin_catalogue)  # the runtime catalogue in force
    pod_monitor_supported: bool = False  # the monitoring.coreos.com/v1 PodMonitor CRD is installed
    scaled_object_supported: bool = False  # KEDA's keda.sh/v1alpha1 ScaledObject CRD is installed
    prometheus_url: str | None = None  # the operator's Prometheus (a KEDA trigger's serverAddress)


@dataclass
class Plan:
    desired: list[dict]
    status: dict
    events: list[EventSpec]
    requeue_after: float | None = None
    # Owned objects not in `desired` are deleted, except kinds listed here (kept as they are).
    keep_kinds: frozenset[str] = frozenset()


def _labels(dep: dict) -> dict:
    return dep.get("metadata", {}).get("labels") or {}


def _status_int(dep: dict, key: str) -> int:
    return int((dep.get("status") or {}).get(key) or 0)


def _spec_replicas(dep: dict) -> int:
    return int((dep.get("spec") or {}).get("replicas") or 0)


def _by_revision(deployments: dict[str, dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for dep in deployments.values():
        rev = _labels(dep).get(c.LABEL_REVISION)
        if rev:
            out.setdefault(rev, []).append(dep)
    return out


def rollout_spec_for(
    spec: ModelDeploymentSpec, annotations: dict, revision: str, sla: SLAView | None
) -> RolloutSpec:
    """The rollout machine's spec: the user's rollout settings, manual controls and SLA gates.

    Raises ValueError naming the field for an unknown router or an invalid manual control."""
    router = router_for(spec.router)
    rspec = rollout_spec_from_api(
        spec.rollout, annotations=annotations, spec_revision=revision, weight_approximate=router.approximate
    )
    if sla and sla.gates and not rspec.gates_configured:
        rspec = replace(rspec, gates_configured=True)
    return rspec


@dataclass(frozen=True)
class _Inputs:
    """What every stage of one plan reads: the parsed spec and what the shell observed."""

    owner: Owner
    spec: ModelDeploymentSpec
    rspec: RolloutSpec
    revision: str  # the spec's revision
    placement: PlacementSpec | None
    specs: dict[str, ModelDeploymentSpec]  # every revision we can build (specs_by_revision), once
    runtimes: dict[str, RuntimeEntry]  # the catalogue entry serving each revision in `specs`
    fetch_failures: dict[str, FetchFailure]  # revisions whose pods could not fetch their model
    observed: Observed
    old_status: dict
    generation: int | None
    now: datetime


@dataclass(frozen=True)
class _References:
    ok: bool
    reason: str
    message: str

    @property
    def condition(self) -> Condition:
        return Condition(c.COND_REFERENCES, self.ok, self.reason, self.message)


@dataclass
class _Workloads:
    desired: list[dict]
    divisions: dict[str, Any]  # by revision, under a placement
    availability: dict
    # The revisions an HPA scales, with their HPA bounds (rollout/scaling.py), and under a placement
    # those bounds divided over the regions (placement/bounds.py), by revision then region.
    scaling: dict[str, ScaleBounds]
    bounds: dict[str, dict[str, RegionBounds]]


def plan_model_deployment(body: dict, observed: Observed, now: datetime) -> Plan:
    """Plan one ModelDeployment. `body` is the whole resource (metadata, spec, status).

    Stages: parse; references; rollout (the machine's move); workloads (Deployments per revision and
    region); autoscaling (HPAs); traffic (the router's Services and routes); status and Events.
    """
    meta = body.get("metadata", {})
    owner = Owner(name=meta["name"], namespace=meta.get("namespace", "default"), uid=meta.get("uid", ""))
    generation = meta.get("generation")
    old_status = dict(body.get("status") or {})
    try:
        spec = parse_model_deployment(body.get("spec") or {})
        revision = spec_revision(spec, observed.deployments)
        rspec = rollout_spec_for(spec, dict(meta.get("annotations") or {}), revision, observed.sla)
        placement = parse_region_placement(observed.placement) if observed.placement else None
        runtime = runtime_of(spec, observed.runtimes)
        check_gates_for_runtime(spec, runtime)
        check_autoscaling_engine(spec, observed)
    except (SpecError, ValueError) as exc:
        return _invalid_spec_plan(old_status, exc, generation, now)
    specs = specs_by_revision(spec, observed.deployments)
    runtimes = {rev: _revision_runtime(s, observed.runtimes, runtime) for rev, s in specs.items()}
    failures = fetch_failures(observed.pods, {rev: s.model.uri for rev, s in specs.items()})
    inputs = _Inputs(
        owner,
        spec,
        rspec,
        revision,
        placement,
        specs,
        runtimes,
        failures,
        observed,
        old_status,
        generation,
        now,
    )

    refs = _references(spec, observed)
    if spec.placement_ref and observed.placement_missing:
        conditions = [refs.condition]
        return _blocked_plan(owner, spec, old_status, conditions, refs.message, observed, generation, now)
    by_rev = _by_revision(observed.deployments)
    rplan, target, events = _rollout(inputs, by_rev)
    workloads = _workloads(inputs, rplan, target)
    desired = workloads.desired
    desired.extend(_autoscalers(inputs, rplan, workloads))
    desired.append(build_pdb(owner, spec))
    if observed.pod_monitor_supported:
        desired.append(build_pod_monitor(owner, spec))
    desired.extend(_traffic(inputs, rplan))
    status, conditions = _status(inputs, rplan, by_rev, target, workloads, refs)
    fetch = _fetch_condition(inputs, rplan)
    if fetch is not None:
        conditions.append(fetch)
        events.extend(fetch_events(old_status.get("conditions"), fetch))
    status["conditions"] = merge_conditions(old_status.get("conditions"), conditions, now, generation)
    requeue = rplan.requeue_after
    if not refs.ok:
        requeue = min(requeue or 30.0, 30.0)
    return Plan(
        desired=desired,
        status=status,
        events=explain_transition(events, old_status, status),
        requeue_after=requeue,
    )


def runtime_of(spec: ModelDeploymentSpec, catalogue: Catalogue) -> RuntimeEntry:
    """The catalogue entry serving `spec` (SpecError naming spec.runtime.name / spec.runtime.image)."""
    return resolve_runtime(catalogue, spec.runtime.name, spec.model.format, spec.runtime.image)


def _revision_runtime(spec: ModelDeploymentSpec, catalogue: Catalogue, current: RuntimeEntry) -> RuntimeEntry:
    try:
        return runtime_of(spec, catalogue)
    except SpecError:  # an older revision whose runtime left the catalogue: the spec's own runtime
        return current


def check_gates_for_runtime(spec: ModelDeploymentSpec, runtime: RuntimeEntry) -> None:
    """LLM gates (ttftP95, tpotP99, ...) need metrics that export them: the model's runtime's (metricPreset
    `modelserve`, the API's default) or the named preset's."""
    analysis = spec.rollout.analysis
    name = analysis.metric_preset or "modelserve"
    preset = preset_for_runtime(runtime) if name == "modelserve" else get_preset(name)
    source = f"runtime {runtime.name!r}" if name == "modelserve" else f"metricPreset {name!r}"
    for i, gate in enumerate(analysis.gates):
        builtin = gate.builtin
        if builtin and not preset_supports(preset, builtin):
            raise SpecError(
                f"spec.rollout.analysis.gates[{i}].builtin",
                f"{builtin} (gate {gate.name!r}) needs metrics that {source} does not export "
                "(LLM gates need the vllm runtime)",
            )


def uses_keda(spec: ModelDeploymentSpec, observed: Observed) -> bool:
    """`spec.autoscaling.engine`: keda, or auto with KEDA's ScaledObject CRD installed."""
    a = spec.autoscaling
    return a is not None and (a.engine == "keda" or (a.engine == "auto" and observed.scaled_object_supported))


def check_autoscaling_engine(spec: ModelDeploymentSpec, observed: Observed) -> None:
    """KEDA must be installed for `engine: keda`, and its Prometheus trigger needs the operator's URL."""
    a = spec.autoscaling
    if a is None or not uses_keda(spec, observed):
        return
    if not observed.scaled_object_supported:
        raise SpecError(
            "spec.autoscaling.engine",
            "keda needs KEDA's ScaledObject CRD (keda.sh/v1alpha1): install KEDA, or use engine: hpa",
        )
    if a.target.metric != "cpuUtilization" and not observed.prometheus_url:
        raise SpecError(
            "spec.autoscaling.engine",
            "keda's Prometheus trigger needs the operator's --prometheus-url; set it, or use engine: hpa",
        )


def _fetch_condition(inputs: _Inputs, rplan: Any) -> Condition | None:
    """ModelFetchFailed over the revisions that run; absent while no runtime ever downloaded a model."""
    had = any(x.get("type") == c.COND_MODEL_FETCH_FAILED for x in inputs.old_status.get("conditions") or [])
    if not inputs.fetch_failures and not had:
        return None
    return fetch_condition(inputs.fetch_failures, rplan.replicas)


def _references(spec: ModelDeploymentSpec, observed: Observed) -> _References:
    """A missing placement stops all scheduling (residency cannot be honoured); a missing SLAPolicy
    is reported while the model keeps serving."""
    if spec.placement_ref and observed.placement_missing:
        return _References(
            False,
            c.REASON_PLACEMENT_NOT_FOUND,
            f"RegionPlacement {spec.placement_ref.name!r} (spec.placementRef.name) not found",
        )
    if observed.user_route_missing:
        kind, _, route = observed.user_route_missing.partition("/")
        field = USER_ROUTE_FIELDS.get(kind, "spec.traffic")
        return _References(
            False,
            c.REASON_ROUTE_NOT_FOUND,
            f"{kind} {route!r} ({field}) not found: create it (modelserve writes only its rules); "
            "the model keeps serving through its Service",
        )
    if spec.sla_policy_ref and observed.sla_policy_missing:
        return _References(
            False,
            c.REASON_SLA_POLICY_NOT_FOUND,
            f"SLAPolicy {spec.sla_policy_ref.name!r} (spec.slaPolicyRef.name) not found",
        )
    return _References(True, c.REASON_RESOLVED, "all references resolved")


def _rollout(inputs: _Inputs, by_rev: dict[str, list[dict]]) -> tuple[Any, int, list[EventSpec]]:
    """The rollout machine's move from the recorded state: (its plan, the target replicas, its events)."""
    spec, observed, now = inputs.spec, inputs.observed, inputs.now
    state = state_from_status(inputs.old_status)
    if state.stable_revision and state.stable_revision not in inputs.specs:
        # Its Deployments are gone and cannot be rebuilt: serve the spec's revision from scratch.
        state = replace(state, stable_revision=None, candidate_revision=None)
    if observed.analysis is not None:
        counters = observed.analysis.counters
        state = replace(
            state,
            passed=counters["passed"],
            failed=counters["failed"],
            inconclusive=counters["inconclusive"],
            errors=counters["errors"],
            consecutive_errors=counters["consecutiveErrors"],
            last_analysis_at=now,
        )
    target = _target_replicas(spec, by_rev, state, inputs.revision)
    failure = inputs.fetch_failures.get(state.candidate_revision or "")
    on_failure = spec.rollout.analysis.on_failure
    revisions_observed = ObservedRevisions(
        target_replicas=target,
        candidate_fetch_failure=(
            CandidateFetchFailure(failure.message, rollback=on_failure != "pause") if failure else None
        ),
        revisions={
            rev: RevisionReplicas(
                desired=sum(_spec_replicas(d) for d in deps),
                ready=sum(_status_int(d, "readyReplicas") for d in deps),
            )
            for rev, deps in by_rev.items()
        },
    )
    frozen = bool(observed.sla and observed.sla.frozen)
    rplan = plan_rollout(
        inputs.rspec,
        state,
        revisions_observed,
        observed.analysis.outcome if observed.analysis else None,
        now,
        spec_revision=inputs.revision,
        frozen=frozen,
    )
    events: list[EventSpec] = []
    freeze_reason = observed.sla.freeze_reason if observed.sla and frozen else ""
    for e in rplan.events:  # the freeze's event names the SLA's own reason
        detail = f" ({freeze_reason})" if e.reason == EVENT_FROZEN and freeze_reason else ""
        events.append(replace(e, message=e.message + detail))
    if observed.analysis is not None:
        events.extend(observed.analysis.events)
    return rplan, target, events


def _workloads(inputs: _Inputs, rplan: Any, target: int) -> _Workloads:
    """One Deployment per revision the machine wants running (and per region under a placement)."""
    placement = inputs.placement
    out = _Workloads(desired=[], divisions={}, availability={}, scaling={}, bounds={})
    planned = dict(rplan.replicas)
    if placement is not None:
        names = [r.name for r in placement.regions]
        out.availability = region_availability(inputs.observed.nodes or [], placement.region_label, names)
        live = available_regions(out.availability)
        full = divide_replicas(target, placement.regions, live, placement.on_region_unavailable)
        serving_regions = sum(1 for n in full.replicas.values() if n)
        if rplan.candidate_revision:
            # A rollout runs in every region together: while two revisions serve, each keeps at least
            # one pod in every region the model serves from.
            planned = {rev: max(n, serving_regions) if n > 0 else 0 for rev, n in planned.items()}
    _plan_scaling(inputs, rplan, planned, out)
    order = sorted(planned.items(), key=lambda kv: (kv[0] != rplan.stable_revision, kv[0]))
    for rev, replicas in order:
        rev_spec = inputs.specs.get(rev)
        if rev_spec is None:
            continue
        role = "stable" if rev == rplan.stable_revision else "candidate"
        if placement is None:
            count = _hpa_aware(replicas, rev in out.scaling, inputs.observed, inputs.owner, rev, None)
            work = RevisionWorkload(revision=rev, role=role, replicas=count)
            out.desired.append(_deployment(inputs, rev_spec, rev, work))
            continue
        out.divisions[rev] = _regional_deployments(inputs, out, rev_spec, rev, role, replicas)
    return out


def _plan_scaling(inputs: _Inputs, rplan: Any, planned: dict[str, int], out: _Workloads) -> None:
    """Which revisions an HPA scales, and its bounds (`out.scaling`, and per region `out.bounds`).

    The serving revisions (stable, and the candidate while it runs pods) each get an HPA. Alone, the
    stable's bounds are the user's (its minimum raised to the predictive floor without a placement);
    beside a candidate they are split by the weight (rollout/scaling.py). Under a placement each
    revision's bounds are divided over the regions (placement/bounds.py); each region's predictive
    floor raises the stable's regional HPA minimum (`_regional_hpa_bounds`)."""
    a, placement = inputs.spec.autoscaling, inputs.placement
    if a is None:
        return
    low = a.min_replicas
    if placement is None:
        low = _floor(a.min_replicas, a.max_replicas, inputs.observed.predictive.get(None))
    stable, candidate = rplan.stable_revision, rplan.candidate_revision
    if candidate is not None and planned.get(candidate, 0) > 0:
        out.scaling[stable], out.scaling[candidate] = split_bounds(
            low, a.max_replicas, rplan.weights.candidate, planned[candidate]
        )
    elif planned.get(stable, 0) > 0:
        out.scaling[stable] = ScaleBounds(low, a.max_replicas)
    if placement is None:
        return
    live = available_regions(out.availability)
    for rev, b in out.scaling.items():
        out.bounds[rev] = regional_bounds(
            b.min_replicas, b.max_replicas, placement.regions, live, placement.on_region_unavailable
        )


def _regional_floor(bounds: RegionBounds, floor: PredictiveFloor | None, percent: int) -> int:
    """The stable's HPA minimum in one region: the region's predictive floor, scaled to the stable's
    share of the traffic during a rollout, inside the region's bounds."""
    if floor is not None and floor.floor is not None and percent < 100:
        floor = replace(floor, floor=math.ceil(floor.floor * percent / 100))
    return _floor(bounds.min_replicas, bounds.max_replicas, floor)


def _regional_deployments(
    inputs: _Inputs,
    out: _Workloads,
    rev_spec: ModelDeploymentSpec,
    rev: str,
    role: str,
    replicas: int,
) -> Any:
    """A revision's Deployment in each region (appended to `out.desired`); returns its division."""
    placement = inputs.placement
    assert placement is not None
    shares = placement.regions
    hpa_managed = rev in out.bounds
    if hpa_managed:
        # Each region starts inside its HPA's bounds (placement/bounds.py): an HPA does not scale
        # a Deployment at 0, so a region that may serve starts at one pod at least, and a region
        # with no HPA (drained, or its maximum share is 0) gets none.
        bounds = out.bounds[rev]
        shares = tuple(
            replace(r, min_replicas=bounds[r.name].min_replicas, max_replicas=bounds[r.name].max_replicas)
            for r in shares
        )
    live = available_regions(out.availability)
    division = divide_replicas(replicas, shares, live, placement.on_region_unavailable)
    for region, count in sorted(division.replicas.items()):
        scheduling = pod_scheduling_for_region(
            placement, region, {c.LABEL_INSTANCE: inputs.owner.name, c.LABEL_REVISION: rev}
        )
        work = RevisionWorkload(
            revision=rev,
            role=role,
            region=region,
            replicas=_hpa_aware(count, hpa_managed, inputs.observed, inputs.owner, rev, region),
            affinity=scheduling["affinity"],
            topology_spread=tuple(scheduling["topologySpreadConstraints"]),
        )
        out.desired.append(_deployment(inputs, rev_spec, rev, work))
    return division


def _deployment(inputs: _Inputs, rev_spec: ModelDeploymentSpec, rev: str, work: RevisionWorkload) -> dict:
    image = inputs.observed.runtimes.storage_init_image
    return build_deployment(inputs.owner, rev_spec, work, inputs.runtimes.get(rev), image)


def _traffic(inputs: _Inputs, rplan: Any) -> list[dict]:
    """The router's Services and routes for the machine's weights."""
    owner, spec = inputs.owner, inputs.spec
    preview = None
    if inputs.rspec.strategy == "blueGreen":
        preview = spec.rollout.blue_green.preview_service_name or f"{owner.name}-preview"
    ctx = RouteContext(
        namespace=owner.namespace,
        name=owner.name,
        stable_revision=rplan.stable_revision,
        candidate_revision=rplan.candidate_revision or rplan.preview_revision,
        owner_reference=owner.reference(),
        labels=base_labels(owner.name, spec.model.name),
        selector_labels={c.LABEL_INSTANCE: owner.name},
        service_port=80,
        target_port="http",
        preview_service=preview,
        traffic=spec.traffic,
    )
    objects = router_for(spec.router).desired_objects(ctx, rplan.weights)
    missing = inputs.observed.user_route_missing
    # A user's route that does not exist is reported (references), never created by us.
    return [o for o in objects if f"{o['kind']}/{o['metadata']['name']}" != missing]


def _ready_condition(rplan: Any, by_rev: dict[str, list[dict]], target: int) -> tuple[Condition, bool]:
    """The Ready condition from the stable revision's ready pods, and whether the model is available
    (its stable Deployments exist and have the pods they should)."""
    desired_replicas = rplan.replicas.get(rplan.stable_revision, target)
    stable_ready = sum(_status_int(d, "readyReplicas") for d in by_rev.get(rplan.stable_revision, []))
    available = stable_ready >= desired_replicas or desired_replicas == 0
    exists = bool(by_rev.get(rplan.stable_revision))
    message = f"{stable_ready}/{desired_replicas} replicas ready"
    if desired_replicas == 0:
        zero = Condition(c.COND_READY, True, c.REASON_SCALED_TO_ZERO, "scaled to zero replicas")
        return zero, exists
    if available and exists:
        return Condition(c.COND_READY, True, c.REASON_AVAILABLE, message), True
    return Condition(c.COND_READY, False, c.REASON_UNAVAILABLE, message), False


def _status(
    inputs: _Inputs,
    rplan: Any,
    by_rev: dict[str, list[dict]],
    target: int,
    workloads: _Workloads,
    refs: _References,
) -> tuple[dict[str, Any], list[Condition]]:
    """status (without its merged conditions) and the conditions to merge into it."""
    observed, owner, old_status = inputs.observed, inputs.owner, inputs.old_status
    ready_cond, available = _ready_condition(rplan, by_rev, target)
    conditions = [refs.condition, ready_cond]
    conditions += list(rplan.conditions)
    if not refs.ok and not any(x.type == c.COND_DEGRADED and x.status for x in conditions):
        conditions = [x for x in conditions if x.type != c.COND_DEGRADED]
        conditions.append(Condition(c.COND_DEGRADED, True, refs.reason, refs.message))
    status: dict[str, Any] = {k: v for k, v in old_status.items() if k == "kopf"}
    status.update(_prune(rplan.status))
    phase = status.get("phase") or c.PHASE_PENDING
    if phase in (c.PHASE_READY, c.PHASE_PENDING):
        phase = c.PHASE_READY if available else c.PHASE_PENDING
        status["message"] = ready_cond.message
    status["phase"] = phase
    status["rollout"] = _rollout_counters(status, rplan, observed, old_status)
    history = list(old_status.get("analysisHistory") or [])
    if observed.analysis is not None:
        history.extend(observed.analysis.history)
    if history:
        status["analysisHistory"] = history[-HISTORY_LIMIT:]
    serving = [d for rev in rplan.replicas for d in by_rev.get(rev, [])]
    status.update(
        {
            "observedGeneration": inputs.generation,
            "replicas": sum(_status_int(d, "replicas") for d in serving),
            "readyReplicas": sum(_status_int(d, "readyReplicas") for d in serving),
            "desiredReplicas": rplan.replicas.get(rplan.stable_revision, target),
            "url": f"http://{owner.name}.{owner.namespace}.svc.cluster.local",
        }
    )
    if inputs.placement is not None:
        conditions = _placement_status(inputs, workloads, status, conditions, ready_cond)
    if observed.sla is not None:
        status["sla"] = dict(observed.sla.status)
    floors = {k: v for k, v in observed.predictive.items() if v.status}
    if floors:
        status["autoscaling"] = (
            dict(next(iter(floors.values())).status) if len(floors) == 1 else _merge_floors(floors)
        )
    return status, conditions


def _rollout_counters(status: dict, rplan: Any, observed: Observed, old_status: dict) -> dict:
    rollout = dict(status.get("rollout") or {})
    counters = observed.analysis.counters if observed.analysis else (old_status.get("rollout") or {})
    if rplan.state.passed + rplan.state.failed + rplan.state.inconclusive + rplan.state.errors == 0:
        rollout["consecutiveInconclusive"] = 0
    else:
        rollout["consecutiveInconclusive"] = int(counters.get("consecutiveInconclusive") or 0)
    return rollout


def _placement_status(
    inputs: _Inputs, workloads: _Workloads, status: dict, conditions: list[Condition], ready: Condition
) -> list[Condition]:
    """status.placement and the residency condition; a Ready=False names why pods are Pending."""
    placement, observed = inputs.placement, inputs.observed
    assert placement is not None
    divisions = list(workloads.divisions.values())
    pstatus = placement_status(
        placement,
        divisions or [divide_replicas(0, placement.regions, set())],
        workloads.availability,
        observed.pods,
        {n["metadata"]["name"]: n for n in observed.nodes or []},
    )
    status["placement"] = pstatus.as_model_status()
    conditions = [*conditions, pstatus.condition]
    pending = [(pod, reason) for pod, reason in pending_reasons(observed.pods) if reason]
    if pending and not ready.status:
        # Say why pods cannot be placed, in the scheduler's own words.
        reasons = sorted({reason for _, reason in pending})
        ready = Condition(
            c.COND_READY,
            False,
            "PodsPending",
            f"{ready.message}; {len(pending)} pod(s) Pending: {'; '.join(reasons)}"[:1000],
        )
        conditions = [x for x in conditions if x.type != c.COND_READY] + [ready]
        status["message"] = ready.message
    return conditions


def _hpa_aware(
    replicas: int, hpa_managed: bool, observed: Observed, owner: Owner, rev: str, region: str | None
) -> int | None:
    """The Deployment's spec.replicas: the plan's count, or None (left out) where an HPA owns it.

    A Deployment an HPA scales is applied without `spec.replicas`, so the operator never owns the
    field the HPA writes (the shell hands it over, k8s/apply.py). Only when it does not exist yet, or
    sits at 0 (an HPA does not scale a Deployment at 0), does the plan's count start it."""
    if not hpa_managed:
        return replicas
    live = observed.deployments.get(deployment_name(owner.name, rev, region))
    return None if live is not None and _spec_replicas(live) > 0 else replicas


def _target_replicas(
    spec: ModelDeploymentSpec, by_rev: dict[str, list[dict]], state: RolloutState, revision: str
) -> int:
    """Replicas the model should have as a whole: fixed, or what its HPA(s) currently want.

    During a rollout each revision's HPA scales it for its share of the traffic, so the whole is
    estimated from the stable's count and weight (rollout/scaling.py `model_replicas`)."""
    if spec.autoscaling is None:
        return spec.replicas
    stable = sum(_spec_replicas(d) for d in by_rev.get(state.stable_revision or revision, []))
    current = stable
    if state.candidate_revision is not None:
        candidate = sum(_spec_replicas(d) for d in by_rev.get(state.candidate_revision, []))
        current = model_replicas(stable, candidate, state.canary_weight)
    return min(max(current, spec.autoscaling.min_replicas, 1), spec.autoscaling.max_replicas)


def hpa_name(owner_name: str, revision: str, *, stable: bool, region: str | None = None) -> str:
    """The stable revision's HPA keeps the model's name (`<md>` or `<md>-<region>`, what the predictive
    autoscaler reads back after a restart); a candidate's is named after its Deployment."""
    if stable:
        return owner_name if region is None else f"{owner_name}-{region}"
    return deployment_name(owner_name, revision, region)


def _autoscalers(inputs: _Inputs, rplan: Any, workloads: _Workloads) -> list[dict]:
    """For each revision an HPA scales (`_plan_scaling`), per region that may serve: its HPA, or with
    KEDA (`uses_keda`) a ScaledObject with the same bounds."""
    out = []
    for rev in sorted(workloads.scaling, key=lambda r: r != rplan.stable_revision):
        stable = rev == rplan.stable_revision
        for region, (low, high) in _regional_hpa_bounds(inputs, rplan, workloads, rev, stable).items():
            out.append(_autoscaler(inputs, rev, region, low, high, stable))
    return out


def _regional_hpa_bounds(
    inputs: _Inputs, rplan: Any, workloads: _Workloads, rev: str, stable: bool
) -> dict[str | None, tuple[int, int]]:
    """(min, max) of a revision's HPA by region (None without a placement); under a placement the
    stable's regional minimum is raised to its share of the region's predictive floor."""
    if inputs.placement is None:
        b = workloads.scaling[rev]
        return {None: (b.min_replicas, b.max_replicas)}
    share = 100 - (rplan.weights.candidate if len(workloads.scaling) > 1 else 0)
    out: dict[str | None, tuple[int, int]] = {}
    for region, x in sorted(workloads.bounds[rev].items()):
        if not x.serves:  # no pods here (drained, unavailable or weighted out): an HPA needs max >= 1
            continue
        floor = inputs.observed.predictive.get(region)
        out[region] = (_regional_floor(x, floor, share) if stable else x.min_replicas, x.max_replicas)
    return out


def _autoscaler(inputs: _Inputs, rev: str, region: str | None, low: int, high: int, stable: bool) -> dict:
    owner, spec = inputs.owner, inputs.spec
    target = deployment_name(owner.name, rev, region)
    name = hpa_name(owner.name, rev, stable=stable, region=region)
    if not uses_keda(spec, inputs.observed):
        return build_hpa(owner, spec, target, min_replicas=low, max_replicas=high, name=name)
    rev_spec = inputs.specs.get(rev, spec)
    requests = requests_series(
        inputs.observed.runtimes, rev_spec.runtime.name, rev_spec.model.format, rev_spec.runtime.image
    )
    keda = ScaledObjectTarget(target, rev, region, requests, inputs.observed.prometheus_url or "")
    return build_scaled_object(owner, spec, keda, min_replicas=low, max_replicas=high, name=name)


def _floor(user_min: int, user_max: int, floor: PredictiveFloor | None) -> int:
    """The HPA's minReplicas: the predictive floor when there is one, inside the user's min and max."""
    if floor is None or floor.floor is None:
        return user_min
    return max(user_min, min(floor.floor, user_max))


def _merge_floors(floors: dict[str | None, PredictiveFloor]) -> dict:
    first = dict(next(iter(floors.values())).status)
    first["floor"] = sum(int(v.status.get("floor") or 0) for v in floors.values())
    first["reason"] = "; ".join(
        f"{k}: {v.status.get('reason', '')}" for k, v in sorted(floors.items(), key=str)
    )
    return first


def _prune(value: Any) -> Any:
    """Drop None values (recursively): absent is how the API server stores 'no value'."""
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def _blocked_plan(
    owner: Owner,
    spec: ModelDeploymentSpec,
    old_status: dict,
    conditions: list[Condition],
    message: str,
    observed: Observed,
    generation: int | None,
    now: datetime,
) -> Plan:
    """The placement is missing: keep what runs, create nothing that could land in the wrong region."""
    conditions = [
        *conditions,
        Condition(c.COND_DEGRADED, True, c.REASON_PLACEMENT_NOT_FOUND, message),
        Condition(c.COND_READY, False, c.REASON_PLACEMENT_NOT_FOUND, message),
    ]
    status = {k: v for k, v in old_status.items() if k not in ("conditions",)}
    status.update(
        {
            "observedGeneration": generation,
            "phase": c.PHASE_DEGRADED,
            "message": message,
            "conditions": merge_conditions(old_status.get("conditions"), conditions, now, generation),
        }
    )
    events = explain_transition([], old_status, status)
    return Plan(
        desired=[build_pdb(owner, spec)],
        status=status,
        events=events,
        requeue_after=30.0,
        keep_kinds=frozenset(OWNED_KINDS) - {"PodDisruptionBudget"},
    )


def _invalid_spec_plan(old_status: dict, exc: Exception, generation: int | None, now: datetime) -> Plan:
    status = dict(old_status)
    status.update(
        {
            "observedGeneration": generation,
            "phase": c.PHASE_DEGRADED,
            "message": str(exc),
            "conditions": merge_conditions(
                old_status.get("conditions"),
                [
                    Condition(c.COND_DEGRADED, True, c.REASON_INVALID_SPEC, str(exc)),
                    Condition(c.COND_READY, False, c.REASON_INVALID_SPEC, str(exc)),
                ],
                now,
                generation,
            ),
        }
    )
    events = explain_transition([], old_status, status)
    # Nothing is desired, but nothing owned is deleted either: keep serving until the spec is fixed.
    return Plan(
        desired=[], status=status, events=events, requeue_after=None, keep_kinds=frozenset(OWNED_KINDS)
    )


def explain_transition(specific: list[EventSpec], old: dict, new: dict) -> list[EventSpec]:
    """One Event per transition. The rollout machine's and the analysis's own events say what happened
    (a freeze, a rollback, a step), and condition events say what turned bad or good (a reference,
    residency); the phase change these cause is not posted again. The bare phase-change event is
    posted only when nothing else explains the change."""
    explained = [*specific, *condition_events(old, new)]
    if explained:
        return explained
    changed = phase_event(old, new)
    return [changed] if changed is not None else []


def phase_event(old: dict, new: dict) -> EventSpec | None:
    """The event of a phase change, in the user's words ("Pending -> Ready: 2/2 replicas ready"; a
    new resource's first phase reads "Pending: ..." rather than a change from nothing)."""
    before, after = old.get("phase"), new.get("phase")
    if before == after or not after:
        return None
    warning = after in (c.PHASE_DEGRADED, c.PHASE_ROLLED_BACK, c.PHASE_FROZEN)
    change = f"{before} -> {after}" if before else after
    message = new.get("message") or ""
    return EventSpec(
        c.EVENT_WARNING if warning else c.EVENT_NORMAL,
        after,
        f"{change}: {message}" if message else change,
    )


def condition_events(old: dict, new: dict) -> list[EventSpec]:
    """Events for references and residency turning bad (Warning) or good again (Normal)."""
    events: list[EventSpec] = []
    old_c = {x["type"]: x for x in old.get("conditions") or []}
    for cond in new.get("conditions") or []:
        before = old_c.get(cond["type"])
        turned_bad = cond["status"] == "False" and (
            before is None or before.get("status") != "False" or before.get("reason") != cond["reason"]
        )
        if cond["type"] in (c.COND_REFERENCES, c.COND_RESIDENCY) and turned_bad:
            events.append(EventSpec(c.EVENT_WARNING, cond["reason"], cond["message"]))
        if (
            cond["type"] in (c.COND_REFERENCES, c.COND_RESIDENCY)
            and cond["status"] == "True"
            and before
            and before["status"] == "False"
        ):
            events.append(EventSpec(c.EVENT_NORMAL, cond["reason"], cond["message"]))
    return events
