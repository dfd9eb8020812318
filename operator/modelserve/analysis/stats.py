"""Statistics for canary analysis on counts (pure functions, no I/O).

Tests come in pairs, one per direction: ``*_above`` / ``*_greater`` p-values are evidence that the
candidate breaks a bound (it is worse), ``*_below`` / ``*_less`` p-values are evidence that it keeps the
bound. Tests work on counts (requests, errors, histogram bucket counts), never on pre-computed rates, so
that 3 errors in 60 requests and 300 in 6,000 weigh differently. Counts may be fractional: overdispersed
counts are divided by their dispersion (quasi-likelihood: the same information as fewer Poisson
observations), and histogram counts above a threshold are interpolated inside a bucket; the binomial
tails below are the regularized incomplete beta function, exact at integer counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

#: Apery's constant, zeta(3) = sum 1/k^3: normalises the failing side's spending sequence.
_ZETA3 = 1.2020569031595942


def alpha_for_look(confidence: float, look: int) -> float:
    """Significance level of the failing side at the ``look``-th look (1-based) at which a failure acts.

    A step re-tests growing (cumulative) data every interval; testing each look at 1 - confidence
    would let a healthy canary cross the line sooner or later. Spending alpha as
    alpha / (zeta(3) k^3) keeps the chance of EVER being significant within a step <= 1 - confidence
    (the series sums to 1), while giving the first look most of the budget (83.2%, 10.4%, 3.1%...):
    that is where a bad canary should be caught, and later looks, with more data, need less.
    """
    return (1.0 - confidence) / (_ZETA3 * max(1, look) ** 3)


def bucket_counts(cumulative: Sequence[float]) -> np.ndarray:
    """Cumulative histogram counts -> per-bucket counts (negative steps, e.g. from counter resets or
    extrapolation noise in increase(), are clipped to 0)."""
    cum = np.maximum.accumulate(np.asarray(cumulative, dtype=float))
    return np.diff(cum, prepend=0.0).clip(min=0.0)


def mann_whitney_binned_p_value(candidate_counts: npt.ArrayLike, baseline_counts: npt.ArrayLike) -> float:
    """One-sided Mann-Whitney U test that candidate latencies are stochastically larger.

    Not used by the judge any more: a rank test sees shifts of the whole distribution and misses a
    regression confined to the tail (kayenta#780). Kept as the reference the tail test is compared with.

    In: per-bucket (non-cumulative) counts of candidate and baseline on the SAME bucket grid.
    Out: p-value (normal approximation with continuity and tie correction; every observation in a
    bucket is a tie, which is exactly what a histogram gives us).
    """
    a = np.asarray(candidate_counts, dtype=float)
    b = np.asarray(baseline_counts, dtype=float)
    n_a, n_b = float(a.sum()), float(b.sum())
    if n_a <= 0 or n_b <= 0:
        return 1.0
    below_b = np.cumsum(b) - b  # baseline observations in strictly faster buckets
    u_cand = float(np.sum(a * (below_b + 0.5 * b)))
    n = n_a + n_b
    ties = a + b
    tie_term = float(np.sum(ties**3 - ties)) / (n * (n - 1.0)) if n > 1 else 0.0
    variance = n_a * n_b / 12.0 * ((n + 1.0) - tie_term)
    if variance <= 0:
        return 1.0  # everything in one bucket: no evidence either way
    z = (u_cand - n_a * n_b / 2.0 - 0.5) / math.sqrt(variance)
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Quantile ``q`` from cumulative buckets ``(le, count)``, like PromQL histogram_quantile().

    Linear interpolation inside the bucket holding the rank; the first bucket starts at 0; if the rank
    falls into the +Inf bucket the upper bound of the last finite bucket is returned. NaN when the
    histogram is empty or has no +Inf bucket (PromQL does the same).
    """
    if math.isnan(q):
        return math.nan
    if q < 0.0:
        return -math.inf
    if q > 1.0:
        return math.inf
    items = sorted((float(le), float(c)) for le, c in buckets)
    if len(items) < 2 or not math.isinf(items[-1][0]):
        return math.nan
    les = [le for le, _ in items]
    counts = list(np.maximum.accumulate(np.asarray([c for _, c in items], dtype=float)))
    total = counts[-1]
    if total <= 0:
        return math.nan
    rank = q * total
    idx = next(i for i, c in enumerate(counts) if c >= rank)
    if idx == len(items) - 1:
        return les[-2]
    if idx == 0 and les[0] <= 0:
        return les[0]
    start = 0.0 if idx == 0 else les[idx - 1]
    prev = 0.0 if idx == 0 else counts[idx - 1]
    in_bucket = counts[idx] - prev
    if in_bucket <= 0:
        return les[idx]
    return start + (les[idx] - start) * (rank - prev) / in_bucket


def count_above(threshold: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Estimated number of observations above ``threshold`` (same interpolation as the quantile)."""
    items = sorted((float(le), float(c)) for le, c in buckets)
    if not items:
        return 0.0
    counts = list(np.maximum.accumulate(np.asarray([c for _, c in items], dtype=float)))
    total = counts[-1]
    prev_le, prev_c = 0.0, 0.0
    for (le, _), c in zip(items, counts, strict=True):
        if threshold <= le:
            if math.isinf(le):
                return total - prev_c
            frac = (threshold - prev_le) / (le - prev_le) if le > prev_le else 1.0
            return total - (prev_c + frac * (c - prev_c))
        prev_le, prev_c = le, c
    return 0.0


def align_histograms(
    a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]
) -> tuple[list[float], list[float], list[float]]:
    """Restrict two cumulative histograms to their common bucket bounds.

    Cumulative counts at a shared ``le`` are exact, so dropping bounds only one side has loses
    resolution but never correctness. Returns ``(les, cumulative_a, cumulative_b)``.
    """
    da = {float(le): float(c) for le, c in a}
    db = {float(le): float(c) for le, c in b}
    les = sorted(set(da) & set(db))
    return les, [da[le] for le in les], [db[le] for le in les]


# --- both directions, fractional counts ------------------------------------------------------------------
def binomial_greater(successes: float, trials: float, p0: float) -> float:
    """P(X >= ``successes``) for X ~ Binomial(``trials``, ``p0``): evidence that the probability exceeds
    ``p0``. Exact (scipy.stats.binom.sf(k - 1, n, p0)) at integer counts, the incomplete beta function
    I_p0(k, n - k + 1) between them."""
    if successes <= 0 or trials <= 0:
        return 1.0
    if successes > trials:
        return 0.0
    if p0 <= 0.0:
        return 0.0
    if p0 >= 1.0:
        return 1.0
    # Imported when a judge first runs: scipy.special is 14 MB that an idle operator need not hold.
    from scipy.special import betainc

    return float(betainc(successes, trials - successes + 1.0, p0))


def binomial_less(successes: float, trials: float, p0: float) -> float:
    """P(X <= ``successes``) for X ~ Binomial(``trials``, ``p0``): evidence that the probability is below
    ``p0`` (the gate holds). Equals scipy.stats.binom.cdf(k, n, p0) at integer counts; a bound ``p0`` >= 1
    always holds (0.0), no trials show nothing (1.0)."""
    if trials <= 0:
        return 1.0
    if p0 >= 1.0:
        return 0.0
    if p0 <= 0.0 or successes >= trials:
        return 1.0
    from scipy.special import betainc

    return float(betainc(trials - successes, max(successes, 0.0) + 1.0, 1.0 - p0))


def expected_share(cand_total: float, base_total: float, ratio: float) -> float:
    """Under H0 "candidate rate == ``ratio`` x baseline rate", the share of all events that the candidate
    is expected to have, given the exposures (requests) of both (the conditional test for two Poisson
    rates: given the total, the candidate's events are binomial with this probability)."""
    return ratio * cand_total / (ratio * cand_total + base_total)


#: A squared Pearson residual above this (5 standard deviations) is an incident, not noise: a 10x error
#: spike on stable for one minute would otherwise read as a dispersion of 60 and blind every test.
DISPERSION_OUTLIER = 25.0


def pearson_dispersion(series: Sequence[Sequence[tuple[float, float]]]) -> tuple[float, int]:
    """Pearson chi-square and its degrees of freedom for per-interval ``(events, trials)`` counts.

    In: one sequence per group (candidate, stable), each a sequence of intervals; each group has its own
    rate. Out: ``(X2, df)`` with X2 = sum (e_i - n_i p)^2 / (n_i p (1 - p)) and df = intervals - groups,
    i.e. statsmodels' GLM(Binomial).fit(scale="X2") gives ``scale = X2 / df``. Intervals with no trials and
    groups with no events carry no information and are skipped; intervals whose squared residual exceeds
    DISPERSION_OUTLIER are dropped and the group's rate is estimated again without them.
    """
    x2, df = 0.0, 0
    for group in series:
        counts = np.asarray(group, dtype=float).reshape(-1, 2)
        events, trials = counts[:, 0], counts[:, 1]
        keep = trials > 0
        for attempt in range(2):  # once with every interval, once without the outliers
            e, n = events[keep], trials[keep]
            total_events, total_trials = float(e.sum()), float(n.sum())
            if len(e) == 0 or total_events <= 0 or total_events >= total_trials:
                keep = np.zeros_like(keep)
                break
            p = total_events / total_trials
            residuals = (e - n * p) ** 2 / (n * p * (1.0 - p))
            outliers = residuals > DISPERSION_OUTLIER
            if attempt == 1 or not outliers.any():
                break
            keep[np.flatnonzero(keep)[outliers]] = False
        if keep.any():
            x2 += float(residuals.sum())
            df += int(keep.sum()) - 1
    return x2, df


#: Pseudo degrees of freedom at dispersion 1 that the estimate is shrunk towards: with two or three
#: intervals the Pearson estimate alone is too noisy to widen a test on.
DISPERSION_PRIOR_DF = 4.0
#: The counts are taken as Poisson/binomial unless their Pearson chi-square rejects that at this level:
#: a dispersion of 1.1 read from noise would only cost power.
DISPERSION_TEST_LEVEL = 0.01
#: chdtri(df, 0.9) is the chi-square's 10% quantile: phi's one-sided 90% upper confidence bound.
DISPERSION_BOUND = 0.9


def dispersion_factor(x2: float, df: int, prior_df: float = DISPERSION_PRIOR_DF) -> float:
    """Quasi-likelihood dispersion phi >= 1 to divide counts by.

    1 unless the counts are significantly overdispersed (Pearson chi-square test at
    DISPERSION_TEST_LEVEL), else (X2 + prior_df) / (df + prior_df). Counts burstier than
    binomial/Poisson (errors in clusters) have variance phi x the nominal one; a test on counts / phi
    has the right size again. Never below 1: underdispersion is no reason to trust the data more.
    """
    from scipy.special import chdtrc, chdtri

    if df <= 0 or float(chdtrc(df, x2)) > DISPERSION_TEST_LEVEL:
        return 1.0
    # The upper DISPERSION_BOUND confidence bound of phi, not its estimate: clustered errors are skewed
    # as well as overdispersed, and a test scaled by the mean dispersion fails healthy canaries on
    # one burst carried from look to look.
    return max(1.0, (x2 + prior_df) / float(chdtri(df + prior_df, DISPERSION_BOUND)))


def pass_alpha(confidence: float, check: int, checks: int) -> float:
    """Significance level of the ``check``-th pass check (1-based) of a step with ``checks`` of them.

    A gate passes only when its bound holds at this level. Pass checks happen at the end of the step and at
    the end of each extension; their levels sum to 1 - confidence, so a candidate sitting exactly on its
    bound is promoted with probability <= 1 - confidence however many checks it gets. The step's own end
    gets 10% of the budget, the end of the first extension most of it (80%; one more step duration of
    data is what a healthy canary at moderate traffic needs), later checks share the last 10%.
    ``check`` 0 (not a pass check) -> 0.0: nothing can pass there.
    """
    if check <= 0 or check > checks or checks <= 0:
        return 0.0
    budget = 1.0 - confidence
    if checks == 1:
        return budget
    if checks == 2:
        return budget * (0.1 if check == 1 else 0.9)
    if check == 1:
        return budget * 0.1
    if check == 2:
        return budget * 0.8
    return budget * 0.1 / (checks - 2)
