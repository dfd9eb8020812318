"""The metric contract (docs/analysis.md section 1) in a private prometheus_client registry."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tests.simulator.behaviour import Outcomes

REQUEST_LABELS = ("namespace", "model", "revision", "region", "code")
LATENCY_LABELS = ("namespace", "model", "revision", "region")
GAUGE_LABELS = ("namespace", "model", "revision")
CODE_OK = "200"
CODE_ERROR = "500"


class SimulatorMetrics:
    """``modelserve_requests_total``, ``modelserve_request_duration_seconds`` (default buckets) and the
    three quality gauges, plus the simulator's own ``modelserve_simulator_*`` diagnostics."""

    def __init__(self, registry: CollectorRegistry | None = None, *, per_pod: bool = False):
        self.registry = registry or CollectorRegistry(auto_describe=True)
        # per_pod: `modelserve_requests_total` also carries `pod`, as a real server's series do once
        # Prometheus has scraped each pod (what a metrics adapter maps to the HPA's Pods metric).
        self.per_pod = per_pod
        self.requests = Counter(
            "modelserve_requests_total",
            "Requests served, by HTTP status code.",
            (*REQUEST_LABELS, "pod") if per_pod else REQUEST_LABELS,
            registry=self.registry,
        )
        self.duration = Histogram(
            "modelserve_request_duration_seconds", "Request latency.", LATENCY_LABELS, registry=self.registry
        )
        self.accuracy = Gauge(
            "modelserve_model_accuracy",
            "Model accuracy on labelled feedback.",
            GAUGE_LABELS,
            registry=self.registry,
        )
        self.confidence = Gauge(
            "modelserve_prediction_confidence",
            "Mean prediction confidence.",
            GAUGE_LABELS,
            registry=self.registry,
        )
        self.drift = Gauge(
            "modelserve_drift_score", "Input drift score.", GAUGE_LABELS, registry=self.registry
        )
        self.unserved = Counter(
            "modelserve_simulator_unserved_requests_total",
            "Requests routed to a backend Service with no ready pod (not in the contract metrics).",
            ("namespace", "model", "service"),
            registry=self.registry,
        )
        self.ticks = Counter("modelserve_simulator_ticks_total", "Simulator ticks.", registry=self.registry)
        self._known: set[tuple[str, str, str, str]] = set()

    def ensure_series(self, namespace: str, model: str, revision: str, region: str) -> None:
        """Create a group's series at zero (both codes, the histogram) before its first request, so
        ``increase()`` over a window that starts before the group existed counts every request."""
        key = (namespace, model, revision, region)
        if key in self._known:
            return
        self._known.add(key)
        for code in (CODE_OK, CODE_ERROR):
            if not self.per_pod:  # per pod, a series starts with the pod's first requests
                self.requests.labels(namespace, model, revision, region, code)
        self.duration.labels(namespace, model, revision, region)

    def record(
        self,
        namespace: str,
        model: str,
        revision: str,
        region: str,
        outcomes: Outcomes,
        pods: Sequence[str] = (),
    ) -> None:
        """Count a group's requests (spread evenly over its ready `pods` in per-pod mode)."""
        self.ensure_series(namespace, model, revision, region)
        if outcomes.n == 0:
            return
        ok = outcomes.n - outcomes.errors
        if self.per_pod:
            labels, k, errors = (namespace, model, revision, region), len(pods), outcomes.errors
            for i, pod in enumerate(pods):
                self.requests.labels(*labels, CODE_OK, pod).inc(ok // k + (i < ok % k))
                self.requests.labels(*labels, CODE_ERROR, pod).inc(errors // k + (i < errors % k))
        else:
            if ok:
                self.requests.labels(namespace, model, revision, region, CODE_OK).inc(ok)
            if outcomes.errors:
                self.requests.labels(namespace, model, revision, region, CODE_ERROR).inc(outcomes.errors)
        histogram = self.duration.labels(namespace, model, revision, region)
        for seconds in outcomes.latencies_seconds:
            histogram.observe(float(seconds))

    def set_gauges(self, namespace: str, model: str, revision: str, values: dict[str, float]) -> None:
        self.accuracy.labels(namespace, model, revision).set(values["accuracy"])
        self.confidence.labels(namespace, model, revision).set(values["confidence"])
        self.drift.labels(namespace, model, revision).set(values["drift"])
