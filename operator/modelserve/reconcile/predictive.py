"""The predictive autoscaler's forecast cycle (the shell): Prometheus demand history in, HPA floors out.

handlers/operator.py creates one :class:`PredictiveController` at start-up, hands it to the
ModelDeployment reconcile as its :class:`~modelserve.forecasting.cycle.FloorSource` and runs
:meth:`PredictiveController.run` as a task. Every planning step (env
``MODELSERVE_PREDICTIVE_INTERVAL_SECONDS``, default 60 s), for every known ModelDeployment with
``spec.autoscaling.predictive.enabled``:

1. read the ModelDeployment (and its RegionPlacement) in a thread — kopf's event loop never blocks;
2. range-query the demand (modelserve.forecasting.demand: ``predictive.query`` or the metric-contract
   default, per region under a placement) on the forecaster's 5-minute grid: the whole ``history``
   when a refit is due, else only the bins since the last one; an instant query gives the live demand;
3. refit (``fit_forecaster``, the CPU-heavy model selection) every ``refitInterval`` per series, in a
   one-worker process pool so statsmodels never stalls the operator; between refits the cheap
   ``forecast`` folds the new bins into the kept ``ForecastState``;
   With ``predictive.objective``, a tuning pass (modelserve.forecasting.tuning, daily per series) runs
   in the same pool just before a refit and chooses the knobs the spec left unset;
4. ``plan_floor`` turns the forecast into the floor; the floor and ``status.autoscaling`` are handed
   to the planner (which writes HPA minReplicas and status) and the ModelDeployment is queued when
   they changed; the ``modelserve_forecast_demand`` / ``modelserve_predictive_floor`` gauges are set.
   In ``mode: observe`` the floor goes to status and the gauges only: the planner gets none.

The decisions (settings from spec, when to refit, the floor for a series, status) are pure, in
modelserve.forecasting.cycle; this module does the I/O and keeps the state.

State lives in memory only, keyed by (namespace, name, region); after a restart it is rebuilt from
Prometheus (a fresh fit) and the current floor is read back from the live HPA, so a restart neither
loses history nor drops a raised floor at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from modelserve.api.errors import SpecError
from modelserve.api.modeldeployment import Objective, parse_model_deployment
from modelserve.forecasting import (
    FloorDecision,
    ForecastState,
    InsufficientHistory,
    Series,
    fit_forecaster,
    forecast,
    plan_floor,
)
from modelserve.forecasting.cycle import (
    DEFAULT_HOLD_SECONDS,
    DEFAULT_INTERVAL_SECONDS,
    REASON_FIT_FAILED,
    REASON_INTERNAL_ERROR,
    REASON_INVALID_SPEC,
    REASON_PLACEMENT_MISSING,
    REASON_PROMETHEUS_NOT_CONFIGURED,
    STATUS_REFRESH_SECONDS,
    FitSettings,
    PredictiveConfig,
    PredictiveFloor,
    Reactive,
    autoscaling_status,
    config_from_spec,
    fetch_start,
    floor_for,
    jitter_fraction,
    material_change,
    next_tuning_time,
    reactive_floor,
    refit_due,
    seeded_floor,
    series_note,
    tuning_due,
    tuning_status,
    untuned_status,
)
from modelserve.forecasting.demand import (
    BURST_HISTORY_SECONDS,
    BURST_STEP_SECONDS,
    STEP_SECONDS,
    aligned_range,
    live_by_region,
    points_by_region,
    series_from_points,
    split_range,
)
from modelserve.forecasting.tuning import (
    TUNING_MEMORY,
    FixedKnobs,
    Knobs,
    ReplaySetup,
    Score,
    TuningResult,
    minute_demand,
    tune,
)
from modelserve.k8s.client import KubeClient
from modelserve.metrics_source import MetricsError, PrometheusQuery
from modelserve.observability.metrics import (
    FORECAST_DEMAND,
    PREDICTIVE_FLOOR,
    TUNING_EXTRA_COST,
    TUNING_UNDER_PROVISIONED,
)
from modelserve.reconcile.queue import WorkQueue

log = logging.getLogger(__name__)

MD = "ModelDeployment"
INTERVAL_ENV = "MODELSERVE_PREDICTIVE_INTERVAL_SECONDS"
HOLD_ENV = "MODELSERVE_PREDICTIVE_HOLD_SECONDS"
MAX_CONCURRENT_MODELS = 4
# With an objective the burst query spans two days: the tuning replays the last one and fits on what
# came before, the 1-minute noise included (the fit itself measures the dispersion on the last day).
TUNING_FINE_SECONDS = 2 * BURST_HISTORY_SECONDS

SERIES_GAUGES = (FORECAST_DEMAND, PREDICTIVE_FLOOR, TUNING_UNDER_PROVISIONED, TUNING_EXTRA_COST)

Points = dict[str | None, list[tuple[float, float]]]  # samples per region (None: the whole model)


def _env_seconds(name: str, default: float, minimum: float) -> float:
    try:
        return max(minimum, float(os.environ.get(name, default)))
    except ValueError:
        return default


def predictive_enabled(body: dict | None) -> bool:
    """Whether a ModelDeployment (None: gone) exists, is not being deleted and enables predictive
    autoscaling."""
    if body is None or (body.get("metadata") or {}).get("deletionTimestamp"):
        return False
    raw = (body.get("spec") or {}).get("autoscaling") or {}
    return bool((raw.get("predictive") or {}).get("enabled"))


def interval_seconds() -> float:
    """Seconds between planning steps (env MODELSERVE_PREDICTIVE_INTERVAL_SECONDS, default 60)."""
    return _env_seconds(INTERVAL_ENV, DEFAULT_INTERVAL_SECONDS, 1.0)


def hold_seconds() -> float:
    """How long a raised floor is held before it may fall, for models without
    `predictive.holdAfterRaise` (env MODELSERVE_PREDICTIVE_HOLD_SECONDS, default 300 s: the HPA's own
    scale-down stabilization window)."""
    return _env_seconds(HOLD_ENV, DEFAULT_HOLD_SECONDS, 0.0)


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


def tune_in_worker(
    series: Series,
    fine: Series | None,
    setup: ReplaySetup,
    objective: Objective,
    fixed: FixedKnobs,
    earlier: Sequence[Sequence[Score]] = (),
) -> TuningResult | InsufficientHistory:
    """A tuning pass (modelserve.forecasting.tuning.tune) on the fetched history, in the process pool:
    the 5-minute history spread over its minutes, the burst query's minutes where there are some;
    `earlier`: the scores of the passes before, pooled into the choice."""
    start, demand = minute_demand(series, fine)
    return tune(demand, start, setup, objective, fixed=fixed, earlier=earlier)


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
    tuning: TuningResult | None = None  # the last tuning pass that chose knobs
    tuning_passes: list[tuple[Score, ...]] = field(default_factory=list)  # scores of the last passes
    tuning_status: dict | None = None  # status.autoscaling.tuning
    tuned_for: Any = None  # what that pass was for (objective, explicit knobs, settings)
    next_tuning: float | None = None

    @property
    def knobs(self) -> Knobs | None:
        return self.tuning.knobs if self.tuning is not None else None

    def untune(self) -> None:
        """The objective is gone: the spec's own knobs apply again."""
        self.tuning = self.tuning_status = self.tuned_for = self.next_tuning = None
        self.tuning_passes = []


@dataclass
class Fetched:
    """One step's demand for every series of a model: the history range, the live demand, the 1-minute
    burst samples (only when a refit is due), and why Prometheus failed ("" when it answered)."""

    history: Points
    live: dict[str | None, float]
    fine: Points
    unavailable: str = ""


class PredictiveController:
    """The forecast cycle, and the :class:`~modelserve.forecasting.cycle.FloorSource` of the
    ModelDeployment reconcile: `floors_for` is what the planner reads (from reconcile worker threads)."""

    def __init__(
        self,
        kube: KubeClient,
        queue: WorkQueue,
        *,
        prometheus_url: str | None = None,
        interval: float | None = None,
        hold: float | None = None,
        prometheus: PrometheusQuery | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.kube = kube
        self.queue = queue
        self.prometheus_url = prometheus_url
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
    def start(self) -> asyncio.Task:
        """Run the cycle as a task of the running loop (cancelled at the operator's cleanup)."""
        return asyncio.get_running_loop().create_task(self.run(), name="predictive-autoscaling")

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

        await asyncio.gather(*(one(ns, name) for ns, name in await self._predictive_keys(keys)))

    async def _predictive_keys(self, keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The keys whose model enables predictive autoscaling, from one LIST per namespace (a GET per
        model every step cost 1,000 requests a minute with 1,000 idle models); the others are forgotten.
        If a list fails, every key is planned (plan_model reads each one)."""
        enabled: set[tuple[str, str]] = set()
        try:
            for ns in sorted({ns for ns, _ in keys}):
                enabled |= await self._call(self._enabled_in, ns)
        except Exception as exc:
            log.debug("predictive autoscaling: listing ModelDeployments failed (%s); reading each", exc)
            return keys
        wanted = [k for k in keys if k in enabled]
        for k in set(keys) - set(wanted):
            self.forget(*k)
        return wanted

    def _enabled_in(self, ns: str) -> set[tuple[str, str]]:
        """The models of `ns` that enable predictive autoscaling: a page of the list at a time, keeping
        names only (a whole list of 5,000 models would be the process's largest allocation)."""
        return {
            (ns, (body.get("metadata") or {}).get("name", ""))
            for body in self.kube.list_pages(MD, ns)
            if predictive_enabled(body)
        }

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
        for gauge in SERIES_GAUGES:
            for region in had or {}:
                with contextlib.suppress(KeyError):
                    gauge.remove(ns, name, region or "")
        if had and (MD, ns, name) in self.queue.known:
            self.queue.add((MD, ns, name))  # so the planner drops the floor and status.autoscaling

    # -- one model ---------------------------------------------------------------------------------
    async def plan_model(self, ns: str, name: str) -> None:
        body = await self._call(self.kube.get, MD, ns, name)
        if not predictive_enabled(body):
            self.forget(ns, name)
            return
        assert body is not None
        try:
            spec = parse_model_deployment(body.get("spec") or {})
        except SpecError as exc:
            self._publish_reactive(ns, name, Reactive(REASON_INVALID_SPEC, str(exc)))
            return
        assert spec.autoscaling is not None
        placement_spec = None
        if spec.placement_ref is not None:
            placement = await self._call(self.kube.get, "RegionPlacement", ns, spec.placement_ref.name)
            if placement is None:
                missing = f"RegionPlacement {spec.placement_ref.name} not found"
                self._publish_reactive(ns, name, Reactive(REASON_PLACEMENT_MISSING, missing))
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
        await self._plan_series(ns, name, config, prometheus)

    def _publish_reactive(self, ns: str, name: str, reactive: Reactive) -> None:
        """No floor for the whole model, with status.autoscaling saying why."""
        self.publish(ns, name, {None: reactive_floor(reactive)})

    def _query_client(self) -> PrometheusQuery | None:
        if self._prometheus is None and self.prometheus_url:
            self._prometheus = PrometheusQuery(self.prometheus_url)
        return self._prometheus

    async def _plan_series(
        self, ns: str, name: str, config: PredictiveConfig, prometheus: PrometheusQuery
    ) -> None:
        """One step for every series of a model: fetch, tune and refit what is due, forecast, plan,
        publish."""
        now = self.clock()
        tracks = await self._tracks_of(ns, name, config)
        tuning = self._tuning_due(ns, name, config, tracks, now)
        due = self._due(ns, name, config, tracks, now) | tuning
        start = fetch_start(
            now,
            config.fit.history_seconds,
            [t.state.last_time if t.state else None for t in tracks.values()],
            bool(due),
        )
        fine_seconds = TUNING_FINE_SECONDS if tuning else BURST_HISTORY_SECONDS
        fetched = await self._fetch_demand(prometheus, config, ns, name, start, now, bool(due), fine_seconds)
        floors: dict[str | None, PredictiveFloor] = {}
        for region, track in tracks.items():
            series = series_from_points(fetched.history.get(region, []))
            note = fetched.unavailable
            if region in due and not fetched.unavailable:
                fine = fetched.fine.get(region, [])
                minutes = series_from_points(fine, BURST_STEP_SECONDS, clip_outliers=False)
                if region in tuning:
                    await self._tune(ns, name, region, track, series, minutes, config, now)
                fit, _ = config.tuned(region, track.knobs)
                last_day = minutes.after(now - BURST_HISTORY_SECONDS - BURST_STEP_SECONDS)
                note = await self._refit(ns, name, region, track, series, fit, now, last_day) or note
            floors[region] = self._plan_region((ns, name, region), track, series, config, fetched, note, now)
        self.publish(ns, name, floors)

    def _tuning_due(
        self, ns: str, name: str, config: PredictiveConfig, tracks: dict[str | None, SeriesTrack], now: float
    ) -> set[str | None]:
        """The regions whose tuning runs this step (none without an objective: stale tunings and
        their gauges are dropped)."""
        if config.objective is None:
            for region, track in tracks.items():
                if track.tuning_status is not None:
                    for gauge in (TUNING_UNDER_PROVISIONED, TUNING_EXTRA_COST):
                        with contextlib.suppress(KeyError):
                            gauge.remove(ns, name, region or "")
                track.untune()
            return set()
        return {
            r
            for r, t in tracks.items()
            if tuning_due(
                now=now,
                next_tuning=t.next_tuning,
                tuned_for=t.tuned_for,
                wanted_for=_tuned_for(config, r),
                objective=config.objective,
            )
        }

    async def _tune(
        self,
        ns: str,
        name: str,
        region: str | None,
        track: SeriesTrack,
        series: Series,
        minutes: Series,
        config: PredictiveConfig,
        now: float,
    ) -> None:
        """A tuning pass in the process pool; its knobs apply from this step's refit on. A pass that
        cannot run (too little history) or fails keeps the previous knobs and says so in status."""
        assert config.objective is not None
        track.tuned_for = _tuned_for(config, region)
        setup = config.replay_setup(region)
        try:
            result = await self._run_tuning(
                series, minutes, setup, config.objective, config.fixed, tuple(track.tuning_passes)
            )
        except Exception as exc:  # the spec's (or the previous) knobs stay; retried at the refit interval
            log.warning("predictive tuning of %s/%s (region %s) failed: %s", ns, name, region, exc)
            track.next_tuning = next_tuning_time(now, False, config.refit_interval_seconds)
            track.tuning_status = untuned_status(
                config.objective, f"tuning failed: {type(exc).__name__}: {exc}"
            )
            return
        if isinstance(result, InsufficientHistory):
            track.next_tuning = next_tuning_time(now, False, config.refit_interval_seconds)
            message = f"not tuned yet: {result.message} before the replayed day; the spec's knobs apply"
            track.tuning_status = untuned_status(config.objective, message)
            return
        track.tuning, track.tuning_status = result, tuning_status(result, now)
        labels = (ns, name, region or "")
        TUNING_UNDER_PROVISIONED.labels(*labels).set(result.under_percent)
        TUNING_EXTRA_COST.labels(*labels).set(result.extra_cost_percent)
        track.tuning_passes = [*track.tuning_passes, result.scores][-(TUNING_MEMORY - 1) :]
        track.next_tuning = next_tuning_time(now, True, config.refit_interval_seconds)
        log.info(
            "predictive tuning of %s/%s (region %s): %s (%.1f CPU s)",
            ns,
            name,
            region,
            result.reason,
            result.cpu_seconds,
        )

    async def _tracks_of(self, ns: str, name: str, config: PredictiveConfig) -> dict[str | None, SeriesTrack]:
        """The model's series state per region, seeded from the live HPAs after a restart.

        A region that left the placement (or the whole-model series after a placementRef was added)
        is dropped with its gauges, so it is not exported stale and, should it come back, starts
        from its HPA again instead of an old floor."""
        for gone in [k for k in self._tracks if k[:2] == (ns, name) and k[2] not in config.floors]:
            del self._tracks[gone]
            for gauge in SERIES_GAUGES:
                with contextlib.suppress(KeyError):
                    gauge.remove(ns, name, gone[2] or "")
        tracks = {r: self._tracks.setdefault((ns, name, r), SeriesTrack()) for r in config.regions}
        for region, track in tracks.items():
            if not track.seeded and not config.observe:  # observing, the HPA's minReplicas is the user's
                await self._seed_floor(ns, name, region, track)
        return tracks

    def _due(
        self, ns: str, name: str, config: PredictiveConfig, tracks: dict[str | None, SeriesTrack], now: float
    ) -> set[str | None]:
        """The regions whose fit runs this step."""
        return {
            r
            for r, t in tracks.items()
            if refit_due(
                now=now,
                last_attempt=t.last_attempt,
                fitted_with=t.fitted_with,
                settings=config.tuned(r, t.knobs)[0],
                has_state=t.state is not None,
                refit_interval_seconds=config.refit_interval_seconds,
                planning_interval_seconds=self.interval,
                jitter=jitter_fraction((ns, name, r)),
            )
        }

    async def _fetch_demand(
        self,
        prometheus: PrometheusQuery,
        config: PredictiveConfig,
        ns: str,
        name: str,
        start: float,
        now: float,
        refit: bool,
        fine_seconds: float = BURST_HISTORY_SECONDS,
    ) -> Fetched:
        """The demand history from `start`, the live demand and (for a refit) the burst samples of the
        last `fine_seconds`."""
        fetched = Fetched({}, {}, {})
        try:
            fetched.history = await self._fetch(prometheus, config, start, now)
            fetched.live = live_by_region(
                await self._call(prometheus.vector, config.query, now), config.by_region
            )
        except MetricsError as exc:
            fetched.unavailable = f"Prometheus unavailable ({str(exc)[:200]})"
            log.warning("predictive autoscaling of %s/%s: %s", ns, name, fetched.unavailable)
            return fetched
        if refit and config.fit.burst_query:
            fetched.fine = await self._fetch_fine(prometheus, config, ns, name, now, fine_seconds)
        return fetched

    def _plan_region(
        self,
        key: tuple[str, str, str | None],
        track: SeriesTrack,
        series: Series,
        config: PredictiveConfig,
        fetched: Fetched,
        note: str,
        now: float,
    ) -> PredictiveFloor:
        """Forecast one series from its state, plan its floor, keep it in `track`, set the gauges."""
        region = key[2]
        _, params = config.tuned(region, track.knobs)
        fc = None
        if track.state is not None:
            fc = forecast(track.state, series, now=now, horizon_seconds=params.effective_horizon_seconds)
            track.state = fc.state
        basis: Any = fc if fc is not None else track.insufficient
        decision: FloorDecision = plan_floor(
            basis, track.floor, fetched.live.get(region), params, now, last_raised_at=track.last_raised_at
        )
        data_age = now - fc.data_end if fc is not None else None
        floor = floor_for(decision, track.state is not None, data_age)
        data_end = fc.data_end if fc is not None else None
        note = series_note(note, bool(fetched.unavailable), data_end, decision, floor)
        track.floor = floor
        track.last_raised_at = decision.last_raised_at if floor is not None else None
        labels = (key[0], key[1], region or "")
        PREDICTIVE_FLOOR.labels(*labels).set(decision.floor)
        if decision.peak is not None:
            FORECAST_DEMAND.labels(*labels).set(decision.peak)
        status = autoscaling_status(
            decision,
            track.state or track.insufficient,
            note,
            observe=config.observe,
            tuning=track.tuning_status,
        )
        # Observing, the floor is kept here (it still descends gradually, holds after a raise) and
        # reported, but never handed to the planner: the HPA's minReplicas stays the user's.
        return PredictiveFloor(None if config.observe else floor, status)

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
        self,
        prometheus: PrometheusQuery,
        config: PredictiveConfig,
        ns: str,
        name: str,
        now: float,
        seconds: float = BURST_HISTORY_SECONDS,
    ) -> dict[str | None, list[tuple[float, float]]]:
        """The burst query over the last `seconds` at a 1-minute step, grouped by region. Advisory:
        when it fails the fit goes on without a burst allowance (logged)."""
        assert config.fit.burst_query is not None
        span = aligned_range(now - seconds, now, BURST_STEP_SECONDS)
        if span is None:
            return {}
        try:
            matrix = await self._call(
                prometheus.range, config.fit.burst_query, span[0], span[1], BURST_STEP_SECONDS
            )
        except MetricsError as exc:
            log.warning(
                "predictive autoscaling of %s/%s: burst query failed, no burst allowance: %s",
                ns,
                name,
                str(exc)[:200],
            )
            return {}
        return points_by_region(matrix, config.by_region)

    async def _refit(
        self,
        ns: str,
        name: str,
        region: str | None,
        track: SeriesTrack,
        series: Series,
        settings: FitSettings,
        now: float,
        fine: Series | None = None,
    ) -> str:
        """Fit in the process pool; returns a note for status when the fit failed (old state kept)."""
        track.last_attempt = now
        track.fitted_with = settings
        started = time.monotonic()
        try:
            result = await self._fit(series, settings, now, fine)
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
        try:
            return await loop.run_in_executor(
                self._process_pool(), fit_in_worker, series, settings, now, fine
            )
        except BrokenProcessPool:
            self._pool = None  # a worker died (e.g. OOM-killed): a new pool next time
            raise

    async def _run_tuning(
        self,
        series: Series,
        minutes: Series,
        setup: ReplaySetup,
        objective: Objective,
        fixed: FixedKnobs,
        earlier: Sequence[Sequence[Score]] = (),
    ) -> TuningResult | InsufficientHistory:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._process_pool(), tune_in_worker, series, minutes, setup, objective, fixed, earlier
            )
        except BrokenProcessPool:
            self._pool = None  # a worker died (e.g. OOM-killed): a new pool next time
            raise

    def _process_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        """The one-worker pool that fits and tunes (CPU-heavy: statsmodels, the replays)."""
        if self._pool is None:
            # spawn, not fork: forking a process with kopf's threads can copy held locks into the child.
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
        return self._pool

    async def _seed_floor(self, ns: str, name: str, region: str | None, track: SeriesTrack) -> None:
        """After a restart, continue from the floor the autoscaler holds (the ScaledObject's under KEDA,
        else the HPA's: `seeded_floor`), so it can only descend gradually."""
        track.seeded = True
        autoscaler = name if region is None else f"{name}-{region}"
        found: dict[str, dict | None] = {}
        for kind in ("ScaledObject", "HorizontalPodAutoscaler"):
            try:  # without KEDA's CRD the ScaledObject read is a NotFound: None
                found[kind] = await self._call(self.kube.get, kind, ns, autoscaler)
            except Exception:  # advisory: without it the floor starts at minReplicas
                log.debug("could not read %s %s/%s", kind, ns, autoscaler, exc_info=True)
                found[kind] = None
            if found[kind] is not None:
                break
        low = seeded_floor(found.get("ScaledObject"), found.get("HorizontalPodAutoscaler"))
        if low is not None and track.floor is None:
            track.floor = low


def _tuned_for(config: PredictiveConfig, region: str | None) -> tuple:
    """What a tuning pass depends on besides the demand: a change of any of these retunes at once."""
    return (config.objective, config.fixed, config.floors[region], config.fit)
