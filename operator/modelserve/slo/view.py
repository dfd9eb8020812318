"""The SLA view of one ModelDeployment: what the SLA controller hands to its planner.

Pure: the model's body and the SLAPolicies of its namespace (with their status) in, an
:class:`SLAView` out — which policy governs the model, whether a new rollout must wait (freeze), the
objectives as canary gates and the model's ``status.sla``. The ModelDeployment reconcile gets it
through an :class:`SLAViewSource` (modelserve.reconcile.sla.SLAViews reads the policies).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from modelserve.api.constants import ANNOTATION_OVERRIDE_FREEZE
from modelserve.api.errors import SpecError
from modelserve.runtimes import Catalogue, builtin_catalogue
from modelserve.slo.gates import rollout_gate_from_policy
from modelserve.slo.governance import policy_candidates
from modelserve.slo.model import SLAPolicySpec, parse_sla_policy
from modelserve.slo.selection import model_ref_from_body, select_policy
from modelserve.slo.sources import model_runtime
from modelserve.slo.status import ModelSLAStatus, rollout_frozen


@dataclass(frozen=True)
class SLAView:
    """The SLA that governs one ModelDeployment."""

    policy: str  # SLAPolicy name
    frozen: bool = False  # budget exhausted under freezeRollouts and no override annotation
    freeze_reason: str = ""
    gates: tuple[dict, ...] = ()  # objectives as canary gates, shaped like spec.rollout.analysis.gates[]
    status: dict = field(default_factory=dict)  # the ModelDeployment's status.sla
    selection_message: str = ""  # e.g. "selected by slaPolicyRef" or an ambiguity note


class SLAViewSource(Protocol):
    """Where the ModelDeployment reconcile gets the SLA view of a model (None: no policy governs it)."""

    def view_for(self, md_body: Mapping[str, Any]) -> SLAView | None: ...


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


def sla_view_from(
    md_body: Mapping[str, Any], policy_bodies: Sequence[Mapping[str, Any]], catalogue: Catalogue | None = None
) -> SLAView | None:
    """The SLA view of one ModelDeployment given the SLAPolicies of its namespace (pure); its gates read
    the metrics of the model's runtime in `catalogue` (None: the built-in catalogue).

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
            f' annotate {ANNOTATION_OVERRIDE_FREEZE}="true" to override'
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
        gates=tuple(rollout_gate_from_policy(spec, model_runtime(catalogue or builtin_catalogue(), md_body))),
        status=status,
        selection_message=selection.message,
    )
