"""Prometheus metrics of the operator itself, served on /metrics."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily

REGISTRY = CollectorRegistry(auto_describe=True)

RECONCILES = Counter(
    "modelserve_reconciles_total", "Reconciles run, by kind and result", ["kind", "result"], registry=REGISTRY
)
RECONCILE_ERRORS = Counter(
    "modelserve_reconcile_errors_total", "Reconciles that raised, by kind", ["kind"], registry=REGISTRY
)
RECONCILE_DURATION = Histogram(
    "modelserve_reconcile_duration_seconds",
    "Time spent in one reconcile",
    ["kind"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
API_REQUESTS = Counter(
    "modelserve_api_requests_total",
    "Kubernetes API requests made, by verb and kind",
    ["verb", "kind"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge("modelserve_workqueue_depth", "Keys waiting to be reconciled", registry=REGISTRY)


class ModelGauges:
    """The gauges every model has -- `modelserve_owned_objects` (by kind), `modelserve_replicas_ready`,
    `modelserve_rollout_canary_weight` -- kept as one small tuple per model and turned into samples
    when /metrics is scraped (a custom collector), not as a prometheus_client child per series: a child
    costs ~0.7 KB, and 5,000 models had 25,000 of them: 17.2 MB against 2.1 MB as tuples (tracemalloc,
    tests/unit/test_model_gauges.py). A kind a model has none of gets no series, and a
    deleted model's series go with it."""

    OWNED = ("modelserve_owned_objects", "Objects owned per ModelDeployment, by kind")
    READY = ("modelserve_replicas_ready", "Ready replicas of a ModelDeployment")
    CANARY = ("modelserve_rollout_canary_weight", "Current canary weight (percent)")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[tuple[str, str], tuple[tuple[tuple[str, int], ...], float, float]] = {}

    def set(
        self, namespace: str, name: str, owned: Mapping[str, int], ready_replicas: float, canary_weight: float
    ) -> None:
        kinds = tuple(sorted((sys.intern(kind), int(n)) for kind, n in owned.items() if n))
        value = (kinds, float(ready_replicas), float(canary_weight))
        with self._lock:
            self._models[(namespace, name)] = value

    def forget(self, namespace: str, name: str) -> None:
        with self._lock:
            self._models.pop((namespace, name), None)

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(*self.OWNED, labels=["namespace", "modeldeployment", "kind"]),
            GaugeMetricFamily(*self.CANARY, labels=["namespace", "modeldeployment"]),
            GaugeMetricFamily(*self.READY, labels=["namespace", "modeldeployment"]),
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        owned, canary, ready = self._families()
        with self._lock:
            models = sorted(self._models.items())
        for (namespace, name), (kinds, ready_replicas, canary_weight) in models:
            for kind, count in kinds:
                owned.add_metric([namespace, name, kind], count)
            canary.add_metric([namespace, name], canary_weight)
            ready.add_metric([namespace, name], ready_replicas)
        yield from (owned, canary, ready)


MODEL_GAUGES = ModelGauges()
REGISTRY.register(MODEL_GAUGES)
ANALYSIS_VERDICTS = Counter(
    "modelserve_analysis_verdicts_total",
    "Gate verdicts during rollouts",
    ["namespace", "modeldeployment", "gate", "verdict"],
    registry=REGISTRY,
)
FORECAST_DEMAND = Gauge(
    "modelserve_forecast_demand",
    "Forecast demand (upper quantile, requests/s) over the horizon",
    ["namespace", "modeldeployment", "region"],
    registry=REGISTRY,
)
PREDICTIVE_FLOOR = Gauge(
    "modelserve_predictive_floor",
    "Predictive replica floor written as HPA minReplicas",
    ["namespace", "modeldeployment", "region"],
    registry=REGISTRY,
)
# The self-tuning's replayed figures of the chosen setting (status.autoscaling.tuning).
TUNING_UNDER_PROVISIONED = Gauge(
    "modelserve_predictive_tuning_under_provisioned_percent",
    "Replayed percent of time under-provisioned with the setting the self-tuning chose",
    ["namespace", "modeldeployment", "region"],
    registry=REGISTRY,
)
TUNING_EXTRA_COST = Gauge(
    "modelserve_predictive_tuning_extra_cost_percent",
    "Replayed replica-hours over the reactive HPA alone, in percent, of the chosen setting",
    ["namespace", "modeldeployment", "region"],
    registry=REGISTRY,
)
SLO_ATTAINMENT = Gauge(
    "modelserve_slo_attainment_percent",
    "SLO attainment over the policy window",
    ["namespace", "modeldeployment", "sla_policy", "objective"],
    registry=REGISTRY,
)
SLO_BUDGET = Gauge(
    "modelserve_slo_error_budget_remaining_percent",
    "Error budget remaining",
    ["namespace", "modeldeployment", "sla_policy", "objective"],
    registry=REGISTRY,
)
RESIDENCY_VIOLATIONS = Counter(
    "modelserve_residency_violations_total",
    "Pods found outside their allowed regions",
    ["namespace", "modeldeployment", "region"],
    registry=REGISTRY,
)


def set_model_gauges(
    namespace: str, name: str, owned: dict[str, int], ready_replicas: float, canary_weight: float
) -> None:
    """A model's gauges (ModelGauges): its owned objects by kind, ready replicas, canary weight."""
    MODEL_GAUGES.set(namespace, name, owned, ready_replicas, canary_weight)


def forget_model(namespace: str, name: str) -> None:
    """A deleted model's series go with it (they stayed in /metrics for the process's life)."""
    MODEL_GAUGES.forget(namespace, name)


def count_request(verb: str, kind: str) -> None:
    API_REQUESTS.labels(verb=verb, kind=kind or "unknown").inc()


def serve(port: int, address: str = "0.0.0.0") -> None:
    start_http_server(port, addr=address, registry=REGISTRY)
