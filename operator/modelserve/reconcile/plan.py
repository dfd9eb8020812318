"""plan_model_deployment: spec + observed state + clock in, desired objects + status + events out.

Pure: no I/O. The shell (modelserve.reconcile.shell) reads the cluster, calls this, applies the
desired objects that differ from what is live, deletes what is no longer desired and writes status
only when it changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from modelserve.api import constants as c
from modelserve.api.conditions import Condition, merge_conditions
from modelserve.api.modeldeployment import (
    ModelDeploymentSpec,
    SpecError,
    parse_model_deployment,
    revision_hash,
)
from modelserve.builders.common import Owner, deployment_name
from modelserve.builders.workloads import (
    RevisionWorkload,
    build_deployment,
    build_hpa,
    build_pdb,
    build_service,
)
from modelserve.reconcile.views import PredictiveFloor, SLAView

OWNED_KINDS = ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget")


@dataclass(frozen=True)
class EventSpec:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass
class Observed:
    """What the shell read from the cluster for one ModelDeployment."""

    deployments: dict[str, dict] = field(default_factory=dict)  # owned Deployments by name
    hpas: dict[str, dict] = field(default_factory=dict)
    placement: dict | None = None  # the referenced RegionPlacement body, when found
    placement_missing: bool = False
    sla_policy: dict | None = None
    sla_policy_missing: bool = False
    sla: SLAView | None = None  # from the SLA controller (modelserve.reconcile.sla)
    predictive: dict[str | None, PredictiveFloor] = field(default_factory=dict)  # by region


@dataclass
class Plan:
    desired: list[dict]
    status: dict
    events: list[EventSpec]
    requeue_after: float | None = None
    # Owned objects not in `desired` are deleted, except kinds listed here (kept as they are).
    keep_kinds: frozenset[str] = frozenset()


def _ready(dep: dict | None) -> int:
    return int(((dep or {}).get("status") or {}).get("readyReplicas") or 0)


def _current(dep: dict | None) -> int:
    return int(((dep or {}).get("status") or {}).get("replicas") or 0)


def _rev_of(dep: dict) -> str | None:
    return (dep.get("metadata", {}).get("labels") or {}).get(c.LABEL_REVISION)


def plan_model_deployment(body: dict, observed: Observed, now: datetime) -> Plan:
    """Plan one ModelDeployment. `body` is the whole resource (metadata, spec, status)."""
    meta = body.get("metadata", {})
    owner = Owner(name=meta["name"], namespace=meta.get("namespace", "default"), uid=meta.get("uid", ""))
    generation = meta.get("generation")
    old_status = dict(body.get("status") or {})
    events: list[EventSpec] = []

    try:
        spec = parse_model_deployment(body.get("spec") or {})
    except SpecError as exc:
        return _invalid_spec_plan(old_status, exc, generation, now)

    conditions: list[Condition] = []
    refs_ok, refs_message, refs_reason = True, "all references resolved", c.REASON_RESOLVED
    if spec.placement_ref and observed.placement_missing:
        refs_ok, refs_reason = False, c.REASON_PLACEMENT_NOT_FOUND
        refs_message = f"RegionPlacement {spec.placement_ref.name!r} (spec.placementRef.name) not found"
    elif spec.sla_policy_ref and observed.sla_policy_missing:
        refs_ok, refs_reason = False, c.REASON_SLA_POLICY_NOT_FOUND
        refs_message = f"SLAPolicy {spec.sla_policy_ref.name!r} (spec.slaPolicyRef.name) not found"
    conditions.append(Condition(c.COND_REFERENCES, refs_ok, refs_reason, refs_message))

    revision = revision_hash(spec)
    stable = old_status.get("stableRevision") or None
    by_rev = {_rev_of(d): d for d in observed.deployments.values()}
    if stable and stable not in by_rev and stable != revision:
        stable = None  # the recorded stable Deployment is gone: serve the spec's revision
    candidate: str | None = None
    if stable is None:
        stable = revision
    elif revision != stable:
        candidate = revision

    # Placement not resolvable: do not create anything new (residency cannot be honoured);
    # keep serving what already runs.
    if spec.placement_ref and observed.placement_missing:
        desired = [
            d for d in _desired_objects(owner, spec, stable, None, observed) if d["kind"] != "Deployment"
        ]
        keep = frozenset({"Deployment"})
    else:
        desired = _desired_objects(owner, spec, stable, candidate, observed)
        keep = frozenset()

    # A candidate that is fully Ready takes over (the progressive-delivery planner refines this).
    if candidate:
        cand = observed.deployments.get(deployment_name(owner.name, candidate))
        want = _stable_replicas(spec, observed, owner, stable)
        if cand is not None and _ready(cand) >= max(1, want):
            events.append(EventSpec(c.EVENT_NORMAL, "Promoted", f"revision {candidate} is now stable"))
            stable, candidate = candidate, None
            desired = _desired_objects(owner, spec, stable, None, observed)

    stable_dep = observed.deployments.get(deployment_name(owner.name, stable))
    desired_replicas = _stable_replicas(spec, observed, owner, stable)
    ready = _ready(stable_dep)
    current = _current(stable_dep)
    if candidate:
        cand_dep = observed.deployments.get(deployment_name(owner.name, candidate))
        ready += _ready(cand_dep)
        current += _current(cand_dep)

    progressing = candidate is not None
    available = ready >= desired_replicas if desired_replicas > 0 else True
    if not refs_ok and spec.placement_ref and observed.placement_missing:
        phase = c.PHASE_DEGRADED
    elif progressing:
        phase = c.PHASE_PROGRESSING
    elif available and stable_dep is not None:
        phase = c.PHASE_READY
    else:
        phase = c.PHASE_PENDING

    if desired_replicas == 0:
        ready_cond = Condition(c.COND_READY, True, c.REASON_SCALED_TO_ZERO, "scaled to zero replicas")
    elif available and stable_dep is not None:
        ready_cond = Condition(
            c.COND_READY, True, c.REASON_AVAILABLE, f"{ready}/{desired_replicas} replicas ready"
        )
    else:
        ready_cond = Condition(
            c.COND_READY, False, c.REASON_UNAVAILABLE, f"{ready}/{desired_replicas} replicas ready"
        )
    conditions.append(ready_cond)
    conditions.append(
        Condition(c.COND_PROGRESSING, True, c.REASON_NEW_REVISION, f"rolling out revision {candidate}")
        if progressing
        else Condition(c.COND_PROGRESSING, False, c.REASON_STABLE, f"serving revision {stable}")
    )
    if not refs_ok:
        conditions.append(Condition(c.COND_DEGRADED, True, refs_reason, refs_message))
    else:
        conditions.append(Condition(c.COND_DEGRADED, False, c.REASON_AS_EXPECTED, "no problem found"))

    status = {k: v for k, v in old_status.items() if k not in ("candidateRevision",)}
    status.update(
        {
            "observedGeneration": generation,
            "phase": phase,
            "message": refs_message if not refs_ok else ready_cond.message,
            "stableRevision": stable,
            "canaryWeight": 0 if not candidate else status.get("canaryWeight", 0),
            "replicas": current,
            "readyReplicas": ready,
            "desiredReplicas": desired_replicas,
            "url": f"http://{owner.name}.{owner.namespace}.svc.cluster.local",
            "conditions": merge_conditions(old_status.get("conditions"), conditions, now, generation),
        }
    )
    if candidate:
        status["candidateRevision"] = candidate
    events.extend(transition_events(old_status, status))
    requeue = None if refs_ok else 30.0
    return Plan(desired=desired, status=status, events=events, requeue_after=requeue, keep_kinds=keep)


def _stable_replicas(spec: ModelDeploymentSpec, observed: Observed, owner: Owner, stable: str) -> int:
    """How many replicas the stable revision should have: fixed, or what the HPA currently wants."""
    if spec.autoscaling is None:
        return spec.replicas
    dep = observed.deployments.get(deployment_name(owner.name, stable))
    current = int(((dep or {}).get("spec") or {}).get("replicas") or 0)
    return min(max(current, spec.autoscaling.min_replicas, 1), spec.autoscaling.max_replicas)


def _desired_objects(
    owner: Owner, spec: ModelDeploymentSpec, stable: str, candidate: str | None, observed: Observed
) -> list[dict]:
    if spec.autoscaling is None:
        stable_replicas = spec.replicas
    else:
        # The HPA owns the size; we start a new Deployment at minReplicas and afterwards restate
        # whatever the HPA chose, so our apply never fights it.
        live = observed.deployments.get(deployment_name(owner.name, stable))
        stable_replicas = (
            _stable_replicas(spec, observed, owner, stable) if live else spec.autoscaling.min_replicas
        )
    objects = [
        build_deployment(
            owner, spec, RevisionWorkload(revision=stable, role="stable", replicas=stable_replicas)
        )
    ]
    if candidate:
        size = _stable_replicas(spec, observed, owner, stable)
        objects.append(
            build_deployment(
                owner, spec, RevisionWorkload(revision=candidate, role="candidate", replicas=size)
            )
        )
    objects.append(build_service(owner, spec))
    if spec.autoscaling is not None:
        objects.append(
            build_hpa(
                owner,
                spec,
                deployment_name(owner.name, stable),
                min_replicas=spec.autoscaling.min_replicas,
                max_replicas=spec.autoscaling.max_replicas,
            )
        )
    objects.append(build_pdb(owner, spec))
    return objects


def _invalid_spec_plan(old_status: dict, exc: SpecError, generation: int | None, now: datetime) -> Plan:
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
    events = transition_events(old_status, status)
    # Nothing is desired, but nothing owned is deleted either: keep serving until the spec is fixed.
    return Plan(
        desired=[], status=status, events=events, requeue_after=None, keep_kinds=frozenset(OWNED_KINDS)
    )


def transition_events(old: dict, new: dict) -> list[EventSpec]:
    """Events for what changed between two statuses: phase transitions and conditions turning bad."""
    events: list[EventSpec] = []
    if old.get("phase") != new.get("phase"):
        warning = new.get("phase") in (c.PHASE_DEGRADED, c.PHASE_ROLLED_BACK)
        events.append(
            EventSpec(
                c.EVENT_WARNING if warning else c.EVENT_NORMAL,
                new.get("phase") or "Unknown",
                f"phase {old.get('phase') or 'None'} -> {new.get('phase')}: {new.get('message', '')}",
            )
        )
    old_c = {x["type"]: x for x in old.get("conditions") or []}
    for cond in new.get("conditions") or []:
        before = old_c.get(cond["type"])
        if (
            cond["type"] == c.COND_REFERENCES
            and cond["status"] == "False"
            and (before is None or before.get("status") != "False" or before.get("reason") != cond["reason"])
        ):
            events.append(EventSpec(c.EVENT_WARNING, cond["reason"], cond["message"]))
        if (
            cond["type"] == c.COND_REFERENCES
            and cond["status"] == "True"
            and before
            and before["status"] == "False"
        ):
            events.append(EventSpec(c.EVENT_NORMAL, c.REASON_RESOLVED, cond["message"]))
    return events
