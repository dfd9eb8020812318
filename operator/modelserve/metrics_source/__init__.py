"""Reading metrics back from Prometheus: a small query client shared by the SLA controller and the
predictive autoscaler. See :class:`modelserve.metrics_source.prometheus.PrometheusQuery`."""

from modelserve.metrics_source.prometheus import (
    DEFAULT_TIMEOUT_SECONDS,
    MetricsError,
    MetricsUnavailable,
    PrometheusQuery,
    UnexpectedResult,
    parse_instant,
    parse_matrix,
    parse_vector,
)

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "MetricsError",
    "MetricsUnavailable",
    "PrometheusQuery",
    "UnexpectedResult",
    "parse_instant",
    "parse_matrix",
    "parse_vector",
]
