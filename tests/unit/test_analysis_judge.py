"""Unit tests for modelserve.analysis.judge / stats (pure, no Prometheus)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelserve.analysis import stats
from modelserve.analysis.judge import (
    AnalysisCounters,
    analyse_interval,
    decide,
    gate_error,
    judge_analysis,
    judge_gate,
    update_counters,
)
from modelserve.analysis.samples import HistogramSample, RateSample, ValueSample
from modelserve.analysis.verdict import DecisionAction, Verdict
from modelserve.api.gates import AnalysisSpec, GateSpec

ERR = GateSpec("error-rate", builtin="errorRate", max=0.01)
REL = GateSpec("error-rate", builtin="errorRate", max_relative_to_stable=2.0)
P99 = GateSpec("latency-p99", builtin="latencyP99", max_milliseconds=500)
ACC = GateSpec("accuracy", builtin="accuracy", min=0.9)
STABLE = RateSample(27, 5400)  # 0.5%


def hist(*pairs: tuple[float, float]) -> HistogramSample:
    return HistogramSample(tuple(pairs))


FAST = hist((0.1, 4000), (0.25, 5200), (0.5, 5380), (1.0, 5400), (math.inf, 5400))
SLOW = hist((0.1, 50), (0.25, 200), (0.5, 450), (1.0, 580), (math.inf, 600))


# --- error rate -----------------------------------------------------------------------------------
def test_error_rate_passes_only_when_the_data_show_it() -> None:
    # 30 errors in 6,000 requests: the 99.5% upper bound of the rate (~0.77%) is inside max 1%.
    result = judge_gate(ERR, RateSample(30, 6000), RateSample(270, 54000))
    assert result.verdict is Verdict.PASSED
    assert result.value == pytest.approx(0.005)
    assert result.baseline_value == pytest.approx(0.005)
    assert result.samples == 6000
    # The same rate over 600 requests is within the bound, but 600 requests cannot show it.
    unshown = judge_gate(ERR, RateSample(3, 600), STABLE)
    assert unshown.verdict is Verdict.INCONCLUSIVE
    assert "within max 0.01 but not shown yet" in unshown.message


def test_error_rate_without_statistics_passes_on_the_point_estimate() -> None:
    gate = GateSpec("error-rate", builtin="errorRate", max=0.01, statistical=False)
    assert judge_gate(gate, RateSample(3, 600), STABLE).verdict is Verdict.PASSED


def test_error_rate_fails_absolute_and_significant() -> None:
    result = judge_gate(ERR, RateSample(31, 600), STABLE)
    assert result.verdict is Verdict.FAILED
    assert result.bound == "max 0.01"
    assert result.p_value is not None and result.p_value < 1e-6
    assert result.message.startswith("gate error-rate: 0.0517 > max 0.01 (stable 0.005, p=")
    assert result.message.endswith("n=600)")


def test_error_rate_over_bound_but_not_significant_is_inconclusive() -> None:
    # 2 errors in 120 requests is 1.7% > 1%, but stable has 0.5% and that is well within noise.
    result = judge_gate(ERR, RateSample(2, 120), STABLE)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "not significant" in result.message


def test_error_rate_over_bound_without_statistics_fails() -> None:
    gate = GateSpec("error-rate", builtin="errorRate", max=0.01, statistical=False)
    assert judge_gate(gate, RateSample(2, 120), STABLE).verdict is Verdict.FAILED


def test_relative_bound_fails_and_passes() -> None:
    assert judge_gate(REL, RateSample(40, 1000), RateSample(50, 10000)).verdict is Verdict.FAILED
    assert judge_gate(REL, RateSample(60, 10000), RateSample(500, 100000)).verdict is Verdict.PASSED
    # Same ratio, a tenth of the data: not shown.
    assert judge_gate(REL, RateSample(6, 1000), RateSample(50, 10000)).verdict is Verdict.INCONCLUSIVE


def test_relative_bound_is_tested_against_the_bound_not_equality() -> None:
    # 1.6x stable with lots of data: significantly worse than stable, but not significantly above 1.5x.
    gate = GateSpec("error-rate", builtin="errorRate", max_relative_to_stable=1.5)
    result = judge_gate(gate, RateSample(160, 20000), RateSample(500, 100000))
    assert stats.binomial_greater(160, 660, stats.expected_share(20000, 100000, 1.0)) < 0.01
    assert result.verdict is Verdict.INCONCLUSIVE


def test_relative_bound_without_baseline_is_inconclusive() -> None:
    result = judge_gate(REL, RateSample(10, 600), None)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "no stable baseline" in result.message


def test_absolute_bound_without_baseline_tests_against_the_bound() -> None:
    assert judge_gate(ERR, RateSample(30, 600), None).verdict is Verdict.FAILED
    assert judge_gate(ERR, RateSample(8, 600), None).verdict is Verdict.INCONCLUSIVE


def test_too_few_samples_is_inconclusive_even_if_terrible() -> None:
    result = judge_gate(ERR, RateSample(50, 99), STABLE, min_sample_size=100)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "only 99 requests < minSampleSize 100" in result.message


def test_no_data_is_inconclusive_and_error_is_error() -> None:
    assert judge_gate(ERR, None, STABLE).verdict is Verdict.INCONCLUSIVE
    err = gate_error(ERR, "query failed: connection refused")
    assert err.verdict is Verdict.ERROR
    assert "connection refused" in err.message


def test_wrong_sample_kind_is_error() -> None:
    assert judge_gate(ERR, ValueSample(0.1, 1000), None).verdict is Verdict.ERROR


def test_later_looks_need_stronger_evidence() -> None:
    # 21 errors in 1,200 against max 1%: p = P(Bin(1200, 0.01) >= 21) ~ 0.011, between the acting levels
    # of look 1 (0.0175 / zeta(3) = 0.0146) and look 2 (0.0146 / 8 = 0.0018).
    from scipy.stats import binom

    assert 0.0018 < binom.sf(20, 1200, 0.01) < 0.0146
    assert judge_gate(ERR, RateSample(21, 1200), STABLE, look=1).verdict is Verdict.FAILED
    assert judge_gate(ERR, RateSample(21, 1200), STABLE, look=2).verdict is Verdict.INCONCLUSIVE


# --- latency ---------------------------------------------------------------------------------------
def test_latency_fails_on_quantile_and_distribution_shift() -> None:
    result = judge_gate(P99, SLOW, FAST)
    assert result.verdict is Verdict.FAILED
    assert result.value == pytest.approx(1000.0)  # rank in +Inf bucket -> last finite bound
    assert result.bound == "max 500ms"


def test_latency_passes() -> None:
    assert judge_gate(P99, FAST, FAST).verdict is Verdict.PASSED


def test_latency_over_bound_with_same_distribution_is_inconclusive() -> None:
    same = hist((0.1, 300), (0.25, 500), (0.5, 590), (1.0, 600), (math.inf, 600))
    assert judge_gate(P99, same, same).verdict is Verdict.INCONCLUSIVE


# --- gauges ------------------------------------------------------------------------------------------
def test_gauge_min_bound() -> None:
    assert judge_gate(ACC, ValueSample(0.95, 500), ValueSample(0.94, 5000)).verdict is Verdict.PASSED
    failed = judge_gate(ACC, ValueSample(0.85, 500), ValueSample(0.94, 5000))
    assert failed.verdict is Verdict.FAILED
    assert "< min 0.9" in failed.message


# --- stats -------------------------------------------------------------------------------------------
def test_histogram_quantile_matches_promql_interpolation() -> None:
    buckets = [(0.1, 10), (0.2, 30), (0.4, 40), (math.inf, 40)]
    assert stats.histogram_quantile(0.5, buckets) == pytest.approx(0.15)  # rank 20 halfway in (0.1, 0.2]
    assert stats.histogram_quantile(0.25, buckets) == pytest.approx(0.1)
    assert stats.histogram_quantile(0.1, buckets) == pytest.approx(0.04)  # first bucket starts at 0
    assert stats.histogram_quantile(1.0, buckets) == pytest.approx(0.4)
    assert math.isnan(stats.histogram_quantile(0.5, [(0.1, 0), (math.inf, 0)]))
    assert math.isnan(stats.histogram_quantile(0.5, [(0.1, 5)]))  # no +Inf bucket
    assert stats.histogram_quantile(0.99, [(0.1, 1), (math.inf, 100)]) == 0.1  # in +Inf bucket


def test_conditional_rate_test_matches_scipy() -> None:
    from scipy.stats import binomtest

    # Given the errors of both revisions, the candidate's share is binomial: n_c r / (n_c r + n_s).
    for a, n, b, m, r in [(8, 600, 27, 5400, 1.0), (3, 60, 5, 540, 1.5), (20, 100, 10, 100, 2.0)]:
        share = stats.expected_share(n, m, r)
        assert share == pytest.approx(n * r / (n * r + m))
        expected = binomtest(a, a + b, share, alternative="greater").pvalue
        assert stats.binomial_greater(a, a + b, share) == pytest.approx(expected, rel=1e-9)


def test_mann_whitney_binned_matches_scipy_on_tied_data() -> None:
    from scipy.stats import mannwhitneyu

    a_counts, b_counts = [1, 3, 5, 2], [4, 4, 2, 1]
    a = [i for i, c in enumerate(a_counts) for _ in range(c)]
    b = [i for i, c in enumerate(b_counts) for _ in range(c)]
    expected = mannwhitneyu(a, b, alternative="greater", method="asymptotic", use_continuity=True).pvalue
    assert stats.mann_whitney_binned_p_value(a_counts, b_counts) == pytest.approx(expected, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(e1=st.integers(0, 50), n1=st.integers(1, 500), e2=st.integers(0, 50), n2=st.integers(1, 500))
def test_p_values_are_probabilities(e1: int, n1: int, e2: int, n2: int) -> None:
    e1, e2 = min(e1, n1), min(e2, n2)
    share = stats.expected_share(n1, n2, 1.5)
    assert 0.0 <= stats.binomial_greater(e1, e1 + e2, share) <= 1.0
    assert 0.0 <= stats.binomial_less(e1, e1 + e2, share) <= 1.0


@settings(max_examples=60, deadline=None)
@given(errors=st.integers(0, 99), total=st.integers(0, 99))
def test_below_min_sample_size_never_passes_or_fails(errors: int, total: int) -> None:
    errors = min(errors, total)
    verdict = judge_gate(ERR, RateSample(errors, total), STABLE, min_sample_size=100).verdict
    assert verdict is Verdict.INCONCLUSIVE


# --- analysis, counters, decisions -----------------------------------------------------------------
def _result(verdict: Verdict, name: str = "g"):
    from modelserve.analysis.judge import GateResult

    return GateResult(name, verdict, 0.0, "max 1", None, 100, f"gate {name}: {verdict.value}")


def test_judge_analysis_precedence() -> None:
    P, F, I, E = Verdict.PASSED, Verdict.FAILED, Verdict.INCONCLUSIVE, Verdict.ERROR  # noqa: E741
    assert judge_analysis([_result(P), _result(P)]) is P
    assert judge_analysis([_result(P), _result(I)]) is I
    assert judge_analysis([_result(I), _result(E)]) is E
    assert judge_analysis([_result(E), _result(F)]) is F
    assert judge_analysis([]) is I


def _run(verdicts: list[Verdict], spec: AnalysisSpec, step_complete: bool = True):
    counters = AnalysisCounters()
    decision = None
    for v in verdicts:
        counters = update_counters(counters, v)
        decision = decide(counters, v, spec, [_result(v)], step_complete=step_complete)
    assert decision is not None
    return decision


def test_failure_limit_rolls_back_with_reason() -> None:
    spec = AnalysisSpec(failure_limit=2)
    assert _run([Verdict.FAILED], spec).action is DecisionAction.CONTINUE
    decision = _run([Verdict.FAILED, Verdict.PASSED, Verdict.FAILED], spec)
    assert decision.action is DecisionAction.ROLLBACK
    assert "failed 2 time(s) (failureLimit 2)" in decision.reason
    assert "gate g: Failed" in decision.reason
    assert (
        _run([Verdict.FAILED, Verdict.FAILED], AnalysisSpec(on_failure="pause")).action
        is DecisionAction.PAUSE
    )


def test_consecutive_errors_pause_and_reset() -> None:
    spec = AnalysisSpec(consecutive_error_limit=3)
    E, P = Verdict.ERROR, Verdict.PASSED
    assert _run([E, E, P, E, E], spec, step_complete=False).action is DecisionAction.CONTINUE
    assert _run([E, E, E], spec).action is DecisionAction.PAUSE
    assert _run([E, E, E], AnalysisSpec(consecutive_error_limit=3, on_error="rollback")).action is (
        DecisionAction.ROLLBACK
    )


def test_inconclusive_step_is_extended_until_max_duration() -> None:
    I = Verdict.INCONCLUSIVE  # noqa: E741
    counters = update_counters(AnalysisCounters(), I)
    within = decide(counters, I, AnalysisSpec(inconclusive_limit=1), [_result(I)], step_complete=True)
    assert within.action is DecisionAction.CONTINUE  # inconclusiveLimit no longer cuts evidence short
    for on, action in (("pause", DecisionAction.PAUSE), ("rollback", DecisionAction.ROLLBACK)):
        late = decide(counters, I, AnalysisSpec(on_inconclusive=on), [_result(I)], out_of_time=True)
        assert late.action is action
        assert "maxDuration" in late.reason and "gate g: Inconclusive" in late.reason
    passed = update_counters(AnalysisCounters(), Verdict.PASSED)
    assert decide(passed, Verdict.PASSED, AnalysisSpec(), out_of_time=True).action is DecisionAction.PROCEED


def test_proceed_only_on_pass_and_complete_step() -> None:
    spec = AnalysisSpec()
    assert _run([Verdict.PASSED], spec, step_complete=False).action is DecisionAction.CONTINUE
    assert _run([Verdict.PASSED], spec).action is DecisionAction.PROCEED
    assert _run([Verdict.PASSED, Verdict.INCONCLUSIVE], spec).action is DecisionAction.CONTINUE
    assert _run([Verdict.PASSED, Verdict.ERROR], spec).action is DecisionAction.CONTINUE


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([Verdict.ERROR, Verdict.INCONCLUSIVE]), min_size=1, max_size=30))
def test_missing_data_never_promotes(verdicts: list[Verdict]) -> None:
    counters = AnalysisCounters()
    for v in verdicts:
        counters = update_counters(counters, v)
        assert decide(counters, v, AnalysisSpec()).action is not DecisionAction.PROCEED


def test_analyse_interval_end_to_end() -> None:
    spec = AnalysisSpec(gates=(ERR, P99), failure_limit=1)
    results, decision = analyse_interval(
        spec.gates,
        {"error-rate": (RateSample(31, 600), STABLE), "latency-p99": (FAST, FAST)},
        AnalysisCounters(),
        spec,
    )
    assert [r.verdict for r in results] == [Verdict.FAILED, Verdict.PASSED]
    assert decision.action is DecisionAction.ROLLBACK
    assert "gate error-rate: 0.0517 > max 0.01" in decision.reason
    _, outage = analyse_interval(
        spec.gates, {"error-rate": "timeout", "latency-p99": "timeout"}, AnalysisCounters(), spec
    )
    assert outage.verdict is Verdict.ERROR and outage.action is DecisionAction.CONTINUE


def test_spec_from_mapping_defaults_and_validation() -> None:
    spec = AnalysisSpec.from_mapping(
        {
            "interval": "30s",
            "gates": [
                {"name": "e", "builtin": "errorRate", "max": 0.01},
                {"name": "p", "builtin": "latencyP95", "maxMilliseconds": 300, "confidence": 0.99},
            ],
        }
    )
    assert spec.interval_seconds == 30 and spec.failure_limit == 2 and spec.min_sample_size == 100
    assert spec.gates[1].max_milliseconds == 300 and spec.gates[1].confidence == 0.99
    with pytest.raises(ValueError, match=r"gates\[x\]: set at least one"):
        AnalysisSpec.from_mapping({"gates": [{"name": "x", "builtin": "errorRate"}]})
    with pytest.raises(ValueError, match="exactly one of builtin or query"):
        GateSpec.from_mapping({"name": "x", "builtin": "errorRate", "query": "up", "max": 1})
    with pytest.raises(ValueError, match=r"unknown placeholder"):
        GateSpec.from_mapping({"name": "x", "query": "up{a='{{bogus}}'}", "max": 1})


def test_history_entry_shape() -> None:
    entry = judge_gate(ERR, RateSample(31, 600), STABLE).to_history_entry("2024-01-01T00:00:00Z")
    assert entry["verdict"] == "Failed" and entry["gate"] == "error-rate" and entry["samples"] == 600
    assert entry["baseline"] == pytest.approx(0.005) and entry["bound"] == "max 0.01"
