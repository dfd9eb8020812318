"""One model's SLA status from measured counts: the pure half of SLAPolicy status computation.

The operator runs :func:`modelserve.slo.queries.queries_for_status` against Prometheus, converts the
results with :func:`modelserve.slo.queries.measurements_from_results`, and calls
:func:`compute_model_status`; ``ModelSLAStatus.to_status_dict()`` is one entry of
``SLAPolicy.status.models`` (api.md), and :func:`budget_exhausted` drives the rollout freeze.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import modelserve.slo.math as slo_math
from modelserve.api.constants import ANNOTATION_OVERRIDE_FREEZE
from modelserve.slo.model import Objective, SLAPolicySpec, format_duration
from modelserve.slo.queries import Measurement, WindowCounts

NOTE_NO_DATA = "no data"


@dataclass(frozen=True)
class BurnRate:
    window: str  # canonical duration, e.g. "1h"
    rate: float


@dataclass(frozen=True)
class ObjectiveStatus:
    """Everything computed for one objective of one model. Percent fields are percents (99.95)."""

    objective: str
    type: str
    target_percent: float
    attainment_percent: float | None  # None: no traffic in the window
    compliant: bool
    good: float
    total: float
    allowed_bad: float
    budget_remaining_percent_raw: float  # may be negative when overspent; 100 without data
    budget_remaining_percent: float  # clamped to [0, 100]
    burn_rates: tuple[BurnRate, ...]
    current_burn_rate: float | None
    time_to_exhaustion_seconds: float  # math.inf: not burning / no data
    exhausted: bool
    credit_percent: float
    partial_window: bool
    notes: tuple[str, ...] = ()

    @property
    def bad(self) -> float:
        return max(self.total - self.good, 0.0)


@dataclass(frozen=True)
class ModelSLAStatus:
    """A model's SLA status; the aggregates take the worst objective."""

    model: str
    policy: str
    objectives: tuple[ObjectiveStatus, ...]
    compliant: bool
    error_budget_remaining_percent: float  # min over objectives, clamped
    error_budget_remaining_percent_raw: float
    burn_rates: tuple[BurnRate, ...]  # per window, the max over objectives
    time_to_exhaustion_seconds: float
    budget_exhausted_at: datetime | None
    credit_percent: float
    exhausted: bool
    partial_window: bool
    window: str
    effective_window: str  # the elapsed part when partial
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def budget_time_remaining(self) -> str:
        return slo_math.format_time_remaining(self.time_to_exhaustion_seconds)

    def to_status_dict(self) -> dict[str, Any]:
        """One ``SLAPolicy.status.models[]`` entry, exactly the api.md fields (camelCase). Numbers are
        rounded so that an unchanged situation does not rewrite the status on every reconcile; an
        undefined attainment (no data) omits ``percent``."""
        attainment = []
        for o in self.objectives:
            entry: dict[str, Any] = {
                "objective": o.objective,
                "target": o.target_percent,
                "compliant": o.compliant,
            }
            if o.attainment_percent is not None:
                entry["percent"] = round(o.attainment_percent, 4)
            attainment.append(entry)
        return {
            "name": self.model,
            "attainment": attainment,
            "errorBudgetRemainingPercent": round(self.error_budget_remaining_percent, 2),
            "budgetTimeRemaining": self.budget_time_remaining,
            "burnRates": [{"window": b.window, "rate": round(b.rate, 3)} for b in self.burn_rates],
            "compliant": self.compliant,
            "creditPercent": self.credit_percent,
            "exhausted": self.exhausted,
        }


def current_burn_window(spec: SLAPolicySpec) -> str | None:
    """Window whose burn rate is "the current burn" for time-to-exhaustion: the shortest long window of
    the alert tiers (1h with the defaults). None when the policy has no tiers (the caller then uses the
    average burn over the SLO window)."""
    tiers = spec.alerting.burn_rates
    if not tiers:
        return None
    return format_duration(min(t.long_window_seconds for t in tiers))


def compute_objective_status(
    spec: SLAPolicySpec,
    objective: Objective,
    measurement: Measurement | None,
    window_elapsed_seconds: float | None,
) -> ObjectiveStatus:
    """Attainment, budget, burn rates, time to exhaustion and credit of one objective (see docs/sla.md).

    `window_elapsed_seconds` is how much of the SLO window has elapsed since the policy or the model
    appeared (None or >= window: a full window). Counts in `measurement.window` are expected to cover
    that elapsed part; the budget is (1 - target) of those events, so it scales with the elapsed part.
    """
    window_s = spec.window_seconds
    partial = window_elapsed_seconds is not None and window_elapsed_seconds < window_s
    effective_s = max(float(window_elapsed_seconds or 0), 1.0) if partial else window_s
    notes: list[str] = []
    if partial:
        notes.append(
            f"partial window: computed over the elapsed {format_duration(effective_s)} of {spec.window}"
        )

    counts = measurement.window if measurement is not None else None
    if counts is None or counts.total <= 0:
        counts = WindowCounts(0.0, 0.0)
        notes.append(NOTE_NO_DATA)
    target = objective.target_percent
    attainment = slo_math.attainment_percent(counts.good, counts.total)
    remaining = slo_math.budget_remaining_ratio(counts.bad, counts.total, target)
    remaining_percent_raw = 100.0 if remaining is None else 100.0 * remaining

    burn_rates = []
    burn_windows = measurement.burn_windows if measurement is not None else {}
    for window in spec.burn_windows():
        c = burn_windows.get(window)
        rate = slo_math.burn_rate(c.bad, c.total, target) if c is not None else None
        if rate is not None:
            burn_rates.append(BurnRate(window, rate))

    current_window = current_burn_window(spec)
    if current_window is None:
        # Average burn so far: the fraction of the (elapsed) window's budget spent.
        current = None if remaining is None else (1.0 - remaining)
    else:
        current = next((b.rate for b in burn_rates if b.window == current_window), 0.0)
    tte = slo_math.time_to_exhaustion_seconds(remaining, current, effective_s)

    return ObjectiveStatus(
        objective=objective.name,
        type=objective.type,
        target_percent=target,
        attainment_percent=attainment,
        compliant=slo_math.is_compliant(attainment, target),
        good=counts.good,
        total=counts.total,
        allowed_bad=slo_math.allowed_bad_events(counts.total, target),
        budget_remaining_percent_raw=remaining_percent_raw,
        budget_remaining_percent=slo_math.clamp_percent(remaining_percent_raw),
        burn_rates=tuple(burn_rates),
        current_burn_rate=current,
        time_to_exhaustion_seconds=tte,
        exhausted=remaining is not None and remaining <= 1e-9,
        credit_percent=slo_math.service_credit_percent(attainment, spec.credits),
        partial_window=partial,
        notes=tuple(notes),
    )


def compute_model_status(
    spec: SLAPolicySpec,
    objective_measurements: Mapping[str, Measurement],
    window_elapsed_seconds: float | None,
    now: datetime,
    *,
    model: str = "",
    policy: str = "",
) -> ModelSLAStatus:
    """A model's SLA status from per-objective measurements (keyed by objective name; a missing
    objective means no data). Pure: `now` only dates the projected exhaustion time.

    Aggregates: compliant = every objective compliant; budget = the lowest remaining; burn rate per
    window = the highest; time to exhaustion = the shortest; credit = the highest (that of the lowest
    attainment); exhausted = any objective exhausted.
    """
    objectives = tuple(
        compute_objective_status(spec, o, objective_measurements.get(o.name), window_elapsed_seconds)
        for o in spec.objectives
    )
    worst_raw = min(o.budget_remaining_percent_raw for o in objectives)
    burn_by_window: dict[str, float] = {}
    for o in objectives:
        for b in o.burn_rates:
            burn_by_window[b.window] = max(b.rate, burn_by_window.get(b.window, 0.0))
    ordered_windows = [w for w in spec.burn_windows() if w in burn_by_window]
    tte = min(o.time_to_exhaustion_seconds for o in objectives)
    notes: list[str] = []
    for o in objectives:
        notes.extend(f"{o.objective}: {n}" for n in o.notes)
    partial = any(o.partial_window for o in objectives)
    effective = spec.window
    if partial and window_elapsed_seconds is not None:
        effective = format_duration(max(window_elapsed_seconds, 1.0))
    return ModelSLAStatus(
        model=model,
        policy=policy,
        objectives=objectives,
        compliant=all(o.compliant for o in objectives),
        error_budget_remaining_percent=slo_math.clamp_percent(worst_raw),
        error_budget_remaining_percent_raw=worst_raw,
        burn_rates=tuple(BurnRate(w, burn_by_window[w]) for w in ordered_windows),
        time_to_exhaustion_seconds=tte,
        budget_exhausted_at=None if math.isinf(tte) else now + timedelta(seconds=tte),
        credit_percent=max(o.credit_percent for o in objectives),
        exhausted=any(o.exhausted for o in objectives),
        partial_window=partial,
        window=spec.window,
        effective_window=effective,
        notes=tuple(notes),
    )


def budget_exhausted(status: ModelSLAStatus) -> bool:
    """True when any objective has spent its whole error budget; with ``errorBudgetPolicy:
    freezeRollouts`` this blocks starting new rollouts (rollbacks and the override annotation
    ``modelserve.io/override-freeze: "true"`` still proceed, see :func:`rollout_frozen`)."""
    return status.exhausted


def rollout_frozen(
    spec: SLAPolicySpec, status: ModelSLAStatus | None, annotations: Mapping[str, str] | None = None
) -> bool:
    """Whether starting a NEW rollout of the model must wait: the policy freezes rollouts, the budget
    is exhausted, and the ModelDeployment does not carry ``modelserve.io/override-freeze: "true"``.
    Rollbacks are never frozen; the caller only asks this before starting a rollout."""
    if not spec.freezes_rollouts or status is None or not budget_exhausted(status):
        return False
    return (annotations or {}).get(ANNOTATION_OVERRIDE_FREEZE, "").lower() != "true"


def window_elapsed_seconds(window_seconds: float, now: datetime, *started: datetime | None) -> float:
    """Elapsed part of the SLO window: time since the latest of `started` (policy creation, model
    creation), capped at the window. With no start time known, the full window."""
    known = [s for s in started if s is not None]
    if not known:
        return window_seconds
    return min(window_seconds, max((now - max(known)).total_seconds(), 0.0))
