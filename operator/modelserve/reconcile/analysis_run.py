"""Run the canary analysis against Prometheus when the rollout machine says it is due (I/O).

The judge itself is pure (modelserve.analysis); this module fetches samples, updates the counters
kept in status.rollout, and hands the rollout machine an AnalysisOutcome.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from modelserve.analysis import (
    AnalysisCounters,
    AnalysisSpec,
    DecisionAction,
    GateSpec,
    Look,
    QueryTarget,
    analyse_interval,
    judge_analysis,
    plan_look,
    update_counters,
)
from modelserve.analysis.contract import MetricPreset, get_preset
from modelserve.analysis.providers import fetch_samples
from modelserve.analysis.providers.prometheus import PrometheusProvider
from modelserve.analysis.samples import Sample
from modelserve.api.conditions import rfc3339
from modelserve.observability.metrics import ANALYSIS_VERDICTS
from modelserve.planner.modeldeployment import AnalysisRun
from modelserve.rollout.machine import AnalysisOutcome, analysis_window_start, step_duration_seconds
from modelserve.rollout.spec import RolloutSpec, rollout_spec_from_api
from modelserve.rollout.state import RolloutState

log = logging.getLogger(__name__)

_DECISIONS = {
    DecisionAction.CONTINUE: "continue",
    DecisionAction.PROCEED: "proceed",
    DecisionAction.ROLLBACK: "rollback",
    DecisionAction.PAUSE: "pause",
}


def analysis_due(rspec: RolloutSpec, state: RolloutState, now: datetime) -> datetime | None:
    """The start of the window to judge when an analysis should run now, else None.

    Due when the machine says the candidate is exposed, a full interval of data exists since the
    window start, and the last analysis is at least one interval old.
    """
    start = analysis_window_start(rspec, state)
    if start is None:
        return None
    interval = rspec.analysis_interval_seconds
    if (now - start).total_seconds() < interval:
        return None
    if (
        state.last_analysis_at is not None
        and (now - state.last_analysis_at).total_seconds() < interval * 0.95
    ):
        return None
    return start


def analysis_look(
    aspec: AnalysisSpec,
    rspec: RolloutSpec,
    state: RolloutState,
    counters: AnalysisCounters,
    window_start: datetime,
    now: datetime,
) -> Look:
    """Where this analysis sits in its step, from the clock and the previous analysis (``plan_look``)."""
    previous = state.last_analysis_at
    in_step = previous is not None and previous > window_start
    return plan_look(
        counters.passed + counters.failed + counters.inconclusive + counters.errors + 1,
        (now - window_start).total_seconds(),
        (previous - window_start).total_seconds() if previous is not None and in_step else None,
        interval_seconds=aspec.interval_seconds,
        step_seconds=step_duration_seconds(rspec, state),
        max_duration_seconds=aspec.max_duration_seconds,
    )


def run_analysis(
    prometheus_url: str | None,
    namespace: str,
    name: str,
    rollout: dict,
    extra_gates: tuple[dict, ...],
    state: RolloutState,
    old_rollout_status: dict,
    window_start: datetime,
    now: datetime,
    rspec: RolloutSpec | None = None,
    runtime_preset: MetricPreset | None = None,
) -> AnalysisRun:
    """Measure every gate over [window_start, now], judge, update counters, decide.

    ``rspec`` (parsed from ``rollout`` when not given) says how long the current step runs, hence
    whether this analysis may pass it, extend it or leave it to onInconclusive (``analysis_look``).
    ``runtime_preset``: the model's runtime's metrics (analysis.contract.preset_for_runtime), used when
    metricPreset is the default ``modelserve``; an explicit ``istio`` or runtime name wins.
    """
    aspec = AnalysisSpec.from_mapping(rollout.get("analysis") or {})
    gates = list(aspec.gates) + [
        GateSpec.from_mapping(g) for g in extra_gates if g.get("name") not in {x.name for x in aspec.gates}
    ]
    counters = AnalysisCounters.from_status(old_rollout_status)
    window = max(aspec.interval_seconds, (now - window_start).total_seconds())
    if rspec is None:
        rspec = rollout_spec_from_api(rollout, spec_revision="", weight_approximate=False)
    look = analysis_look(aspec, rspec, state, counters, window_start, now)
    url = (rollout.get("analysis") or {}).get("provider", {}).get("address") or prometheus_url
    assert state.candidate_revision is not None
    target = QueryTarget(namespace, name, state.candidate_revision, state.stable_revision)
    samples: Mapping[str, tuple[Sample | None, Sample | None] | BaseException | str]
    if not url:
        missing = "no Prometheus configured (--prometheus-url or analysis.provider.address)"
        samples = {g.name: missing for g in gates}
    else:
        preset = get_preset(aspec.metric_preset)
        if aspec.metric_preset == "modelserve" and runtime_preset is not None:
            preset = runtime_preset
        provider = PrometheusProvider(url, preset)
        samples = fetch_samples(provider, gates, target, window, interval_seconds=aspec.interval_seconds)
    # The judging path the canary benchmark measures (analysis.judge.analyse_interval).
    results, decision = analyse_interval(gates, samples, counters, aspec, look=look)
    overall = judge_analysis(results)
    counters = update_counters(counters, overall)
    for r in results:
        ANALYSIS_VERDICTS.labels(namespace, name, r.gate, r.verdict.value).inc()
    when = rfc3339(now)
    log.info(
        "analysis of %s/%s revision %s: %s -> %s (%s)",
        namespace,
        name,
        target.revision,
        overall.value,
        decision.action.value,
        decision.reason,
    )
    return AnalysisRun(
        outcome=AnalysisOutcome(
            decision=_DECISIONS[decision.action], reason=decision.reason, window_start=window_start
        ),
        counters=counters.to_status(),
        history=tuple(r.to_history_entry(when) for r in results),
    )
