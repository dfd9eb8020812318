"""Prometheus metric provider (prometheus-api-client) and pure parsers of its query results."""

from __future__ import annotations

import math
from typing import Any, Protocol

from modelserve.analysis.contract import (
    KIND_HISTOGRAM,
    KIND_RATE,
    GateQueries,
    MetricPreset,
    QueryTarget,
    gate_queries,
    get_preset,
)
from modelserve.analysis.judge import GateSpec
from modelserve.analysis.providers.base import ProviderError
from modelserve.analysis.samples import HistogramSample, RateSample, Sample, ValueSample

DEFAULT_TIMEOUT_SECONDS = 10.0


class QueryClient(Protocol):
    """The part of ``prometheus_api_client.PrometheusConnect`` we use."""

    def custom_query(self, query: str, params: dict[str, Any] | None = None, timeout: Any = None) -> Any: ...


def _to_float(raw: Any, query: str) -> float:
    try:
        return float(raw)  # Prometheus sends "NaN", "+Inf", "-Inf", "1.5" -- all parse
    except (TypeError, ValueError):
        raise ProviderError(f"non-numeric sample value {raw!r} for query {query}") from None


def _series(result: Any, query: str) -> list[dict[str, Any]]:
    """Normalise a query result into a list of ``{"metric": {...}, "value": [ts, "v"]}``."""
    if result is None:
        return []
    # A scalar (or string) result comes back as a bare [ts, "value"] pair.
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], dict):
        return [{"metric": {}, "value": result}]
    if not isinstance(result, list):
        raise ProviderError(f"unexpected result type {type(result).__name__} for query {query}")
    for item in result:
        if not isinstance(item, dict) or "value" not in item:
            # Range vectors ("values") or garbage: the query is not an instant vector query.
            raise ProviderError(f"query must return an instant vector, got {str(item)[:120]!r}: {query}")
    return result


def parse_scalar(result: Any, query: str) -> float | None:
    """Value of a one-series (or scalar) result; None when there is no series or the value is NaN.

    More than one series is an error: custom queries must aggregate (sum/avg) to a single value.
    """
    series = _series(result, query)
    if not series:
        return None
    if len(series) > 1:
        labels = [s.get("metric", {}) for s in series[:3]]
        raise ProviderError(
            f"query returned {len(series)} series (e.g. {labels}); aggregate it to one: {query}"
        )
    value = series[0]["value"]
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ProviderError(f"malformed sample {value!r} for query {query}")
    number = _to_float(value[1], query)
    return None if math.isnan(number) else number


def parse_buckets(result: Any, query: str, unit_seconds: float = 1.0) -> list[tuple[float, float]] | None:
    """``sum by (le)`` result -> cumulative ``(le_seconds, count)`` pairs; None when there is no series."""
    series = _series(result, query)
    if not series:
        return None
    buckets: list[tuple[float, float]] = []
    for item in series:
        le_raw = item.get("metric", {}).get("le")
        if le_raw is None:
            raise ProviderError(f"histogram series without an 'le' label: {item.get('metric')} ({query})")
        le = _to_float(le_raw, query)
        count = _to_float(item["value"][1], query)
        if math.isnan(count):
            continue
        buckets.append((le if math.isinf(le) else le * unit_seconds, max(0.0, count)))
    return buckets or None


def parse_matrix(result: Any, query: str) -> dict[float, float]:
    """A subquery's one-series range vector -> ``{timestamp: value}`` (empty when there is no series).

    More than one series is an error (the subqueries aggregate with ``sum``); NaN points are dropped.
    """
    if result is None or result == []:
        return {}
    if not isinstance(result, list) or not all(isinstance(s, dict) and "values" in s for s in result):
        raise ProviderError(f"subquery must return a range vector, got {str(result)[:120]!r}: {query}")
    if len(result) > 1:
        raise ProviderError(f"subquery returned {len(result)} series; aggregate it to one: {query}")
    points: dict[float, float] = {}
    for point in result[0]["values"]:
        if not isinstance(point, list | tuple) or len(point) != 2:
            raise ProviderError(f"malformed point {point!r} for query {query}")
        value = _to_float(point[1], query)
        if not math.isnan(value):
            points[float(point[0])] = value
    return points


def _count(value: float | None) -> int:
    # increase() extrapolates to the window edges, so counts come back fractional; round to requests.
    if value is None or math.isinf(value):
        return 0
    return max(0, round(value))


class PrometheusProvider:
    """MetricProvider backed by Prometheus' instant-query API."""

    def __init__(
        self,
        url: str | None = None,
        preset: MetricPreset | str = "modelserve",
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        client: QueryClient | None = None,
    ) -> None:
        if client is None:
            if not url:
                raise ValueError("spec.rollout.analysis.provider.address: no Prometheus URL configured")
            from prometheus_api_client import PrometheusConnect

            client = PrometheusConnect(url=url, disable_ssl=True, timeout=timeout_seconds)  # type: ignore[arg-type,assignment]
        assert client is not None
        self._client: QueryClient = client
        self.preset = get_preset(preset) if isinstance(preset, str) else preset
        self.timeout_seconds = timeout_seconds

    def query(self, promql: str) -> Any:
        """Run one instant query; any failure (connection, timeout, HTTP error, bad JSON) -> ProviderError."""
        try:
            return self._client.custom_query(
                promql,
                # Server-side evaluation limit, slightly below the client's read timeout.
                params={"timeout": f"{max(1, int(self.timeout_seconds))}s"},
                timeout=self.timeout_seconds,
            )
        except ProviderError:
            raise
        except Exception as exc:  # requests errors, PrometheusApiClientException, JSON/KeyError
            raise ProviderError(f"{type(exc).__name__}: {exc} (query: {promql})") from exc

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
        total = parse_scalar(self.query(queries.total), queries.total)
        if queries.kind == KIND_RATE:
            if total is None:
                return None
            # No error series at all is the normal healthy case: 0 errors.
            errors = parse_scalar(self.query(queries.errors or ""), queries.errors or "")
            n = _count(total)
            return RateSample(errors=min(_count(errors), n), total=n, intervals=self._intervals(queries))
        if queries.kind == KIND_HISTOGRAM:
            buckets = parse_buckets(
                self.query(queries.buckets or ""), queries.buckets or "", queries.latency_unit_seconds
            )
            return None if buckets is None else HistogramSample(tuple(buckets))
        value = parse_scalar(self.query(queries.value or ""), queries.value or "")
        if value is None:
            return None
        return ValueSample(value=value, samples=_count(total))

    def _intervals(self, queries: GateQueries) -> tuple[tuple[int, int], ...]:
        """Per-interval ``(errors, total)`` from the subqueries; () when they were not asked for."""
        if not queries.total_per_interval or not queries.errors_per_interval:
            return ()
        totals = parse_matrix(self.query(queries.total_per_interval), queries.total_per_interval)
        errors = parse_matrix(self.query(queries.errors_per_interval), queries.errors_per_interval)
        counts = []
        for ts in sorted(totals):
            n = _count(totals[ts])
            counts.append((min(_count(errors.get(ts, 0.0)), n), n))
        return tuple(counts)
