"""The SLAPolicy controller: an imperative shell around the pure SLO core (modelserve.slo).

One level-based reconcile of an SLAPolicy (``reconcile_sla_policy``):

1. parse the spec (a SpecError becomes ``Ready=False/InvalidSpec`` and one Warning Event);
2. find the ModelDeployments it governs (``slaPolicyRef`` wins, then selectors; ambiguities reported);
3. keep an owned ``PrometheusRule`` (server-side apply, owner reference to the policy, written only when
   it differs from the live one; deleted when no model is governed) — or ``RulesReady=False`` with
   ``PrometheusRuleCRDMissing`` when the prometheus-operator CRD is not installed;
4. query Prometheus for each governed model and compute its status; when Prometheus is not
   configured or does not answer, ``MetricsAvailable=False`` and the last numbers stay;
5. write the status only when it changed, post Events on transitions, export gauges;
6. come back after ``MODELSERVE_SLA_INTERVAL_SECONDS`` (30 s), because the numbers live in Prometheus.

``sla_view_for`` is what the ModelDeployment reconcile asks: which policy governs a model, whether a new
rollout must wait (freeze), the objectives as canary gates and the model's ``status.sla``.

The functions above the "shell" line are pure (bodies and measurements in, status and events out).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelserve import GROUP, VERSION
from modelserve.api import constants as c
from modelserve.api.conditions import Condition, find_condition, merge_conditions, parse_time
from modelserve.k8s.client import NotFound
from modelserve.k8s.compare import is_subset
from modelserve.observability import metrics
from modelserve.reconcile.plan import EventSpec
from modelserve.reconcile.registry import reconciler
from modelserve.reconcile.views import SLAView
from modelserve.slo import (
    OVERRIDE_FREEZE_ANNOTATION,
    ModelSLAStatus,
    PolicyCandidate,
    PolicySelection,
    SLAPolicySpec,
    SpecError,
    compute_model_status,
    measurements_from_results,
    model_ref_from_body,
    models_by_policy,
    parse_sla_policy,
    policy_candidate_from_body,
    queries_for_status,
    render_prometheus_rule,
    rollout_frozen,
    rollout_gate_from_policy,
    select_policy,
    window_elapsed_seconds,
)

log = logging.getLogger(__name__)

KIND = "SLAPolicy"
PROMETHEUS_RULE = "PrometheusRule"
INTERVAL_ENV = "MODELSERVE_SLA_INTERVAL_SECONDS"
DEFAULT_INTERVAL_SECONDS = 30.0

# Condition types of SLAPolicy.status.conditions.
COND_READY = "Ready"
COND_RULES_READY = "RulesReady"
COND_METRICS_AVAILABLE = "MetricsAvailable"
COND_COMPLIANT = "Compliant"
COND_MODELS_SELECTED = "ModelsSelected"

# Condition reasons.
REASON_RECONCILED = "Reconciled"
REASON_INVALID_SPEC = "InvalidSpec"
REASON_RULES_APPLIED = "RulesApplied"
REASON_NO_RULES_NEEDED = "NoModelsSelected"
REASON_CRD_MISSING = "PrometheusRuleCRDMissing"
REASON_RULES_APPLY_FAILED = "RulesApplyFailed"
REASON_QUERIED = "Queried"
REASON_PROMETHEUS_NOT_CONFIGURED = "PrometheusNotConfigured"
REASON_PROMETHEUS_UNAVAILABLE = "PrometheusUnavailable"
REASON_OBJECTIVES_MET = "ObjectivesMet"
REASON_OBJECTIVES_MISSED = "ObjectivesMissed"
REASON_NO_MEASUREMENTS = "NoMeasurements"
REASON_NO_MODELS = "NoModelsSelected"
REASON_MODELS_SELECTED = "ModelsSelected"
REASON_AMBIGUOUS = "AmbiguousSLAPolicy"

# Event reasons (posted on transitions only).
EVENT_SLO_VIOLATED = "SLOViolated"
EVENT_SLO_RECOVERED = "SLORecovered"
EVENT_BUDGET_EXHAUSTED = "ErrorBudgetExhausted"
EVENT_BUDGET_RECOVERED = "ErrorBudgetRecovered"
EVENT_INVALID_SPEC = "InvalidSpec"
EVENT_AMBIGUOUS = "AmbiguousSLAPolicy"
EVENT_RULES_FAILED = "RulesApplyFailed"


def sla_interval_seconds() -> float:
    """Seconds between two status computations of a policy (env MODELSERVE_SLA_INTERVAL_SECONDS)."""
    try:
        return max(1.0, float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL_SECONDS)))
    except ValueError:
        return DEFAULT_INTERVAL_SECONDS


# ================================================================================= pure: selection
@dataclass(frozen=True)
class Governance:
    """Which models one policy governs, and the ambiguous selections that involve it."""

    models: tuple[str, ...]  # governed ModelDeployment names, sorted
    ambiguous: tuple[str, ...] = ()  # one human message per ambiguous model involving this policy


def policy_candidates(policy_bodies: Sequence[Mapping[str, Any]]) -> list[PolicyCandidate]:
    """Selection candidates; a policy whose selector does not parse selects nothing (its own
    reconcile reports the SpecError) but can still be named by slaPolicyRef."""
    candidates = []
    for body in policy_bodies:
        try:
            candidates.append(policy_candidate_from_body(body))
        except SpecError:
            meta = body.get("metadata") or {}
            candidates.append(
                PolicyCandidate(str(meta.get("namespace", "")), str(meta.get("name", "")), None)
            )
    return candidates


def governance_for(
    namespace: str,
    name: str,
    model_bodies: Sequence[Mapping[str, Any]],
    policy_bodies: Sequence[Mapping[str, Any]],
) -> Governance:
    """The models policy `namespace/name` governs among `model_bodies` (ModelDeployments of its
    namespace), with the other policies of the namespace (`policy_bodies`, this one included)."""
    candidates = policy_candidates(policy_bodies)
    if not any(p.namespace == namespace and p.name == name for p in candidates):
        candidates.append(PolicyCandidate(namespace, name, None))
    models = [
        model_ref_from_body(b) for b in model_bodies if not (b.get("metadata") or {}).get("deletionTimestamp")
    ]
    governed, ambiguous = models_by_policy(models, candidates)
    notes = []
    for (ns, model), selection in sorted(ambiguous.items()):
        if ns == namespace and (selection.policy == name or name in selection.ambiguous_with):
            notes.append(_ambiguity_note(model, selection))
    return Governance(tuple(governed.get((namespace, name), [])), tuple(notes))


def _ambiguity_note(model: str, selection: PolicySelection) -> str:
    everyone = ", ".join(sorted((selection.policy or "", *selection.ambiguous_with)))
    return (
        f"model {model} is selected by several SLAPolicies ({everyone}); {selection.policy} governs it"
        " (first by name); set its spec.slaPolicyRef to choose"
    )


# ====================================================================================== pure: rules
def owner_reference(policy_body: Mapping[str, Any]) -> dict[str, Any]:
    meta = policy_body["metadata"]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def desired_prometheus_rule(
    policy_body: Mapping[str, Any], spec: SLAPolicySpec, models: Sequence[str]
) -> dict[str, Any] | None:
    """The PrometheusRule the policy owns for its governed `models`; None when it governs none (no
    rule then: there is nothing to record or alert on)."""
    if not models:
        return None
    meta = policy_body["metadata"]
    rule = render_prometheus_rule(meta["name"], meta["namespace"], spec, list(models))
    rule["metadata"]["ownerReferences"] = [owner_reference(policy_body)]
    from modelserve.reconcile.shell import stamp_intent  # one no-change test for every owned object

    return stamp_intent(rule)


def rule_up_to_date(desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
    """True when every field we set is already live (the API server adds its own; we ignore those)."""
    if live is None:
        return False
    return is_subset({k: v for k, v in desired.items() if k not in ("apiVersion", "kind")}, live)


# ===================================================================================== pure: status
@dataclass(frozen=True)
class RulesOutcome:
    """What happened to the policy's PrometheusRule in this reconcile."""

    ready: bool
    reason: str
    message: str
    wrote: bool = False


@dataclass(frozen=True)
class MetricsOutcome:
    """What Prometheus said: per-model statuses when it answered (`available`), else why not."""

    available: bool
    reason: str
    message: str
    statuses: Mapping[str, ModelSLAStatus] = field(default_factory=dict)


def model_entries(
    governed: Sequence[str], metrics_outcome: MetricsOutcome, old_status: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """``status.models``: fresh numbers for every governed model when Prometheus answered; otherwise
    the previous entry of each model that is still governed (a bare ``{name}`` for new ones)."""
    previous = {e.get("name"): e for e in old_status.get("models") or [] if isinstance(e, Mapping)}
    entries = []
    for model in sorted(governed):
        fresh = metrics_outcome.statuses.get(model) if metrics_outcome.available else None
        if fresh is not None:
            entries.append(fresh.to_status_dict())
        else:
            entries.append(dict(previous.get(model) or {"name": model}))
    return entries


def assemble_status(
    generation: int | None,
    old_status: Mapping[str, Any],
    governance: Governance,
    rules: RulesOutcome,
    metrics_outcome: MetricsOutcome,
    now: datetime,
) -> dict[str, Any]:
    """The whole SLAPolicy status (api.md) from this reconcile's findings. Deterministic: the same
    findings give the same dict (conditions keep their lastTransitionTime while their status holds),
    so an unchanged situation is not written again."""
    entries = model_entries(governance.models, metrics_outcome, old_status)
    measured = [e for e in entries if "compliant" in e]
    status: dict[str, Any] = {"observedGeneration": generation, "rulesReady": rules.ready, "models": entries}
    if measured or not entries:
        status["compliant"] = all(e["compliant"] for e in measured)
    budgets = [e["errorBudgetRemainingPercent"] for e in entries if "errorBudgetRemainingPercent" in e]
    if budgets:
        status["errorBudgetRemainingPercent"] = min(budgets)

    if not entries:
        compliant = Condition(COND_COMPLIANT, True, REASON_NO_MODELS, "the policy governs no ModelDeployment")
    elif not measured:
        compliant = Condition(COND_COMPLIANT, None, REASON_NO_MEASUREMENTS, "no measurements yet")
    elif status["compliant"]:
        compliant = Condition(
            COND_COMPLIANT, True, REASON_OBJECTIVES_MET, f"every objective met by {len(measured)} model(s)"
        )
    else:
        missed = [e["name"] for e in measured if not e["compliant"]]
        compliant = Condition(
            COND_COMPLIANT, False, REASON_OBJECTIVES_MISSED, "objectives missed by " + ", ".join(missed)
        )

    if governance.ambiguous:
        selected = Condition(
            COND_MODELS_SELECTED, bool(governance.models), REASON_AMBIGUOUS, "; ".join(governance.ambiguous)
        )
    elif governance.models:
        selected = Condition(
            COND_MODELS_SELECTED, True, REASON_MODELS_SELECTED, "governs " + ", ".join(governance.models)
        )
    else:
        selected = Condition(
            COND_MODELS_SELECTED,
            False,
            REASON_NO_MODELS,
            "no ModelDeployment names this policy in spec.slaPolicyRef or matches its selector",
        )

    if not metrics_outcome.available:
        ready = Condition(COND_READY, False, metrics_outcome.reason, metrics_outcome.message)
    elif not rules.ready and rules.reason == REASON_RULES_APPLY_FAILED:
        ready = Condition(COND_READY, False, rules.reason, rules.message)
    else:
        ready = Condition(COND_READY, True, REASON_RECONCILED, "status computed from Prometheus")

    status["conditions"] = merge_conditions(
        list(old_status.get("conditions") or []),
        [
            ready,
            Condition(COND_RULES_READY, rules.ready, rules.reason, rules.message),
            Condition(
                COND_METRICS_AVAILABLE,
                metrics_outcome.available,
                metrics_outcome.reason,
                metrics_outcome.message,
            ),
            compliant,
            selected,
        ],
        now,
        generation,
    )
    return status


def invalid_spec_status(
    generation: int | None, old_status: Mapping[str, Any], error: SpecError, now: datetime
) -> dict[str, Any]:
    """Status of a policy whose spec does not parse: Ready=False/InvalidSpec naming the field; the last
    numbers and the other conditions are kept (the previous rule stays in force too)."""
    status = {k: v for k, v in old_status.items() if k != "kopf"}
    status["observedGeneration"] = generation
    status["conditions"] = merge_conditions(
        list(old_status.get("conditions") or []),
        [Condition(COND_READY, False, REASON_INVALID_SPEC, str(error))],
        now,
        generation,
    )
    return status


def _missed_objectives(entry: Mapping[str, Any]) -> str:
    parts = []
    for a in entry.get("attainment") or []:
        if a.get("compliant") is False:
            percent = a.get("percent")
            shown = f"{percent:g}%" if isinstance(percent, int | float) else "?"
            parts.append(f"{a.get('objective')} {shown} < target {a.get('target'):g}%")
    return ", ".join(parts) or "an objective is missed"


def transition_events(
    policy_name: str, spec: SLAPolicySpec, old_status: Mapping[str, Any], new_status: Mapping[str, Any]
) -> list[EventSpec]:
    """Events for per-model transitions between two statuses: SLO violated / recovered, error budget
    exhausted / recovered. A model seen for the first time counts as coming from "compliant, budget
    left", so a model that starts out violating is reported once; unchanged states post nothing."""
    before = {e.get("name"): e for e in old_status.get("models") or [] if isinstance(e, Mapping)}
    events: list[EventSpec] = []
    for entry in new_status.get("models") or []:
        name = entry.get("name")
        old = before.get(name) or {}
        if "compliant" in entry:
            was = old.get("compliant", True)
            if was and not entry["compliant"]:
                events.append(
                    EventSpec(
                        c.EVENT_WARNING,
                        EVENT_SLO_VIOLATED,
                        f"model {name} misses its SLO: {_missed_objectives(entry)}"
                        f" (SLAPolicy {policy_name}, window {spec.window})",
                    )
                )
            elif not was and entry["compliant"]:
                events.append(
                    EventSpec(
                        c.EVENT_NORMAL,
                        EVENT_SLO_RECOVERED,
                        f"model {name} meets every objective of SLAPolicy {policy_name} again",
                    )
                )
        if "exhausted" in entry:
            was_exhausted = bool(old.get("exhausted", False))
            if entry["exhausted"] and not was_exhausted:
                consequence = (
                    "new rollouts of it are frozen (errorBudgetPolicy freezeRollouts; annotate it"
                    f' {OVERRIDE_FREEZE_ANNOTATION}="true" to override)'
                    if spec.freezes_rollouts
                    else "errorBudgetPolicy warn: rollouts continue"
                )
                events.append(
                    EventSpec(
                        c.EVENT_WARNING,
                        EVENT_BUDGET_EXHAUSTED,
                        f"model {name} has spent its error budget over {spec.window}"
                        f" (SLAPolicy {policy_name}); {consequence}",
                    )
                )
            elif was_exhausted and not entry["exhausted"]:
                events.append(
                    EventSpec(
                        c.EVENT_NORMAL,
                        EVENT_BUDGET_RECOVERED,
                        f"model {name} has error budget again"
                        f" ({entry.get('errorBudgetRemainingPercent', 0):g}% left,"
                        f" SLAPolicy {policy_name})",
                    )
                )
    return events


def condition_events(old_status: Mapping[str, Any], new_status: Mapping[str, Any]) -> list[EventSpec]:
    """Warning Events for conditions that newly went bad (or whose bad message changed): invalid spec,
    ambiguous selection, rules that could not be applied."""
    watched = {
        (COND_READY, REASON_INVALID_SPEC): EVENT_INVALID_SPEC,
        (COND_MODELS_SELECTED, REASON_AMBIGUOUS): EVENT_AMBIGUOUS,
        (COND_RULES_READY, REASON_RULES_APPLY_FAILED): EVENT_RULES_FAILED,
    }
    events = []
    for cond in new_status.get("conditions") or []:
        reason = watched.get((cond.get("type"), cond.get("reason")))
        if reason is None:
            continue
        old = find_condition(list(old_status.get("conditions") or []), cond["type"]) or {}
        if old.get("reason") != cond.get("reason") or old.get("message") != cond.get("message"):
            events.append(EventSpec(c.EVENT_WARNING, reason, str(cond.get("message", ""))))
    return events


# ================================================================================ pure: model view
def _status_from_entry(policy: str, spec: SLAPolicySpec, entry: Mapping[str, Any]) -> ModelSLAStatus:
    """A ModelSLAStatus carrying what the policy's status says about one model (enough for
    rollout_frozen, which only looks at `exhausted`)."""
    budget = float(entry.get("errorBudgetRemainingPercent", 100.0))
    return ModelSLAStatus(
        model=str(entry.get("name", "")),
        policy=policy,
        objectives=(),
        compliant=bool(entry.get("compliant", True)),
        error_budget_remaining_percent=budget,
        error_budget_remaining_percent_raw=budget,
        burn_rates=(),
        time_to_exhaustion_seconds=float("inf"),
        budget_exhausted_at=None,
        credit_percent=float(entry.get("creditPercent", 0.0)),
        exhausted=bool(entry.get("exhausted", False)),
        partial_window=False,
        window=spec.window,
        effective_window=spec.window,
    )


def sla_view_from(md_body: Mapping[str, Any], policy_bodies: Sequence[Mapping[str, Any]]) -> SLAView | None:
    """The SLA view of one ModelDeployment given the SLAPolicies of its namespace (pure).

    None when no policy governs it (including a slaPolicyRef to a missing policy: the planner reports
    that itself). Otherwise the policy name, whether a new rollout must wait, why, the objectives as
    canary gates, and ``status.sla`` ({policy, compliant, errorBudgetRemainingPercent, frozen}).
    """
    selection = select_policy(model_ref_from_body(md_body), policy_candidates(policy_bodies))
    if selection.policy is None:
        return None
    policy_body = next(
        (p for p in policy_bodies if (p.get("metadata") or {}).get("name") == selection.policy), None
    )
    if policy_body is None:
        return None
    meta = md_body.get("metadata") or {}
    model = str(meta.get("name", ""))
    try:
        spec = parse_sla_policy(policy_body)
    except SpecError as exc:
        return SLAView(
            policy=selection.policy,
            status={"policy": selection.policy, "frozen": False},
            selection_message=f"{selection.message}; SLAPolicy spec is invalid: {exc}",
        )
    entry = next(
        (
            e
            for e in (policy_body.get("status") or {}).get("models") or []
            if isinstance(e, Mapping) and e.get("name") == model
        ),
        None,
    )
    annotations = dict(meta.get("annotations") or {})
    status_entry = _status_from_entry(selection.policy, spec, entry) if entry else None
    frozen = rollout_frozen(spec, status_entry, annotations)
    reason = ""
    if frozen:
        reason = (
            f"error budget of SLAPolicy {selection.policy} is exhausted over {spec.window}"
            f" ({entry.get('errorBudgetRemainingPercent', 0):g}% left) and its errorBudgetPolicy is"
            " freezeRollouts: new rollouts wait;"
            f' annotate {OVERRIDE_FREEZE_ANNOTATION}="true" to override'
            if entry
            else ""
        )
    status: dict[str, Any] = {"policy": selection.policy}
    if entry and "compliant" in entry:
        status["compliant"] = entry["compliant"]
    if entry and "errorBudgetRemainingPercent" in entry:
        status["errorBudgetRemainingPercent"] = entry["errorBudgetRemainingPercent"]
    status["frozen"] = frozen
    return SLAView(
        policy=selection.policy,
        frozen=frozen,
        freeze_reason=reason,
        gates=tuple(rollout_gate_from_policy(spec)),
        status=status,
        selection_message=selection.message,
    )


# ============================================================================================ shell
def sla_view_for(ctx: Any, md_body: Mapping[str, Any]) -> SLAView | None:
    """The SLAView of one ModelDeployment (one list of the SLAPolicies of its namespace)."""
    namespace = (md_body.get("metadata") or {}).get("namespace")
    policies = ctx.kube.list(KIND, namespace)
    for p in policies:
        p.setdefault("metadata", {}).setdefault("namespace", namespace)
    return sla_view_from(md_body, policies)


_QUERY_CLIENTS: dict[str, Any] = {}


def _query_client(url: str) -> Any:
    from modelserve.metrics_source import PrometheusQuery

    if url not in _QUERY_CLIENTS:
        _QUERY_CLIENTS[url] = PrometheusQuery(url)
    return _QUERY_CLIENTS[url]


def measure(
    ctx: Any,
    policy_body: Mapping[str, Any],
    spec: SLAPolicySpec,
    models: Mapping[str, Mapping[str, Any]],
    now: datetime,
    *,
    query_client: Any = None,
) -> MetricsOutcome:
    """Run the status queries of every governed model (`models`: name -> ModelDeployment body) and
    compute their statuses. The first MetricsUnavailable stops querying: the outcome then says why."""
    from modelserve.metrics_source import MetricsUnavailable, UnexpectedResult

    if not models:
        return MetricsOutcome(True, REASON_QUERIED, "no model to measure")
    if query_client is None:
        if not ctx.prometheus_url:
            return MetricsOutcome(
                False,
                REASON_PROMETHEUS_NOT_CONFIGURED,
                "the operator runs without --prometheus-url; status cannot be computed",
            )
        query_client = _query_client(ctx.prometheus_url)
    policy_meta = policy_body["metadata"]
    policy_created = parse_time(policy_meta.get("creationTimestamp"))
    statuses: dict[str, ModelSLAStatus] = {}
    problems: list[str] = []
    for model, md in sorted(models.items()):
        created = parse_time((md.get("metadata") or {}).get("creationTimestamp"))
        elapsed = window_elapsed_seconds(spec.window_seconds, now, policy_created, created)
        results: dict[str, float | None] = {}
        for key, promql in queries_for_status(
            spec, policy_meta["namespace"], model, elapsed_seconds=elapsed
        ).items():
            try:
                # One evaluation instant for every query: good and total over the same range.
                results[key] = query_client.instant(promql, now)
            except UnexpectedResult as exc:  # a user query of the wrong shape: that objective has no data
                results[key] = None
                problems.append(f"{model} {key}: {exc}")
            except MetricsUnavailable as exc:
                return MetricsOutcome(
                    False,
                    REASON_PROMETHEUS_UNAVAILABLE,
                    f"Prometheus at {ctx.prometheus_url or 'the configured URL'} did not"
                    f" answer: {str(exc)[:400]}; keeping the last status",
                )
        statuses[model] = compute_model_status(
            spec,
            measurements_from_results(spec, results),
            elapsed,
            now,
            model=model,
            policy=policy_meta["name"],
        )
    message = f"measured {len(statuses)} model(s)"
    if problems:
        message += "; unexpected results (treated as no data): " + "; ".join(problems[:3])
    return MetricsOutcome(True, REASON_QUERIED, message, statuses)


def sync_prometheus_rule(
    ctx: Any, policy_body: Mapping[str, Any], spec: SLAPolicySpec, models: Sequence[str]
) -> RulesOutcome:
    """Apply the owned PrometheusRule when it differs from the live one (delete it when no model is
    governed). Without the prometheus-operator CRD: not ready, reason PrometheusRuleCRDMissing."""
    meta = policy_body["metadata"]
    if not ctx.kube.kind_installed(PROMETHEUS_RULE):
        return RulesOutcome(
            False,
            REASON_CRD_MISSING,
            "the PrometheusRule CRD (monitoring.coreos.com/v1) is not installed; render the"
            " rules with `modelserve render -f` and load them into Prometheus yourself",
        )
    desired = desired_prometheus_rule(policy_body, spec, models)
    rule_name = render_prometheus_rule(meta["name"], meta["namespace"], spec, [])["metadata"]["name"]
    try:
        live = ctx.kube.get(PROMETHEUS_RULE, meta["namespace"], rule_name)
        if desired is None:
            owned = live is not None and any(
                r.get("uid") == meta.get("uid") for r in (live["metadata"].get("ownerReferences") or [])
            )
            if owned:
                ctx.kube.delete(PROMETHEUS_RULE, meta["namespace"], rule_name)
            return RulesOutcome(
                True, REASON_NO_RULES_NEEDED, "no model governed: no PrometheusRule", wrote=owned
            )
        if rule_up_to_date(desired, live):
            return RulesOutcome(True, REASON_RULES_APPLIED, f"PrometheusRule {rule_name} is up to date")
        ctx.kube.apply(desired)
    except Exception as exc:  # reported in status; the status computation goes on
        log.warning("PrometheusRule %s/%s: %s", meta["namespace"], rule_name, exc)
        return RulesOutcome(
            False, REASON_RULES_APPLY_FAILED, f"applying PrometheusRule {rule_name} failed: {str(exc)[:300]}"
        )
    return RulesOutcome(True, REASON_RULES_APPLIED, f"PrometheusRule {rule_name} is up to date", wrote=True)


# Gauge label sets exported per policy, so the series of models that left a policy are removed.
_EXPORTED: dict[tuple[str, str], set[tuple[str, str, str, str]]] = {}


def export_metrics(namespace: str, policy: str, outcome: MetricsOutcome, governed: Sequence[str]) -> None:
    """Set modelserve_slo_attainment_percent / _error_budget_remaining_percent per model and objective.
    Without fresh numbers the last values stay (as in the status); ungoverned models' series go."""
    exported = _EXPORTED.setdefault((namespace, policy), set())
    current: set[tuple[str, str, str, str]] = set()
    if outcome.available:
        for model, status in outcome.statuses.items():
            for o in status.objectives:
                labels = (namespace, model, policy, o.objective)
                current.add(labels)
                metrics.SLO_BUDGET.labels(*labels).set(o.budget_remaining_percent)
                if o.attainment_percent is not None:
                    metrics.SLO_ATTAINMENT.labels(*labels).set(o.attainment_percent)
                else:
                    _remove(metrics.SLO_ATTAINMENT, labels)
    else:
        current = {labels for labels in exported if labels[1] in governed}
    for labels in exported - current:
        _remove(metrics.SLO_ATTAINMENT, labels)
        _remove(metrics.SLO_BUDGET, labels)
    _EXPORTED[(namespace, policy)] = current


def forget_policy_metrics(namespace: str, policy: str) -> None:
    """Remove every gauge series of a deleted policy."""
    for labels in _EXPORTED.pop((namespace, policy), set()):
        _remove(metrics.SLO_ATTAINMENT, labels)
        _remove(metrics.SLO_BUDGET, labels)


def _remove(gauge: Any, labels: tuple[str, ...]) -> None:
    with contextlib.suppress(KeyError):
        gauge.remove(*labels)


def _post(ctx: Any, body: Mapping[str, Any], events: Sequence[EventSpec]) -> None:
    for ev in events:
        ctx.kube.post_event(body, ev.type, ev.reason, ev.message)


@reconciler(KIND)
def reconcile_sla_policy(ctx: Any, namespace: str, name: str) -> float | None:
    """One level-based reconcile of an SLAPolicy (see the module docstring). Returns seconds until the
    next one (the status comes from Prometheus, so it is recomputed periodically), None when gone or
    invalid (a spec change queues it again)."""
    from modelserve.reconcile.shell import status_patch

    started = time.monotonic()
    try:
        body = ctx.kube.get(KIND, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            forget_policy_metrics(namespace, name)
            return None  # the owner reference lets the garbage collector remove the PrometheusRule
        body.setdefault("apiVersion", f"{GROUP}/{VERSION}")
        body.setdefault("kind", KIND)
        body["metadata"].setdefault("namespace", namespace)
        now = ctx.clock()
        generation = body["metadata"].get("generation")
        old_status = dict(body.get("status") or {})
        try:
            spec = parse_sla_policy(body)
        except SpecError as exc:
            new_status = invalid_spec_status(generation, old_status, exc, now)
            patch = status_patch(old_status, new_status)
            if patch:
                ctx.kube.patch_status(KIND, namespace, name, patch)
            _post(ctx, body, condition_events(old_status, new_status))
            metrics.RECONCILES.labels(KIND, "invalid").inc()
            return None

        model_bodies = ctx.kube.list("ModelDeployment", namespace)
        policy_bodies = ctx.kube.list(KIND, namespace)
        for b in (*model_bodies, *policy_bodies):
            b.setdefault("metadata", {}).setdefault("namespace", namespace)
        governance = governance_for(namespace, name, model_bodies, policy_bodies)
        rules = sync_prometheus_rule(ctx, body, spec, governance.models)
        by_name = {b["metadata"]["name"]: b for b in model_bodies}
        outcome = measure(ctx, body, spec, {m: by_name[m] for m in governance.models}, now)

        new_status = assemble_status(generation, old_status, governance, rules, outcome, now)
        patch = status_patch(old_status, new_status)
        if patch:
            ctx.kube.patch_status(KIND, namespace, name, patch)
        _post(
            ctx,
            body,
            condition_events(old_status, new_status) + transition_events(name, spec, old_status, new_status),
        )
        export_metrics(namespace, name, outcome, governance.models)
        metrics.RECONCILES.labels(KIND, "ok").inc()
        return sla_interval_seconds()
    except NotFound:
        return None  # deleted while we worked (e.g. its namespace is going away): nothing left to do
    except Exception:
        metrics.RECONCILES.labels(KIND, "error").inc()
        metrics.RECONCILE_ERRORS.labels(KIND).inc()
        raise
    finally:
        metrics.RECONCILE_DURATION.labels(KIND).observe(time.monotonic() - started)
