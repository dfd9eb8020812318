"""The burst allowance: capacity for the minute-to-minute noise a 5-minute forecast cannot see (pure).

The forecaster predicts the *mean* request rate of 5-minute bins. Replicas, though, must serve every
minute of the bin, and a rate of λ requests/s made of discrete requests fluctuates from minute to
minute: over a window of W seconds the count has variance φ·λ·W, so the rate seen in one window has
standard deviation

    sd(λ) = sqrt(φ · λ / W)

where φ, the *dispersion*, is 1 for independent (Poisson) arrivals and larger for bursty traffic
(a page load that fetches ten files, a batch client). Relative to the rate this noise is
sqrt(φ / (λ W)): large for a model that serves 1 request/s, negligible at 1,000 — which is why a
fixed headroom percentage is always wrong somewhere (too little at night, too much at the peak).
The square-root term is the queueing theorists' "square-root staffing" rule in request units.

The forecast's upper bound is widened to the `quantile` of *minute* demand: forecast error and
minute noise are independent, so their log-space spreads add in quadrature,

    planned = (point + offset) · exp( sqrt(w_q² + z_q² · s²) ) - offset,
    s = sqrt(φ · point / W) / (point + offset)

with w_q the forecast's own log-space interval half-width, z_q the standard normal quantile of
`quantile` and s the minute noise in log(rate + offset) space. The *burst allowance* is
`planned - upper`: what the minute noise adds on top of the forecast's upper quantile. It is zero
at the median (z = 0) and when φ is unknown.

φ is measured, not configured: from the demand at a 1-minute resolution (a second, cheap range query
over the last day), as the spread of the minutes inside each 5-minute bin around the bin's mean.
Each bin gives φ_i = s_i² · W / mean_i; for Gaussian noise s_i² is σ²·χ²_k/k (k = minutes - 1), so
the median of φ_i is divided by median(χ²_k)/k to be an unbiased estimate — robust to the bins where
the rate itself moved.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from .series import Series

BURST_WINDOW_SECONDS = 60  # the span of demand a replica's capacity must cover: one minute
MIN_BINS = 12  # at least an hour of 5-minute bins with traffic before φ is trusted
MAX_DISPERSION = 1000.0  # a sanity cap: 1000 requests arriving together on average


def _chi2_median_ratio(k: int) -> float:
    """median(χ²_k) / k (Wilson-Hilferty; within 0.5 % of the exact value for k >= 2)."""
    return float((1 - 2 / (9 * k)) ** 3)


def estimate_dispersion(
    fine: Series, bin_seconds: int = 300, window_seconds: int = BURST_WINDOW_SECONDS
) -> float | None:
    """φ from demand (requests/s) sampled every `window_seconds`, grouped into `bin_seconds` bins.

    Returns None when there is not enough to tell (fewer than MIN_BINS bins with traffic and at least
    three finite minutes, or a series not on a `window_seconds` step): the planner then adds no
    allowance. Returns 0.0 for demand that is flat inside every bin (e.g. 5-minute data spread
    evenly over its minutes).
    """
    if fine.step_seconds != window_seconds or bin_seconds % window_seconds:
        return None
    per_bin = bin_seconds // window_seconds
    if per_bin < 2 or fine.values.size < per_bin:
        return None
    # Align the groups to the epoch grid of the bins, as the forecaster's bins are.
    skip = (-round(fine.start / window_seconds)) % per_bin
    values = fine.values[skip:]
    usable = values.size // per_bin * per_bin
    if usable == 0:
        return None
    groups = values[:usable].reshape(-1, per_bin)
    finite = np.isfinite(groups)
    counts = finite.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, np.nansum(groups, axis=1) / np.maximum(counts, 1), np.nan)
        ok = (counts >= 3) & (means > 0)
        if int(ok.sum()) < MIN_BINS:
            return None
        g, c, m = groups[ok], counts[ok], means[ok]
        variances = np.nansum((g - m[:, None]) ** 2, axis=1) / (c - 1)
    ratios = variances * window_seconds / m
    ratios /= np.array([_chi2_median_ratio(int(k) - 1) for k in c])
    return float(min(max(np.median(ratios), 0.0), MAX_DISPERSION))


def z_score(quantile: float) -> float:
    """The standard normal quantile (0 at the median, 1.28 at 0.9), never negative."""
    if not 0 < quantile < 1:
        raise ValueError(f"quantile: {quantile} is not in (0, 1)")
    return max(NormalDist().inv_cdf(quantile), 0.0)


def planned_width(
    width: np.ndarray,
    point: np.ndarray,
    offset: float,
    dispersion: float | None,
    quantile: float,
    window_seconds: int = BURST_WINDOW_SECONDS,
) -> np.ndarray:
    """The log-space half-width of the `quantile` of minute demand: the forecast's own `width`
    (log(rate + offset) space, at median forecast rates `point`) and the minute noise in quadrature.
    Returns `width` unchanged when φ is unknown or 0."""
    w = np.asarray(width, dtype=float)
    if dispersion is None or not math.isfinite(dispersion) or dispersion <= 0:
        return w
    rate = np.maximum(np.asarray(point, dtype=float), 0.0)
    sigma = np.sqrt(dispersion * rate / window_seconds) / (rate + offset)
    return np.sqrt(w**2 + (z_score(quantile) * sigma) ** 2)
