"""Prometheus metric provider: a gate's PromQL (``analysis.contract``) run through the operator's one
Prometheus client (``metrics_source.PrometheusQuery``), its results turned into samples."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from modelserve.analysis.contract import (
    KIND_HISTOGRAM,
    KIND_RATE,
    GateQueries,
    MetricPreset,
    QueryTarget,
    gate_queries,
    get_preset,
)
from modelserve.analysis.providers.base import ProviderError
from modelserve.analysis.samples import HistogramSample, RateSample, Sample, ValueSample
from modelserve.api.gates import GateSpec
from modelserve.metrics_source.prometheus import (
    DEFAULT_TIMEOUT_SECONDS,
    Labels,
    MetricsError,
    PrometheusQuery,
    QueryBackend,
)


def buckets_from_vector(
    series: Sequence[tuple[Labels, float]], query: str, unit_seconds: float = 1.0
) -> list[tuple[float, float]] | None:
    """A ``sum by (le)`` result -> cumulative ``(le_seconds, count)`` pairs; None when there is no series.

    ``unit_seconds`` converts the histogram's ``le`` into seconds (the istio preset counts milliseconds).
    """
    buckets: list[tuple[float, float]] = []
    for labels, count in series:
        le_raw = labels.get("le")
        if le_raw is None:
            raise ProviderError(f"histogram series without an 'le' label: {labels} ({query})")
        try:
            le = float(le_raw)
        except ValueError:
            raise ProviderError(f"non-numeric 'le' label {le_raw!r} for query {query}") from None
        if math.isnan(count):
            continue
        buckets.append((le if math.isinf(le) else le * unit_seconds, max(0.0, count)))
    return buckets or None


def points_from_matrix(
    series: Sequence[tuple[Labels, Sequence[tuple[float, float]]]], query: str
) -> dict[float, float]:
    """A subquery's one-series range vector -> ``{timestamp: value}`` (empty when there is no series).

    More than one series is an error (the subqueries aggregate with ``sum``); NaN points are dropped.
    """
    if not series:
        return {}
    if len(series) > 1:
        raise ProviderError(f"subquery returned {len(series)} series; aggregate it to one: {query}")
    return {ts: value for ts, value in series[0][1] if not math.isnan(value)}


def _count(value: float | None) -> int:
    # increase() extrapolates to the window edges, so counts come back fractional; round to requests.
    if value is None or math.isinf(value):
        return 0
    return max(0, round(value))


class PrometheusProvider:
    """MetricProvider backed by Prometheus' instant-query API, through the operator's one Prometheus
    client (``metrics_source.PrometheusQuery``). Any failure of a query -- Prometheus unreachable, slow,
    refusing the query, or answering with another shape than asked for -- is a ProviderError (the
    judge's Error verdict); an empty result is no data."""

    def __init__(
        self,
        url: str | None = None,
        preset: MetricPreset | str = "modelserve",
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        client: QueryBackend | None = None,
    ) -> None:
        """``client``: the backend to query through instead of a connection to ``url`` (tests)."""
        if client is None and not url:
            raise ValueError("spec.rollout.analysis.provider.address: no Prometheus URL configured")
        self.prometheus = PrometheusQuery(url or "", timeout_seconds=timeout_seconds, backend=client)
        self.preset = get_preset(preset) if isinstance(preset, str) else preset

    @contextmanager
    def _measuring(self) -> Iterator[None]:
        try:
            yield
        except MetricsError as exc:
            raise ProviderError(str(exc)) from exc

    def scalar(self, promql: str) -> float | None:
        """The one value of ``promql``; None for no series or NaN."""
        with self._measuring():
            return self.prometheus.instant(promql)

    def fetch(
        self,
        gate: GateSpec,
        target: QueryTarget,
        revision: str,
        window_seconds: float,
        interval_seconds: float | None = None,
    ) -> Sample | None:
        """Sample of ``gate`` for ``revision`` over the last ``window_seconds`` (see MetricProvider);
        with ``interval_seconds``, a RateSample also carries its per-interval counts."""
        queries = gate_queries(gate, self.preset, target, revision, window_seconds, interval_seconds)
        total = self.scalar(queries.total)
        if queries.kind == KIND_RATE:
            if total is None:
                return None
            # No error series at all is the normal healthy case: 0 errors.
            errors = self.scalar(queries.errors or "")
            n = _count(total)
            return RateSample(errors=min(_count(errors), n), total=n, intervals=self._intervals(queries))
        if queries.kind == KIND_HISTOGRAM:
            with self._measuring():
                series = self.prometheus.vector(queries.buckets or "")
            buckets = buckets_from_vector(series, queries.buckets or "", queries.latency_unit_seconds)
            return None if buckets is None else HistogramSample(tuple(buckets))
        value = self.scalar(queries.value or "")
        if value is None:
            return None
        return ValueSample(value=value, samples=_count(total))

    def _points(self, promql: str) -> dict[float, float]:
        with self._measuring():
            return points_from_matrix(self.prometheus.matrix(promql), promql)

    def _intervals(self, queries: GateQueries) -> tuple[tuple[int, int], ...]:
        """Per-interval ``(errors, total)`` from the subqueries; () when they were not asked for."""
        if not queries.total_per_interval or not queries.errors_per_interval:
            return ()
        totals = self._points(queries.total_per_interval)
        errors = self._points(queries.errors_per_interval)
        counts = []
        for ts in sorted(totals):
            n = _count(totals[ts])
            counts.append((min(_count(errors.get(ts, 0.0)), n), n))
        return tuple(counts)
