"""Judge gates, analyses and rollout steps (pure: samples + spec in, verdicts and decisions out).

Three layers:

* ``judge_gate``: one gate, candidate vs stable samples over the same window -> ``GateResult``.
* ``judge_analysis``: all gates of one interval -> overall ``Verdict``.
* ``update_counters`` + ``decide``: the sequence of analyses of one step -> ``Decision``
  (continue, proceed, rollback or pause) with a reason that names gate, value and bound.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from modelserve.analysis import stats
from modelserve.analysis.samples import HistogramSample, RateSample, Sample, ValueSample
from modelserve.analysis.verdict import DecisionAction, Verdict
from modelserve.api.gates import (
    KIND_HISTOGRAM,
    KIND_RATE,
    KIND_VALUE,
    LATENCY_QUANTILES,
    ON_ROLLBACK,
    AnalysisSpec,
    GateSpec,
)

#: One-sided p-value a failed analysis that does not act yet (a warning) needs: the data lean towards
#: a breach more than not. Only the failureLimit-th failure is tested at the gate's ``confidence``
#: (api/gates.py says why).
WARNING_ALPHA = 0.5
#: Without spec.rollout.analysis.maxDuration a step may run three times its duration (two extensions).
DEFAULT_MAX_DURATION_STEPS = 3
#: A step without a duration (one verdict, a blue-green preview) is judged as a step of this many
#: intervals: one interval of data rarely shows anything.
DEFAULT_STEP_INTERVALS = 5


# --- where an analysis sits in its step -----------------------------------------------------------------
@dataclass(frozen=True)
class Look:
    """Where one analysis sits in its step (see ``plan_look``).

    ``index``: the k-th analysis of the step (1-based), which sets the failing side's level.
    ``decisive``: a failure here would reach failureLimit and act, so it is tested at the gate's
    ``confidence``, spent over the looks at which a failure can act (``first_decisive``: failureLimit,
    the first look that can hold the failureLimit-th failure); otherwise a failure is a warning, tested
    at ``WARNING_ALPHA``.
    ``pass_check``: j when this analysis is the j-th pass check (the first analysis at or after the end
    of the step, of its first extension, ...), 0 when it is not one; ``pass_checks``: how many there
    can be before maxDuration. ``step_complete``: the step has run its duration; ``out_of_time``: it has
    run maxDuration, so a gate still not shown now is left to onInconclusive.
    """

    index: int = 1
    decisive: bool = True
    first_decisive: int = 1
    pass_check: int = 1
    pass_checks: int = 1
    step_complete: bool = True
    out_of_time: bool = False


def plan_look(
    index: int,
    elapsed_seconds: float,
    previous_elapsed_seconds: float | None,
    *,
    interval_seconds: float,
    step_seconds: float | None,
    max_duration_seconds: float | None,
) -> Look:
    """The ``Look`` of the ``index``-th analysis of a step, from the clock.

    In: seconds since the step's data window began, now and at the previous analysis of the step (None
    for the first); the analysis interval; the step's duration (None or 0: DEFAULT_STEP_INTERVALS
    intervals); ``spec.rollout.analysis.maxDuration`` (None: DEFAULT_MAX_DURATION_STEPS x the step).
    A step whose gates are still inconclusive at its end is extended by its own duration, as long as
    that stays within maxDuration (a maxDuration shorter than the step means no extension).
    """
    step = float(step_seconds) if step_seconds else DEFAULT_STEP_INTERVALS * float(interval_seconds)
    limit = max_duration_seconds if max_duration_seconds is not None else DEFAULT_MAX_DURATION_STEPS * step
    checks = max(1, math.floor(limit / step + 1e-9))
    # Analyses run about an interval apart, a little late or (5%) early: a boundary counts as reached
    # within a tenth of an interval.
    slack = 0.1 * float(interval_seconds)

    def reached(seconds: float | None) -> int:
        return 0 if seconds is None else min(checks, math.floor((seconds + slack) / step))

    now, before = reached(elapsed_seconds), reached(previous_elapsed_seconds)
    return Look(
        index=max(1, index),
        pass_check=now if now > before else 0,
        pass_checks=checks,
        step_complete=now >= 1,
        out_of_time=now >= checks,
    )


# --- gate results -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GateResult:
    """Outcome of one gate for one interval (maps onto status.analysisHistory[])."""

    gate: str
    verdict: Verdict
    value: float | None
    bound: str
    baseline_value: float | None
    samples: int
    message: str
    p_value: float | None = None

    def to_history_entry(self, time: str) -> dict[str, Any]:
        """``status.analysisHistory[]`` item; ``time`` is an RFC 3339 timestamp from the caller."""
        entry: dict[str, Any] = {
            "time": time,
            "gate": self.gate,
            "verdict": self.verdict.value,
            "bound": self.bound,
            "samples": int(self.samples),
            "message": self.message,
        }
        if self.value is not None and math.isfinite(self.value):
            entry["value"] = float(self.value)
        if self.baseline_value is not None and math.isfinite(self.baseline_value):
            entry["baseline"] = float(self.baseline_value)
        return entry


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "ms":
        return f"{value:.4g}ms"  # "612ms", not "6.12e+02ms"
    return f"{value:.3g}{unit}"


def _fmt_p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def gate_error(gate: GateSpec | str, message: str) -> GateResult:
    """Result for a gate whose measurement failed (query error, Prometheus unreachable...)."""
    name = gate if isinstance(gate, str) else gate.name
    return GateResult(name, Verdict.ERROR, None, _bounds_text(gate), None, 0, f"gate {name}: {message}")


def _bounds_text(gate: GateSpec | str) -> str:
    if isinstance(gate, str):
        return ""
    unit = "ms" if gate.kind == KIND_HISTOGRAM else ""
    parts = []
    if gate.min is not None:
        parts.append(f"min {_fmt(gate.min, unit)}")
    if gate.max is not None:
        parts.append(f"max {_fmt(gate.max, unit)}")
    if gate.max_milliseconds is not None:
        parts.append(f"max {_fmt(gate.max_milliseconds, 'ms')}")
    if gate.max_relative_to_stable is not None:
        parts.append(f"max {gate.max_relative_to_stable:g}x stable")
    return ", ".join(parts)


@dataclass(frozen=True)
class _Bound:
    """One bound of a gate, in the gate's value unit (ratio, ms, gauge)."""

    label: str  # e.g. "max 0.01", "max 500ms", "max 1.2x stable"
    limit: float
    upper: bool
    relative: bool

    def breached_by(self, value: float) -> bool:
        return value > self.limit if self.upper else value < self.limit

    @property
    def text(self) -> str:
        limit = f" ({_fmt(self.limit, 'ms' if 'ms' in self.label else '')})" if self.relative else ""
        return f"{'>' if self.upper else '<'} {self.label}{limit}"


@dataclass(frozen=True)
class _Evidence:
    """p-values of one bound: ``above`` that the candidate breaks it, ``below`` that it keeps it."""

    above: float
    below: float


def _measure(gate: GateSpec, sample: Sample) -> tuple[float, int]:
    """(value in the gate's unit, number of requests) of one sample."""
    if isinstance(sample, RateSample):
        return sample.rate, sample.total
    if isinstance(sample, HistogramSample):
        q = LATENCY_QUANTILES[gate.builtin or ""]
        return float(stats.histogram_quantile(q, sample.buckets)) * 1000.0, sample.samples
    return float(sample.value), int(sample.samples)


_EXPECTED = {KIND_RATE: RateSample, KIND_HISTOGRAM: HistogramSample, KIND_VALUE: ValueSample}


def _inconclusive(gate: GateSpec, value: float | None, base: float | None, n: int, why: str) -> GateResult:
    message = f"gate {gate.name}: {why}"
    return GateResult(gate.name, Verdict.INCONCLUSIVE, value, _bounds_text(gate), base, n, message)


def _gate_bounds(gate: GateSpec, base_value: float | None) -> tuple[list[_Bound], bool]:
    """The bounds that apply, and whether a relative bound was skipped for want of a stable baseline."""
    unit = "ms" if gate.kind == KIND_HISTOGRAM else ""
    upper_ms = gate.max_milliseconds if gate.kind == KIND_HISTOGRAM else None
    bounds = [
        _Bound(label, limit, upper, False)
        for limit, upper, label in (
            (gate.min, False, f"min {_fmt(gate.min, unit)}"),
            (gate.max, True, f"max {_fmt(gate.max, unit)}"),
            (upper_ms, True, f"max {_fmt(upper_ms, 'ms')}"),
        )
        if limit is not None
    ]
    skipped = False
    if gate.max_relative_to_stable is not None:
        if base_value is None:
            skipped = True
        else:
            label = f"max {gate.max_relative_to_stable:g}x stable"
            bounds.append(_Bound(label, gate.max_relative_to_stable * base_value, True, True))
    return bounds, skipped


def judge_gate(
    gate: GateSpec,
    candidate: Sample | None,
    baseline: Sample | None,
    *,
    min_sample_size: int = 100,
    look: Look | int = 1,
) -> GateResult:
    """Judge one gate for one interval.

    In: the gate, the candidate's sample and the stable baseline's sample over the same window
    (``None`` = the query worked but returned no series), and where this analysis sits in its step
    (``look``; an int is the analysis' index with a pass check, as for a step of one verdict). Out: a
    GateResult whose verdict is

    * Failed: a bound is broken by the point estimate AND, with ``gate.statistical``, the data show it:
      the candidate is significantly beyond the bound (and worse than stable, when there is one) at
      the look's failing level (``stats.alpha_for_look`` of ``gate.fail_confidence`` when the failure
      would act, ``look.decisive``; ``WARNING_ALPHA`` for a warning);
    * Passed: every bound holds AND, with ``gate.statistical``, the data show it: each tested bound is
      kept at the pass check's level (``stats.pass_alpha`` of ``gate.pass_confidence``). Analyses that
      are not pass checks cannot pass a tested bound;
    * Inconclusive: neither shown, or no candidate data, fewer than ``min_sample_size`` candidate
      requests, a NaN value, a relative-only gate without a stable baseline.

    Gauges and custom queries have no sampling model: their bounds are judged on the point estimate.
    Query failures are not judged here: build them with ``gate_error``.
    """
    look = look if isinstance(look, Look) else Look(index=look)
    if candidate is None:
        return _inconclusive(gate, None, None, 0, "no data for the candidate revision")
    expected = _EXPECTED[gate.kind]
    if not isinstance(candidate, expected) or (baseline is not None and not isinstance(baseline, expected)):
        return gate_error(gate, f"provider returned {type(candidate).__name__}, expected {expected.__name__}")

    value, n = _measure(gate, candidate)
    base_value: float | None = None
    if baseline is not None:
        bv, bn = _measure(gate, baseline)
        base_value = bv if bn > 0 and not math.isnan(bv) else None
    unit = "ms" if gate.kind == KIND_HISTOGRAM else ""
    if n < min_sample_size:
        return _inconclusive(
            gate,
            None if math.isnan(value) else value,
            base_value,
            n,
            f"only {n} requests < minSampleSize {min_sample_size}",
        )
    if math.isnan(value):
        return _inconclusive(gate, None, base_value, n, "no value (empty histogram or no requests)")
    bounds, skipped = _gate_bounds(gate, base_value)
    if skipped and not bounds:
        return _inconclusive(
            gate,
            value,
            None,
            n,
            f"{_fmt(value, unit)} but no stable baseline to compare with "
            f"(maxRelativeToStable {gate.max_relative_to_stable:g})",
        )
    tested = gate.statistical and gate.kind in (KIND_RATE, KIND_HISTOGRAM)
    evidence = {
        b: _evidence(gate, b, candidate, baseline if base_value is not None else None)
        for b in bounds
        if tested and b.upper
    }
    return _verdict(gate, look, value, base_value, n, bounds, evidence, skipped)


def _verdict(
    gate: GateSpec,
    look: Look,
    value: float,
    base_value: float | None,
    n: int,
    bounds: list[_Bound],
    evidence: Mapping[_Bound, _Evidence],
    skipped_relative: bool,
) -> GateResult:
    """Turn the bounds' evidence into Failed / Passed / Inconclusive with a message that names them."""
    unit = "ms" if gate.kind == KIND_HISTOGRAM else ""
    context = f"stable {_fmt(base_value, unit)}, " if base_value is not None else "no stable baseline, "
    pass_alpha = stats.pass_alpha(gate.pass_confidence, look.pass_check, look.pass_checks)

    def fail_alpha(bound: _Bound) -> float:
        if not look.decisive:
            return WARNING_ALPHA
        acting_look = look.index - look.first_decisive + 1
        return stats.alpha_for_look(gate.fail_confidence(bound.relative), acting_look)

    for bound in bounds:
        ev = evidence.get(bound)
        if bound.breached_by(value) and (ev is None or ev.above <= fail_alpha(bound)):
            ptext = f"p={_fmt_p(ev.above)}, " if ev is not None else ""
            return GateResult(
                gate.name,
                Verdict.FAILED,
                value,
                bound.label,
                base_value,
                n,
                f"gate {gate.name}: {_fmt(value, unit)} {bound.text} ({context}{ptext}n={n})",
                None if ev is None else ev.above,
            )
    unshown: list[tuple[_Bound, float, str]] = []
    for bound in bounds:
        ev = evidence.get(bound)
        if bound.breached_by(value):
            assert ev is not None  # an untested breach failed above
            unshown.append(
                (
                    bound,
                    ev.above,
                    f"{bound.text} but not significant (p={_fmt_p(ev.above)} > {_fmt_p(fail_alpha(bound))})",
                )
            )
        elif ev is not None and ev.below > pass_alpha:
            level = (
                f"p={_fmt_p(ev.below)} > {_fmt_p(pass_alpha)}"
                if pass_alpha > 0
                else "shown only at the end of the step or of an extension"
            )
            unshown.append((bound, ev.below, f"within {bound.label} but not shown yet ({level})"))
    if not unshown:
        note = "; relative bound skipped: no stable baseline" if skipped_relative else ""
        shown = [evidence[b].below for b in bounds if b in evidence]
        ptext = f"shown at p={_fmt_p(max(shown))}, " if shown else ""
        bounds_text = _bounds_text(gate)
        return GateResult(
            gate.name,
            Verdict.PASSED,
            value,
            bounds_text,
            base_value,
            n,
            f"gate {gate.name}: {_fmt(value, unit)} within {bounds_text} ({context}{ptext}n={n}){note}",
            max(shown) if shown else None,
        )
    bound, p, why = unshown[0]
    return GateResult(
        gate.name,
        Verdict.INCONCLUSIVE,
        value,
        bound.label,
        base_value,
        n,
        f"gate {gate.name}: {_fmt(value, unit)} {why} ({context}n={n})",
        p,
    )


def _dispersion(candidate: RateSample, baseline: RateSample | None) -> float:
    """Quasi-likelihood dispersion of the error counts from their per-interval counts (1 without them)."""
    series = [candidate.intervals] + ([baseline.intervals] if baseline is not None else [])
    x2, df = stats.pearson_dispersion(series)
    return stats.dispersion_factor(x2, df)


def _against(k: float, n: float, p0: float) -> _Evidence:
    """k events in n trials against a probability bound p0 (one sample)."""
    return _Evidence(stats.binomial_greater(k, n, p0), stats.binomial_less(k, n, p0))


def _compared(k_c: float, n_c: float, k_s: float, n_s: float, ratio: float) -> _Evidence:
    """Candidate's k_c of n_c against ``ratio`` x stable's k_s of n_s: given the k_c + k_s events, the
    candidate's share is binomial (the exact conditional test for two Poisson rates)."""
    share = stats.expected_share(n_c, n_s, ratio)
    return _against(k_c, k_c + k_s, share)


def _guarded(evidence: _Evidence, versus_stable: _Evidence | None) -> _Evidence:
    # A candidate no worse than stable is not failed, even when both break an absolute bound.
    if versus_stable is None:
        return evidence
    return _Evidence(max(evidence.above, versus_stable.above), evidence.below)


def _evidence(gate: GateSpec, bound: _Bound, candidate: Sample, baseline: Sample | None) -> _Evidence:
    """Both p-values of an upper bound on an error rate or a latency quantile."""
    if isinstance(candidate, RateSample):
        base = baseline if isinstance(baseline, RateSample) else None
        phi = _dispersion(candidate, base)
        # Effective counts: the information of counts whose variance is phi x the binomial one.
        x_c, n_c = candidate.errors / phi, candidate.total / phi
        if base is None:
            return _against(x_c, n_c, bound.limit)
        x_s, n_s = base.errors / phi, base.total / phi
        if bound.relative:
            return _compared(x_c, n_c, x_s, n_s, float(gate.max_relative_to_stable or 1.0))
        return _guarded(_against(x_c, n_c, bound.limit), _compared(x_c, n_c, x_s, n_s, 1.0))
    assert isinstance(candidate, HistogramSample)
    hist_base = baseline if isinstance(baseline, HistogramSample) and baseline.samples > 0 else None
    return _tail_evidence(LATENCY_QUANTILES[gate.builtin or ""], bound, candidate, hist_base)


def _tail_evidence(
    q: float, bound: _Bound, candidate: HistogramSample, baseline: HistogramSample | None
) -> _Evidence:
    """Tail test of a latency quantile: "the q-quantile is <= B" is "at most 1 - q of requests are slower
    than B". Absolute bound: the candidate's requests slower than B against 1 - q (binomial), guarded
    by stable's share slower than B. Relative bound r: B = r x stable's q-quantile, and the candidate's
    share slower than B is compared with stable's share slower than its own q-quantile (~1 - q), a
    two-sample test, so the noise of stable's quantile is accounted for. Unlike a rank test, this sees a
    regression confined to the tail (p99 +40% with an unchanged median)."""
    n_c = float(candidate.samples)
    k_c = stats.count_above(bound.limit / 1000.0, candidate.buckets)  # bounds are in ms
    if baseline is None:
        return _against(k_c, n_c, 1.0 - q)
    n_s = float(baseline.samples)
    if bound.relative:
        stable_q = stats.histogram_quantile(q, baseline.buckets)
        return _compared(k_c, n_c, stats.count_above(stable_q, baseline.buckets), n_s, 1.0)
    versus_stable = _compared(k_c, n_c, stats.count_above(bound.limit / 1000.0, baseline.buckets), n_s, 1.0)
    return _guarded(_against(k_c, n_c, 1.0 - q), versus_stable)


def judge_analysis(results: Sequence[GateResult]) -> Verdict:
    """Overall verdict of one interval: Failed if any gate failed, else Error if any errored, else
    Inconclusive if any was inconclusive (or there are no gates), else Passed."""
    verdicts = {r.verdict for r in results}
    if not results:
        return Verdict.INCONCLUSIVE
    for verdict in (Verdict.FAILED, Verdict.ERROR, Verdict.INCONCLUSIVE):
        if verdict in verdicts:
            return verdict
    return Verdict.PASSED


# --- counters and decisions --------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnalysisCounters:
    """Counters of one analysis step (maps onto status.rollout.{passed,failed,inconclusive,errors,
    consecutiveErrors}; ``consecutive_inconclusive`` is the current run of inconclusive analyses).

    ``passed``/``failed``/``inconclusive``/``errors`` are cumulative within the step's analysis and reset
    when the rollout moves to another step. ``consecutive_errors`` resets on any non-Error verdict;
    ``consecutive_inconclusive`` resets on Passed or Failed (an Error neither extends nor breaks it).
    """

    passed: int = 0
    failed: int = 0
    inconclusive: int = 0
    errors: int = 0
    consecutive_errors: int = 0
    consecutive_inconclusive: int = 0

    @classmethod
    def from_status(cls, rollout_status: Mapping[str, Any] | None) -> AnalysisCounters:
        s = rollout_status or {}
        return cls(
            int(s.get("passed", 0)),
            int(s.get("failed", 0)),
            int(s.get("inconclusive", 0)),
            int(s.get("errors", 0)),
            int(s.get("consecutiveErrors", 0)),
            int(s.get("consecutiveInconclusive", 0)),
        )

    def to_status(self) -> dict[str, int]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "inconclusive": self.inconclusive,
            "errors": self.errors,
            "consecutiveErrors": self.consecutive_errors,
            "consecutiveInconclusive": self.consecutive_inconclusive,
        }


def update_counters(counters: AnalysisCounters, verdict: Verdict) -> AnalysisCounters:
    """Counters after one more analysis with overall ``verdict``."""
    if verdict is Verdict.PASSED:
        return replace(counters, passed=counters.passed + 1, consecutive_errors=0, consecutive_inconclusive=0)
    if verdict is Verdict.FAILED:
        return replace(counters, failed=counters.failed + 1, consecutive_errors=0, consecutive_inconclusive=0)
    if verdict is Verdict.INCONCLUSIVE:
        return replace(
            counters,
            inconclusive=counters.inconclusive + 1,
            consecutive_errors=0,
            consecutive_inconclusive=counters.consecutive_inconclusive + 1,
        )
    return replace(counters, errors=counters.errors + 1, consecutive_errors=counters.consecutive_errors + 1)


@dataclass(frozen=True)
class Decision:
    """What to do after an analysis, and why (the reason names gate, value and bound)."""

    action: DecisionAction
    reason: str
    verdict: Verdict
    counters: AnalysisCounters = field(default_factory=AnalysisCounters)


def _action(setting: str) -> DecisionAction:
    return DecisionAction.ROLLBACK if setting == ON_ROLLBACK else DecisionAction.PAUSE


def _messages(results: Iterable[GateResult], verdict: Verdict) -> str:
    return "; ".join(r.message for r in results if r.verdict is verdict)


def decide(
    counters: AnalysisCounters,
    latest_overall: Verdict,
    spec: AnalysisSpec,
    results: Sequence[GateResult] = (),
    *,
    step_complete: bool = True,
    out_of_time: bool = False,
) -> Decision:
    """Decide after an analysis. ``counters`` must already include ``latest_overall``
    (see ``update_counters``); ``results`` are the latest gate results (used for the reason);
    ``step_complete`` says the step has run its duration, ``out_of_time`` that it has run maxDuration
    (see ``Look``).

    Order: failures (``failed >= failureLimit``) -> onFailure; ``consecutiveErrors >=
    consecutiveErrorLimit`` -> onError; latest Passed and step complete -> PROCEED; out of time ->
    onInconclusive; otherwise CONTINUE (an inconclusive step is extended). A limit of 0 acts like 1 (the
    first such analysis triggers the action). Only a Passed analysis can ever lead to PROCEED.
    """
    failure_limit = max(1, spec.failure_limit)
    if counters.failed >= failure_limit:
        detail = _messages(results, Verdict.FAILED) or f"latest analysis {latest_overall.value}"
        return Decision(
            _action(spec.on_failure),
            f"analysis failed {counters.failed} time(s) (failureLimit {spec.failure_limit}): {detail}",
            latest_overall,
            counters,
        )
    error_limit = max(1, spec.consecutive_error_limit)
    if counters.consecutive_errors >= error_limit:
        detail = _messages(results, Verdict.ERROR) or "metrics unavailable"
        return Decision(
            _action(spec.on_error),
            f"{counters.consecutive_errors} consecutive analysis error(s) (consecutiveErrorLimit "
            f"{spec.consecutive_error_limit}): {detail}",
            latest_overall,
            counters,
        )
    if latest_overall is Verdict.PASSED and step_complete:
        detail = _messages(results, Verdict.PASSED) or "all gates passed"
        return Decision(DecisionAction.PROCEED, f"analysis passed: {detail}", latest_overall, counters)
    unresolved = "; ".join(r.message for r in results if r.verdict is not Verdict.PASSED)
    if out_of_time:
        detail = unresolved or "not enough evidence"
        return Decision(
            _action(spec.on_inconclusive),
            f"analysis still {latest_overall.value} at the step's maxDuration: {detail}",
            latest_overall,
            counters,
        )
    return Decision(
        DecisionAction.CONTINUE,
        f"analysis {latest_overall.value}; measuring again" + (f": {unresolved}" if unresolved else ""),
        latest_overall,
        counters,
    )


def analyse_interval(
    gates: Sequence[GateSpec],
    samples: Mapping[str, tuple[Sample | None, Sample | None] | BaseException | str],
    counters: AnalysisCounters,
    spec: AnalysisSpec,
    *,
    look: Look | None = None,
) -> tuple[list[GateResult], Decision]:
    """Judge every gate from ``samples[gate.name]`` -- a ``(candidate, baseline)`` pair, or an exception /
    error string for a failed measurement -- then update counters and decide. ``look`` defaults to the
    next analysis by the counters, as a pass check of a complete step of one verdict."""
    if look is None:
        look = Look(index=counters.passed + counters.failed + counters.inconclusive + counters.errors + 1)
    # Only the failure that reaches failureLimit acts; it alone needs the gate's full confidence.
    limit = max(1, spec.failure_limit)
    look = replace(look, decisive=counters.failed + 1 >= limit, first_decisive=limit)
    results: list[GateResult] = []
    for gate in gates:
        entry = samples.get(gate.name)
        if isinstance(entry, BaseException | str):
            results.append(gate_error(gate, f"query failed: {entry}"))
        else:
            candidate, baseline = entry if entry is not None else (None, None)
            results.append(
                judge_gate(gate, candidate, baseline, min_sample_size=spec.min_sample_size, look=look)
            )
    overall = judge_analysis(results)
    new_counters = update_counters(counters, overall)
    return results, decide(
        new_counters, overall, spec, results, step_complete=look.step_complete, out_of_time=look.out_of_time
    )


__all__ = [
    "KIND_VALUE",
    "AnalysisCounters",
    "AnalysisSpec",
    "Decision",
    "GateResult",
    "GateSpec",
    "Look",
    "analyse_interval",
    "decide",
    "gate_error",
    "judge_analysis",
    "judge_gate",
    "plan_look",
    "update_counters",
]
