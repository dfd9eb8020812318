"""The predictive autoscaler's cycle: pure helpers (queries, settings, refits, status) and the shell
against fakes (no cluster, no Prometheus; fits run in-process except in the process-pool test)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import math
import multiprocessing
import pickle
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from modelserve.api.modeldeployment import parse_model_deployment
from modelserve.forecasting import (
    FloorDecision,
    ForecastState,
    InsufficientHistory,
    clean_series,
    cycle,
    demand,
    fit_forecaster,
)
from modelserve.forecasting.cycle import PredictiveFloor
from modelserve.metrics_source import PrometheusQuery
from modelserve.observability.metrics import PREDICTIVE_FLOOR, REGISTRY
from modelserve.planner.modeldeployment import Observed, plan_model_deployment
from modelserve.reconcile import predictive as p

STEP = demand.STEP_SECONDS
DAY = 86400
# A Monday 12:00 UTC, on the 5-minute grid.
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC).timestamp()


def md_body(name: str = "iris", namespace: str = "ml", **autoscaling: Any) -> dict:
    scaling: dict[str, Any] = {
        "minReplicas": 1,
        "maxReplicas": 10,
        "target": {"metric": "requestsPerSecond", "averageValue": 5},
        "predictive": {"enabled": True},
    }
    predictive = autoscaling.pop("predictive", {})
    scaling.update(autoscaling)
    scaling["predictive"] = {**scaling["predictive"], **predictive}
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace, "uid": f"u-{name}", "generation": 1},
        "spec": {
            "model": {"name": name, "version": "1", "uri": f"s3://m/{name}/1"},
            "runtime": {"image": "srv:1", "startupSeconds": 45},
            "autoscaling": scaling,
        },
    }


# ------------------------------------------------------------------------------------------- queries
def test_default_query_follows_the_metric_contract() -> None:
    assert demand.demand_query("ml", "iris") == (
        'sum(rate(modelserve_requests_total{namespace="ml",model="iris"}[5m]))'
    )
    assert demand.demand_query("ml", "iris", by_region=True) == (
        'sum by (region) (rate(modelserve_requests_total{namespace="ml",model="iris"}[5m]))'
    )


def test_custom_query_placeholders_are_filled() -> None:
    custom = 'sum(rate(my_requests{ns="{{namespace}}", app="{{ model }}"}[1m]))'
    assert demand.demand_query("ml", "iris", custom) == 'sum(rate(my_requests{ns="ml", app="iris"}[1m]))'
    assert demand.demand_query("ml", "iris", custom, by_region=True) == demand.demand_query(
        "ml", "iris", custom
    )


def test_range_is_aligned_to_the_bin_grid_and_split_for_prometheus() -> None:
    assert demand.aligned_range(NOW - 7 * DAY + 1, NOW + 299) == (NOW - 7 * DAY + STEP, NOW)
    assert demand.aligned_range(NOW + 1, NOW + 299) is None
    windows = demand.split_range(0.0, 30_000.0 * STEP, max_points=10_000)
    assert windows[0] == (0.0, 9_999.0 * STEP) and windows[-1][1] == 30_000.0 * STEP
    assert all(b[0] == a[1] + STEP for a, b in itertools.pairwise(windows))
    assert sum(int((e - s) / STEP) + 1 for s, e in windows) == 30_001


def test_a_sample_describes_the_bin_before_it() -> None:
    series = demand.series_from_points([(NOW - STEP, 1.0), (NOW, 3.0)])
    assert series.start == NOW - 2 * STEP
    assert list(series.values) == [1.0, 3.0]
    assert series.end + STEP == NOW  # the newest complete bin ends at the last evaluation time
    assert len(demand.series_from_points([])) == 0


def test_the_burst_querys_minutes_keep_their_spikes() -> None:
    # The demand series is cleaned of one-bin spikes; the burst query's minutes must not be: their
    # spread is what the dispersion measures.
    points = [(NOW + 60.0 * i, 100.0 if i == 30 else 5.0) for i in range(60)]
    assert max(demand.series_from_points(points, 60).values) < 100.0
    assert max(demand.series_from_points(points, 60, clip_outliers=False).values) == 100.0


def test_series_are_grouped_by_region_and_summed() -> None:
    matrix = [
        ({"region": "eu"}, [(1.0, 2.0), (2.0, 3.0)]),
        ({"region": "eu"}, [(1.0, 1.0)]),
        ({"region": "ap"}, [(1.0, float("nan")), (2.0, 5.0)]),
    ]
    assert demand.points_by_region(matrix, by_region=True) == {
        "eu": [(1.0, 3.0), (2.0, 3.0)],
        "ap": [(2.0, 5.0)],
    }
    assert demand.points_by_region(matrix, by_region=False) == {None: [(1.0, 3.0), (2.0, 8.0)]}
    vector = [({"region": "eu"}, 4.0), ({"region": "ap"}, float("nan"))]
    assert demand.live_by_region(vector, by_region=True) == {"eu": 4.0}
    assert demand.live_by_region(vector, by_region=False) == {None: 4.0}


# ------------------------------------------------------------------------------------------ settings
def test_floor_params_come_from_the_spec() -> None:
    body = md_body(
        minReplicas=2,
        maxReplicas=9,
        predictive={
            "headroomPercent": 25,
            "scaleDownPercentPerStep": 20,
            "horizon": "15m",
            "quantile": 0.95,
            "model": "sarimax",
            "seasonality": "daily",
            "history": "3d",
            "minHistory": "1d",
            "refitInterval": "30m",
        },
    )
    config = cycle.config_from_spec(
        parse_model_deployment(body["spec"]), "ml", "iris", planning_interval_seconds=30, hold=120
    )
    assert isinstance(config, cycle.PredictiveConfig)
    params = config.floors[None]
    assert (params.min_replicas, params.max_replicas, params.target_per_replica) == (2, 9, 5.0)
    assert (params.headroom_percent, params.scale_down_percent_per_step) == (25, 20)
    assert (params.startup_seconds, params.horizon_seconds, params.hold_seconds) == (45, 900, 120)
    assert params.planning_interval_seconds == 30
    assert config.regions == (None,) and not config.by_region
    assert config.refit_interval_seconds == 1800
    assert config.fit == cycle.FitSettings(
        query=demand.demand_query("ml", "iris"),
        history_seconds=3 * DAY,
        model="sarimax",
        seasonality="daily",
        min_history_seconds=DAY,
        quantile=0.95,
        horizon_seconds=900,
        burst_query='sum(rate(modelserve_requests_total{namespace="ml",model="iris"}[1m]))',
    )


def test_default_horizon_is_the_lead_plus_a_step_at_least_five_minutes() -> None:
    config = cycle.config_from_spec(parse_model_deployment(md_body()["spec"]), "ml", "iris")
    assert isinstance(config, cycle.PredictiveConfig)
    assert config.fit.horizon_seconds == 300  # 45 s start-up + 15 s HPA sync + 60 s step < 5 min


def test_cpu_utilization_has_no_demand_mapping_and_stays_reactive() -> None:
    body = md_body(target={"metric": "cpuUtilization"})
    result = cycle.config_from_spec(parse_model_deployment(body["spec"]), "ml", "iris")
    assert isinstance(result, cycle.Reactive) and result.reason == cycle.REASON_UNSUPPORTED_METRIC
    assert "cpuUtilization" in result.message and "reactive" in result.message
    body = md_body(target={"metric": "concurrency", "averageValue": 4})
    result = cycle.config_from_spec(parse_model_deployment(body["spec"]), "ml", "iris")
    assert isinstance(result, cycle.Reactive) and "predictive.query" in result.message
    body["spec"]["autoscaling"]["predictive"]["query"] = 'sum(inflight{model="{{model}}"})'
    assert isinstance(
        cycle.config_from_spec(parse_model_deployment(body["spec"]), "ml", "iris"), cycle.PredictiveConfig
    )


def _placement(regions: list[dict]) -> dict:
    return {
        "metadata": {"name": "g"},
        "spec": {"residency": {"allowedRegions": [r["name"] for r in regions]}, "regions": regions},
    }


def _nodes(regions: list[str]) -> list[dict]:
    return [
        {
            "metadata": {"name": f"n-{r}", "labels": {"topology.kubernetes.io/region": r}},
            "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
        for r in regions
    ]


@pytest.mark.parametrize(
    ("low", "high", "regions"),
    [
        (2, 10, [{"name": "a", "weight": 3}, {"name": "b", "weight": 1}]),
        (5, 7, [{"name": "a", "weight": 1, "minReplicas": 3}, {"name": "b", "weight": 2, "maxReplicas": 2}]),
        (1, 1, [{"name": "a"}, {"name": "b"}, {"name": "c", "weight": 5}]),
    ],
)
def test_region_bounds_are_the_planners(low: int, high: int, regions: list[dict]) -> None:
    body = md_body(minReplicas=low, maxReplicas=high, placementRef={"name": "g"})
    body["spec"]["placementRef"] = body["spec"]["autoscaling"].pop("placementRef")
    placement = _placement(regions)
    config = cycle.config_from_spec(
        parse_model_deployment(body["spec"]), "ml", "iris", placement_spec=placement["spec"]
    )
    assert isinstance(config, cycle.PredictiveConfig) and config.by_region
    assert config.query.startswith("sum by (region)")
    plan = plan_model_deployment(
        body, Observed(placement=placement, nodes=_nodes([r["name"] for r in regions])), datetime.now(UTC)
    )
    hpas = {h["metadata"]["name"]: h["spec"] for h in plan.desired if h["kind"] == "HorizontalPodAutoscaler"}
    for region in config.regions:
        hpa = hpas[f"iris-{region}"]
        params = config.floors[region]
        assert (params.min_replicas, params.max_replicas) == (hpa["minReplicas"], hpa["maxReplicas"])


# -------------------------------------------------------------------------------------------- refits
SETTINGS = cycle.FitSettings("q", 7 * DAY, "auto", "auto", 2 * DAY, 0.9, 300)


def due(**kw: Any) -> bool:
    args: dict[str, Any] = {
        "now": NOW,
        "last_attempt": NOW - 600,
        "fitted_with": SETTINGS,
        "settings": SETTINGS,
        "has_state": True,
        "refit_interval_seconds": 3600,
        "planning_interval_seconds": 60,
        "jitter": 0.0,
    }
    args.update(kw)
    return cycle.refit_due(**args)


def test_when_to_refit() -> None:
    assert due(last_attempt=None)  # never fitted
    assert not due()  # fitted 10 minutes ago, refit interval 1h
    assert due(last_attempt=NOW - 3600)
    assert due(settings=cycle.FitSettings("q2", 7 * DAY, "auto", "auto", 2 * DAY, 0.9, 300))  # spec changed
    assert due(last_attempt=NOW - 3000, jitter=0.9)  # jitter pulls the refit up to a quarter earlier
    assert not due(last_attempt=NOW - 2600, jitter=0.9)
    # Without a state (too little history, a failed fit): look again after RECHECK_STEPS steps.
    assert not due(has_state=False, last_attempt=NOW - 9 * 60)
    assert due(has_state=False, last_attempt=NOW - 10 * 60)


@given(st.lists(st.sampled_from(["ml", "prod", "a", "b"]), min_size=3, max_size=3))
def test_jitter_is_stable_and_in_range(key: list[str]) -> None:
    value = cycle.jitter_fraction(key)
    assert 0 <= value < 1 and value == cycle.jitter_fraction(tuple(key))


def test_fetch_window_is_the_history_for_a_refit_else_only_new_bins() -> None:
    history = 7 * DAY
    assert cycle.fetch_start(NOW, history, [NOW - 600], refit=True) == NOW - history
    assert cycle.fetch_start(NOW, history, [None], refit=False) == NOW - history
    assert cycle.fetch_start(NOW, history, [NOW - 900, NOW - 600], refit=False) == NOW - 900 + 2 * STEP
    assert cycle.fetch_start(NOW, history, [NOW - 30 * DAY], refit=False) == NOW - history


# -------------------------------------------------------------------------------------------- status
def _state(**kw: Any) -> ForecastState:
    fields = {
        "model": "holtWinters",
        "seasonality": "daily",
        "season_points": 288,
        "step_seconds": STEP,
        "offset": 0.1,
        "last_time": NOW - STEP,
        "fitted_at": NOW - 120,
        "quantile": 0.9,
        "resid_quantile": 0.1,
        "resid_scale": 0.05,
        "backtest_error": 7.123456,
        "history_points": 2016,
    }
    fields.update(kw)
    return ForecastState(**fields)


def test_status_has_every_api_field() -> None:
    decision = FloorDecision(
        4,
        "ForecastPeak",
        "q0.9 forecast peak 18 in the next 300s -> 4 replicas",
        peak=18.123456,
        peak_time=NOW + 300,
        last_raised_at=NOW,
    )
    status = cycle.autoscaling_status(decision, _state())
    assert status == {
        "floor": 4,
        "reason": "ForecastPeak: q0.9 forecast peak 18 in the next 300s -> 4 replicas",
        "model": "holtWinters",
        "backtestError": 7.123,
        "backtestMetric": "sMAPE",
        "forecastPeak": 18.12,
        "forecastPeakTime": "2026-03-02T12:05:00Z",
        "lastFitTime": "2026-03-02T11:58:00Z",
        "historyPoints": 2016,
    }
    noted = cycle.autoscaling_status(decision, _state(backtest_error=None), "Prometheus unavailable (x)")
    assert noted["reason"].endswith("; Prometheus unavailable (x)") and "backtestError" not in noted


def test_insufficient_history_status_says_why_and_the_floor_is_reactive() -> None:
    short = InsufficientHistory(86400 + 4 * 3600, 2 * DAY)
    decision = FloorDecision(2, "InsufficientHistory", f"{short.message}; the HPA stays reactive")
    status = cycle.autoscaling_status(decision, short)
    assert status["reason"].startswith("InsufficientHistory: insufficient history: have 1d4h, need 2d")
    assert status["historyPoints"] == 336 and status["floor"] == 2
    assert cycle.floor_for(decision, has_state=False, data_age=None) is None


def test_stale_data_keeps_the_floor_for_an_hour_then_goes_reactive() -> None:
    decision = FloorDecision(5, "StaleData", "newest demand data is 1200s old")
    assert cycle.floor_for(decision, has_state=True, data_age=1200) == 5
    assert cycle.floor_for(decision, has_state=True, data_age=cycle.STALE_REACTIVE_SECONDS + 1) is None
    assert cycle.floor_for(FloorDecision(3, "NoForecast", "x"), has_state=False, data_age=None) is None


def test_reactive_status() -> None:
    floor = cycle.reactive_floor(cycle.Reactive("UnsupportedMetric", "no mapping"), 2)
    assert floor == PredictiveFloor(None, {"reason": "UnsupportedMetric: no mapping", "floor": 2})


# --------------------------------------------------------------------- the fit crosses process borders
def _daily_points(days: float = 7, end: float = NOW, base: float = 10.0, amp: float = 8.0) -> list:
    times = np.arange(end - days * DAY + STEP, end + 1, STEP)
    return [(float(t), base + amp * math.sin(2 * math.pi * ((t - STEP / 2) % DAY) / DAY)) for t in times]


def test_state_and_series_survive_pickle_and_json() -> None:
    series = demand.series_from_points(_daily_points(3))
    state = fit_forecaster(series, model="holtWinters", seasonality="daily", min_history_seconds=DAY)
    assert isinstance(state, ForecastState)
    assert pickle.loads(pickle.dumps(state)) == state
    assert ForecastState.from_json(state.to_json()).model == state.model
    again = pickle.loads(pickle.dumps(series))
    assert np.array_equal(again.values, series.values) and again.start == series.start
    short = InsufficientHistory(10.0, 20.0)
    assert pickle.loads(pickle.dumps(short)) == short


def test_fit_runs_in_a_spawned_worker_process() -> None:
    series = demand.series_from_points(_daily_points(3))
    settings = cycle.FitSettings("q", 3 * DAY, "seasonalNaive", "daily", DAY, 0.9, 300)
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        state = pool.submit(p.fit_in_worker, series, settings, NOW).result(timeout=120)
    assert isinstance(state, ForecastState) and state.model == "seasonalNaive"
    assert state.fitted_at == NOW and state.history_points == len(series)


# ----------------------------------------------------------------------------- the shell, with fakes
class FakeQueue:
    def __init__(self, *keys: tuple[str, str, str]):
        self.known = set(keys)
        self.added: list[tuple[str, str, str]] = []

    def add(self, key: tuple[str, str, str], after: float = 0) -> None:
        self.known.add(key)
        self.added.append(key)


class FakeKube:
    def __init__(self, *objects: dict):
        self.objects = {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects}

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        return self.objects.get((kind, namespace, name))


class FakeBackend:
    """Prometheus with per-model demand (points as a range query gives them) or no answer at all."""

    def __init__(
        self,
        demand: dict[str, list[tuple[float, float]]],
        fine: dict[str, list[tuple[float, float]]] | None = None,
    ):
        self.demand = demand
        self.fine = fine or {}  # the burst query's 1-minute demand per model
        self.down = False
        self.fine_down = False
        self.ranges: list[tuple[str, float, float]] = []
        self.fine_ranges: list[tuple[str, float, float, str]] = []

    def _model(self, query: str) -> str:
        return query.split('model="')[1].split('"')[0]

    def _series(self, model: str) -> list[tuple[dict, list[tuple[float, float]]]]:
        """(labels, points) of each series the model's demand query returns."""
        points = self.demand.get(model) or []
        return [({}, points)] if points else []

    def custom_query(self, query: str, params: dict | None = None, timeout: Any = None) -> Any:
        if self.down:
            raise ConnectionError("connection refused")
        return [
            {"metric": labels, "value": [points[-1][0], str(points[-1][1])]}
            for labels, points in self._series(self._model(query))
            if points
        ]

    def custom_query_range(
        self,
        query: str,
        start_time: datetime,
        end_time: datetime,
        step: str,
        params: dict | None = None,
        timeout: Any = None,
    ) -> Any:
        if self.down:
            raise ConnectionError("connection refused")
        lo, hi = start_time.timestamp(), end_time.timestamp()
        model = self._model(query)
        if "[1m]" in query:  # the burst query
            if self.fine_down:
                raise ConnectionError("burst query refused")
            self.fine_ranges.append((model, lo, hi, step))
            series = [({}, self.fine[model])] if self.fine.get(model) else []
        else:
            self.ranges.append((model, lo, hi))
            series = self._series(model)
        out = []
        for labels, points in series:
            inside = [[t, str(v)] for t, v in points if lo <= t <= hi]
            if inside:
                out.append({"metric": labels, "values": inside})
        return out


def controller(
    kube: FakeKube, backend: FakeBackend, queue: FakeQueue, clock: list[float]
) -> p.PredictiveController:
    c = p.PredictiveController(
        kube,  # type: ignore[arg-type]
        queue,  # type: ignore[arg-type]
        prometheus_url="http://prometheus",
        interval=60,
        hold=600,
        prometheus=PrometheusQuery("http://prometheus", backend=backend),
        clock=lambda: clock[0],
    )

    async def fit_here(series: Any, settings: cycle.FitSettings, now: float, fine: Any = None) -> Any:
        return p.fit_in_worker(series, settings, now, fine)

    async def tune_here(*args: Any) -> Any:
        return p.tune_in_worker(*args)

    c._fit = fit_here  # type: ignore[method-assign]
    c._run_tuning = tune_here  # type: ignore[method-assign]
    return c


def key(name: str) -> tuple[str, str, str]:
    return ("ModelDeployment", "ml", name)


def run_steps(c: p.PredictiveController, clock: list[float], steps: int = 1) -> None:
    async def go() -> None:
        for _ in range(steps):
            await c.step()
            clock[0] += 60

    try:
        asyncio.run(go())
    finally:
        c.close()


def test_cycle_publishes_floors_status_and_gauges_and_queues_on_change() -> None:
    # Daily demand between 2 and 18 rps; 12:00 is the rising flank's middle, the peak is at 18:00.
    demand = _daily_points(7, NOW)
    kube = FakeKube(
        md_body("iris", predictive={"model": "seasonalNaive"}),
        md_body("fresh"),
        md_body("cpu", target={"metric": "cpuUtilization"}),
        md_body("off", predictive={"enabled": False}),
    )
    backend = FakeBackend({"iris": demand})
    queue = FakeQueue(key("iris"), key("fresh"), key("cpu"), key("off"), ("SLAPolicy", "ml", "x"))
    clock = [NOW + 10]
    c = controller(kube, backend, queue, clock)
    run_steps(c, clock)
    floors = c.floors_for("ml", "iris")[None]
    assert floors.floor is not None and 1 <= floors.floor <= 10
    s = floors.status
    assert s["model"] == "seasonalNaive" and s["historyPoints"] == 2016 and s["floor"] == floors.floor
    assert s["reason"].split(":")[0] in ("ForecastPeak", "LiveDemand")
    # The upper forecast over the next 5 minutes x 1.1 headroom / 5 rps per replica.
    assert floors.floor == math.ceil(s["forecastPeak"] * 1.05 / 5 - 1e-9)
    fresh = c.floors_for("ml", "fresh")[None]
    assert fresh.floor is None and "insufficient history: have 0s, need 2d" in fresh.status["reason"]
    cpu = c.floors_for("ml", "cpu")[None]
    assert cpu.floor is None and cpu.status["reason"].startswith("UnsupportedMetric")
    assert c.floors_for("ml", "off") == {}
    assert set(queue.added) == {key("iris"), key("fresh"), key("cpu")}
    assert (
        REGISTRY.get_sample_value(
            "modelserve_predictive_floor", {"namespace": "ml", "modeldeployment": "iris", "region": ""}
        )
        == floors.floor
    )
    assert REGISTRY.get_sample_value(
        "modelserve_forecast_demand", {"namespace": "ml", "modeldeployment": "iris", "region": ""}
    ) == pytest.approx(s["forecastPeak"], rel=1e-3)


def test_between_refits_only_new_bins_are_fetched() -> None:
    demand = _daily_points(7, NOW + 3600)
    backend = FakeBackend({"iris": demand})
    queue = FakeQueue(key("iris"))
    clock = [NOW + 10]
    c = controller(FakeKube(md_body("iris", predictive={"model": "seasonalNaive"})), backend, queue, clock)
    run_steps(c, clock, steps=6)
    ranges = [(lo, hi) for _, lo, hi in backend.ranges]
    assert ranges[0] == (NOW - 7 * DAY + STEP, NOW)  # the whole history for the first fit
    # Later steps ask only for the bins after the newest one folded in (none until 12:05 is complete).
    assert ranges[1:] == [(NOW + STEP, NOW + STEP)]
    status = c.floors_for("ml", "iris")[None].status
    assert status["lastFitTime"] == "2026-03-02T12:00:10Z"


def test_prometheus_outage_keeps_the_floor_and_says_so() -> None:
    backend = FakeBackend({"iris": _daily_points(7, NOW)})
    queue = FakeQueue(key("iris"))
    clock = [NOW + 10]
    c = controller(FakeKube(md_body("iris", predictive={"model": "seasonalNaive"})), backend, queue, clock)

    async def go() -> None:
        await c.step()
        before = c.floors_for("ml", "iris")[None].floor
        backend.down = True
        clock[0] += 60
        await c.step()
        during = c.floors_for("ml", "iris")[None]
        assert during.floor is not None and during.floor >= before  # forecast from the kept state
        assert "Prometheus unavailable" in during.status["reason"]
        assert "forecasting from data up to 2026-03-02T12:00:00Z" in during.status["reason"]
        clock[0] += 1200  # the newest data is now 21 minutes old: keep the floor, say so
        await c.step()
        stale = c.floors_for("ml", "iris")[None]
        assert stale.floor == during.floor and stale.status["reason"].startswith("StaleData")
        clock[0] += cycle.STALE_REACTIVE_SECONDS
        await c.step()
        gone = c.floors_for("ml", "iris")[None]
        assert gone.floor is None and "the HPA is reactive" in gone.status["reason"]

    try:
        asyncio.run(go())
    finally:
        c.close()


def test_one_broken_model_does_not_stop_the_others() -> None:
    class Exploding(FakeKube):
        def get(self, kind: str, namespace: str, name: str) -> dict | None:
            if name == "bad":
                raise RuntimeError("boom")
            return super().get(kind, namespace, name)

    kube = Exploding(md_body("iris", predictive={"model": "seasonalNaive"}))
    queue = FakeQueue(key("bad"), key("iris"))
    clock = [NOW + 10]
    c = controller(kube, FakeBackend({"iris": _daily_points(7, NOW)}), queue, clock)
    run_steps(c, clock)
    assert c.floors_for("ml", "iris")[None].floor is not None
    bad = c.floors_for("ml", "bad")[None]
    assert bad.floor is None and bad.status["reason"] == "InternalError: RuntimeError: boom"


def test_a_model_turned_off_or_deleted_is_forgotten_and_requeued() -> None:
    body = md_body("iris", predictive={"model": "seasonalNaive"})
    kube = FakeKube(body)
    queue = FakeQueue(key("iris"))
    clock = [NOW + 10]
    c = controller(kube, FakeBackend({"iris": _daily_points(7, NOW)}), queue, clock)

    async def go() -> None:
        await c.step()
        assert c.floors_for("ml", "iris")
        queue.added.clear()
        body["spec"]["autoscaling"]["predictive"]["enabled"] = False
        await c.step()
        assert c.floors_for("ml", "iris") == {} and queue.added == [key("iris")]
        assert ("ml", "iris", None) not in c._tracks
        samples = [
            s
            for m in PREDICTIVE_FLOOR.collect()
            for s in m.samples
            if s.labels.get("modeldeployment") == "iris" and s.labels.get("namespace") == "ml"
        ]
        assert samples == []

    try:
        asyncio.run(go())
    finally:
        c.close()


# The autoscaler a previous operator left: its HPA, or under KEDA its ScaledObject (KEDA's own HPA,
# `keda-hpa-iris`, holds the same minimum under another name, and is not what the operator wrote).
AUTOSCALERS_LEFT = {
    "hpa": [{"kind": "HorizontalPodAutoscaler", "spec": {"minReplicas": 9}, "name": "iris"}],
    "keda": [
        {"kind": "ScaledObject", "spec": {"minReplicaCount": 9, "maxReplicaCount": 10}, "name": "iris"},
        {"kind": "HorizontalPodAutoscaler", "spec": {"minReplicas": 9}, "name": "keda-hpa-iris"},
    ],
}


@pytest.mark.parametrize("engine", sorted(AUTOSCALERS_LEFT))
def test_restart_continues_from_the_hpa_floor(engine: str) -> None:
    left = [
        {"kind": o["kind"], "metadata": {"namespace": "ml", "name": o["name"]}, "spec": o["spec"]}
        for o in AUTOSCALERS_LEFT[engine]
    ]
    body = md_body("iris", predictive={"model": "seasonalNaive"})
    queue = FakeQueue(key("iris"))
    clock = [NOW + 10]
    # Demand that needs ~1 replica: the floor left at 9 by a previous operator descends 1 per step.
    flat = [(t, 1.0) for t, _ in _daily_points(7, NOW)]
    c = controller(FakeKube(body, *left), FakeBackend({"iris": flat}), queue, clock)

    floors = []

    async def go() -> None:
        for _ in range(3):
            await c.step()
            floors.append(c.floors_for("ml", "iris")[None])
            clock[0] += 60

    try:
        asyncio.run(go())
    finally:
        c.close()
    assert [f.floor for f in floors] == [8, 7, 6]
    assert floors[0].status["reason"].startswith("GradualDescent")


@given(
    so_min=st.one_of(st.none(), st.integers(0, 50)),
    hpa_min=st.one_of(st.none(), st.integers(1, 50)),
)
def test_the_seeded_floor_prefers_the_scaled_object(so_min: int | None, hpa_min: int | None) -> None:
    so = None if so_min is None else {"spec": {"minReplicaCount": so_min}}
    hpa = None if hpa_min is None else {"spec": {"minReplicas": hpa_min}}
    assert cycle.seeded_floor(so, hpa) == (so_min if so_min is not None else hpa_min)


def test_the_seeded_floor_ignores_what_is_not_a_count() -> None:
    assert cycle.seeded_floor({"spec": {}}, {"spec": {"minReplicas": 3}}) == 3
    assert cycle.seeded_floor({"spec": {"minReplicaCount": "2"}}, None) is None
    assert cycle.seeded_floor({"spec": {"minReplicaCount": True}}, {"spec": None}) is None
    assert cycle.seeded_floor(None, None) is None


def test_clean_series_of_the_cycle_matches_the_forecasters_grid() -> None:
    # The cycle's Series and one cleaned directly from mid-bin timestamps are the same grid.
    points = _daily_points(1)
    direct = clean_series([t - STEP / 2 for t, _ in points], [v for _, v in points], step_seconds=STEP)
    ours = demand.series_from_points(points)
    assert ours.start == direct.start and np.allclose(ours.values, direct.values)


def _floor(floor: int | None, reason: str, peak: float = 10.0, **extra: Any) -> PredictiveFloor:
    status = {
        "floor": floor,
        "reason": reason,
        "forecastPeak": peak,
        "forecastPeakTime": "2026-03-02T12:05:00Z",
        "model": "sarimax",
        **extra,
    }
    return PredictiveFloor(floor, status)


def test_material_change_ignores_figures_but_not_floors_reasons_or_notes() -> None:
    base = {
        None: _floor(
            3, "ForecastPeak: q0.9 forecast peak 10.2 in the next 375s -> 3 replicas; live demand 4.1 needs 1"
        )
    }
    figures = {
        None: _floor(
            3,
            "ForecastPeak: q0.9 forecast peak 11.7 in the next 375s -> 3 replicas; live demand 5.3 needs 2",
            peak=11.7,
        )
    }
    assert not cycle.material_change(base, figures)
    raised = {None: _floor(4, "ForecastPeak: q0.9 forecast peak 14.2 in the next 375s -> 4 replicas")}
    assert cycle.material_change(base, raised)
    reason = {
        None: _floor(
            3,
            "HoldAfterRaise: q0.9 forecast peak 10.2 in the next 375s -> 3 replicas; live demand 4.1 needs 1",
        )
    }
    assert cycle.material_change(base, reason)
    note = {None: _floor(3, base[None].status["reason"] + "; Prometheus unavailable (timeout)")}
    assert cycle.material_change(base, note)
    refit = {None: _floor(3, base[None].status["reason"], lastFitTime="2026-03-02T13:00:00Z")}
    assert cycle.material_change(base, refit)
    assert cycle.material_change(base, {"eu": base[None]})


def test_figure_only_changes_are_published_at_most_every_refresh_period() -> None:
    queue = FakeQueue(key("iris"))
    clock = [NOW]
    c = controller(FakeKube(), FakeBackend({}), queue, clock)
    try:
        published = []
        for minute in range(16):
            clock[0] = NOW + 60 * minute
            floors = {
                None: _floor(
                    3, f"ForecastPeak: q0.9 forecast peak {10 + minute} -> 3 replicas", peak=10.0 + minute
                )
            }
            before = len(queue.added)
            c.publish("ml", "iris", floors)
            if len(queue.added) > before:
                published.append(minute)
        # The first, then once per STATUS_REFRESH_SECONDS (5 min) although the peak moved every minute.
        assert published == [0, 5, 10, 15]
        assert c.floors_for("ml", "iris")[None].status["forecastPeak"] == 25.0
        # A new floor goes out at once.
        clock[0] += 60
        c.publish("ml", "iris", {None: _floor(4, "ForecastPeak: q0.9 forecast peak 30 -> 4 replicas")})
        assert c.floors_for("ml", "iris")[None].floor == 4 and len(queue.added) == 5
    finally:
        c.close()


class RegionalBackend(FakeBackend):
    """Prometheus answering `sum by (region)`: one series per region of the model's demand."""

    def __init__(self, demand: dict[str, dict[str, list[tuple[float, float]]]]):
        super().__init__({})
        self.regional = demand

    def _series(self, model: str) -> list[tuple[dict, list[tuple[float, float]]]]:
        return [({"region": r}, points) for r, points in self.regional.get(model, {}).items()]


def test_a_region_dropped_from_the_placement_is_forgotten_and_starts_afresh_when_back() -> None:
    body = md_body("geo", maxReplicas=20, predictive={"model": "seasonalNaive"})
    body["spec"]["placementRef"] = {"name": "two"}
    placement = {
        "kind": "RegionPlacement",
        "metadata": {"namespace": "ml", "name": "two"},
        "spec": {"residency": {"allowedRegions": ["eu", "ap"]}, "regions": [{"name": "eu"}, {"name": "ap"}]},
    }
    ap_hpa = {
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"namespace": "ml", "name": "geo-ap"},
        "spec": {"minReplicas": 1},
    }
    busy = [(t, 30.0) for t, _ in _daily_points(7, NOW + 3600)]  # 30 rps: 7 replicas per region
    quiet = [(t, 1.0) for t, _ in busy]
    backend = RegionalBackend({"geo": {"eu": quiet, "ap": busy}})
    clock = [NOW + 10]
    c = controller(FakeKube(body, placement, ap_hpa), backend, FakeQueue(key("geo")), clock)

    def ap_gauges() -> list:
        return [
            s
            for m in PREDICTIVE_FLOOR.collect()
            for s in m.samples
            if s.labels.get("modeldeployment") == "geo" and s.labels.get("region") == "ap"
        ]

    async def go() -> None:
        await c.step()
        assert {r: f.floor for r, f in c.floors_for("ml", "geo").items()} == {"eu": 1, "ap": 7}
        assert ap_gauges()
        placement["spec"]["regions"] = [{"name": "eu"}]  # ap leaves the placement
        clock[0] += 60
        await c.step()
        assert set(c.floors_for("ml", "geo")) == {"eu"}
        assert ("ml", "geo", "ap") not in c._tracks and ap_gauges() == []
        # ap comes back, quiet now, its HPA at 1: its floor starts from there, not from the old 7.
        backend.regional["geo"]["ap"] = quiet
        placement["spec"]["regions"] = [{"name": "eu"}, {"name": "ap"}]
        clock[0] += 60
        await c.step()
        ap = c.floors_for("ml", "geo")["ap"]
        assert ap.floor == 1, ap.status

    try:
        asyncio.run(go())
    finally:
        c.close()


# ----------------------------------------------------------------------------------- burst allowance
def test_burst_query_is_the_demand_over_one_minute_windows() -> None:
    assert demand.burst_query("ml", "iris") == (
        'sum(rate(modelserve_requests_total{namespace="ml",model="iris"}[1m]))'
    )
    assert demand.burst_query("ml", "iris", by_region=True) == (
        'sum by (region) (rate(modelserve_requests_total{namespace="ml",model="iris"}[1m]))'
    )
    assert demand.burst_query("ml", "iris", enabled=False) is None
    # A custom demand query cannot be rewritten to 1-minute windows: no allowance unless told how.
    assert demand.burst_query("ml", "iris", demand_custom="sum(my_rate)") is None
    assert (
        demand.burst_query("ml", "iris", demand_custom="x", custom='sum(rate(my{model="{{ model }}"}[1m]))')
        == 'sum(rate(my{model="iris"}[1m]))'
    )
    spec = parse_model_deployment(
        md_body(predictive={"query": "sum(x)", "burst": {"query": "sum(rate(x[1m]))"}})["spec"]
    )
    config = cycle.config_from_spec(spec, "ml", "iris")
    assert isinstance(config, cycle.PredictiveConfig) and config.fit.burst_query == "sum(rate(x[1m]))"
    off_spec = parse_model_deployment(md_body(predictive={"burst": {"enabled": False}})["spec"])
    off = cycle.config_from_spec(off_spec, "ml", "iris")
    assert isinstance(off, cycle.PredictiveConfig) and off.fit.burst_query is None


def test_status_reports_dispersion_and_allowance() -> None:
    decision = FloorDecision(
        5,
        "ForecastPeak",
        "q0.9 forecast peak 18 + burst allowance 2.2",
        peak=18.0,
        peak_time=NOW + 300,
        burst=2.2345,
    )
    status = cycle.autoscaling_status(decision, _state(dispersion=3.14159))
    assert status["dispersion"] == 3.14 and status["burstAllowance"] == pytest.approx(2.2345, abs=1e-3)
    plain = cycle.autoscaling_status(FloorDecision(4, "ForecastPeak", "m", peak=18.0, burst=0.0), _state())
    assert "dispersion" not in plain and "burstAllowance" not in plain
    # The allowance moves with the forecast, like the peak: a figure, not a material change.
    moved = {None: PredictiveFloor(5, {**status, "burstAllowance": 2.5})}
    assert not cycle.material_change({None: PredictiveFloor(5, status)}, moved)


def _minute_points(end: float, dispersion: float, seed: int = 5) -> list[tuple[float, float]]:
    """The last day of 1-minute demand as the burst query returns it (sample at t = the minute before t):
    the daily shape of _daily_points with counting noise of the given dispersion."""
    rng = np.random.default_rng(seed)
    times = np.arange(end - DAY + 60, end + 1, 60)
    rate = 10.0 + 8.0 * np.sin(2 * np.pi * ((times - 30) % DAY) / DAY)
    mean = rate * 60
    counts = rng.negative_binomial(mean / (dispersion - 1), 1 / dispersion)
    return [(float(t), float(c) / 60) for t, c in zip(times, counts, strict=True)]


def test_cycle_measures_dispersion_and_plans_the_allowance() -> None:
    backend = FakeBackend({"iris": _daily_points(7, NOW)}, fine={"iris": _minute_points(NOW, 4.0)})
    queue = FakeQueue(key("iris"))
    clock = [NOW + 10]
    # 0.4 req/s per replica: fine enough that the allowance (~0.5 req/s here) changes the floor.
    body = md_body(
        "iris",
        maxReplicas=100,
        target={"metric": "requestsPerSecond", "averageValue": 0.4},
        predictive={"model": "seasonalNaive"},
    )
    c = controller(FakeKube(body), backend, queue, clock)
    run_steps(c, clock)
    floors = c.floors_for("ml", "iris")[None]
    s = floors.status
    # One range query at a 1-minute step over the last day, for the refit only.
    assert backend.fine_ranges == [("iris", NOW - DAY + 60, NOW, "60s")]
    assert s["dispersion"] == pytest.approx(4.0, rel=0.2)
    # The allowance (minute noise in quadrature with the forecast interval, tests/unit/
    # test_forecast_burst.py) is of the size of the noise's z_0.75 x sqrt(dispersion x peak / 60 s)
    # (quantile 0.75 by default); the floor provisions for both.
    noise = 0.6745 * math.sqrt(s["dispersion"] * s["forecastPeak"] / 60)
    assert 0.2 * noise < s["burstAllowance"] < 2 * noise
    assert floors.floor == math.ceil((s["forecastPeak"] + s["burstAllowance"]) * 1.05 / 0.4 - 1e-3)
    assert floors.floor > math.ceil(s["forecastPeak"] * 1.05 / 0.4)  # without it: one replica less
    assert "+ burst allowance" in s["reason"]


def test_a_failing_burst_query_only_drops_the_allowance() -> None:
    backend = FakeBackend({"iris": _daily_points(7, NOW)}, fine={"iris": _minute_points(NOW, 4.0)})
    backend.fine_down = True
    queue = FakeQueue(key("iris"))
    clock = [NOW + 10]
    c = controller(FakeKube(md_body("iris", predictive={"model": "seasonalNaive"})), backend, queue, clock)
    run_steps(c, clock)
    s = c.floors_for("ml", "iris")[None].status
    assert s["model"] == "seasonalNaive" and s["reason"].startswith("ForecastPeak")
    assert "dispersion" not in s and "burstAllowance" not in s
    assert c.floors_for("ml", "iris")[None].floor == math.ceil(s["forecastPeak"] * 1.05 / 5 - 1e-9)


def test_hold_after_raise_is_per_model_with_the_operators_default() -> None:
    own = parse_model_deployment(md_body(predictive={"holdAfterRaise": "2m"})["spec"])
    config = cycle.config_from_spec(own, "ml", "iris", hold=900)
    assert isinstance(config, cycle.PredictiveConfig) and config.floors[None].hold_seconds == 120
    default = cycle.config_from_spec(parse_model_deployment(md_body()["spec"]), "ml", "iris", hold=900)
    assert isinstance(default, cycle.PredictiveConfig) and default.floors[None].hold_seconds == 900
    assert cycle.DEFAULT_HOLD_SECONDS == 300  # the HPA's own scale-down stabilization window
    with pytest.raises(Exception, match="holdAfterRaise"):
        parse_model_deployment(md_body(predictive={"holdAfterRaise": "soon"})["spec"])


def _two_days_of_minutes(end: float) -> list[tuple[float, float]]:
    return _minute_points(end - DAY, 2.0, seed=3) + _minute_points(end, 2.0)


def test_an_objective_tunes_the_unset_knobs_and_status_shows_the_choice() -> None:
    backend = FakeBackend({"iris": _daily_points(7, NOW)}, fine={"iris": _two_days_of_minutes(NOW)})
    queue = FakeQueue(key("iris"))
    clock = [NOW + 10]
    body = md_body(
        "iris",
        predictive={"model": "seasonalNaive", "quantile": 0.9, "objective": {"maxExtraCostPercent": 10}},
    )
    c = controller(FakeKube(body), backend, queue, clock)
    run_steps(c, clock, steps=2)
    floors = c.floors_for("ml", "iris")[None]
    tuning = floors.status["tuning"]
    assert tuning["objective"] == "maxExtraCostPercent=10" and isinstance(tuning["met"], bool)
    assert tuning["quantile"] == 0.9  # set in spec: kept
    assert tuning["headroomPercent"] in (0, 5, 10) and tuning["holdAfterRaiseSeconds"] in (120, 300, 600)
    assert tuning["replayedTo"] == cycle._iso(NOW) and tuning["replayedFrom"] == cycle._iso(NOW - DAY)
    assert tuning["met"] == (tuning["extraCostPercent"] <= 10)
    labels = {"namespace": "ml", "modeldeployment": "iris", "region": ""}
    extra = REGISTRY.get_sample_value("modelserve_predictive_tuning_extra_cost_percent", labels)
    assert extra == pytest.approx(tuning["extraCostPercent"], rel=1e-3, abs=1e-3)
    # Two days of minutes for the tuning (it replays the last, fits on the one before); one tuning
    # for both steps (the next is due in a day).
    assert backend.fine_ranges[0] == ("iris", NOW - 2 * DAY + 60, NOW, "60s")
    track = c._tracks[("ml", "iris", None)]
    assert track.fitted_with is not None and track.fitted_with.quantile == 0.9
    assert track.next_tuning == pytest.approx(NOW + 10 + DAY)
    # The floor is planned with the tuned headroom.
    assert floors.floor == math.ceil(
        (floors.status["forecastPeak"] + floors.status.get("burstAllowance", 0))
        * (1 + tuning["headroomPercent"] / 100)
        / 5
        - 1e-3
    ) or floors.status["reason"].startswith(("LiveDemand", "HoldAfterRaise", "GradualDescent"))


def test_without_enough_history_the_tuning_waits_and_says_so() -> None:
    backend = FakeBackend({"iris": _daily_points(2.5, NOW)})
    queue = FakeQueue(key("iris"))
    clock = [NOW + 10]
    body = md_body(
        "iris", predictive={"model": "seasonalNaive", "objective": {"maxUnderProvisionedPercent": 1}}
    )
    c = controller(FakeKube(body), backend, queue, clock)
    run_steps(c, clock)
    tuning = c.floors_for("ml", "iris")[None].status["tuning"]
    assert tuning["met"] is False and tuning["reason"].startswith("not tuned yet: insufficient history")
    assert c._tracks[("ml", "iris", None)].next_tuning == pytest.approx(NOW + 10 + 3600)


def test_observe_mode_reports_the_floor_but_never_hands_it_to_the_planner() -> None:
    hpa = {
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"namespace": "ml", "name": "iris"},
        "spec": {"minReplicas": 9},
    }
    body = md_body("iris", predictive={"model": "seasonalNaive", "mode": "observe"})
    queue = FakeQueue(key("iris"))
    clock = [NOW + 10]
    c = controller(FakeKube(body, hpa), FakeBackend({"iris": _daily_points(7, NOW)}), queue, clock)
    run_steps(c, clock, steps=2)
    floors = c.floors_for("ml", "iris")[None]
    s = floors.status
    assert floors.floor is None  # the planner keeps the user's minReplicas
    assert s["mode"] == "observe" and "mode observe" in s["reason"]
    # The floor is the forecast's, not one seeded from the HPA's minReplicas (9, the user's here).
    assert s["floor"] == math.ceil(s["forecastPeak"] * 1.05 / 5 - 1e-9)
    assert (
        REGISTRY.get_sample_value(
            "modelserve_predictive_floor", {"namespace": "ml", "modeldeployment": "iris", "region": ""}
        )
        == s["floor"]
    )
    plan = plan_model_deployment(body, Observed(predictive=c.floors_for("ml", "iris")), datetime.now(UTC))
    hpas = [o for o in plan.desired if o["kind"] == "HorizontalPodAutoscaler"]
    assert hpas and hpas[0]["spec"]["minReplicas"] == 1
    assert plan.status["autoscaling"]["mode"] == "observe"


def test_idle_models_cost_one_list_per_namespace_not_a_get_each() -> None:
    """A planning step lists the models of each namespace once and reads none of those without
    predictive autoscaling (a GET per model every step cost 1,000 requests a minute at 1,000 models)."""

    class Listing(FakeKube):
        def __init__(self, *objects: dict):
            super().__init__(*objects)
            self.calls: list[tuple[str, str]] = []

        def get(self, kind: str, namespace: str, name: str) -> dict | None:
            self.calls.append(("get", name))
            return super().get(kind, namespace, name)

        def list_pages(self, kind: str, namespace: str | None = None) -> Iterator[dict]:
            self.calls.append(("list", namespace or ""))
            yield from [o for (k, ns, _), o in self.objects.items() if k == kind and ns == namespace]

    plain = md_body("plain")
    plain["spec"]["autoscaling"]["predictive"]["enabled"] = False
    kube = Listing(md_body("iris", predictive={"model": "seasonalNaive"}), plain)
    queue = FakeQueue(key("iris"), key("plain"), key("gone"))
    clock = [NOW + 10]
    c = controller(kube, FakeBackend({"iris": _daily_points(7, NOW)}), queue, clock)
    run_steps(c, clock)
    assert kube.calls[0] == ("list", "ml")
    assert {name for verb, name in kube.calls if verb == "get"} == {"iris"}
    assert c.floors_for("ml", "iris")[None].floor is not None
    assert c.floors_for("ml", "plain") == {} and c.floors_for("ml", "gone") == {}
