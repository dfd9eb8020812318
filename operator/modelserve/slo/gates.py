"""An SLAPolicy's objectives as canary gates, so a rollout cannot ship a revision that would page.

A candidate passes when its error ratio stays under ``(1 - target) * F``, where F is the fastest page
burn factor of the policy (14.4 by default): a candidate that bad would trigger the fastest page alert
if it took all the traffic. The result is plain dicts shaped like api.md's
``spec.rollout.analysis.gates[]`` (camelCase), for ``modelserve.api.gates.GateSpec.from_mapping``.
Query gates use the judge's placeholders ``{{namespace}} {{model}} {{revision}} {{interval}}``.
"""

from __future__ import annotations

from typing import Any

from modelserve.api.errors import SpecError
from modelserve.runtimes import RuntimeEntry
from modelserve.slo.model import AVAILABILITY, LATENCY, PAGE, QUALITY, Objective, SLAPolicySpec
from modelserve.slo.queries import (
    DEFAULT_LATENCY_BUCKETS_SECONDS,
    DURATION_BUCKET,
    REQUESTS_TOTAL,
    bad_codes_regex,
    choose_latency_bucket,
    gauge_metric_name,
    le_matcher,
)
from modelserve.slo.sources import native_latency_le, native_runtime

# Contract gauge -> the judge's builtin that reads it.
_QUALITY_BUILTINS = {
    "modelserve_model_accuracy": "accuracy",
    "modelserve_prediction_confidence": "confidence",
    "modelserve_drift_score": "drift",
}
_REVISION_SELECTOR = 'namespace="{{namespace}}", model="{{model}}", revision="{{revision}}"'
GATE_NAME_PREFIX = "slo-"


def fastest_page_factor(spec: SLAPolicySpec) -> float | None:
    """The highest burn factor among page tiers (14.4 by default); None without page tiers."""
    factors = [t.factor for t in spec.alerting.burn_rates if t.severity == PAGE]
    return max(factors) if factors else None


def gate_name(objective: Objective) -> str:
    """``slo-<objective>``, cut to a 63-character DNS label."""
    return (GATE_NAME_PREFIX + objective.name)[:63].rstrip("-")


def rollout_gate_from_policy(
    spec: SLAPolicySpec, runtime: RuntimeEntry | None = None
) -> list[dict[str, Any]]:
    """Gate dicts (``name``, ``builtin`` or ``query``, ``max``/``min``) for the policy's objectives, on
    the metrics of the model's `runtime` (None or custom: the metric contract; the builtin errorRate
    reads the runtime's metrics itself).

    * availability: max error ratio ``(1 - target) * F``; the judge's ``errorRate`` builtin when 5xx and
      timeouts are the bad codes, a query when ``countClientErrorsAsBad`` adds 4xx;
    * latency: the candidate's fraction of requests slower than the threshold bucket, same bound;
    * quality: the gauge's own min/max (builtin accuracy/confidence/drift for contract gauges);
    * custom objectives and quality objectives with their own query are skipped: they are not
      guaranteed to be able to single out one revision.

    Without page tiers F is 1 (the candidate must not burn faster than the budget allows). An objective
    the runtime cannot measure is left out (the SLAPolicy's status names it: InvalidSpec).
    """
    factor = fastest_page_factor(spec) or 1.0
    gates: list[dict[str, Any]] = []
    native = native_runtime(runtime)
    for objective in spec.objectives:
        bound = round(objective.error_budget_ratio * factor, 12)
        if native is not None and objective.type in (AVAILABILITY, LATENCY):
            query = _native_gate_query(objective, native)
            if objective.type == AVAILABILITY and not objective.count_client_errors_as_bad:
                gates.append({"name": gate_name(objective), "builtin": "errorRate", "max": bound})
            elif query is not None:
                gates.append({"name": gate_name(objective), "query": query, "max": bound})
            continue
        if objective.type == AVAILABILITY:
            if not objective.count_client_errors_as_bad:
                gates.append({"name": gate_name(objective), "builtin": "errorRate", "max": bound})
                continue
            requests = f"{REQUESTS_TOTAL}{{{_REVISION_SELECTOR}"
            query = (
                f'sum(increase({requests}, code=~"{bad_codes_regex(objective)}"}}[{{{{interval}}}}]))'
                f" / sum(increase({requests}}}[{{{{interval}}}}]))"
            )
            gates.append({"name": gate_name(objective), "query": query, "max": bound})
        elif objective.type == LATENCY:
            assert objective.latency is not None
            bucket = choose_latency_bucket(
                objective.latency.threshold_milliseconds, DEFAULT_LATENCY_BUCKETS_SECONDS
            )
            hist = f"{DURATION_BUCKET}{{{_REVISION_SELECTOR}"
            query = (
                f"1 - sum(increase({hist}, {le_matcher(bucket.le_seconds)}}}[{{{{interval}}}}]))"
                f' / sum(increase({hist}, le="+Inf"}}[{{{{interval}}}}]))'
            )
            gates.append({"name": gate_name(objective), "query": query, "max": bound})
        elif objective.type == QUALITY:
            quality = objective.quality
            assert quality is not None
            if quality.query or quality.metric is None:
                continue
            gate: dict[str, Any] = {"name": gate_name(objective)}
            gauge = gauge_metric_name(quality.metric)
            if gauge in _QUALITY_BUILTINS:
                gate["builtin"] = _QUALITY_BUILTINS[gauge]
            else:
                gate["query"] = f"avg(avg_over_time({gauge}{{{_REVISION_SELECTOR}}}[{{{{interval}}}}]))"
            if quality.min is not None:
                gate["min"] = quality.min
            if quality.max is not None:
                gate["max"] = quality.max
            gates.append(gate)
    return gates


def _native_gate_query(objective: Objective, runtime: RuntimeEntry) -> str | None:
    """The candidate's bad fraction from the runtime's own metrics (errors incl. 4xx, or slower than
    the latency threshold); None when the runtime cannot measure it."""
    mapping = runtime.metrics
    assert mapping is not None
    window = "[{{interval}}]"
    if objective.type == AVAILABILITY:
        errors = mapping.client_and_server_errors
        if errors is None:
            return None
        requests = mapping.requests.promql(_REVISION_SELECTOR)
        return (
            f"sum(increase({errors.promql(_REVISION_SELECTOR)}{window})) / sum(increase({requests}{window}))"
        )
    hist = mapping.latency
    try:
        le = native_latency_le(objective, runtime)
    except SpecError:
        return None
    assert hist is not None
    below = hist.promql(f"{_REVISION_SELECTOR}, {le_matcher(le)}")
    every = hist.promql(f'{_REVISION_SELECTOR}, le="+Inf"')
    return f"1 - sum(increase({below}{window})) / sum(increase({every}{window}))"
