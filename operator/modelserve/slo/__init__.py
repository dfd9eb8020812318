"""SLAPolicy core: typed spec, SLO maths, PromQL, Prometheus rules, policy selection, rollout gates.

Pure modules (no I/O). The operator's shell calls, per policy:
  spec = parse_sla_policy(body)                                   # SpecError(field_path, message)
  governed, ambiguous = models_by_policy(models, policies)        # which models each policy governs
  rule = render_prometheus_rule(name, namespace, spec, governed[(namespace, name)])
and per governed model:
  queries = queries_for_status(spec, namespace, model, elapsed_seconds=...)   # run each against Prometheus
  status = compute_model_status(spec, measurements_from_results(spec, results), elapsed, now, model=model)
  status.to_status_dict(); budget_exhausted(status); rollout_frozen(spec, status, annotations)
See docs/sla.md for the formulas and the generated rule names.
"""

from modelserve.slo.gates import fastest_page_factor, rollout_gate_from_policy
from modelserve.slo.math import (
    attainment_percent,
    budget_remaining_ratio,
    burn_rate,
    counter_increase,
    error_budget_ratio,
    service_credit_percent,
    time_to_exhaustion_seconds,
)
from modelserve.slo.model import (
    DEFAULT_BURN_RATE_TIERS,
    AlertingSpec,
    BurnRateTier,
    CreditTier,
    LabelSelector,
    LabelSelectorRequirement,
    Objective,
    SLAPolicySpec,
    SpecError,
    parse_sla_policy,
)
from modelserve.slo.queries import (
    Measurement,
    WindowCounts,
    choose_latency_bucket,
    measurements_from_results,
    queries_for_status,
)
from modelserve.slo.rules import render_prometheus_rule, render_rule_groups
from modelserve.slo.selection import (
    ModelRef,
    PolicyCandidate,
    PolicySelection,
    model_ref_from_body,
    models_by_policy,
    policy_candidate_from_body,
    select_policy,
    selector_matches,
)
from modelserve.slo.status import (
    ModelSLAStatus,
    ObjectiveStatus,
    budget_exhausted,
    compute_model_status,
    rollout_frozen,
    window_elapsed_seconds,
)

__all__ = [
    "DEFAULT_BURN_RATE_TIERS",
    "AlertingSpec",
    "BurnRateTier",
    "CreditTier",
    "LabelSelector",
    "LabelSelectorRequirement",
    "Measurement",
    "ModelRef",
    "ModelSLAStatus",
    "Objective",
    "ObjectiveStatus",
    "PolicyCandidate",
    "PolicySelection",
    "SLAPolicySpec",
    "SpecError",
    "WindowCounts",
    "attainment_percent",
    "budget_exhausted",
    "budget_remaining_ratio",
    "burn_rate",
    "choose_latency_bucket",
    "compute_model_status",
    "counter_increase",
    "error_budget_ratio",
    "fastest_page_factor",
    "measurements_from_results",
    "model_ref_from_body",
    "models_by_policy",
    "parse_sla_policy",
    "policy_candidate_from_body",
    "queries_for_status",
    "render_prometheus_rule",
    "render_rule_groups",
    "rollout_frozen",
    "rollout_gate_from_policy",
    "select_policy",
    "selector_matches",
    "service_credit_percent",
    "time_to_exhaustion_seconds",
    "window_elapsed_seconds",
]
