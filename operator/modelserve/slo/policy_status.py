"""An SLAPolicy's status, its conditions and the Events its transitions post: pure.

The shell (modelserve.reconcile.sla) applies the PrometheusRule and queries Prometheus; it reports
what happened as a :class:`RulesOutcome` and a :class:`MetricsOutcome`, and this module turns those,
with the :class:`~modelserve.slo.governance.Governance`, into the whole status (api.md) and the
Events of what changed. Deterministic: the same findings give the same status, so an unchanged
situation is not written again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelserve.api import constants as c
from modelserve.api.conditions import Condition, find_condition, merge_conditions
from modelserve.api.errors import SpecError
from modelserve.api.events import EventSpec
from modelserve.slo.governance import Governance
from modelserve.slo.model import SLAPolicySpec
from modelserve.slo.status import ModelSLAStatus

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
    status["conditions"] = merge_conditions(
        list(old_status.get("conditions") or []),
        [
            _ready_condition(rules, metrics_outcome),
            Condition(COND_RULES_READY, rules.ready, rules.reason, rules.message),
            Condition(
                COND_METRICS_AVAILABLE,
                metrics_outcome.available,
                metrics_outcome.reason,
                metrics_outcome.message,
            ),
            _compliant_condition(entries, measured),
            _selected_condition(governance),
        ],
        now,
        generation,
    )
    return status


def _compliant_condition(
    entries: Sequence[Mapping[str, Any]], measured: Sequence[Mapping[str, Any]]
) -> Condition:
    if not entries:
        return Condition(COND_COMPLIANT, True, REASON_NO_MODELS, "the policy governs no ModelDeployment")
    if not measured:
        return Condition(COND_COMPLIANT, None, REASON_NO_MEASUREMENTS, "no measurements yet")
    if all(e["compliant"] for e in measured):
        return Condition(
            COND_COMPLIANT, True, REASON_OBJECTIVES_MET, f"every objective met by {len(measured)} model(s)"
        )
    missed = [e["name"] for e in measured if not e["compliant"]]
    return Condition(
        COND_COMPLIANT, False, REASON_OBJECTIVES_MISSED, "objectives missed by " + ", ".join(missed)
    )


def _selected_condition(governance: Governance) -> Condition:
    if governance.ambiguous:
        return Condition(
            COND_MODELS_SELECTED, bool(governance.models), REASON_AMBIGUOUS, "; ".join(governance.ambiguous)
        )
    if governance.models:
        return Condition(
            COND_MODELS_SELECTED, True, REASON_MODELS_SELECTED, "governs " + ", ".join(governance.models)
        )
    return Condition(
        COND_MODELS_SELECTED,
        False,
        REASON_NO_MODELS,
        "no ModelDeployment names this policy in spec.slaPolicyRef or matches its selector",
    )


def _ready_condition(rules: RulesOutcome, metrics_outcome: MetricsOutcome) -> Condition:
    if not metrics_outcome.available:
        return Condition(COND_READY, False, metrics_outcome.reason, metrics_outcome.message)
    if not rules.ready and rules.reason == REASON_RULES_APPLY_FAILED:
        return Condition(COND_READY, False, rules.reason, rules.message)
    return Condition(COND_READY, True, REASON_RECONCILED, "status computed from Prometheus")


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
        old = before.get(entry.get("name")) or {}
        events += _compliance_events(policy_name, spec, old, entry)
        events += _budget_events(policy_name, spec, old, entry)
    return events


def _compliance_events(
    policy_name: str, spec: SLAPolicySpec, old: Mapping[str, Any], entry: Mapping[str, Any]
) -> list[EventSpec]:
    """SLOViolated when a model starts missing an objective, SLORecovered when it meets them again."""
    if "compliant" not in entry:
        return []
    name = entry.get("name")
    was = old.get("compliant", True)
    if was and not entry["compliant"]:
        return [
            EventSpec(
                c.EVENT_WARNING,
                EVENT_SLO_VIOLATED,
                f"model {name} misses its SLO: {_missed_objectives(entry)}"
                f" (SLAPolicy {policy_name}, window {spec.window})",
            )
        ]
    if not was and entry["compliant"]:
        return [
            EventSpec(
                c.EVENT_NORMAL,
                EVENT_SLO_RECOVERED,
                f"model {name} meets every objective of SLAPolicy {policy_name} again",
            )
        ]
    return []


def _budget_events(
    policy_name: str, spec: SLAPolicySpec, old: Mapping[str, Any], entry: Mapping[str, Any]
) -> list[EventSpec]:
    """ErrorBudgetExhausted (saying whether rollouts freeze) and ErrorBudgetRecovered."""
    if "exhausted" not in entry:
        return []
    name = entry.get("name")
    was_exhausted = bool(old.get("exhausted", False))
    if entry["exhausted"] and not was_exhausted:
        consequence = (
            "new rollouts of it are frozen (errorBudgetPolicy freezeRollouts; annotate it"
            f' {c.ANNOTATION_OVERRIDE_FREEZE}="true" to override)'
            if spec.freezes_rollouts
            else "errorBudgetPolicy warn: rollouts continue"
        )
        return [
            EventSpec(
                c.EVENT_WARNING,
                EVENT_BUDGET_EXHAUSTED,
                f"model {name} has spent its error budget over {spec.window}"
                f" (SLAPolicy {policy_name}); {consequence}",
            )
        ]
    if was_exhausted and not entry["exhausted"]:
        return [
            EventSpec(
                c.EVENT_NORMAL,
                EVENT_BUDGET_RECOVERED,
                f"model {name} has error budget again"
                f" ({entry.get('errorBudgetRemainingPercent', 0):g}% left,"
                f" SLAPolicy {policy_name})",
            )
        ]
    return []


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
