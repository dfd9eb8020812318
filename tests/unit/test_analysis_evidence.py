"""Evidence in both directions (issue 13): the new test statistics against scipy / statsmodels, the
tail-latency test, overdispersion, pass checks and the step's extension up to maxDuration."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelserve.analysis import stats
from modelserve.analysis.judge import (
    AnalysisCounters,
    Look,
    analyse_interval,
    judge_gate,
    plan_look,
)
from modelserve.analysis.samples import HistogramSample, RateSample
from modelserve.analysis.verdict import DecisionAction, Verdict
from modelserve.api.gates import AnalysisSpec, GateSpec
from scipy.special import ndtr
from scipy.stats import binom, binomtest

ERR = GateSpec("error-rate", builtin="errorRate", max=0.01)
REL = GateSpec("error-rate", builtin="errorRate", max_relative_to_stable=1.2, confidence=0.7)
P99_REL = GateSpec("latency-p99", builtin="latencyP99", max_relative_to_stable=1.2)
P99_ABS = GateSpec("latency-p99", builtin="latencyP99", max_milliseconds=500)
BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]


# --- the binomial tails, both directions ------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 3000), k=st.integers(0, 3000), p=st.floats(0.001, 0.999))
def test_binomial_tails_match_scipy_at_integer_counts(n: int, k: int, p: float) -> None:
    k = min(k, n)
    assert stats.binomial_greater(k, n, p) == pytest.approx(
        binomtest(k, n, p, alternative="greater").pvalue if k > 0 else 1.0, rel=1e-7, abs=1e-12
    )
    assert stats.binomial_less(k, n, p) == pytest.approx(
        binomtest(k, n, p, alternative="less").pvalue, rel=1e-7, abs=1e-12
    )


@settings(max_examples=100, deadline=None)
@given(n=st.floats(5.0, 5000.0), k=st.floats(0.0, 1.0), p=st.floats(0.001, 0.5))
def test_fractional_counts_lie_between_their_integer_neighbours(n: float, k: float, p: float) -> None:
    k = k * n
    lo, hi = math.floor(k), math.ceil(k)
    # P(X >= k) decreases and P(X <= k) increases with k: fractional counts are interpolated, never
    # outside what the integer counts around them give (at the same number of trials).
    assert stats.binomial_greater(hi, n, p) - 1e-12 <= stats.binomial_greater(k, n, p)
    assert stats.binomial_greater(k, n, p) <= stats.binomial_greater(lo, n, p) + 1e-12
    assert stats.binomial_less(lo, n, p) - 1e-12 <= stats.binomial_less(k, n, p)
    assert stats.binomial_less(k, n, p) <= stats.binomial_less(hi, n, p) + 1e-12


def test_pass_p_value_is_the_clopper_pearson_bound() -> None:
    from statsmodels.stats.proportion import proportion_confint

    # binomial_less(k, n, b) <= alpha exactly when the one-sided (1 - alpha) Clopper-Pearson upper
    # bound of k/n is below b: the "upper confidence bound inside the bound" rule.
    for k, n in [(0, 500), (3, 600), (30, 6000), (15, 3000)]:
        upper = proportion_confint(k, n, alpha=2 * 0.005, method="beta")[1]
        assert stats.binomial_less(k, n, upper) == pytest.approx(0.005, rel=1e-6)
        assert stats.binomial_less(k, n, upper * 1.01) < 0.005 < stats.binomial_less(k, n, upper * 0.99)


# --- overdispersion -------------------------------------------------------------------------------------
def test_pearson_dispersion_matches_statsmodels_quasi_binomial_scale() -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    cand = [(int(e), int(n)) for e, n in zip(rng.poisson(4, 6), rng.poisson(600, 6) + 1, strict=True)]
    base = [(int(e), int(n)) for e, n in zip(rng.poisson(40, 6), rng.poisson(5400, 6) + 1, strict=True)]
    rows = [(e, n, 1.0) for e, n in cand] + [(e, n, 0.0) for e, n in base]
    trials = np.array([n for _, n, _ in rows], dtype=float)
    endog = np.array([e for e, _, _ in rows], dtype=float) / trials
    exog = np.array([[1.0, is_cand] for _, _, is_cand in rows])
    model = sm.GLM(endog, exog, family=sm.families.Binomial(), var_weights=trials)
    scale = model.fit(scale="X2").scale
    x2, df = stats.pearson_dispersion([cand, base])
    assert df == len(rows) - 2
    assert x2 / df == pytest.approx(scale, rel=1e-6)


def test_dispersion_factor_only_for_significant_overdispersion() -> None:
    from scipy.stats import chi2

    assert stats.dispersion_factor(0.0, 0) == 1.0
    assert stats.dispersion_factor(0.5, 10) == 1.0
    assert stats.dispersion_factor(chi2.ppf(0.985, 10), 10) == 1.0  # not significant at 1%: Poisson
    assert stats.dispersion_factor(chi2.ppf(0.995, 10), 10) > 1.0
    # Shrunk towards 1 by 4 pseudo degrees of freedom, then its one-sided 90% upper confidence bound.
    assert stats.dispersion_factor(30.0, 10) == pytest.approx(34.0 / chi2.ppf(0.1, 14))
    assert 3.0 < stats.dispersion_factor(300.0, 100) < 3.0 * 1.25


def test_one_spike_is_an_outlier_not_a_dispersion() -> None:
    steady = [(27, 5400)] * 30
    assert stats.pearson_dispersion([steady]) == (0.0, 29)
    x2, df = stats.pearson_dispersion([[*steady[:29], (270, 5400)]])
    assert df == 28 and x2 == pytest.approx(0.0)


def _bursty(rng: np.random.Generator, rate: float, looks: int, per_interval: float) -> RateSample:
    n = rng.poisson(per_interval, looks)
    mean = n * rate
    e = np.minimum(rng.negative_binomial(mean / 2.0, 1.0 / 3.0), n)  # variance 3 x mean: dispersion 3
    return RateSample(int(e.sum()), int(n.sum()), tuple(zip(e.tolist(), n.tolist(), strict=True)))


def test_overdispersed_errors_widen_the_test() -> None:
    rng = np.random.default_rng(7)
    widened = plain = 0
    for _ in range(200):
        cand, base = _bursty(rng, 0.005, 10, 600), _bursty(rng, 0.005, 10, 5400)
        with_intervals = judge_gate(REL, cand, base, look=1)
        pooled = RateSample(cand.errors, cand.total), RateSample(base.errors, base.total)
        without = judge_gate(REL, *pooled, look=1)
        if with_intervals.p_value is not None and without.p_value is not None:
            widened += with_intervals.p_value >= without.p_value - 1e-12
            plain += 1
    assert plain > 150 and widened == plain  # the p-value of either direction only ever grows


def test_bursty_healthy_candidate_is_failed_less_often_with_the_dispersion() -> None:
    rng = np.random.default_rng(11)
    fails = {"with": 0, "without": 0}
    for _ in range(400):
        cand, base = _bursty(rng, 0.005, 10, 6000), _bursty(rng, 0.005, 10, 54000)
        if judge_gate(REL, cand, base, look=1).verdict is Verdict.FAILED:
            fails["with"] += 1
        if (
            judge_gate(
                REL, RateSample(cand.errors, cand.total), RateSample(base.errors, base.total), look=1
            ).verdict
            is Verdict.FAILED
        ):
            fails["without"] += 1
    assert fails["with"] < fails["without"] / 2, fails


# --- tail latency ----------------------------------------------------------------------------------------
def _histogram(n: int, median_ms: float, sigma: float) -> HistogramSample:
    bounds = np.asarray(BUCKETS)
    cdf = ndtr((np.log(bounds * 1000.0) - math.log(median_ms)) / sigma)
    cumulative = np.round(n * cdf)
    return HistogramSample(tuple(zip([*BUCKETS, math.inf], [*cumulative.tolist(), float(n)], strict=True)))


def test_tail_regression_with_unchanged_median_fails_the_tail_test() -> None:
    stable = _histogram(54000, 60, 0.6)  # p99 ~ 242ms
    candidate = _histogram(6000, 60, 0.745)  # p99 ~ 339ms (+40%), median unchanged
    result = judge_gate(P99_REL, candidate, stable, look=1)
    assert result.verdict is Verdict.FAILED, result.message
    assert "max 1.2x stable" in result.bound
    # A rank test sees nothing: the median did not move.
    cand_counts = stats.bucket_counts([c for _, c in candidate.buckets])
    base_counts = stats.bucket_counts([c for _, c in stable.buckets])
    assert stats.mann_whitney_binned_p_value(cand_counts, base_counts) > 0.05


def test_unchanged_tail_passes_the_relative_bound_given_enough_requests() -> None:
    # Candidate ~0.7% slower than 1.2 x stable's p99, stable 1% slower than its p99: 6,000 candidate
    # requests cannot show that at 99.5%, 60,000 can.
    assert judge_gate(P99_REL, _histogram(6000, 60, 0.6), _histogram(54000, 60, 0.6)).verdict is (
        Verdict.INCONCLUSIVE
    )
    result = judge_gate(P99_REL, _histogram(60000, 60, 0.6), _histogram(540000, 60, 0.6))
    assert result.verdict is Verdict.PASSED, result.message


def test_tail_test_counts_requests_above_the_bound_against_one_percent() -> None:
    # 500ms is a bucket bound: the count above it is exact, and the test is binomial against 1%.
    candidate = HistogramSample(((0.25, 2900.0), (0.5, 2950.0), (1.0, 3000.0), (math.inf, 3000.0)))
    result = judge_gate(P99_ABS, candidate, None, look=1)
    expected = binomtest(50, 3000, 0.01, alternative="greater").pvalue
    assert result.verdict is Verdict.FAILED
    assert result.p_value == pytest.approx(expected, rel=1e-6)
    fast = HistogramSample(((0.25, 2990.0), (0.5, 2999.0), (1.0, 3000.0), (math.inf, 3000.0)))
    shown = judge_gate(P99_ABS, fast, None)
    assert shown.verdict is Verdict.PASSED
    assert shown.p_value == pytest.approx(binomtest(1, 3000, 0.01, alternative="less").pvalue, rel=1e-6)


def test_two_sample_tail_test_matches_the_conditional_binomial() -> None:
    stable = HistogramSample(((0.1, 4000.0), (0.25, 5346.0), (0.5, 5400.0), (math.inf, 5400.0)))
    candidate = HistogramSample(((0.1, 440.0), (0.25, 580.0), (0.5, 600.0), (math.inf, 600.0)))
    gate = GateSpec("p99", builtin="latencyP99", max_relative_to_stable=1.0)
    stable_p99 = stats.histogram_quantile(0.99, stable.buckets)
    k_c = stats.count_above(stable_p99, candidate.buckets)
    k_s = stats.count_above(stable_p99, stable.buckets)
    assert k_s == pytest.approx(54.0)
    result = judge_gate(gate, candidate, stable, look=1)
    share = 600 / 6000
    assert result.p_value == pytest.approx(stats.binomial_greater(k_c, k_c + k_s, share), rel=1e-9)
    if float(k_c).is_integer():
        assert result.p_value == pytest.approx(binom.sf(k_c - 1, k_c + k_s, share), rel=1e-7)


# --- pass checks, extensions and maxDuration ----------------------------------------------------------
@settings(max_examples=100, deadline=None)
@given(checks=st.integers(1, 20), confidence=st.floats(0.5, 0.9999))
def test_pass_levels_spend_exactly_the_budget(checks: int, confidence: float) -> None:
    levels = [stats.pass_alpha(confidence, j, checks) for j in range(1, checks + 1)]
    assert sum(levels) == pytest.approx(1.0 - confidence)
    assert stats.pass_alpha(confidence, 0, checks) == 0.0


def _looks(step: float, interval: float, max_duration: float | None, jitter: list[float]) -> list[Look]:
    looks, previous, elapsed = [], None, 0.0
    for k, extra in enumerate(jitter, start=1):
        elapsed += interval + extra
        looks.append(
            plan_look(
                k,
                elapsed,
                previous,
                interval_seconds=interval,
                step_seconds=step,
                max_duration_seconds=max_duration,
            )
        )
        previous = elapsed
    return looks


def test_plan_look_checks_at_the_end_of_the_step_and_of_each_extension() -> None:
    looks = _looks(300, 60, None, [0.0] * 16)
    assert [k.index for k in looks if k.pass_check] == [5, 10, 15]
    assert [k.pass_check for k in looks if k.pass_check] == [1, 2, 3]
    assert {k.pass_checks for k in looks} == {3}
    assert [k.step_complete for k in looks][3:5] == [False, True]
    assert next(k.index for k in looks if k.out_of_time) == 15
    # maxDuration 10m: one extension only; 4m: none (never shorter than the step itself).
    assert [k.index for k in _looks(300, 60, 600, [0.0] * 12) if k.pass_check] == [5, 10]
    assert next(k.index for k in _looks(300, 60, 240, [0.0] * 6) if k.out_of_time) == 5


@settings(max_examples=100, deadline=None)
@given(
    step=st.sampled_from([60.0, 120.0, 300.0, 600.0]),
    factor=st.integers(1, 5),
    jitter=st.lists(st.floats(-3.0, 30.0), min_size=1, max_size=40),
)
def test_plan_look_never_checks_more_often_than_its_budget(
    step: float, factor: int, jitter: list[float]
) -> None:
    looks = _looks(step, 60.0, step * factor, jitter)
    checks = [k.pass_check for k in looks if k.pass_check]
    assert checks == sorted(set(checks))  # each pass check at most once, in order
    assert all(1 <= j <= factor for j in checks)
    assert all(k.step_complete for k in looks if k.pass_check)


def test_healthy_step_passes_at_a_check_and_an_unproven_one_is_left_to_on_inconclusive() -> None:
    spec = AnalysisSpec(gates=(ERR,), on_inconclusive="pause")
    counters = AnalysisCounters()
    actions = []
    for k, look in enumerate(_looks(300, 60, None, [0.0] * 15), start=1):
        # 3 errors per 600 requests each minute: 0.5%, shown below 1% only once enough have come.
        sample = RateSample(3 * k, 600 * k)
        _, decision = analyse_interval(spec.gates, {"error-rate": (sample, None)}, counters, spec, look=look)
        counters = decision.counters
        actions.append(decision.action)
        if decision.action is not DecisionAction.CONTINUE:
            break
    assert actions[-1] is DecisionAction.PROCEED and len(actions) == 10  # the end of the first extension
    counters = AnalysisCounters()
    for look in _looks(300, 60, None, [0.0] * 15):
        _, decision = analyse_interval(
            spec.gates, {"error-rate": (RateSample(6, 600), None)}, counters, spec, look=look
        )
        counters = decision.counters
    assert decision.action is DecisionAction.PAUSE and "maxDuration" in decision.reason


def test_statistical_false_keeps_the_point_estimate_rule() -> None:
    gate = GateSpec("error-rate", builtin="errorRate", max=0.01, statistical=False)
    not_a_check = Look(index=2, pass_check=0, pass_checks=3, step_complete=False)
    assert judge_gate(gate, RateSample(3, 600), None, look=not_a_check).verdict is Verdict.PASSED
    assert judge_gate(gate, RateSample(7, 600), None, look=not_a_check).verdict is Verdict.FAILED


def test_max_duration_and_pass_confidence_are_parsed() -> None:
    spec = AnalysisSpec.from_mapping(
        {
            "maxDuration": "20m",
            "gates": [{"name": "e", "builtin": "errorRate", "max": 0.01, "passConfidence": 0.999}],
        }
    )
    assert spec.max_duration_seconds == 1200
    assert spec.gates[0].pass_confidence == 0.999 and spec.gates[0].confidence is None
    assert spec.gates[0].fail_confidence(False) == 0.9825 and spec.gates[0].fail_confidence(True) == 0.99
    assert AnalysisSpec.from_mapping({}).max_duration_seconds is None
    with pytest.raises(ValueError, match="maxDuration"):
        AnalysisSpec.from_mapping({"maxDuration": "soon"})
    with pytest.raises(ValueError, match="passConfidence"):
        GateSpec.from_mapping({"name": "e", "builtin": "errorRate", "max": 0.01, "passConfidence": 1.5})


# --- only the failure that acts needs the full confidence ---------------------------------------------
@settings(max_examples=50, deadline=None)
@given(confidence=st.floats(0.5, 0.9999))
def test_acting_levels_spend_at_most_the_budget(confidence: float) -> None:
    levels = [stats.alpha_for_look(confidence, j) for j in range(1, 2000)]
    assert sum(levels) <= 1.0 - confidence + 1e-12
    assert all(a > b for a, b in itertools.pairwise(levels))  # the first look gets most
    assert levels[0] == pytest.approx((1.0 - confidence) / 1.2020569031595942)


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(100, 5000),
    rate=st.floats(0.0, 0.05),
    index=st.integers(1, 15),
    failure_limit=st.integers(1, 4),
    failed=st.integers(0, 4),
)
def test_a_failure_acts_only_at_the_gates_confidence_and_warns_at_one_half(
    n: int, rate: float, index: int, failure_limit: int, failed: int
) -> None:
    # Reference: scipy's exact binomial test against the 1% bound, at 0.5 for a warning and at
    # (1 - 0.9825) / (zeta(3) j^3) for the failure that reaches failureLimit, j counting the looks at
    # which it can (j = index - failureLimit + 1). No stable: only the bound is tested.
    failed = min(failed, failure_limit - 1)
    k = round(rate * n)
    spec = AnalysisSpec(gates=(ERR,), failure_limit=failure_limit)
    look = Look(index=index, pass_check=0, pass_checks=3, step_complete=False)
    counters = AnalysisCounters(failed=failed)
    results, decision = analyse_interval(
        spec.gates, {"error-rate": (RateSample(k, n), None)}, counters, spec, look=look
    )
    p = binom.sf(k - 1, n, 0.01) if k > 0 else 1.0
    acts = failed + 1 >= failure_limit
    level = 0.0175 / (1.2020569031595942 * max(1, index - failure_limit + 1) ** 3) if acts else 0.5
    expected_fail = k / n > 0.01 and p <= level
    # Away from the boundary only: p within 1e-9 relative of the level is a coin toss of rounding.
    if not math.isclose(p, level, rel_tol=1e-9):
        assert (results[0].verdict is Verdict.FAILED) == expected_fail
        assert (decision.action is DecisionAction.ROLLBACK) == (expected_fail and acts)


def test_a_near_bound_canary_warns_but_a_regression_is_rolled_back_in_two_minutes() -> None:
    # The worked example of docs/analysis.md: 10 req/s on the canary, 1% bound, failureLimit 2.
    spec = AnalysisSpec(gates=(ERR,))
    stable = RateSample(27, 5400)

    def run(errors: list[int]) -> list[tuple[Verdict, DecisionAction]]:
        counters, out = AnalysisCounters(), []
        for k, e in enumerate(errors, start=1):
            look = Look(index=k, pass_check=0, pass_checks=3, step_complete=False)
            sample = RateSample(e, 600 * k)
            results, decision = analyse_interval(
                spec.gates, {"error-rate": (sample, RateSample(27 * k, 5400 * k))}, counters, spec, look=look
            )
            counters = decision.counters
            out.append((results[0].verdict, decision.action))
        return out

    assert stable.errors == 27
    # 0.9%: 8 of 600 warns (p=0.26), 12 of 1,200 (p=0.54) is inconclusive: no rollback.
    assert run([8, 12]) == [
        (Verdict.FAILED, DecisionAction.CONTINUE),
        (Verdict.INCONCLUSIVE, DecisionAction.CONTINUE),
    ]
    # 2.5%: 16 of 600, then 29 of 1,200 (p=2e-5 <= 0.0146): rolled back at minute 2.
    assert run([16, 29])[-1] == (Verdict.FAILED, DecisionAction.ROLLBACK)
    # 21 of 1,200 (p=0.011) acts, 20 (p=0.021) does not.
    assert run([9, 21])[-1][1] is DecisionAction.ROLLBACK
    assert run([9, 20])[-1][1] is DecisionAction.CONTINUE
