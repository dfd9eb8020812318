"""Predictive autoscaling e2e: a week of seasonal demand backfilled into the real Prometheus, a
dedicated operator forecasting it, and the real HPA controller acting on the floors on KWOK nodes.

One scenario, four ModelDeployments side by side (timed on the 5-minute bin grid):

* `surge`: quiet (1 req/s) for hours, then 20 req/s every day from P on. The floor must rise about
  one horizon (5 min) before P — not at once — and the HPA must have the pods Running before P.
* `ebb`: busy (20 req/s) every day until E, then quiet. The floor is raised at once and held
  (the hold after a raise is set to last until the live demand has faded after E), then descends
  one replica per planning step (scaleDownPercentPerStep 10 %), never all at once.
* `fresh`: predictive but without any history: the HPA stays at spec.minReplicas and
  status.autoscaling.reason says why.
* `regional`: split by a RegionPlacement over eu-central-1 and ap-southeast-1, so its demand is
  forecast per region (`sum by (region) (...)`): in eu-central-1 it surges daily at P like `surge`, in
  ap-southeast-1 it peaks hours away. The eu-central-1 HPA's floor rises ahead of P (its pods Running
  on eu-central-1 nodes before P) while the ap-southeast-1 HPA stays at its minimum throughout;
  status.autoscaling sums the regions' floors and gives each region's reason.
* `tuned`: the surge's demand with only an objective (`maxExtraCostPercent: 10`): the operator tunes
  quantile, headroom and hold on the replayed last day and status.autoscaling.tuning shows the choice.
* `watch`: the ebb's demand in `mode: observe`: its forecast and floor (raised, as the ebb's) are in
  status, but its HPA is never written after creation (minReplicas stays 1, and no spec field of it
  changes owner or time in its managedFields).

The history is written as TSDB blocks (promtool) ending a minute before the test starts, under the
labels of a scrape target that serves the same counters live, so the series simply continue. Every
series carries a `region` label (eu-central-1 unless a model is split over regions).
"""

from __future__ import annotations

import itertools
import json
import math
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from modelserve.localcluster.nodes import REGION_LABEL

from tests.e2e.conftest import start_operator
from tests.e2e.harness import Kube, OperatorProcess, wait_until

DAY = 86400
STEP = 300
LOW, HIGH = 1.0, 20.0  # req/s; at 5 req/s per replica: 1 replica, and ceil(20 x 1.1 / 5) = 5
INTERVAL = 5  # planning step of the dedicated operator (s)
LIVE_FADE = 60  # the ebb's demand query rates over 1 minute: its live demand falls within that
SERIES_LABELS = 'revision="r1",code="200"'
EU, AP = "eu-central-1", "ap-southeast-1"


@dataclass(frozen=True)
class DailyPlateau:
    """HIGH req/s during [start, start + width) of every day (start: any moment of one such day),
    LOW otherwise; `count(t)` is the request counter (0 at `origin`)."""

    start: float
    width: float
    origin: float

    def rate(self, t: float) -> float:
        return HIGH if (t - self.start) % DAY < self.width else LOW

    def _high_seconds(self, t: float) -> float:
        days = math.floor((t - self.start) / DAY)
        return days * self.width + min(max(t - self.start - days * DAY, 0.0), self.width)

    def count(self, t: float) -> float:
        return LOW * (t - self.origin) + (HIGH - LOW) * (
            self._high_seconds(t) - self._high_seconds(self.origin)
        )


class DemandExporter:
    """Serves the models' request counters live (`modelserve_requests_total`, metric contract), one
    series per (model, region)."""

    def __init__(self, namespace: str, series: dict[tuple[str, str], DailyPlateau]):
        self.namespace = namespace
        self.series = series
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.render(time.time()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def labels(self, model: str, region: str) -> str:
        return f'namespace="{self.namespace}",model="{model}",region="{region}",{SERIES_LABELS}'

    def render(self, now: float) -> str:
        lines = ["# TYPE modelserve_requests_total counter"]
        for (model, region), profile in sorted(self.series.items()):
            labels = self.labels(model, region)
            lines.append(f"modelserve_requests_total{{{labels}}} {profile.count(now)!r}")
        return "\n".join(lines) + "\n"

    def history(self, job: str, start: float, end: float) -> str:
        """OpenMetrics text of every counter sampled each minute over [start, end] (every 15 s in the
        last day, so the burst allowance's `rate(...[1m])` has samples to measure), with the labels
        the scrape of this exporter adds (job, instance), so the live samples continue the series."""
        lines = []
        for (model, region), profile in sorted(self.series.items()):
            labels = f'job="{job}",instance="{self.address}",{self.labels(model, region)}'
            t = start
            while t <= end:
                lines.append(f"modelserve_requests_total{{{labels}}} {profile.count(t):.3f} {t:.0f}")
                t += 15 if t >= end - DAY else 60
        return "\n".join(lines) + "\n# EOF\n"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def predictive_md(
    name: str,
    *,
    min_replicas: int = 1,
    max_replicas: int = 8,
    placement: str | None = None,
    **predictive: Any,
) -> dict:
    md: dict = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"name": name, "version": "1", "uri": f"s3://models/{name}/1", "format": "sklearn"},
            "runtime": {
                "image": "registry.example.com/sklearn-server:1.4",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                "startupSeconds": 5,
            },
            "autoscaling": {
                "minReplicas": min_replicas,
                "maxReplicas": max_replicas,
                "target": {"metric": "requestsPerSecond", "averageValue": 5},
                "predictive": {"enabled": True, **predictive},
            },
        },
    }
    if placement:
        md["spec"]["placementRef"] = {"name": placement}
    return md


def region_placement(name: str, regions: list[str]) -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "RegionPlacement",
        "metadata": {"name": name},
        "spec": {
            "residency": {"jurisdiction": "TEST", "allowedRegions": regions},
            "regions": [{"name": r} for r in regions],
        },
    }


@contextmanager
def own_operator(session_operator: OperatorProcess) -> Iterator[None]:
    """The session operator watches every namespace: freeze it while this test's operator (with a
    short planning interval) acts, so exactly one operator writes the HPAs."""
    session_operator.pause()
    try:
        yield
    finally:
        session_operator.resume()


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hpa_min(kube: Kube, name: str, namespace: str) -> int | None:
    hpa = kube.get("horizontalpodautoscaler", name, namespace)
    return None if hpa is None else int(hpa["spec"]["minReplicas"])


def autoscaling_status(kube: Kube, name: str, namespace: str) -> dict:
    return ((kube.get("modeldeployment", name, namespace) or {}).get("status") or {}).get("autoscaling") or {}


def region_reasons(status: dict) -> dict[str, str]:
    """Each region's part of a merged (several regions) status.autoscaling.reason:
    "ap-southeast-1: ForecastPeak: ...; eu-central-1: ForecastPeak: ..." -> {region: "ForecastPeak: ..."}."""
    parts = re.split(r"(?:^|; )([a-z]+-[a-z]+-\d+): ", status.get("reason", ""))
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def reason_kind(reason: str) -> str:
    return reason.split(":")[0]


def spec_writes(kube: Kube, name: str, namespace: str) -> list[tuple[str, str, str]]:
    """(manager, operation, time) of each managedFields entry of the HPA's spec (not its status):
    an entry's time moves whenever its manager changes a field it owns, e.g. minReplicas."""
    out = kube.run(
        "get", "horizontalpodautoscaler", name, "-n", namespace, "-o", "json", "--show-managed-fields"
    )
    fields = json.loads(out.stdout)["metadata"].get("managedFields") or []
    return sorted(
        (f.get("manager", ""), f.get("operation", ""), f.get("time", ""))
        for f in fields
        if f.get("subresource") != "status"
    )


def running_in_region(kube: Kube, name: str, namespace: str, region: str) -> int:
    """Running pods of `name`'s `region` Deployment on KWOK nodes of that region."""
    nodes = {
        n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get(REGION_LABEL)
        for n in kube.items("nodes")
    }
    selector = f"app.kubernetes.io/instance={name},modelserve.io/region={region}"
    return sum(
        1
        for p in kube.items("pods", namespace, selector=selector)
        if p["status"].get("phase") == "Running"
        and not p["metadata"].get("deletionTimestamp")
        and str(p["spec"].get("nodeName", "")).startswith("kwok-")
        and nodes.get(p["spec"]["nodeName"]) == region
    )


def running_on_kwok(kube: Kube, name: str, namespace: str) -> int:
    pods = kube.items("pods", namespace, selector=f"app.kubernetes.io/instance={name}")
    return sum(
        1
        for p in pods
        if p["status"].get("phase") == "Running"
        and not p["metadata"].get("deletionTimestamp")
        and str(p["spec"].get("nodeName", "")).startswith("kwok-")
    )


@pytest.mark.side_lane  # about 10 minutes, nearly all of it waiting for the grid (hack/e2e-lanes.sh)
@pytest.mark.timeout(1200)  # the scenario waits for times on the 5-minute grid (up to ~11 min)
def test_floor_rises_before_the_forecast_peak_and_descends_gradually(
    kube: Kube, cluster: Any, namespace: str, prometheus: Any, operator: OperatorProcess, workdir: Path
) -> None:
    t0 = time.time()
    ebb_end = math.ceil((t0 + 240) / STEP) * STEP  # E: on the bin grid, after the first forecasts
    surge_start = ebb_end + STEP  # P: one bin later, so the surge's floor is low at first
    origin = math.floor((t0 - 7 * DAY - 900) / 60) * 60
    series = {
        ("surge", EU): DailyPlateau(start=surge_start, width=3 * 3600, origin=origin),
        ("ebb", EU): DailyPlateau(start=ebb_end - 4 * 3600, width=4 * 3600, origin=origin),
        # regional: the same daily surge at P in eu-central-1; in ap-southeast-1 a peak 8 hours later,
        # so its demand is LOW all through the test (a pooled forecast would raise both regions).
        ("regional", EU): DailyPlateau(start=surge_start, width=3 * 3600, origin=origin),
        ("regional", AP): DailyPlateau(start=surge_start + 8 * 3600, width=3 * 3600, origin=origin),
        ("tuned", EU): DailyPlateau(start=surge_start, width=3 * 3600, origin=origin),
        ("watch", EU): DailyPlateau(start=ebb_end - 4 * 3600, width=4 * 3600, origin=origin),
    }
    exporter = DemandExporter(namespace, series)
    job = f"predictive-{namespace}"
    prometheus.add_target(job, exporter.address)
    prometheus.reload()
    ops: list[OperatorProcess] = []
    try:
        prometheus.backfill(exporter.history(job, origin, math.floor((t0 - 60) / 60) * 60))
        # Blocks moved into the data directory are loaded by Prometheus' next reload (about a minute).
        wait_until(
            lambda: prometheus.query(
                f'modelserve_requests_total{{namespace="{namespace}",model="surge"}}', time=t0 - 3 * DAY
            ),
            150,
            interval=2,
            what="backfilled history visible in Prometheus",
        )
        kube.apply(predictive_md("surge"), namespace)
        # A short rate window: the live demand follows the drop at E within a minute, so what limits the
        # descent is the floor's own rule, not the 5-minute rate fading out.
        one_minute = 'sum(rate(modelserve_requests_total{namespace="{{namespace}}",model="{{model}}"}[1m]))'
        kube.apply(predictive_md("ebb", query=one_minute), namespace)
        kube.apply(predictive_md("fresh", min_replicas=2, max_replicas=4), namespace)
        kube.apply(predictive_md("tuned", objective={"maxExtraCostPercent": 10}), namespace)
        kube.apply(predictive_md("watch", mode="observe"), namespace)
        # Two regions of weight 1: each regional HPA gets minReplicas max(1, 2 // 2) = 1 and
        # maxReplicas 16 / 2 = 8 (placement/bounds.py `regional_bounds`). minReplicas 2 so that each region's
        # Deployment starts with a pod: an HPA does not scale a Deployment at 0 replicas.
        kube.apply(region_placement("two-regions", [EU, AP]), namespace)
        kube.apply(
            predictive_md("regional", min_replicas=2, max_replicas=16, placement="two-regions"), namespace
        )

        with own_operator(operator):
            # Hold the ebb's raise (made at the first step) until its live demand has faded after E:
            # the descent is then the floor's own rule (GradualDescent), not the live-demand rule.
            hold = max(20, round(ebb_end + LIVE_FADE + 15 - time.time()))
            op = start_operator(
                cluster.operator_kubeconfig,
                workdir,
                namespaces=[namespace],
                prometheus_url=prometheus.url,
                env={
                    "MODELSERVE_PREDICTIVE_INTERVAL_SECONDS": str(INTERVAL),
                    "MODELSERVE_PREDICTIVE_HOLD_SECONDS": str(hold),
                },
                name="predictive",
            )
            ops.append(op)

            def fitted(name: str) -> dict | None:
                assert op.alive(), op.log()[-3000:]
                status = autoscaling_status(kube, name, namespace)
                return status if status.get("model") else None

            surge_first = wait_until(lambda: fitted("surge"), 120, interval=1, what="surge fitted")
            first_seen = time.time()
            ebb_first = wait_until(lambda: fitted("ebb"), 60, interval=1, what="ebb fitted")
            assert surge_first["historyPoints"] >= 2000 and surge_first["lastFitTime"]
            assert surge_first["backtestMetric"] == "sMAPE" and surge_first["backtestError"] >= 0
            # The burst allowance's second query (the same demand over [1m], every minute of the last
            # day) was answered: the dispersion was measured, and it is ~0 because these counters grow
            # exactly at their rate (no request-by-request noise), so no allowance is added.
            assert 0 <= surge_first["dispersion"] < 0.5, surge_first
            assert "dispersion" not in ebb_first, ebb_first  # custom query, no burst.query

            # fresh: no history -> reactive, and the status says why.
            fresh = wait_until(
                lambda: (s := autoscaling_status(kube, "fresh", namespace)).get("reason") and s,
                60,
                what="fresh status",
            )
            assert "insufficient history: have 0s, need 2d" in fresh["reason"], fresh
            assert wait_until(lambda: hpa_min(kube, "fresh", namespace) == 2, 30, what="fresh HPA at min")

            # regional: both regions fitted (each its own series), each with its own HPA.
            regional_first = wait_until(
                lambda: (
                    fitted("regional")
                    and (r := region_reasons(s := autoscaling_status(kube, "regional", namespace))).keys()
                    == {EU, AP}
                    and not {reason_kind(v) for v in r.values()} & {"NoForecast", "InsufficientHistory"}
                    and s
                ),
                120,
                interval=1,
                what="regional fitted in both regions",
            )
            regional_first_seen = time.time()
            eu_hpa, ap_hpa = f"regional-{EU}", f"regional-{AP}"
            assert hpa_min(kube, ap_hpa, namespace) == 1, regional_first
            if regional_first_seen < surge_start - STEP - 2 * INTERVAL:
                assert regional_first["floor"] == 2, regional_first  # 1 + 1
                assert hpa_min(kube, eu_hpa, namespace) == 1

            # surge: low while the peak is beyond the 5-minute horizon (when the first forecast came early
            # enough to see it), then raised ahead of P.
            if first_seen < surge_start - STEP - 2 * INTERVAL:
                assert surge_first["floor"] == 1, surge_first
                assert hpa_min(kube, "surge", namespace) == 1

            # ebb: raised at once (the busy plateau is in the window), held, then descends after E.
            assert ebb_first["floor"] >= 4, ebb_first
            wait_until(lambda: (hpa_min(kube, "ebb", namespace) or 0) >= 4, 30, what="ebb HPA floor raised")
            wait_until(lambda: running_on_kwok(kube, "ebb", namespace) >= 4, 60, what="ebb pods Running")

            surge_raised_at = None
            surge_running_at = None
            surge_status_at_raise: dict = {}
            ebb_trace: list[tuple[float, int]] = []
            ebb_reasons: list[str] = []
            ebb_reason_kinds: set[str] = set()
            ebb_descending_floors: set[int] = set()
            eu_raised_at = None
            eu_running_at = None
            ap_floors: set[int | None] = set()
            watch_floors: set[int | None] = set()
            watch_writes = spec_writes(kube, "watch", namespace)  # the HPA as created, before any floor
            assert watch_writes, "watch HPA not created"
            watch_reported: set[int] = set()  # the floors watch's status.autoscaling reported
            deadline = max(surge_start + 60, ebb_end + 180)
            while time.time() < deadline:
                assert op.alive(), op.log()[-3000:]
                now = time.time()
                if surge_raised_at is None and (hpa_min(kube, "surge", namespace) or 0) >= 4:
                    surge_raised_at = now
                    surge_status_at_raise = autoscaling_status(kube, "surge", namespace)
                if (
                    surge_raised_at
                    and surge_running_at is None
                    and running_on_kwok(kube, "surge", namespace) >= 4
                ):
                    surge_running_at = time.time()
                ap_floors.add(hpa_min(kube, ap_hpa, namespace))
                watch_floors.add(hpa_min(kube, "watch", namespace))
                watch_reported.add(int(autoscaling_status(kube, "watch", namespace).get("floor") or 0))
                if eu_raised_at is None and (hpa_min(kube, eu_hpa, namespace) or 0) >= 4:
                    eu_raised_at = now
                if (
                    eu_raised_at
                    and eu_running_at is None
                    and running_in_region(kube, "regional", namespace, EU) >= 4
                ):
                    eu_running_at = time.time()
                ebb_status = autoscaling_status(kube, "ebb", namespace)
                ebb_reason_kinds.add(ebb_status.get("reason", "").split(":")[0])
                if ebb_status.get("reason", "").startswith("GradualDescent"):
                    ebb_descending_floors.add(ebb_status["floor"])
                low = hpa_min(kube, "ebb", namespace)
                if low is not None and (not ebb_trace or ebb_trace[-1][1] != low):
                    ebb_trace.append((now, low))
                    ebb_reasons.append(autoscaling_status(kube, "ebb", namespace).get("reason", ""))
                if surge_running_at and eu_running_at and ebb_trace and ebb_trace[-1][1] == 1:
                    break
                time.sleep(0.5)

            # surge: the HPA's minReplicas rose about one horizon ahead of P, and the pods ran before P.
            assert surge_raised_at is not None, "surge floor never rose"
            assert surge_start - STEP - INTERVAL <= surge_raised_at < surge_start, (
                surge_raised_at - surge_start
            )
            assert surge_running_at is not None and surge_running_at < surge_start, (
                "pods not Running before P"
            )
            assert surge_status_at_raise.get("forecastPeakTime") == iso(surge_start), surge_status_at_raise
            assert 15 <= surge_status_at_raise["forecastPeak"] <= 40, surge_status_at_raise
            assert surge_status_at_raise["reason"].startswith("ForecastPeak"), surge_status_at_raise
            deployment = kube.items("deployments", namespace, selector="app.kubernetes.io/instance=surge")[0]
            assert deployment["spec"]["replicas"] >= 4

            # ebb: held while busy, then one replica per step after E, down to spec.minReplicas.
            values = [v for _, v in ebb_trace]
            top = values.index(max(values))
            descent = ebb_trace[top:]
            assert descent[-1][1] == 1, ebb_trace
            assert all(b[1] == a[1] - 1 for a, b in itertools.pairwise(descent)), ebb_trace
            assert descent[1][0] >= ebb_end + LIVE_FADE, (descent[1][0] - ebb_end, ebb_trace)
            assert "HoldAfterRaise" in ebb_reason_kinds, ebb_reason_kinds  # forecast low, floor held
            assert ebb_descending_floors >= {4, 3, 2}, (ebb_descending_floors, ebb_reasons)
            assert hpa_min(kube, "fresh", namespace) == 2

            # regional: eu-central-1 forecast on its own, raised ahead of P with its pods Running in
            # eu-central-1; ap-southeast-1 (LOW all through) never left its minimum.
            assert eu_raised_at is not None, "regional eu-central-1 floor never rose"
            assert surge_start - STEP - INTERVAL <= eu_raised_at < surge_start, eu_raised_at - surge_start
            assert eu_running_at is not None and eu_running_at < surge_start, (
                "regional eu-central-1 pods not Running before P"
            )
            ap_floors.add(hpa_min(kube, ap_hpa, namespace))
            assert ap_floors == {1}, ap_floors
            assert running_in_region(kube, "regional", namespace, AP) == 1
            # status.autoscaling: the regions' floors summed, each region's reason named.
            eu_floor = hpa_min(kube, eu_hpa, namespace) or 0
            merged = wait_until(
                lambda: (
                    (s := autoscaling_status(kube, "regional", namespace)).get("floor") == eu_floor + 1 and s
                ),
                60,
                what="regional status.autoscaling with both floors",
            )
            reasons = region_reasons(merged)
            assert reasons.keys() == {EU, AP}, merged
            assert reason_kind(reasons[AP]) == "ForecastPeak" and "-> 1 replicas" in reasons[AP], merged
            assert reason_kind(reasons[EU]) in ("ForecastPeak", "LiveDemand", "MaxReplicas"), merged
            assert "-> 1 replicas" not in reasons[EU], merged
            assert 4 <= eu_floor <= 8, merged

            # tuned: only an objective in spec; the tuning pass (in the worker, at the first fit)
            # chose every knob on the replayed last day and says whether the objective was met.
            tuning = wait_until(
                lambda: (
                    (autoscaling_status(kube, "tuned", namespace).get("tuning") or {}).get("quantile")
                    and autoscaling_status(kube, "tuned", namespace)["tuning"]
                ),
                120,
                what="tuned status.autoscaling.tuning",
            )
            assert tuning["objective"] == "maxExtraCostPercent=10" and isinstance(tuning["met"], bool), tuning
            assert tuning["quantile"] in (0.5, 0.75, 0.9) and tuning["headroomPercent"] in (0, 5, 10), tuning
            assert tuning["holdAfterRaiseSeconds"] in (120, 300, 600), tuning
            assert tuning["replayedFrom"] < tuning["replayedTo"] <= iso(time.time()), tuning
            assert tuning["met"] == (tuning["extraCostPercent"] <= 10), tuning
            assert autoscaling_status(kube, "tuned", namespace).get("model"), "tuned model not fitted"

            # watch (mode observe): the forecast raised its floor in status, as the ebb's, but its HPA
            # kept the user's minReplicas and was never written after it was created.
            watch = autoscaling_status(kube, "watch", namespace)
            assert watch.get("mode") == "observe" and watch.get("model"), watch
            assert "mode observe" in watch["reason"], watch
            watch_floors.add(hpa_min(kube, "watch", namespace))
            assert watch_floors == {1}, watch_floors
            assert max(watch_reported) >= 4, watch_reported
            assert spec_writes(kube, "watch", namespace) == watch_writes, (watch_writes, watch)
    finally:
        for op in ops:
            op.stop()
        prometheus.remove_job(job)
        prometheus.reload()
        exporter.stop()
