"""Self-tuning: replay the predictive cycle on recorded demand and pick the planner's knobs (pure).

One replay serves the operator (which tunes each model daily on the history it already fetched) and
`benchmarks/autoscaling.py` (`--sweep`, `--objective`):

- :class:`ReplayedCycle` is the operator's forecast cycle run over a recorded trace, minute by minute,
  seeing only the data that had reached Prometheus (clean_series -> fit_forecaster every refit
  interval -> forecast -> plan_floor). With ``record=True`` it keeps what the planner was given at
  each step, so :func:`replay_floors` can replay other planner settings (headroom, hold, burst) on
  it without forecasting again: the forecasts do not depend on them. Only the quantile needs its own
  forecasting pass (it sets the width of the prediction interval at the fit).
- :func:`simulate_hpa` replays the demand through the simulated Kubernetes HPA (`hpa_sim`, 15 s
  syncs) with those floors as minReplicas and scores it.
- :func:`tune` runs both over a grid of knobs on the last day of a history, scores every setting
  against the reactive HPA alone, pools the scores with those of the passes of the days before
  (TUNING_MEMORY days in all: one day holds few under-provisioned minutes), and
  :func:`choose_knobs` picks one for the objective.

**The figures** (also in docs/autoscaling.md). Over the replayed minutes:

- *under-provisioned percent*: the share of time (15 s resolution) when demand exceeds Ready pods x
  capacity per replica, in percent of the replayed time;
- *extra cost percent*: replica-hours (every pod, Ready or starting) of the setting over those of the
  reactive HPA alone on the same minutes, minus one, in percent (negative when cheaper).

The operator knows the HPA's target per replica, not a replica's capacity; it takes the target to be
REPLAY_TARGET_UTILIZATION (70 %) of the capacity, the benchmark's assumption.

**The choice.** `maxUnderProvisionedPercent: X`: the cheapest setting (fewest replica-hours) whose
under-provisioned percent is at most X; when none is, the one with the least under-provisioning.
`maxExtraCostPercent: X`: of the settings whose extra cost is at most X, the one with the least
under-provisioning — a budget is spent on coverage, not saved — where settings within
COVERAGE_TOLERANCE (10 %) of the least under-provisioned minutes count as equal and the cheapest of
them wins; when none fits the budget, the cheapest. Either way the result says whether the objective
is met, and why not.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from modelserve.api.modeldeployment import (
    MAX_UNDER_PROVISIONED_PERCENT,
    Objective,
)

from .floor import FloorParams, plan_floor
from .hpa_sim import HPA_SYNC_SECONDS, HpaSimulator
from .models import Forecast, ForecastState, forecast
from .selection import InsufficientHistory, fit_forecaster
from .series import Series, clean_series

DAY = 86400

# The HPA target is taken to be this share of what a replica can serve (the benchmark's default).
REPLAY_TARGET_UTILIZATION = 0.7
# The replay scores the last day of the history; the fit at its start sees only what came before.
REPLAY_SECONDS = DAY
# The HPA is replayed from this long before the scored day, so its state at the start is settled.
WARMUP_MINUTES = 30
# A choice pools the figures of this many daily passes (this one and the ones before it).
TUNING_MEMORY = 7
# Within the budget, settings whose pooled under-provisioned minutes are within this fraction of the
# least are taken as equally good and the cheapest of them wins: a few minutes' difference over the
# replayed days is noise the next day does not repeat (choosing the strict least overpays for it).
COVERAGE_TOLERANCE = 0.10
# How often the operator tunes a model (a pass costs seconds of CPU: docs/benchmarks.md).
TUNING_INTERVAL_SECONDS = DAY


# --- the replay ------------------------------------------------------------------------------------


@dataclass
class ReplaySetup:
    """Everything a replay needs besides the demand: the HPA, the forecaster and the planner's knobs."""

    capacity_per_replica: float
    target_utilization: float = REPLAY_TARGET_UTILIZATION
    startup_seconds: float = 60
    metric_delay_seconds: float = 60
    max_replicas: int = 1000
    planning_interval_seconds: int = 60
    refit_interval_seconds: int = 3600
    history_seconds: int = 7 * DAY
    min_history_seconds: int = 2 * DAY
    step_seconds: int = 300
    quantile: float = 0.75
    headroom_percent: float = 5
    scale_down_percent_per_step: float = 10
    hold_seconds: float = 300
    model: str = "auto"
    seasonality: str = "auto"
    burst: bool = True  # measure the dispersion of minute demand and plan a burst allowance
    burst_history_seconds: int = DAY

    @property
    def target_per_replica(self) -> float:
        return self.capacity_per_replica * self.target_utilization


@dataclass
class ReplayRun:
    """A scored replay: under-provisioned minutes and replica-hours over the scored minutes."""

    name: str
    under_minutes: float
    replica_hours: float
    minutes: int
    ready: np.ndarray = field(repr=False)  # Ready pods at the start of each minute
    alive: np.ndarray = field(repr=False)  # all pods at the start of each minute
    notes: dict = field(default_factory=dict)

    @property
    def under_percent(self) -> float:
        return 100.0 * self.under_minutes / self.minutes if self.minutes else 0.0


def simulate_hpa(
    name: str,
    demand: np.ndarray,
    setup: ReplaySetup,
    start: float,
    *,
    floor_for_minute: Callable[[int, float], int | None] | None = None,
    target_utilization: float | None = None,
    evaluate_from: int = 0,
) -> ReplayRun:
    """Replay `demand` (req/s per minute) through the HPA; `floor_for_minute(i, now)` gives minReplicas.

    Minutes before `evaluate_from` run (the HPA warms up) but are not scored."""
    utilization = setup.target_utilization if target_utilization is None else target_utilization
    capacity = setup.capacity_per_replica
    hpa = HpaSimulator(
        min_replicas=1,
        max_replicas=setup.max_replicas,
        target_per_pod=capacity * utilization,
        startup_seconds=setup.startup_seconds,
        initial_replicas=max(1, math.ceil(demand[0] / (capacity * utilization))),
    )
    ticks = int(60 // HPA_SYNC_SECONDS)
    delay = setup.metric_delay_seconds
    n = demand.shape[0]
    ready_log = np.zeros(n, dtype=np.int32)
    alive_log = np.zeros(n, dtype=np.int32)
    under_ticks = 0
    alive_ticks = 0
    floor = None
    for i in range(n):
        if floor_for_minute is not None:
            floor = floor_for_minute(i, start + i * 60.0)
        d = demand[i]
        for k in range(ticks):
            t = i * 60.0 + k * HPA_SYNC_SECONDS
            seen = demand[max(0, int((t - delay) // 60))]
            hpa.sync(t, seen, min_replicas=floor)
            ready = hpa.ready(t)
            if k == 0:
                ready_log[i], alive_log[i] = ready, hpa.replicas
            if i >= evaluate_from:
                under_ticks += d > ready * capacity
                alive_ticks += hpa.replicas
    minutes = n - evaluate_from
    hours = alive_ticks * HPA_SYNC_SECONDS / 3600
    return ReplayRun(name, under_ticks / ticks, hours, minutes, ready_log, alive_log)


def replay_floor_params(setup: ReplaySetup) -> FloorParams:
    """The planner's parameters of a replay (minReplicas 1, the setup's knobs)."""
    return FloorParams(
        min_replicas=1,
        max_replicas=setup.max_replicas,
        target_per_replica=setup.target_per_replica,
        headroom_percent=setup.headroom_percent,
        startup_seconds=setup.startup_seconds,
        scale_down_percent_per_step=setup.scale_down_percent_per_step,
        hold_seconds=setup.hold_seconds,
        planning_interval_seconds=setup.planning_interval_seconds,
    )


Recorded = list[tuple[int, float, Forecast | InsufficientHistory, float]]


def replay_floors(recorded: Recorded, minutes: int, params: FloorParams, *, burst: bool = True) -> np.ndarray:
    """The floors (0 = none yet) that plan_floor with `params` sets, minute by minute, on forecasts
    recorded by ReplayedCycle(record=True): the forecasting does not depend on the planner's
    headroom or hold, so one forecasting pass serves every such setting. `burst=False` replays
    without the burst allowance (the forecasts are the same; only the allowance is dropped)."""
    floors = np.zeros(minutes, dtype=np.int32)
    floor: int | None = None
    raised: float | None = None
    previous = 0
    for i, now, basis, live in recorded:
        if not burst and isinstance(basis, Forecast):
            basis = replace(basis, burst=None)
        floors[previous:i] = floor or 0
        decision = plan_floor(basis, floor, live, params, now, last_raised_at=raised)
        floor, raised, previous = decision.floor, decision.last_raised_at, i
    floors[previous:] = floor or 0
    return floors


class ReplayedCycle:
    """The operator's predictive cycle, replayed over `demand` (req/s per minute from `start`): call it
    with each minute in order; it sees data up to that minute minus the metric delay only.

    Refits fall every refit interval counted from minute `origin`; :meth:`retune` changes the knobs
    from the next step (a new quantile refits at once)."""

    def __init__(
        self, demand: np.ndarray, start: float, setup: ReplaySetup, *, record: bool = False, origin: int = 0
    ):
        self.demand, self.start, self.setup, self.origin = demand, start, setup, origin
        self.params = replay_floor_params(setup)
        # With record=True, what plan_floor was given at each planning step (minute, now, forecast
        # without its state, live demand), so other planner settings can be replayed on it.
        self.recorded: Recorded | None = [] if record else None
        self.state: ForecastState | InsufficientHistory | None = None
        self.floor: int | None = None
        self.last_raised_at: float | None = None
        self.refit_now = False
        self.fits = 0
        self.fit_seconds = 0.0
        self.update_seconds = 0.0
        self.models: dict[str, int] = {}
        self.floors = np.zeros(demand.shape[0], dtype=np.int32)

    def retune(self, quantile: float, headroom_percent: float, hold_seconds: float) -> None:
        """Use these knobs from the next step on (the operator after a tuning pass)."""
        self.refit_now = self.refit_now or quantile != self.setup.quantile
        self.setup = replace(
            self.setup, quantile=quantile, headroom_percent=headroom_percent, hold_seconds=hold_seconds
        )
        self.params = replay_floor_params(self.setup)

    def _minutes(self, first: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        idx = np.arange(max(first, 0), end)
        return self.start + idx * 60.0, self.demand[idx]

    def _refit(self, now: float, available: int, last_complete_minute: int) -> None:
        s = self.setup
        t0 = time.process_time()
        first = last_complete_minute - s.history_seconds // 60
        times, values = self._minutes(first, last_complete_minute)
        series = clean_series(times, values, step_seconds=s.step_seconds)
        fine = None
        if s.burst:  # the operator's second query: the last day of demand at a 1-minute step
            fine_times, fine_values = self._minutes(available - s.burst_history_seconds // 60, available)
            fine = clean_series(fine_times, fine_values, step_seconds=60, outlier_threshold=None)
        self.state = fit_forecaster(
            series,
            model=s.model,
            seasonality=s.seasonality,
            min_history_seconds=s.min_history_seconds,
            quantile=s.quantile,
            horizon_seconds=self.params.effective_horizon_seconds,
            now=now,
            fine=fine,
        )
        self.fit_seconds += time.process_time() - t0
        self.fits += 1
        self.refit_now = False
        if isinstance(self.state, ForecastState):
            self.models[self.state.model] = self.models.get(self.state.model, 0) + 1

    def __call__(self, i: int, now: float) -> int | None:
        s = self.setup
        elapsed = (i - self.origin) * 60
        # Minutes whose data has reached Prometheus: they ended at least metric-delay ago.
        available = int((i * 60 - s.metric_delay_seconds) // 60)
        if available <= 0:
            return self.floor
        complete_end = self.start + available * 60.0
        complete_end -= complete_end % s.step_seconds  # only whole forecasting bins
        last_complete_minute = int((complete_end - self.start) // 60)
        if elapsed % s.refit_interval_seconds == 0 or self.refit_now:
            self._refit(now, available, last_complete_minute)
        if elapsed % s.planning_interval_seconds == 0 and self.state is not None:
            self._plan(now, i, available, last_complete_minute)
        self.floors[i] = self.floor or 0
        return self.floor

    def _plan(self, now: float, i: int, available: int, last_complete_minute: int) -> None:
        s = self.setup
        t0 = time.process_time()
        live = float(self.demand[available - 1])
        basis: Forecast | InsufficientHistory
        if isinstance(self.state, InsufficientHistory):
            basis = self.state
        else:
            assert self.state is not None
            first = int((self.state.last_time + s.step_seconds - self.start) // 60)
            times, values = self._minutes(first, last_complete_minute)
            fc = forecast(
                self.state,
                clean_series(times, values, step_seconds=s.step_seconds),
                now=now,
                horizon_seconds=self.params.effective_horizon_seconds,
            )
            self.state = fc.state
            basis = fc
        decision = plan_floor(basis, self.floor, live, self.params, now, last_raised_at=self.last_raised_at)
        if self.recorded is not None:
            kept = replace(basis, state=None) if isinstance(basis, Forecast) else basis  # type: ignore[arg-type]
            self.recorded.append((i, now, kept, live))
        self.floor, self.last_raised_at = decision.floor, decision.last_raised_at
        self.update_seconds += time.process_time() - t0


# --- objective and choice -------------------------------------------------------------------------


@dataclass(frozen=True)
class Knobs:
    """The planner settings the tuning chooses between."""

    quantile: float
    headroom_percent: float
    hold_seconds: float


@dataclass(frozen=True)
class FixedKnobs:
    """Knobs the user set explicitly (None: left to the tuning)."""

    quantile: float | None = None
    headroom_percent: float | None = None
    hold_seconds: float | None = None


@dataclass(frozen=True)
class TuningGrid:
    quantiles: tuple[float, ...] = (0.5, 0.75, 0.8, 0.9)
    headroom_percents: tuple[float, ...] = (0.0, 5.0, 10.0)
    hold_seconds: tuple[float, ...] = (120.0, 300.0, 600.0)

    def points(self, fixed: FixedKnobs) -> list[Knobs]:
        """Every grid point, with the user's explicit knobs in place of their axis."""
        quantiles = self.quantiles if fixed.quantile is None else (fixed.quantile,)
        headrooms = self.headroom_percents if fixed.headroom_percent is None else (fixed.headroom_percent,)
        holds = self.hold_seconds if fixed.hold_seconds is None else (fixed.hold_seconds,)
        return [Knobs(q, h, d) for q, h, d in itertools.product(quantiles, headrooms, holds)]


DEFAULT_GRID = TuningGrid()


@dataclass(frozen=True)
class Score:
    """One grid point's replay (or several pooled): the figures the objective is about (module doc)."""

    knobs: Knobs
    under_minutes: float
    minutes: float
    replica_hours: float
    reactive_hours: float
    reactive_under_minutes: float = 0.0

    @property
    def under_percent(self) -> float:
        return 100.0 * self.under_minutes / self.minutes if self.minutes else 0.0

    @property
    def extra_cost_percent(self) -> float:
        return 100.0 * (self.replica_hours / self.reactive_hours - 1) if self.reactive_hours else 0.0

    @property
    def reactive_under_percent(self) -> float:
        return 100.0 * self.reactive_under_minutes / self.minutes if self.minutes else 0.0


def pool_scores(passes: Sequence[Sequence[Score]]) -> list[Score]:
    """The last pass's grid points, each with its minutes and hours summed over every pass that has
    it: one day of replay holds few under-provisioned minutes, so a choice on it alone is noisy."""
    if not passes:
        return []
    pooled = []
    for score in passes[-1]:
        same = [s for scores in passes for s in scores if s.knobs == score.knobs]
        pooled.append(
            Score(
                score.knobs,
                sum(s.under_minutes for s in same),
                sum(s.minutes for s in same),
                sum(s.replica_hours for s in same),
                sum(s.reactive_hours for s in same),
                sum(s.reactive_under_minutes for s in same),
            )
        )
    return pooled


def _meets(score: Score, objective: Objective) -> bool:
    if objective.field == MAX_UNDER_PROVISIONED_PERCENT:
        return score.under_percent <= objective.value
    return score.extra_cost_percent <= objective.value


def choose_knobs(scores: Sequence[Score], objective: Objective) -> tuple[Score, bool]:
    """The score of the chosen setting and whether it meets the objective (module doc: the choice).

    Ties are broken by the other figure, then by the grid order (the first listed wins)."""
    if not scores:
        raise ValueError("choose_knobs: no settings to choose from")
    meeting = [s for s in scores if _meets(s, objective)]
    if objective.field == MAX_UNDER_PROVISIONED_PERCENT:
        if meeting:
            return min(meeting, key=lambda s: (s.replica_hours, s.under_percent)), True
        return min(scores, key=lambda s: (s.under_percent, s.replica_hours)), False
    if meeting:
        least = min(s.under_minutes for s in meeting)
        equivalent = [s for s in meeting if s.under_minutes <= least * (1 + COVERAGE_TOLERANCE)]
        return min(equivalent, key=lambda s: (s.replica_hours, s.under_percent)), True
    return min(scores, key=lambda s: (s.replica_hours, s.under_percent)), False


@dataclass(frozen=True)
class TuningResult:
    """What a tuning pass chose, on which replay, and whether the objective is met (and why not)."""

    knobs: Knobs
    objective: Objective
    met: bool
    under_percent: float
    extra_cost_percent: float
    reactive_under_percent: float
    replayed_from: float
    replayed_to: float
    reason: str
    scores: tuple[Score, ...] = ()  # this pass's replay alone (the next passes pool it)
    cpu_seconds: float = 0.0
    passes: int = 1  # how many daily replays the choice pooled


def _reason(chosen: Score, met: bool, objective: Objective, points: int, passes: int) -> str:
    k = chosen.knobs
    setting = f"quantile {k.quantile:g}, headroom {k.headroom_percent:g}%, hold {k.hold_seconds:g}s"
    figures = (
        f"{chosen.under_percent:.3g}% of the time under-provisioned "
        f"(reactive HPA: {chosen.reactive_under_percent:.3g}%), "
        f"{chosen.extra_cost_percent:+.3g}% replica-hours vs reactive over {passes} replayed day(s)"
    )
    if met and objective.field == MAX_UNDER_PROVISIONED_PERCENT:
        return f"cheapest of {points} settings with {objective.describe()}: {setting}: {figures}"
    if met:
        best = f"least under-provisioned of {points} settings within {objective.describe()}"
        return f"{best}: {setting}: {figures}"
    if objective.field == MAX_UNDER_PROVISIONED_PERCENT:
        why = "no setting of the grid is provisioned that often (bursts the forecast and HPA cannot follow)"
        return f"not met: {why}; best reachable: {setting}: {figures}"
    why = "every setting of the grid costs more than that over the reactive HPA"
    return f"not met: {why}; cheapest: {setting}: {figures}"


def _floors_of(floors: np.ndarray) -> Callable[[int, float], int | None]:
    """minReplicas per minute from replayed floors (0: no floor yet)."""
    return lambda i, now: int(floors[i]) or None


def tune(
    demand: np.ndarray,
    start: float,
    setup: ReplaySetup,
    objective: Objective,
    *,
    fixed: FixedKnobs = FixedKnobs(),
    grid: TuningGrid = DEFAULT_GRID,
    replay_seconds: int = REPLAY_SECONDS,
    earlier: Sequence[Sequence[Score]] = (),
) -> TuningResult | InsufficientHistory:
    """Replay the last `replay_seconds` of `demand` (req/s per minute from `start`, the past only)
    with every grid point (one forecasting pass per quantile, fitted on what came before) and the
    reactive HPA alone, pool the figures with the `earlier` passes' (:func:`pool_scores`; the last
    TUNING_MEMORY - 1 are kept) and choose (see :func:`choose_knobs`). An InsufficientHistory when
    there is less than `setup.min_history_seconds` before the replayed period."""
    cpu = time.process_time()
    n = int(demand.shape[0])
    replay_minutes = replay_seconds // 60
    replay_start = n - replay_minutes
    have = max(replay_start, 0) * 60
    if replay_start <= 0 or have < setup.min_history_seconds:
        return InsufficientHistory(have, setup.min_history_seconds)
    demand = np.nan_to_num(np.asarray(demand, dtype=float), nan=0.0)
    # The scored day plus a warm-up for the HPA; the floors of the warm-up are the first step's.
    first = max(replay_start - WARMUP_MINUTES, 0)
    window = demand[first:]
    window_start = start + first * 60.0
    reactive = simulate_hpa("reactive", window, setup, window_start, evaluate_from=replay_start - first)
    points = grid.points(fixed)
    scores: list[Score] = []
    for quantile in sorted({k.quantile for k in points}):
        base = replace(setup, quantile=quantile, refit_interval_seconds=replay_seconds)
        cycle = ReplayedCycle(demand, start, base, record=True, origin=replay_start)
        for i in range(replay_start, n):
            cycle(i, start + i * 60.0)
        assert cycle.recorded is not None
        recorded = [(i - first, now, fc, live) for i, now, fc, live in cycle.recorded]
        for knobs in (k for k in points if k.quantile == quantile):
            params = replay_floor_params(
                replace(base, headroom_percent=knobs.headroom_percent, hold_seconds=knobs.hold_seconds)
            )
            floors = replay_floors(recorded, window.shape[0], params)
            run = simulate_hpa(
                "predictive",
                window,
                base,
                window_start,
                evaluate_from=replay_start - first,
                floor_for_minute=_floors_of(floors),
            )
            scores.append(
                Score(
                    knobs,
                    float(run.under_minutes),
                    float(run.minutes),
                    float(run.replica_hours),
                    float(reactive.replica_hours),
                    float(reactive.under_minutes),
                )
            )
    passes = [*list(earlier)[-(TUNING_MEMORY - 1) :], scores] if TUNING_MEMORY > 1 else [scores]
    chosen, met = choose_knobs(pool_scores(passes), objective)
    return TuningResult(
        knobs=chosen.knobs,
        objective=objective,
        met=met,
        under_percent=chosen.under_percent,
        extra_cost_percent=chosen.extra_cost_percent,
        reactive_under_percent=chosen.reactive_under_percent,
        replayed_from=start + n * 60.0 - len(passes) * replay_seconds,
        replayed_to=start + n * 60.0,
        reason=_reason(chosen, met, objective, len(scores), len(passes)),
        scores=tuple(scores),
        cpu_seconds=time.process_time() - cpu,
        passes=len(passes),
    )


def minute_demand(history: Series, fine: Series | None) -> tuple[float, np.ndarray]:
    """The operator's demand as the replay takes it: (start, req/s per minute). Each 5-minute bin of
    `history` is spread over its minutes, and where the 1-minute `fine` series has a value it is
    used instead (the replayed day then has its real minute noise). Missing data is NaN."""
    per_bin = history.step_seconds // 60
    start = history.start
    values = np.repeat(np.asarray(history.values, dtype=float), per_bin)
    if fine is not None and len(fine):
        end = start + values.shape[0] * 60.0
        if fine.end + 60 > end:  # the minutes reach past the last complete bin: extend
            values = np.r_[values, np.full(int((fine.end + 60 - end) // 60), np.nan)]
        offset = round((fine.start - start) / 60)
        fine_values = np.asarray(fine.values, dtype=float)
        lo = max(offset, 0)
        part = fine_values[lo - offset : values.shape[0] - offset]
        target = values[lo : lo + part.shape[0]]
        keep = np.isfinite(part)
        target[keep] = part[keep]
    return start, values
