"""The forecast cycle's decisions, per ModelDeployment and per series: pure, no I/O.

The shell (modelserve.reconcile.predictive) reads the spec and Prometheus and keeps the state; it
asks this module what to do with them:

- :func:`config_from_spec`: the cycle's settings from the typed spec (and the RegionPlacement), or a
  :class:`Reactive` saying why no floor can be planned;
- :func:`refit_due` / :func:`fetch_start`: whether the expensive fit runs this step, and from where
  the demand is fetched;
- :func:`floor_for` / :func:`autoscaling_status` / :func:`reactive_floor`: the :class:`PredictiveFloor`
  handed to the ModelDeployment planner (through a :class:`FloorSource`), and its status.autoscaling;
- :func:`material_change`: whether a new set of floors must be published at once.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from modelserve.api.durations import format_duration
from modelserve.api.errors import SpecError
from modelserve.api.modeldeployment import MODE_OBSERVE, Autoscaling, ModelDeploymentSpec, Objective
from modelserve.forecasting.demand import STEP_SECONDS, burst_query, demand_query
from modelserve.forecasting.floor import (
    REASON_INSUFFICIENT_HISTORY,
    REASON_STALE_DATA,
    FloorDecision,
    FloorParams,
)
from modelserve.forecasting.models import ForecastState
from modelserve.forecasting.selection import InsufficientHistory
from modelserve.forecasting.tuning import (
    REPLAY_TARGET_UTILIZATION,
    TUNING_INTERVAL_SECONDS,
    FixedKnobs,
    Knobs,
    ReplaySetup,
    TuningResult,
)
from modelserve.placement import parse_region_placement
from modelserve.placement.bounds import regional_bounds
from modelserve.runtimes import Series as RequestSeries
from modelserve.runtimes import builtin_catalogue, requests_series

DEFAULT_INTERVAL_SECONDS = 60.0  # between planning steps
DEFAULT_HOLD_SECONDS = 300.0  # a raised floor's hold: the HPA's scale-down stabilization window
# With too little history (or after a failed fit) look again sooner than refitInterval: this many
# planning steps, so a new model starts forecasting soon after its history is long enough.
RECHECK_STEPS = 10
# Refits of different series are spread over the last quarter of their interval (by a hash of the
# key), so series fitted together after a restart drift apart instead of refitting in one cycle.
REFIT_JITTER = 0.25
# With no demand data for this long the floor is given up and the HPA is purely reactive again.
STALE_REACTIVE_SECONDS = 3600.0
# A status.autoscaling whose only change is in figures (forecast peak and its time, live demand in
# the message) is republished at most this often; floors, reasons, models and notes go out at once.
STATUS_REFRESH_SECONDS = 300.0

# status.autoscaling.reason prefixes of the operator's own (reactive) cases; plan_floor's are in
# modelserve.forecasting.floor (ForecastPeak, LiveDemand, GradualDescent, StaleData, ...).
REASON_INVALID_SPEC = "InvalidSpec"
REASON_UNSUPPORTED_METRIC = "UnsupportedMetric"
REASON_PROMETHEUS_NOT_CONFIGURED = "PrometheusNotConfigured"
REASON_PROMETHEUS_UNAVAILABLE = "PrometheusUnavailable"
REASON_PLACEMENT_MISSING = "PlacementMissing"
REASON_FIT_FAILED = "FitFailed"
REASON_INTERNAL_ERROR = "InternalError"


# ============================================================================ what the planner reads
@dataclass(frozen=True)
class PredictiveFloor:
    """The predictive autoscaler's decision for one region (None = the model's only region)."""

    floor: int | None  # None: stay purely reactive (status says why)
    status: dict = field(default_factory=dict)  # the ModelDeployment's status.autoscaling


class FloorSource(Protocol):
    """Where the ModelDeployment reconcile gets the predictive floors of a model (the forecast cycle;
    called from the reconcile's worker threads)."""

    def floors_for(self, namespace: str, name: str) -> dict[str | None, PredictiveFloor]: ...


# ========================================================================================= settings
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
    objective: Objective | None = None  # self-tuning on
    fixed: FixedKnobs = field(default_factory=FixedKnobs)  # the knobs the user set (the tuning keeps them)
    observe: bool = False  # mode observe: forecast and report, never hand a floor to the planner

    @property
    def regions(self) -> tuple[str | None, ...]:
        return tuple(self.floors)

    def tuned(self, region: str | None, knobs: Knobs | None) -> tuple[FitSettings, FloorParams]:
        """The fit settings and floor parameters of one region with the tuning's knobs in place (the
        tuning already kept the user's explicit knobs); the spec's own without a tuning."""
        params = self.floors[region]
        if knobs is None:
            return self.fit, params
        return (
            replace(self.fit, quantile=knobs.quantile),
            replace(params, headroom_percent=knobs.headroom_percent, hold_seconds=knobs.hold_seconds),
        )

    def replay_setup(self, region: str | None) -> ReplaySetup:
        """What the tuning replays for one region: its HPA (the target taken as
        REPLAY_TARGET_UTILIZATION of a replica's capacity), forecaster and planner settings."""
        params = self.floors[region]
        return ReplaySetup(
            capacity_per_replica=params.target_per_replica / REPLAY_TARGET_UTILIZATION,
            startup_seconds=params.startup_seconds,
            max_replicas=params.max_replicas,
            planning_interval_seconds=int(params.planning_interval_seconds),
            history_seconds=int(self.fit.history_seconds),
            min_history_seconds=int(self.fit.min_history_seconds),
            quantile=self.fit.quantile,
            headroom_percent=params.headroom_percent,
            scale_down_percent_per_step=params.scale_down_percent_per_step,
            hold_seconds=params.hold_seconds,
            model=self.fit.model,
            seasonality=self.fit.seasonality,
            burst=self.fit.burst_query is not None,
        )


def model_requests(spec: ModelDeploymentSpec) -> RequestSeries:
    """The request counter of the model's runtime (built-in catalogue mapping): what its demand counts."""
    return requests_series(builtin_catalogue(), spec.runtime.name, spec.model.format, spec.runtime.image)


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
    unsupported = _unsupported_target(a)
    if unsupported is not None:
        return unsupported
    p = a.predictive
    by_region = placement_spec is not None
    requests = model_requests(spec)
    query = demand_query(namespace, name, p.query, by_region=by_region, requests=requests)
    try:
        floors = _floor_params(spec, a, placement_spec, planning_interval_seconds, hold)
    except (ValueError, SpecError) as exc:
        return Reactive(REASON_INVALID_SPEC, str(exc))
    if not floors:
        return Reactive(REASON_PLACEMENT_MISSING, "no region of the RegionPlacement may serve")
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
            requests=requests,
        ),
    )
    return PredictiveConfig(
        query=query,
        by_region=by_region,
        fit=fit,
        refit_interval_seconds=p.refit_interval_seconds,
        floors=floors,
        objective=p.objective,
        fixed=FixedKnobs(
            quantile=p.quantile if "quantile" in p.explicit else None,
            headroom_percent=float(p.headroom_percent) if "headroomPercent" in p.explicit else None,
            hold_seconds=p.hold_seconds,
        ),
        observe=p.mode == MODE_OBSERVE,
    )


def _unsupported_target(a: Autoscaling) -> Reactive | None:
    """A target metric the demand query cannot be mapped to replicas for; None when it can."""
    if a.target.metric == "cpuUtilization":
        return Reactive(
            REASON_UNSUPPORTED_METRIC,
            "spec.autoscaling.target.metric cpuUtilization has no demand-to-replicas mapping; "
            "use requestsPerSecond (or concurrency with a predictive.query); the HPA stays reactive",
        )
    if a.target.metric == "concurrency" and not a.predictive.query:
        return Reactive(
            REASON_UNSUPPORTED_METRIC,
            "spec.autoscaling.target.metric concurrency needs spec.autoscaling.predictive.query "
            "giving in-flight requests (the default query is requests per second); "
            "the HPA stays reactive",
        )
    return None


def _floor_params(
    spec: ModelDeploymentSpec,
    a: Autoscaling,
    placement_spec: Mapping[str, Any] | None,
    planning_interval_seconds: float,
    hold: float,
) -> dict[str | None, FloorParams]:
    """The floor's parameters per series: the whole model (key None) without a placement, else each
    region that may serve (none when no region may). Raises ValueError / SpecError on a bad spec."""
    p = a.predictive
    target = float(a.target.average_value or 0)

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

    if placement_spec is None:
        return {None: params(a.min_replicas, a.max_replicas)}
    placement = parse_region_placement(placement_spec)
    # The planner's own bounds (one function for both); every region counted as available:
    # the planner clamps the floor again to the bounds under the live node availability.
    bounds = regional_bounds(
        a.min_replicas, a.max_replicas, placement.regions, None, placement.on_region_unavailable
    )
    return {
        region: params(bounds[region].min_replicas, bounds[region].max_replicas)
        for region in sorted(bounds)
        if bounds[region].serves
    }


# =========================================================================================== refits
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


def tuning_due(
    *, now: float, next_tuning: float | None, tuned_for: Any, wanted_for: Any, objective: Objective | None
) -> bool:
    """Whether a tuning pass runs this step for one series: with an objective, when it never ran,
    when what it was tuned for (objective, explicit knobs, the region's settings) changed, and at
    `next_tuning` (see :func:`next_tuning_time`)."""
    if objective is None:
        return False
    return next_tuning is None or tuned_for != wanted_for or now >= next_tuning


def next_tuning_time(now: float, tuned: bool, refit_interval_seconds: float) -> float:
    """When the next pass is due: TUNING_INTERVAL_SECONDS after a tuning (a pass costs seconds of CPU,
    docs/benchmarks.md), one refit interval after one that could not run (too little history)."""
    return now + (TUNING_INTERVAL_SECONDS if tuned else refit_interval_seconds)


def seeded_floor(scaled_object: Mapping | None, hpa: Mapping | None) -> int | None:
    """The floor a previous operator left in the model's autoscaler, to continue from after a restart.

    Under KEDA the operator writes a ScaledObject (its `minReplicaCount` is the floor; KEDA copies it
    into the HPA it names `keda-hpa-<scaledobject>`), otherwise the HPA itself (`minReplicas`). The
    ScaledObject wins when both exist (an engine switch leaves the other one to be deleted)."""
    for obj, field_name in ((scaled_object, "minReplicaCount"), (hpa, "minReplicas")):
        low = ((obj or {}).get("spec") or {}).get(field_name)
        if isinstance(low, int) and not isinstance(low, bool):
            return low
    return None


# =========================================================================================== status
def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _round(value: float, digits: int = 4) -> float:
    """A few significant digits: status stays readable and does not change on float noise."""
    if value == 0 or not math.isfinite(value):
        return 0.0
    return round(value, max(0, digits - 1 - math.floor(math.log10(abs(value)))))


def tuning_status(result: TuningResult, tuned_at: float) -> dict:
    """status.autoscaling.tuning (docs/api.md) of a tuning pass."""
    k = result.knobs
    return {
        "objective": result.objective.describe(),
        "quantile": k.quantile,
        "headroomPercent": k.headroom_percent,
        "holdAfterRaiseSeconds": k.hold_seconds,
        "met": bool(result.met),
        "underProvisionedPercent": _round(result.under_percent),
        "extraCostPercent": _round(result.extra_cost_percent),
        "reactiveUnderProvisionedPercent": _round(result.reactive_under_percent),
        "replayedFrom": _iso(result.replayed_from),
        "replayedTo": _iso(result.replayed_to),
        "lastTuneTime": _iso(tuned_at),
        "replayedDays": int(result.passes),
        "reason": result.reason[:1000],
    }


def untuned_status(objective: Objective, message: str) -> dict:
    """status.autoscaling.tuning while no tuning could run (e.g. too little history to replay)."""
    return {"objective": objective.describe(), "met": False, "reason": message[:1000]}


def autoscaling_status(
    decision: FloorDecision,
    state: ForecastState | InsufficientHistory | None,
    note: str = "",
    step: int = STEP_SECONDS,
    *,
    observe: bool = False,
    tuning: dict | None = None,
) -> dict:
    """status.autoscaling (docs/api.md) for one series: the decision, what the model is and how good
    it was. `reason` is "<Reason>: <message>" (+ `note`, e.g. that Prometheus is unreachable).
    `observe`: the floor is reported, not written (mode observe); `tuning`: see :func:`tuning_status`."""
    status: dict[str, Any] = {
        "floor": int(decision.floor),
        "reason": f"{decision.reason}: {decision.message}",
    }
    if observe:
        status["mode"] = MODE_OBSERVE
        status["reason"] += "; mode observe: the HPA is not changed"
    if tuning:
        status["tuning"] = tuning
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
_FIGURES = re.compile(r"\d[\d.,:eTZ+-]*")


def _shape(status: dict) -> dict:
    """status.autoscaling without its moving figures: the forecast peak, its burst allowance and the
    numbers in the reason (the other numbers, backtest error, dispersion and history, change only with
    a fit, i.e. with lastFitTime)."""
    return {
        **status,
        "forecastPeak": None,
        "forecastPeakTime": None,
        "burstAllowance": None,
        "reason": _FIGURES.sub("#", str(status.get("reason", ""))),
    }


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


def series_note(
    note: str, prometheus_down: bool, data_end: float | None, decision: FloorDecision, floor: int | None
) -> str:
    """The note appended to one series' status.autoscaling.reason: `note` (why Prometheus or the fit
    failed), the age of the data a forecast still runs on while Prometheus is down, and that the HPA
    went reactive after STALE_REACTIVE_SECONDS without data."""
    if prometheus_down and data_end is not None and decision.reason != REASON_STALE_DATA:
        note += f"; forecasting from data up to {_iso(data_end)}"
    if floor is None and decision.reason == REASON_STALE_DATA:
        note += f"; no demand data for over {format_duration(STALE_REACTIVE_SECONDS)}: the HPA is reactive"
    return note
