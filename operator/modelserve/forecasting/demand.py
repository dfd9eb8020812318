"""The demand a ModelDeployment is forecast from: its PromQL and the range queries that fetch it.

Pure (no I/O). One home for the demand query: the operator's forecast cycle
(modelserve.reconcile.predictive) and `kubectl modelserve forecast` (modelserve.cli.plugin_forecast)
both build it here, fetch it on the same 5-minute grid and turn the samples into the same Series.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

from modelserve.forecasting.burst import BURST_WINDOW_SECONDS
from modelserve.forecasting.series import OUTLIER_THRESHOLD, Series, clean_series
from modelserve.runtimes import Series as RequestSeries
from modelserve.runtimes.resolve import CONTRACT_REQUESTS

STEP_SECONDS = 300  # the forecaster's grid: 5-minute bins aligned to the epoch
MAX_POINTS_PER_QUERY = 10_000  # Prometheus refuses range queries of more than 11,000 points

DEFAULT_QUERY = 'sum(rate(modelserve_requests_total{{namespace="{namespace}",model="{model}"}}[5m]))'
DEFAULT_REGION_QUERY = (
    'sum by (region) (rate(modelserve_requests_total{{namespace="{namespace}",model="{model}"}}[5m]))'
)
REGION_LABEL = "region"
# The burst allowance's query: the same demand over 1-minute windows, sampled every minute over the
# last day at each refit (1,440 points, one range query); forecasting/burst.py measures its dispersion.
DEFAULT_BURST_QUERY = DEFAULT_QUERY.replace("[5m]", "[1m]")
DEFAULT_REGION_BURST_QUERY = DEFAULT_REGION_QUERY.replace("[5m]", "[1m]")
BURST_STEP_SECONDS = BURST_WINDOW_SECONDS
BURST_HISTORY_SECONDS = 86400.0


def _default(namespace: str, name: str, requests: RequestSeries | None, window: str, by_region: bool) -> str:
    """``sum(rate(<requests>{namespace,model}[window]))`` (``sum by (region) (...)`` under a placement)."""
    counter = requests or RequestSeries((CONTRACT_REQUESTS,))
    selector = f'namespace="{namespace}",model="{name}"'
    rate = f"rate({counter.promql(selector)}[{window}])"
    return f"sum by (region) ({rate})" if by_region else f"sum({rate})"


def demand_query(
    namespace: str,
    name: str,
    custom: str | None = None,
    *,
    by_region: bool = False,
    requests: RequestSeries | None = None,
) -> str:
    """The PromQL for a ModelDeployment's demand.

    Default (metric contract, docs/analysis.md; the `model` label is the ModelDeployment's name):
    ``sum(rate(modelserve_requests_total{namespace="NS",model="NAME"}[5m]))``, or ``sum by (region)``
    of it under a RegionPlacement; `requests` is the model's runtime's own request counter
    (runtimes.requests_series), None for the metric contract. A custom `predictive.query` gets
    ``{{namespace}}`` and ``{{model}}`` (spaces inside the braces allowed) filled in; under a placement it
    must return a `region` label.
    """
    if not custom:
        return _default(namespace, name, requests, "5m", by_region)
    return _fill(custom, namespace, name)


def _fill(query: str, namespace: str, name: str) -> str:
    query = re.sub(r"\{\{\s*namespace\s*\}\}", namespace, query)
    return re.sub(r"\{\{\s*model\s*\}\}", name, query)


def burst_query(
    namespace: str,
    name: str,
    *,
    enabled: bool = True,
    custom: str | None = None,
    demand_custom: str | None = None,
    by_region: bool = False,
    requests: RequestSeries | None = None,
) -> str | None:
    """The PromQL whose 1-minute samples measure the dispersion of demand (the burst allowance), or
    None for no allowance: `burst.enabled` false, or a custom demand `query` without a `burst.query`
    (the operator cannot know how to rewrite an arbitrary query to 1-minute windows)."""
    if not enabled:
        return None
    if custom:
        return _fill(custom, namespace, name)
    if demand_custom:
        return None
    return _default(namespace, name, requests, "1m", by_region)


def aligned_range(start: float, end: float, step: int = STEP_SECONDS) -> tuple[float, float] | None:
    """Evaluation times of a range query on the bin grid: the first multiple of `step` at or after
    `start`, the last at or before `end`; None when there is none."""
    first = math.ceil(start / step) * step
    last = math.floor(end / step) * step
    return (float(first), float(last)) if last >= first else None


def split_range(
    first: float, last: float, step: int = STEP_SECONDS, max_points: int = MAX_POINTS_PER_QUERY
) -> list[tuple[float, float]]:
    """[first, last] cut into consecutive windows of at most `max_points` evaluation times."""
    windows = []
    span = (max_points - 1) * step
    start = first
    while start <= last:
        end = min(last, start + span)
        windows.append((start, end))
        start = end + step
    return windows


def region_key(labels: Mapping[str, str], by_region: bool) -> str | None:
    return labels.get(REGION_LABEL) if by_region else None


def points_by_region(
    matrix: Sequence[tuple[Mapping[str, str], Sequence[tuple[float, float]]]], by_region: bool
) -> dict[str | None, list[tuple[float, float]]]:
    """A range result grouped by region (None without a placement). Several series of one group
    (an unaggregated custom query) are added up per timestamp: demand is additive."""
    totals: dict[str | None, dict[float, float]] = {}
    for labels, points in matrix:
        group = totals.setdefault(region_key(labels, by_region), {})
        for t, v in points:
            if math.isfinite(v):
                group[t] = group.get(t, 0.0) + v
    return {k: sorted(v.items()) for k, v in totals.items()}


def live_by_region(
    vector: Sequence[tuple[Mapping[str, str], float]], by_region: bool
) -> dict[str | None, float]:
    """An instant result (the live demand) grouped the same way; NaN samples are skipped."""
    out: dict[str | None, float] = {}
    for labels, value in vector:
        if math.isfinite(value):
            key = region_key(labels, by_region)
            out[key] = out.get(key, 0.0) + value
    return out


def series_from_points(
    points: Sequence[tuple[float, float]], step: int = STEP_SECONDS, *, clip_outliers: bool = True
) -> Series:
    """Range-query samples in, the forecaster's Series out.

    The sample at evaluation time t is a rate over the window ending at t, i.e. it describes the bin
    [t - step, t): it is placed in the middle of that bin, so the newest complete bin is the last one.
    `clip_outliers=False` keeps every sample (the burst query: its minute-to-minute spread is exactly
    what is measured).
    """
    if not points:
        return Series(0.0, step, np.zeros(0))
    times = [t - step / 2 for t, _ in points]
    return clean_series(
        times,
        [v for _, v in points],
        is_counter=False,
        step_seconds=step,
        outlier_threshold=OUTLIER_THRESHOLD if clip_outliers else None,
    )
