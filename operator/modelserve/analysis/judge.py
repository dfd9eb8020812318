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
from modelserve.analysis.contract import (
    BUILTINS,
    KIND_HISTOGRAM,
    KIND_RATE,
    KIND_VALUE,
    LATENCY_QUANTILES,
    PRESETS,
    gate_kind,
    parse_duration,
    validate_query_template,
)
from modelserve.analysis.samples import HistogramSample, RateSample, Sample, ValueSample
from modelserve.analysis.verdict import DecisionAction, Verdict

ON_ROLLBACK = "rollback"
ON_PAUSE = "pause"
_GATES_PATH = "spec.rollout.analysis.gates"


# --- specs (mirror spec.rollout.analysis of api.md) --------------------------------------------------
@dataclass(frozen=True)
class GateSpec:
    """One quality gate (``spec.rollout.analysis.gates[]``); exactly one of builtin/query."""

    name: str
    builtin: str | None = None
    query: str | None = None
    min: float | None = None
    max: float | None = None
    max_milliseconds: float | None = None
    max_relative_to_stable: float | None = None
    statistical: bool = True
    confidence: float = 0.95

    @property
    def kind(self) -> str:
        return gate_kind(self)

    def validate(self) -> None:
        """Raise ValueError naming the field path when the gate breaks the API's rules."""
        path = f"{_GATES_PATH}[{self.name}]"
        if (self.builtin is None) == (self.query is None):
            raise ValueError(f"{path}: exactly one of builtin or query must be set")
        if self.builtin is not None and self.builtin not in BUILTINS:
            raise ValueError(f"{path}.builtin: unknown builtin {self.builtin!r} (known: {sorted(BUILTINS)})")
        if self.query is not None:
            validate_query_template(self.query, self.name)
        if all(b is None for b in (self.min, self.max, self.max_milliseconds, self.max_relative_to_stable)):
            raise ValueError(f"{path}: set at least one of min, max, maxMilliseconds, maxRelativeToStable")
        if self.max_milliseconds is not None and self.builtin not in LATENCY_QUANTILES:
            raise ValueError(f"{path}.maxMilliseconds: only latency builtins (latencyP50..P99) have one")
        if self.max_relative_to_stable is not None and self.max_relative_to_stable <= 0:
            raise ValueError(f"{path}.maxRelativeToStable: must be > 0")
        if not 0.5 <= self.confidence <= 0.9999:
            raise ValueError(f"{path}.confidence: must be within 0.5..0.9999")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> GateSpec:
        """Build from the CRD's camelCase dict and validate."""

        def num(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        gate = cls(
            name=str(data.get("name", "")),
            builtin=data.get("builtin"),
            query=data.get("query"),
            min=num("min"),
            max=num("max"),
            max_milliseconds=num("maxMilliseconds"),
            max_relative_to_stable=num("maxRelativeToStable"),
            statistical=bool(data.get("statistical", True)),
            confidence=float(data.get("confidence", 0.95)),
        )
        gate.validate()
        return gate


@dataclass(frozen=True)
class AnalysisSpec:
    """``spec.rollout.analysis`` with the API's defaults; durations in seconds."""

    interval_seconds: float = 60.0
    failure_limit: int = 2
    inconclusive_limit: int = 5
    consecutive_error_limit: int = 4
    min_sample_size: int = 100
    on_failure: str = ON_ROLLBACK
    on_inconclusive: str = ON_PAUSE
    on_error: str = ON_PAUSE
    metric_preset: str = "modelserve"
    provider_address: str | None = None
    gates: tuple[GateSpec, ...] = ()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> AnalysisSpec:
        """Build from the CRD's camelCase dict (``spec.rollout.analysis``), applying defaults."""
        data = data or {}
        path = "spec.rollout.analysis"
        for key, allowed in (
            ("onFailure", (ON_ROLLBACK, ON_PAUSE)),
            ("onInconclusive", (ON_ROLLBACK, ON_PAUSE)),
            ("onError", (ON_ROLLBACK, ON_PAUSE)),
        ):
            if key in data and data[key] not in allowed:
                raise ValueError(f"{path}.{key}: must be one of {allowed}, got {data[key]!r}")
        preset = data.get("metricPreset", "modelserve")
        if preset not in PRESETS:
            raise ValueError(f"{path}.metricPreset: unknown preset {preset!r}")
        gates = tuple(GateSpec.from_mapping(g) for g in data.get("gates") or ())
        names = [g.name for g in gates]
        if len(set(names)) != len(names):
            raise ValueError(f"{path}.gates: gate names must be unique, got {names}")
        provider = data.get("provider") or {}
        return cls(
            interval_seconds=parse_duration(data.get("interval", "1m"), f"{path}.interval"),
            failure_limit=int(data.get("failureLimit", 2)),
            inconclusive_limit=int(data.get("inconclusiveLimit", 5)),
            consecutive_error_limit=int(data.get("consecutiveErrorLimit", 4)),
            min_sample_size=int(data.get("minSampleSize", 100)),
            on_failure=data.get("onFailure", ON_ROLLBACK),
            on_inconclusive=data.get("onInconclusive", ON_PAUSE),
            on_error=data.get("onError", ON_PAUSE),
            metric_preset=preset,
            provider_address=provider.get("address"),
            gates=gates,
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
class _Breach:
    text: str  # e.g. "> max 0.01"
    bound: str  # e.g. "max 0.01"
    limit: float  # in the gate's value unit (ratio, ms, gauge)
    upper: bool
    relative: bool


def _measure(gate: GateSpec, sample: Sample) -> tuple[float, int]:
    """(value in the gate's unit, number of requests) of one sample."""
    if isinstance(sample, RateSample):
        return sample.rate, sample.total
    if isinstance(sample, HistogramSample):
        q = LATENCY_QUANTILES[gate.builtin or ""]
        return float(stats.histogram_quantile(q, sample.buckets)) * 1000.0, sample.samples
    return float(sample.value), int(sample.samples)


_EXPECTED = {KIND_RATE: RateSample, KIND_HISTOGRAM: HistogramSample, KIND_VALUE: ValueSample}


def judge_gate(
    gate: GateSpec,
    candidate: Sample | None,
    baseline: Sample | None,
    *,
    min_sample_size: int = 100,
    look: int = 1,
) -> GateResult:
    """Judge one gate for one interval.

    In: the gate, the candidate's sample and the stable baseline's sample over the same window
    (``None`` = the query worked but returned no series). Out: a GateResult whose verdict is

    * Inconclusive: no candidate data, fewer than ``min_sample_size`` candidate requests, a NaN value,
      a relative bound without a stable baseline, or a bound exceeded by the point estimate without
      statistical significance (when ``gate.statistical``);
    * Failed: a bound exceeded by the point estimate AND (if ``gate.statistical`` and a test applies)
      the candidate significantly worse at ``gate.confidence``;
    * Passed: every bound respected.

    ``look`` is the 1-based index of this analysis within the step: the significance level is spent
    across looks (``stats.alpha_for_look``) because each look re-tests the growing window.

    Query failures are not judged here: build them with ``gate_error``.
    """
    kind = gate.kind
    bounds = _bounds_text(gate)
    if candidate is None:
        return GateResult(
            gate.name,
            Verdict.INCONCLUSIVE,
            None,
            bounds,
            None,
            0,
            f"gate {gate.name}: no data for the candidate revision",
        )
    expected = _EXPECTED[kind]
    if not isinstance(candidate, expected) or (baseline is not None and not isinstance(baseline, expected)):
        return gate_error(gate, f"provider returned {type(candidate).__name__}, expected {expected.__name__}")

    value, n = _measure(gate, candidate)
    base_value: float | None = None
    if baseline is not None:
        bv, bn = _measure(gate, baseline)
        base_value = bv if bn > 0 and not math.isnan(bv) else None
    unit = "ms" if kind == KIND_HISTOGRAM else ""
    context_base = f"stable {_fmt(base_value, unit)}, " if base_value is not None else "no stable baseline, "

    if n < min_sample_size:
        return GateResult(
            gate.name,
            Verdict.INCONCLUSIVE,
            None if math.isnan(value) else value,
            bounds,
            base_value,
            n,
            f"gate {gate.name}: only {n} requests < minSampleSize {min_sample_size}",
        )
    if math.isnan(value):
        return GateResult(
            gate.name,
            Verdict.INCONCLUSIVE,
            None,
            bounds,
            base_value,
            n,
            f"gate {gate.name}: no value (empty histogram or no requests)",
        )

    breaches: list[_Breach] = []
    skipped_relative = False
    upper_ms = gate.max_milliseconds if kind == KIND_HISTOGRAM else None
    for limit, is_upper, label in (
        (gate.min, False, f"min {_fmt(gate.min, unit)}"),
        (gate.max, True, f"max {_fmt(gate.max, unit)}"),
        (upper_ms, True, f"max {_fmt(upper_ms, 'ms')}"),
    ):
        if limit is None:
            continue
        if (is_upper and value > limit) or (not is_upper and value < limit):
            breaches.append(_Breach(f"{'>' if is_upper else '<'} {label}", label, limit, is_upper, False))
    if gate.max_relative_to_stable is not None:
        if base_value is None:
            skipped_relative = True
        else:
            limit = gate.max_relative_to_stable * base_value
            label = f"max {gate.max_relative_to_stable:g}x stable"
            if value > limit:
                breaches.append(_Breach(f"> {label} ({_fmt(limit, unit)})", label, limit, True, True))

    only_relative = all(
        b is None for b in (gate.min, gate.max, gate.max_milliseconds if kind == KIND_HISTOGRAM else None)
    )
    if skipped_relative and only_relative:
        return GateResult(
            gate.name,
            Verdict.INCONCLUSIVE,
            value,
            bounds,
            None,
            n,
            f"gate {gate.name}: {_fmt(value, unit)} but no stable baseline to compare "
            f"with (maxRelativeToStable {gate.max_relative_to_stable:g})",
        )

    if not breaches:
        note = "; relative bound skipped: no stable baseline" if skipped_relative else ""
        return GateResult(
            gate.name,
            Verdict.PASSED,
            value,
            bounds,
            base_value,
            n,
            f"gate {gate.name}: {_fmt(value, unit)} within {bounds} ({context_base}n={n}){note}",
        )

    # A bound is exceeded by the point estimate. With statistical=true an upper bound on error rate or
    # latency only fails when the candidate is also significantly worse than stable (or than the bound
    # itself when there is no stable baseline): at low traffic a few unlucky requests push the point
    # estimate over the bound long before there is evidence, and rolling back then is a false alarm.
    alpha = stats.alpha_for_look(gate.confidence, look)
    tested: list[tuple[_Breach, float]] = []
    for breach in breaches:
        p = (
            _p_value(gate, breach, candidate, baseline if base_value is not None else None)
            if gate.statistical and breach.upper
            else None
        )
        if p is None or p <= alpha:
            ptext = f"p={_fmt_p(p)}, " if p is not None else ""
            return GateResult(
                gate.name,
                Verdict.FAILED,
                value,
                breach.bound,
                base_value,
                n,
                f"gate {gate.name}: {_fmt(value, unit)} {breach.text} ({context_base}{ptext}n={n})",
                p,
            )
        tested.append((breach, p))
    breach, p = min(tested, key=lambda item: item[1])
    return GateResult(
        gate.name,
        Verdict.INCONCLUSIVE,
        value,
        breach.bound,
        base_value,
        n,
        f"gate {gate.name}: {_fmt(value, unit)} {breach.text} but not significant "
        f"({context_base}p={_fmt_p(p)} > {_fmt_p(alpha)}, n={n})",
        p,
    )


def _p_value(gate: GateSpec, breach: _Breach, candidate: Sample, baseline: Sample | None) -> float | None:
    """p-value that the candidate is worse; None when no test applies (gauges, custom queries)."""
    if isinstance(candidate, RateSample):
        if isinstance(baseline, RateSample) and breach.relative:
            return stats.rate_ratio_p_value(
                candidate.errors,
                candidate.total,
                baseline.errors,
                baseline.total,
                float(gate.max_relative_to_stable or 1.0),
            )
        if isinstance(baseline, RateSample):
            return stats.error_rate_p_value(
                candidate.errors, candidate.total, baseline.errors, baseline.total
            )
        if breach.relative:
            return None
        return stats.binomial_excess_p_value(candidate.errors, candidate.total, float(breach.limit))
    if isinstance(candidate, HistogramSample):
        if isinstance(baseline, HistogramSample):
            les, cum_c, cum_b = stats.align_histograms(candidate.buckets, baseline.buckets)
            if les:
                return stats.mann_whitney_binned_p_value(
                    stats.bucket_counts(cum_c), stats.bucket_counts(cum_b)
                )
        if breach.relative:
            return None
        # No baseline: binomial test that more than (1 - q) of requests are slower than the bound.
        q = LATENCY_QUANTILES[gate.builtin or ""]
        slower = round(stats.count_above(breach.limit / 1000.0, candidate.buckets))
        return stats.binomial_excess_p_value(slower, candidate.samples, 1.0 - q)
    return None


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
) -> Decision:
    """Decide after an analysis. ``counters`` must already include ``latest_overall``
    (see ``update_counters``); ``results`` are the latest gate results (used for the reason);
    ``step_complete`` says the analysis step has run its duration.

    Order: failures (``failed >= failureLimit``) -> onFailure; ``consecutiveErrors >=
    consecutiveErrorLimit`` -> onError; ``consecutiveInconclusive >= inconclusiveLimit`` -> onInconclusive;
    latest Passed and step complete -> PROCEED; otherwise CONTINUE. A limit of 0 acts like 1 (the first
    such analysis triggers the action). Only a Passed analysis can ever lead to PROCEED.
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
    inconclusive_limit = max(1, spec.inconclusive_limit)
    if counters.consecutive_inconclusive >= inconclusive_limit:
        detail = _messages(results, Verdict.INCONCLUSIVE) or "not enough evidence"
        return Decision(
            _action(spec.on_inconclusive),
            f"{counters.consecutive_inconclusive} inconclusive analyses in a row (inconclusiveLimit "
            f"{spec.inconclusive_limit}): {detail}",
            latest_overall,
            counters,
        )
    if latest_overall is Verdict.PASSED and step_complete:
        detail = _messages(results, Verdict.PASSED) or "all gates passed"
        return Decision(DecisionAction.PROCEED, f"analysis passed: {detail}", latest_overall, counters)
    detail = "; ".join(r.message for r in results if r.verdict is not Verdict.PASSED)
    return Decision(
        DecisionAction.CONTINUE,
        f"analysis {latest_overall.value}; measuring again" + (f": {detail}" if detail else ""),
        latest_overall,
        counters,
    )


def analyse_interval(
    gates: Sequence[GateSpec],
    samples: Mapping[str, tuple[Sample | None, Sample | None] | BaseException | str],
    counters: AnalysisCounters,
    spec: AnalysisSpec,
    *,
    step_complete: bool = True,
) -> tuple[list[GateResult], Decision]:
    """Convenience: judge every gate from ``samples[gate.name]`` -- a ``(candidate, baseline)`` pair, or an
    exception / error string for a failed measurement -- then update counters and decide."""
    look = counters.passed + counters.failed + counters.inconclusive + counters.errors + 1
    results: list[GateResult] = []
    for gate in gates:
        entry = samples.get(gate.name)
        if isinstance(entry, BaseException | str):
            results.append(gate_error(gate, f"query failed: {entry}"))
        elif entry is None:
            results.append(judge_gate(gate, None, None, min_sample_size=spec.min_sample_size, look=look))
        else:
            results.append(
                judge_gate(gate, entry[0], entry[1], min_sample_size=spec.min_sample_size, look=look)
            )
    overall = judge_analysis(results)
    new_counters = update_counters(counters, overall)
    return results, decide(new_counters, overall, spec, results, step_complete=step_complete)


__all__ = [
    "KIND_VALUE",
    "AnalysisCounters",
    "AnalysisSpec",
    "Decision",
    "GateResult",
    "GateSpec",
    "analyse_interval",
    "decide",
    "gate_error",
    "judge_analysis",
    "judge_gate",
    "update_counters",
]
