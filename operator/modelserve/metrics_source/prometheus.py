"""PrometheusQuery: instant, vector, subquery and range queries with timeouts, over prometheus-api-client.

The one Prometheus client of the operator: the SLA controller, the predictive autoscaler, the canary
analysis (``analysis.providers.prometheus``) and ``kubectl modelserve`` all query through it.

Failures are split in two so that callers can react differently:
  * :class:`MetricsUnavailable` — Prometheus could not answer (connection refused, timeout, HTTP error,
    malformed JSON). Callers keep their last good state and say so in a condition.
  * :class:`UnexpectedResult` — Prometheus answered, but not with the shape asked for (several series
    for an instant scalar, a range vector where an instant one was expected).
The result parsers are pure functions, tested without a server.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

DEFAULT_TIMEOUT_SECONDS = 10.0

Labels = dict[str, str]


class MetricsError(Exception):
    """Base class of the errors raised by :class:`PrometheusQuery`."""


class MetricsUnavailable(MetricsError):
    """Prometheus did not answer (connection, timeout, HTTP status, unparsable body)."""


class UnexpectedResult(MetricsError):
    """Prometheus answered with a result of another shape than the query was expected to give."""


class QueryBackend(Protocol):
    """The part of ``prometheus_api_client.PrometheusConnect`` used here (a fake in tests)."""

    def custom_query(self, query: str, params: dict | None = None, timeout: Any = None) -> Any: ...

    def custom_query_range(
        self,
        query: str,
        start_time: datetime,
        end_time: datetime,
        step: str,
        params: dict | None = None,
        timeout: Any = None,
    ) -> Any: ...


def _float(raw: Any, query: str) -> float:
    try:
        return float(raw)  # Prometheus sends "NaN", "+Inf", "1.5"; all parse
    except (TypeError, ValueError):
        raise UnexpectedResult(f"non-numeric sample {raw!r} for query {query}") from None


def parse_vector(result: Any, query: str = "") -> list[tuple[Labels, float]]:
    """An instant-query result as ``[(labels, value)]``. A scalar result becomes one entry with no
    labels; NaN values are kept (callers decide); a range vector raises UnexpectedResult."""
    if result is None:
        return []
    if isinstance(result, list) and len(result) == 2 and not isinstance(result[0], Mapping):
        return [({}, _float(result[1], query))]  # scalar: [ts, "v"]
    if not isinstance(result, list):
        raise UnexpectedResult(f"unexpected result type {type(result).__name__} for query {query}")
    out = []
    for item in result:
        if not isinstance(item, Mapping) or "value" not in item:
            raise UnexpectedResult(f"expected an instant vector, got {str(item)[:120]!r}: {query}")
        value = item["value"]
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise UnexpectedResult(f"malformed sample {value!r} for query {query}")
        out.append((dict(item.get("metric") or {}), _float(value[1], query)))
    return out


def parse_instant(result: Any, query: str = "") -> float | None:
    """The single value of an instant query: None when there is no series or the value is NaN;
    UnexpectedResult when there are several series (aggregate the query to one)."""
    series = parse_vector(result, query)
    if not series:
        return None
    if len(series) > 1:
        sample = [labels for labels, _ in series[:3]]
        raise UnexpectedResult(f"query returned {len(series)} series (e.g. {sample}); aggregate it: {query}")
    value = series[0][1]
    return None if math.isnan(value) else value


def parse_matrix(result: Any, query: str = "") -> list[tuple[Labels, list[tuple[float, float]]]]:
    """A range-query result as ``[(labels, [(unix_time, value), ...])]``."""
    if result is None:
        return []
    if not isinstance(result, list):
        raise UnexpectedResult(f"unexpected result type {type(result).__name__} for query {query}")
    out = []
    for item in result:
        if not isinstance(item, Mapping) or "values" not in item:
            raise UnexpectedResult(f"expected a range vector, got {str(item)[:120]!r}: {query}")
        points = []
        for point in item["values"]:
            if not isinstance(point, list | tuple) or len(point) != 2:
                raise UnexpectedResult(f"malformed point {point!r} for query {query}")
            points.append((_float(point[0], query), _float(point[1], query)))
        out.append((dict(item.get("metric") or {}), points))
    return out


def _step(step: float | str) -> str:
    if isinstance(step, str):
        return step
    return f"{max(step, 0.001):g}s"


def _datetime(moment: datetime | float) -> datetime:
    if isinstance(moment, datetime):
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.fromtimestamp(moment, UTC)


class PrometheusQuery:
    """Queries against one Prometheus, each bounded by `timeout_seconds` (client read timeout and the
    server's own evaluation timeout). Connection errors are retried at most `retries` times, so an
    unreachable Prometheus costs a reconcile seconds, not minutes."""

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retries: int = 1,
        backend: QueryBackend | None = None,
    ) -> None:
        if not url and backend is None:
            raise MetricsUnavailable("no Prometheus URL configured")
        self.url = url
        self.timeout_seconds = timeout_seconds
        if backend is None:
            from prometheus_api_client import PrometheusConnect
            from urllib3.util.retry import Retry

            retry = Retry(
                total=retries,
                connect=retries,
                read=0,
                backoff_factor=0.2,
                status_forcelist=(502, 503, 504),
                allowed_methods=("GET",),
            )
            backend = PrometheusConnect(url=url, disable_ssl=True, retry=retry)  # type: ignore[assignment]
        assert backend is not None
        self._backend: QueryBackend = backend

    def _params(self, time: datetime | float | None = None) -> dict[str, str]:
        params = {"timeout": f"{max(1, int(self.timeout_seconds))}s"}
        if time is not None:
            params["time"] = f"{_datetime(time).timestamp():.3f}"
        return params

    def _raw(self, promql: str, time: datetime | float | None = None) -> Any:
        try:
            return self._backend.custom_query(promql, params=self._params(time), timeout=self.timeout_seconds)
        except MetricsError:
            raise
        except Exception as exc:  # requests errors, PrometheusApiClientException, JSON/KeyError
            raise MetricsUnavailable(f"{type(exc).__name__}: {str(exc)[:300]} (query: {promql})") from exc

    def instant(self, promql: str, time: datetime | float | None = None) -> float | None:
        """The value of a query that yields one series or a scalar; None for an empty result or NaN."""
        return parse_instant(self._raw(promql, time), promql)

    def vector(self, promql: str, time: datetime | float | None = None) -> list[tuple[Labels, float]]:
        """Every series of an instant query as ``(labels, value)``."""
        return parse_vector(self._raw(promql, time), promql)

    def matrix(
        self, promql: str, time: datetime | float | None = None
    ) -> list[tuple[Labels, list[tuple[float, float]]]]:
        """An instant query whose result is a range vector -- a subquery such as ``sum(x[1m])[30m:1m]`` --
        as ``[(labels, [(unix_time, value), ...])]``; an instant vector raises UnexpectedResult."""
        return parse_matrix(self._raw(promql, time), promql)

    def range(
        self, promql: str, start: datetime | float, end: datetime | float, step: float | str
    ) -> list[tuple[Labels, list[tuple[float, float]]]]:
        """A range query: ``[(labels, [(unix_time, value), ...])]``; `step` in seconds or a duration."""
        try:
            result = self._backend.custom_query_range(
                promql,
                start_time=_datetime(start),
                end_time=_datetime(end),
                step=_step(step),
                params={"timeout": f"{max(1, int(self.timeout_seconds))}s"},
                timeout=self.timeout_seconds,
            )
        except MetricsError:
            raise
        except Exception as exc:
            raise MetricsUnavailable(f"{type(exc).__name__}: {str(exc)[:300]} (query: {promql})") from exc
        return parse_matrix(result, promql)
