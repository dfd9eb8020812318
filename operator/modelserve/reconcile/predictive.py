"""The predictive autoscaler's forecast cycle: Prometheus demand history in, HPA floors out.

`start(ctx, queue)` is called once at operator start-up (handlers/operator.py). It installs
`ctx.predictive_floors(namespace, name) -> {region | None: PredictiveFloor}` for the ModelDeployment
planner and returns the asyncio Task running :class:`PredictiveController`. Every planning step
(env ``MODELSERVE_PREDICTIVE_INTERVAL_SECONDS``, default 60 s), for every known ModelDeployment with
``spec.autoscaling.predictive.enabled``:

1. read the ModelDeployment (and its RegionPlacement) in a thread — kopf's event loop never blocks;
2. range-query the demand (``predictive.query`` or the metric-contract default, per region under a
   placement) on the forecaster's 5-minute grid: the whole ``history`` when a refit is due, else only
   the bins since the last one; an instant query gives the live demand;
3. refit (``fit_forecaster``, the CPU-heavy model selection) every ``refitInterval`` per series, in a
   one-worker process pool so statsmodels never stalls the operator; between refits the cheap
   ``forecast`` folds the new bins into the kept ``ForecastState``;
4. ``plan_floor`` turns the forecast into the floor; the floor and ``status.autoscaling`` are handed
   to the planner (which writes HPA minReplicas and status) and the ModelDeployment is queued when
   they changed; the ``modelserve_forecast_demand`` / ``modelserve_predictive_floor`` gauges are set.

State lives in memory only, keyed by (namespace, name, region); after a restart it is rebuilt from
Prometheus (a fresh fit) and the current floor is read back from the live HPA, so a restart neither
loses history nor drops a raised floor at once.

Everything above the "shell" line is pure: spec and samples in, queries, settings and status out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import multiprocessing
import os
import re
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from modelserve.api.durations import format_duration
from modelserve.api.modeldeployment import ModelDeploymentSpec, SpecError, parse_model_deployment
from modelserve.forecasting import (
    REASON_INSUFFICIENT_HISTORY,
    REASON_STALE_DATA,
    FloorDecision,
    FloorParams,
    ForecastState,
    InsufficientHistory,
    Series,
    clean_series,
    fit_forecaster,
    forecast,
    plan_floor,
)
from modelserve.forecasting.burst import BURST_WINDOW_SECONDS
from modelserve.forecasting.series import OUTLIER_THRESHOLD
from modelserve.metrics_source import MetricsError, PrometheusQuery
from modelserve.observability.metrics import FORECAST_DEMAND, PREDICTIVE_FLOOR
from modelserve.placement import parse_region_placement
from modelserve.placement.bounds import regional_bounds
from modelserve.reconcile.views import PredictiveFloor

log = logging.getLogger(__name__)

MD = "ModelDeployment"
INTERVAL_ENV = "MODELSERVE_PREDICTIVE_INTERVAL_SECONDS"
HOLD_ENV = "MODELSERVE_PREDICTIVE_HOLD_SECONDS"
DEFAULT_INTERVAL_SECONDS = 60.0
DEFAULT_HOLD_SECONDS = 300.0
STEP_SECONDS = 300  # the forecaster's grid: 5-minute bins aligned to the epoch
MAX_POINTS_PER_QUERY = 10_000  # Prometheus refuses range queries of more than 11,000 points
# With too little history (or after a failed fit) look again sooner than refitInterval: this many
# planning steps, so a new model starts forecasting soon after its history is long enough.
RECHECK_STEPS = 10
# Refits of different series are spread over the last quarter of their interval (by a hash of the
# key), so series fitted together after a restart drift apart instead of refitting in one cycle.
REFIT_JITTER = 0.25
# With no demand data for this long the floor is given up and the HPA is purely reactive again.
STALE_REACTIVE_SECONDS = 3600.0
MAX_CONCURRENT_MODELS = 4

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

# status.autoscaling.reason prefixes of the operator's own (reactive) cases; plan_floor's are in
# modelserve.forecasting (ForecastPeak, LiveDemand, GradualDescent, StaleData, InsufficientHistory...).
REASON_INVALID_SPEC = "InvalidSpec"
REASON_UNSUPPORTED_METRIC = "UnsupportedMetric"
REASON_PROMETHEUS_NOT_CONFIGURED = "PrometheusNotConfigured"
REASON_PROMETHEUS_UNAVAILABLE = "PrometheusUnavailable"
REASON_PLACEMENT_MISSING = "PlacementMissing"
REASON_FIT_FAILED = "FitFailed"
REASON_INTERNAL_ERROR = "InternalError"


def _env_seconds(name: str, default: float, minimum: float) -> float:
    try:
        return max(minimum, float(os.environ.get(name, default)))
    except ValueError:
        return default


def interval_seconds() -> float:
    """Seconds between planning steps (env MODELSERVE_PREDICTIVE_INTERVAL_SECONDS, default 60)."""
    return _env_seconds(INTERVAL_ENV, DEFAULT_INTERVAL_SECONDS, 1.0)


def hold_seconds() -> float:
    """How long a raised floor is held before it may fall, for models without
    `predictive.holdAfterRaise` (env MODELSERVE_PREDICTIVE_HOLD_SECONDS, default 300 s: the HPA's own
    scale-down stabilization window)."""
    return _env_seconds(HOLD_ENV, DEFAULT_HOLD_SECONDS, 0.0)


# ====================================================================================== pure: queries
def demand_query(namespace: str, name: str, custom: str | None = None, *, by_region: bool = False) -> str:
    """The PromQL for a ModelDeployment's demand.

    Default (metric contract, docs/analysis.md; the `model` label is the ModelDeployment's name):
    ``sum(rate(modelserve_requests_total{namespace="NS",model="NAME"}[5m]))``, or ``sum by (region)``
    of it under a RegionPlacement. A custom `predictive.query` gets ``{{namespace}}`` and
    ``{{model}}`` (spaces inside the braces allowed) filled in; under a placement it must return a
    `region` label.
    """
    if not custom:
        template = DEFAULT_REGION_QUERY if by_region else DEFAULT_QUERY
        return template.format(namespace=namespace, model=name)
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
    template = DEFAULT_REGION_BURST_QUERY if by_region else DEFAULT_BURST_QUERY
    return template.format(namespace=namespace, model=name)


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


# ===================================================================================== pure: settings
@dataclass(frozen=True)
class Reactive:
    """Why a ModelDeployment gets no predictive floor (the HPA stays reactive); goes to status."""

    reason: str
    message: str


@dataclass(frozen=True)
class FitSettings:
    """What a fit depends on: a change of any of these refits at the next step."""

    query: str
    history_seconds: float
    model: str
    seasonality: str
    min_history_seconds: float
    quantile: float
    horizon_seconds: float  # the lead the backtest scores
    burst_query: str | None = None  # 1-minute demand for the dispersion; None = no burst allowance


@dataclass(frozen=True)
class PredictiveConfig:
    """Everything the cycle needs for one ModelDeployment, from its spec (and its placement)."""

    query: str
    by_region: bool
    fit: FitSettings
    refit_interval_seconds: float
    floors: dict[str | None, FloorParams] = field(default_factory=dict)  # per region (None: whole model)

    @property
    def regions(self) -> tuple[str | None, ...]:
        return tuple(self.floors)


def config_from_spec(
    spec: ModelDeploymentSpec,
    namespace: str,
    name: str,
    *,
    placement_spec: Mapping[str, Any] | None = None,
    planning_interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
    hold: float = DEFAULT_HOLD_SECONDS,
) -> PredictiveConfig | Reactive:
    """The typed spec (+ the RegionPlacement's spec when it has a placementRef) in, the cycle's
    settings out — or a :class:`Reactive` saying why no floor can be planned.

    The per-replica target is `spec.autoscaling.target.averageValue`: for requestsPerSecond it is in
    the default query's unit; for concurrency the demand query must give in-flight requests (a custom
    `predictive.query`); for cpuUtilization there is no demand-to-replicas mapping.
    """
    a = spec.autoscaling
    if a is None or not a.predictive.enabled:
        return Reactive(REASON_INVALID_SPEC, "spec.autoscaling.predictive.enabled is not true")
    p = a.predictive
    if a.target.metric == "cpuUtilization":
        return Reactive(
            REASON_UNSUPPORTED_METRIC,
            "spec.autoscaling.target.metric cpuUtilization has no demand-to-replicas mapping; "
            "use requestsPerSecond (or concurrency with a predictive.query); the HPA stays reactive",
        )
    if a.target.metric == "concurrency" and not p.query:
        return Reactive(
            REASON_UNSUPPORTED_METRIC,
            "spec.autoscaling.target.metric concurrency needs spec.autoscaling.predictive.query "
            "giving in-flight requests (the default query is requests per second); "
            "the HPA stays reactive",
        )
    by_region = placement_spec is not None
    query = demand_query(namespace, name, p.query, by_region=by_region)
    target = float(a.target.average_value or 0)
    try:

        def params(low: int, high: int) -> FloorParams:
            return FloorParams(
                min_replicas=low,
                max_replicas=high,
                target_per_replica=target,
                headroom_percent=float(p.headroom_percent),
                startup_seconds=float(spec.runtime.startup_seconds),
                scale_down_percent_per_step=float(p.scale_down_percent_per_step),
                horizon_seconds=p.horizon_seconds,
                hold_seconds=hold if p.hold_seconds is None else p.hold_seconds,
                planning_interval_seconds=planning_interval_seconds,
            )

        floors: dict[str | None, FloorParams] = {}
        if placement_spec is None:
            floors[None] = params(a.min_replicas, a.max_replicas)
        else:
            placement = parse_region_placement(placement_spec)
            # The planner's own bounds (one function for both); every region counted as available:
            # the planner clamps the floor again to the bounds under the live node availability.
            bounds = regional_bounds(
                a.min_replicas, a.max_replicas, placement.regions, None, placement.on_region_unavailable
            )
            for region in sorted(bounds):
                if bounds[region].serves:
                    floors[region] = params(bounds[region].min_replicas, bounds[region].max_replicas)
            if not floors:
                return Reactive(REASON_PLACEMENT_MISSING, "no region of the RegionPlacement may serve")
    except (ValueError, SpecError) as exc:
        return Reactive(REASON_INVALID_SPEC, str(exc))
    any_params = next(iter(floors.values()))
    fit = FitSettings(
        query=query,
        history_seconds=p.history_seconds,
        model=p.model,
        seasonality=p.seasonality,
        min_history_seconds=p.min_history_seconds,
        quantile=p.quantile,
        horizon_seconds=any_params.effective_horizon_seconds,
        burst_query=burst_query(
            namespace,
            name,
            enabled=p.burst,
            custom=p.burst_query,
            demand_custom=p.query,
            by_region=by_region,
        ),
    )
    return PredictiveConfig(
        query=query,
        by_region=by_region,
        fit=fit,
        refit_interval_seconds=p.refit_interval_seconds,
        floors=floors,
    )


# ======================================================================================= pure: refits
def jitter_fraction(key: Sequence[Any]) -> float:
    """A stable number in [0, 1) per series key (not Python's salted hash: stable across restarts)."""
    return zlib.crc32("/".join(str(k) for k in key).encode()) / 2**32


def refit_due(
    *,
    now: float,
    last_attempt: float | None,
    fitted_with: FitSettings | None,
    settings: FitSettings,
    has_state: bool,
    refit_interval_seconds: float,
    planning_interval_seconds: float,
    jitter: float = 0.0,
) -> bool:
    """Whether the expensive fit runs this step for one series.

    Yes when it never ran, when the fit settings changed (query, history, model, seasonality,
    minHistory, quantile, horizon, burst query), and when `refitInterval` has passed (shortened by up to
    REFIT_JITTER x `jitter` to spread refits). Without a usable state (too little history, a failed
    fit) it is retried after RECHECK_STEPS planning steps when that is sooner.
    """
    if last_attempt is None or fitted_with != settings:
        return True
    wait = refit_interval_seconds * (1 - REFIT_JITTER * jitter)
    if not has_state:
        wait = min(wait, RECHECK_STEPS * planning_interval_seconds)
    return now - last_attempt >= wait


def fetch_start(
    now: float,
    history_seconds: float,
    last_times: Sequence[float | None],
    refit: bool,
    step: int = STEP_SECONDS,
) -> float:
    """Where this step's range query starts: the whole history for a refit, else just after the oldest
    bin every state has folded in (the sample at t describes the bin [t - step, t), so the first new
    bin after `last_time` is the sample at last_time + 2 step), never further back than the history."""
    oldest = now - history_seconds
    known = [t for t in last_times if t is not None]
    if refit or len(known) < len(last_times) or not known:
        return oldest
    return max(oldest, min(known) + 2 * step)


# ======================================================================================= pure: status
def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _round(value: float, digits: int = 4) -> float:
    """A few significant digits: status stays readable and does not change on float noise."""
    if value == 0 or not math.isfinite(value):
        return 0.0
    return round(value, max(0, digits - 1 - math.floor(math.log10(abs(value)))))


def autoscaling_status(
    decision: FloorDecision,
    state: ForecastState | InsufficientHistory | None,
    note: str = "",
    step: int = STEP_SECONDS,
) -> dict:
    """status.autoscaling (docs/api.md) for one series: the decision, what the model is and how good
    it was. `reason` is "<Reason>: <message>" (+ `note`, e.g. that Prometheus is unreachable)."""
    status: dict[str, Any] = {
        "floor": int(decision.floor),
        "reason": f"{decision.reason}: {decision.message}",
    }
    if note:
        status["reason"] += f"; {note}"
    if isinstance(state, ForecastState):
        status["model"] = state.model
        if state.backtest_error is not None:
            status["backtestError"] = _round(float(state.backtest_error))
            status["backtestMetric"] = state.backtest_metric
        status["lastFitTime"] = _iso(state.fitted_at)
        status["historyPoints"] = int(state.history_points)
        if state.dispersion is not None:
            status["dispersion"] = _round(float(state.dispersion), 3)
    elif isinstance(state, InsufficientHistory):
        status["historyPoints"] = int(state.have_seconds // step)
    if decision.peak is not None:
        status["forecastPeak"] = _round(decision.peak)
    if decision.peak_time is not None:
        status["forecastPeakTime"] = _iso(decision.peak_time)
    if decision.burst:
        status["burstAllowance"] = _round(decision.burst)
    return status


# A status.autoscaling whose only change is in figures (forecast peak and its time, live demand in
# the message) is republished at most this often; floors, reasons, models and notes go out at once.
STATUS_REFRESH_SECONDS = 300.0

_FIGURES = re.compile(r"\d[\d.,:eTZ+-]*")


def _shape(status: dict) -> dict:
    """status.autoscaling without its moving figures: the forecast peak, its burst allowance and the
    numbers in the reason (the other numbers, backtest error, dispersion and history, change only with
    a fit, i.e. with lastFitTime)."""
    return {**status, "forecastPeak": None, "forecastPeakTime": None, "burstAllowance": None,
            "reason": _FIGURES.sub("#", str(status.get("reason", "")))}


def material_change(old: dict[str | None, PredictiveFloor], new: dict[str | None, PredictiveFloor]) -> bool:
    """True when a floor, a region, a reason, the model, the fit or a note changed; False when only
    figures did (the forecast peak moves with every new bin and the message quotes live demand)."""
    if old.keys() != new.keys():
        return True
    for region, floor in new.items():
        before = old[region]
        if before.floor != floor.floor or _shape(before.status) != _shape(floor.status):
            return True
    return False


def reactive_floor(reactive: Reactive, min_replicas: int | None = None) -> PredictiveFloor:
    """No floor (the HPA is purely reactive), with status.autoscaling saying why."""
    status: dict[str, Any] = {"reason": f"{reactive.reason}: {reactive.message}"}
    if min_replicas is not None:
        status["floor"] = int(min_replicas)
    return PredictiveFloor(None, status)


def floor_for(decision: FloorDecision, has_state: bool, data_age: float | None) -> int | None:
    """The floor handed to the planner: None (reactive) with too little history, before the first
    forecast, and after STALE_REACTIVE_SECONDS without data; else the decision's floor."""
    if decision.reason == REASON_INSUFFICIENT_HISTORY or not has_state:
        return None
    if decision.reason == REASON_STALE_DATA and data_age is not None and data_age > STALE_REACTIVE_SECONDS:
        return None
    return decision.floor


# ============================================================================ worker (process pool)
def fit_in_worker(
    series: Series, settings: FitSettings, now: float, fine: Series | None = None
) -> ForecastState | InsufficientHistory:
    """The expensive fit, run in the process pool (arguments and result are pickled). `fine`: the
    1-minute demand of the burst query (None: no burst allowance)."""
    return fit_forecaster(
        series,
        model=settings.model,
        seasonality=settings.seasonality,
        min_history_seconds=settings.min_history_seconds,
        quantile=settings.quantile,
        horizon_seconds=settings.horizon_seconds,
        now=now,
        fine=fine,
    )


# ============================================================================================= shell
@dataclass
class SeriesTrack:
    """What the cycle remembers about one (namespace, name, region) between steps."""

    state: ForecastState | None = None
    insufficient: InsufficientHistory | None = None
    fitted_with: FitSettings | None = None
    last_attempt: float | None = None
    fit_error: str = ""
    floor: int | None = None  # the floor in force (plan_floor's current_floor)
    last_raised_at: float | None = None
    seeded: bool = False


class PredictiveController:
    """The forecast cycle. `floors_for` is what the planner calls (from reconcile worker threads)."""

    def __init__(
        self,
        ctx: Any,
        queue: Any,
        *,
        interval: float | None = None,
        hold: float | None = None,
        prometheus: PrometheusQuery | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.ctx = ctx
        self.queue = queue
        self.interval = interval_seconds() if interval is None else interval
        self.hold = hold_seconds() if hold is None else hold
        self.clock = clock
        self._prometheus = prometheus
        self._tracks: dict[tuple[str, str, str | None], SeriesTrack] = {}
        self._floors: dict[tuple[str, str], dict[str | None, PredictiveFloor]] = {}
        self._published_at: dict[tuple[str, str], float] = {}
        self._io = concurrent.futures.ThreadPoolExecutor(
            max_workers=MAX_CONCURRENT_MODELS, thread_name_prefix="predictive"
        )
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    # -- what the planner reads ------------------------------------------------------------------
    def floors_for(self, namespace: str, name: str) -> dict[str | None, PredictiveFloor]:
        return dict(self._floors.get((namespace, name), {}))

    # -- the loop ----------------------------------------------------------------------------------
    async def run(self) -> None:
        log.info("predictive autoscaling: planning every %ss", self.interval)
        try:
            while True:
                started = time.monotonic()
                try:
                    await self.step()
                except asyncio.CancelledError:
                    raise
                except Exception:  # never let one bad step end the cycle
                    log.exception("predictive autoscaling step failed")
                await asyncio.sleep(max(0.5, self.interval - (time.monotonic() - started)))
        finally:
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._io.shutdown(wait=False, cancel_futures=True)

    async def step(self) -> None:
        """One planning step over every known ModelDeployment."""
        keys = sorted((ns, name) for kind, ns, name in list(self.queue.known) if kind == MD)
        for ns, name in set(self._floors) - set(keys):
            self.forget(ns, name)
        limit = asyncio.Semaphore(MAX_CONCURRENT_MODELS)

        async def one(ns: str, name: str) -> None:
            async with limit:
                try:
                    await self.plan_model(ns, name)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # one bad model must not stop the others
                    log.exception("predictive autoscaling of %s/%s failed", ns, name)
                    self.publish(
                        ns,
                        name,
                        {
                            None: reactive_floor(
                                Reactive(REASON_INTERNAL_ERROR, f"{type(exc).__name__}: {str(exc)[:300]}")
                            )
                        },
                    )

        await asyncio.gather(*(one(ns, name) for ns, name in keys))

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    def publish(self, ns: str, name: str, floors: dict[str | None, PredictiveFloor]) -> None:
        """Hand the floors to the planner; queue the ModelDeployment when they changed.

        A change of figures only (forecast peak, live demand in the message) is held back until
        STATUS_REFRESH_SECONDS after the last publication, so status.autoscaling is not rewritten at
        every planning step; a new floor, reason, model, fit or note goes out at once."""
        old = self._floors.get((ns, name))
        if old == floors:
            return
        now = self.clock()
        last = self._published_at.get((ns, name))
        recent = last is not None and now - last < STATUS_REFRESH_SECONDS
        if old is not None and recent and not material_change(old, floors):
            return
        self._floors[(ns, name)] = floors
        self._published_at[(ns, name)] = now
        self.queue.add((MD, ns, name))

    def forget(self, ns: str, name: str) -> None:
        """The model is gone or no longer predictive: drop its state, floors and gauges."""
        had = self._floors.pop((ns, name), None)
        self._published_at.pop((ns, name), None)
        for key in [k for k in self._tracks if k[:2] == (ns, name)]:
            del self._tracks[key]
        for gauge in (FORECAST_DEMAND, PREDICTIVE_FLOOR):
            for region in had or {}:
                with contextlib.suppress(KeyError):
                    gauge.remove(ns, name, region or "")
        if had and (MD, ns, name) in self.queue.known:
            self.queue.add((MD, ns, name))  # so the planner drops the floor and status.autoscaling

    # -- one model ---------------------------------------------------------------------------------
    async def plan_model(self, ns: str, name: str) -> None:
        body = await self._call(self.ctx.kube.get, MD, ns, name)
        if body is None or (body.get("metadata") or {}).get("deletionTimestamp"):
            self.forget(ns, name)
            return
        raw = (body.get("spec") or {}).get("autoscaling") or {}
        if not (raw.get("predictive") or {}).get("enabled"):
            self.forget(ns, name)
            return
        try:
            spec = parse_model_deployment(body.get("spec") or {})
        except SpecError as exc:
            self.publish(ns, name, {None: reactive_floor(Reactive(REASON_INVALID_SPEC, str(exc)))})
            return
        assert spec.autoscaling is not None
        placement_spec = None
        if spec.placement_ref is not None:
            placement = await self._call(self.ctx.kube.get, "RegionPlacement", ns, spec.placement_ref.name)
            if placement is None:
                self.publish(
                    ns,
                    name,
                    {
                        None: reactive_floor(
                            Reactive(
                                REASON_PLACEMENT_MISSING,
                                f"RegionPlacement {spec.placement_ref.name} not found",
                            )
                        )
                    },
                )
                return
            placement_spec = placement.get("spec") or {}
        config = config_from_spec(
            spec,
            ns,
            name,
            placement_spec=placement_spec,
            planning_interval_seconds=self.interval,
            hold=self.hold,
        )
        if isinstance(config, Reactive):
            self.publish(ns, name, {None: reactive_floor(config, spec.autoscaling.min_replicas)})
            return
        prometheus = self._query_client()
        if prometheus is None:
            reactive = Reactive(
                REASON_PROMETHEUS_NOT_CONFIGURED,
                "the operator has no --prometheus-url; the HPA stays reactive",
            )
            self.publish(
                ns, name, {r: reactive_floor(reactive, config.floors[r].min_replicas) for r in config.regions}
            )
            return
        await self._plan_series(ns, name, spec, config, prometheus)

    def _query_client(self) -> PrometheusQuery | None:
        if self._prometheus is None and self.ctx.prometheus_url:
            self._prometheus = PrometheusQuery(self.ctx.prometheus_url)
        return self._prometheus

    async def _plan_series(
        self,
        ns: str,
        name: str,
        spec: ModelDeploymentSpec,
        config: PredictiveConfig,
        prometheus: PrometheusQuery,
    ) -> None:
        now = self.clock()
        # A region that left the placement (or the whole-model series after a placementRef was added):
        # drop its state and gauges, so it is not exported stale and, should it come back, starts from
        # its HPA again instead of an old floor.
        for gone in [k for k in self._tracks if k[:2] == (ns, name) and k[2] not in config.floors]:
            del self._tracks[gone]
            for gauge in (FORECAST_DEMAND, PREDICTIVE_FLOOR):
                with contextlib.suppress(KeyError):
                    gauge.remove(ns, name, gone[2] or "")
        tracks = {r: self._tracks.setdefault((ns, name, r), SeriesTrack()) for r in config.regions}
        for region, track in tracks.items():
            if not track.seeded:
                await self._seed_floor(ns, name, region, track)
        due = {
            r
            for r, t in tracks.items()
            if refit_due(
                now=now,
                last_attempt=t.last_attempt,
                fitted_with=t.fitted_with,
                settings=config.fit,
                has_state=t.state is not None,
                refit_interval_seconds=config.refit_interval_seconds,
                planning_interval_seconds=self.interval,
                jitter=jitter_fraction((ns, name, r)),
            )
        }
        start = fetch_start(
            now,
            config.fit.history_seconds,
            [t.state.last_time if t.state else None for t in tracks.values()],
            bool(due),
        )
        unavailable = ""
        history: dict[str | None, list[tuple[float, float]]] = {}
        live: dict[str | None, float] = {}
        try:
            history = await self._fetch(prometheus, config, start, now)
            live = live_by_region(await self._call(prometheus.vector, config.query, now), config.by_region)
        except MetricsError as exc:
            unavailable = f"Prometheus unavailable ({str(exc)[:200]})"
            log.warning("predictive autoscaling of %s/%s: %s", ns, name, unavailable)

        fine: dict[str | None, list[tuple[float, float]]] = {}
        if due and not unavailable and config.fit.burst_query:
            fine = await self._fetch_fine(prometheus, config, ns, name, now)

        floors: dict[str | None, PredictiveFloor] = {}
        for region, track in tracks.items():
            params = config.floors[region]
            series = series_from_points(history.get(region, []))
            note = unavailable
            if region in due and not unavailable:
                minutes = series_from_points(fine.get(region, []), BURST_STEP_SECONDS, clip_outliers=False)
                note = await self._refit(ns, name, region, track, series, config, now, minutes) or note
            fc = None
            if track.state is not None:
                fc = forecast(track.state, series, now=now, horizon_seconds=params.effective_horizon_seconds)
                track.state = fc.state
            basis: Any = fc if fc is not None else track.insufficient
            decision = plan_floor(
                basis, track.floor, live.get(region), params, now, last_raised_at=track.last_raised_at
            )
            if unavailable and fc is not None and decision.reason != REASON_STALE_DATA:
                note += f"; forecasting from data up to {_iso(fc.data_end)}"
            data_age = now - fc.data_end if fc is not None else None
            floor = floor_for(decision, track.state is not None, data_age)
            if floor is None and decision.reason == REASON_STALE_DATA:
                limit = format_duration(STALE_REACTIVE_SECONDS)
                note += f"; no demand data for over {limit}: the HPA is reactive"
            track.floor = floor
            track.last_raised_at = decision.last_raised_at if floor is not None else None
            status = autoscaling_status(decision, track.state or track.insufficient, note)
            floors[region] = PredictiveFloor(floor, status)
            labels = (ns, name, region or "")
            PREDICTIVE_FLOOR.labels(*labels).set(decision.floor)
            if decision.peak is not None:
                FORECAST_DEMAND.labels(*labels).set(decision.peak)
        self.publish(ns, name, floors)

    async def _fetch(
        self, prometheus: PrometheusQuery, config: PredictiveConfig, start: float, now: float
    ) -> dict[str | None, list[tuple[float, float]]]:
        """Range-query the demand on the bin grid (in windows Prometheus accepts), grouped by region."""
        span = aligned_range(start, now)
        if span is None:
            return {}
        matrix: list = []
        for first, last in split_range(*span):
            matrix += await self._call(prometheus.range, config.query, first, last, STEP_SECONDS)
        return points_by_region(matrix, config.by_region)

    async def _fetch_fine(
        self, prometheus: PrometheusQuery, config: PredictiveConfig, ns: str, name: str, now: float
    ) -> dict[str | None, list[tuple[float, float]]]:
        """The burst query over the last day at a 1-minute step, grouped by region. Advisory: when it
        fails the fit goes on without a burst allowance (logged)."""
        assert config.fit.burst_query is not None
        span = aligned_range(now - BURST_HISTORY_SECONDS, now, BURST_STEP_SECONDS)
        if span is None:
            return {}
        try:
            matrix = await self._call(
                prometheus.range, config.fit.burst_query, span[0], span[1], BURST_STEP_SECONDS
            )
        except MetricsError as exc:
            log.warning("predictive autoscaling of %s/%s: burst query failed, no burst allowance: %s",
                        ns, name, str(exc)[:200])
            return {}
        return points_by_region(matrix, config.by_region)

    async def _refit(
        self,
        ns: str,
        name: str,
        region: str | None,
        track: SeriesTrack,
        series: Series,
        config: PredictiveConfig,
        now: float,
        fine: Series | None = None,
    ) -> str:
        """Fit in the process pool; returns a note for status when the fit failed (old state kept)."""
        track.last_attempt = now
        track.fitted_with = config.fit
        started = time.monotonic()
        try:
            result = await self._fit(series, config.fit, now, fine)
        except Exception as exc:  # a fit that fails keeps the previous state; retried in RECHECK_STEPS
            track.fit_error = f"{type(exc).__name__}: {str(exc)[:200]}"
            log.warning("predictive fit of %s/%s (region %s) failed: %s", ns, name, region, track.fit_error)
            return f"{REASON_FIT_FAILED}: {track.fit_error}"
        track.fit_error = ""
        if isinstance(result, InsufficientHistory):
            track.state, track.insufficient = None, result
        else:
            track.state, track.insufficient = result, None
            log.info(
                "predictive fit of %s/%s (region %s): %s, backtest sMAPE %s, %d points, dispersion %s, %.2fs",
                ns,
                name,
                region,
                result.model,
                result.backtest_error,
                result.history_points,
                None if result.dispersion is None else round(result.dispersion, 2),
                time.monotonic() - started,
            )
        return ""

    async def _fit(
        self, series: Series, settings: FitSettings, now: float, fine: Series | None = None
    ) -> ForecastState | InsufficientHistory:
        loop = asyncio.get_running_loop()
        if self._pool is None:
            # spawn, not fork: forking a process with kopf's threads can copy held locks into the child.
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
        try:
            return await loop.run_in_executor(self._pool, fit_in_worker, series, settings, now, fine)
        except BrokenProcessPool:
            self._pool = None  # a worker died (e.g. OOM-killed): a new pool next time
            raise

    async def _seed_floor(self, ns: str, name: str, region: str | None, track: SeriesTrack) -> None:
        """After a restart, continue from the floor the HPA holds, so it can only descend gradually."""
        track.seeded = True
        hpa_name = name if region is None else f"{name}-{region}"
        try:
            hpa = await self._call(self.ctx.kube.get, "HorizontalPodAutoscaler", ns, hpa_name)
        except Exception:  # advisory: without it the floor starts at minReplicas
            log.debug("could not read HPA %s/%s", ns, hpa_name, exc_info=True)
            return
        low = ((hpa or {}).get("spec") or {}).get("minReplicas")
        if isinstance(low, int) and track.floor is None:
            track.floor = low


def start(ctx: Any, queue: Any) -> asyncio.Task:
    """Install `ctx.predictive_floors` and start the forecast cycle; the Task is cancelled at cleanup."""
    controller = PredictiveController(ctx, queue)
    ctx.predictive_floors = controller.floors_for
    return asyncio.get_running_loop().create_task(controller.run(), name="predictive-autoscaling")
