#!/usr/bin/env python3
"""Predictive vs reactive autoscaling on real request traces, and the cost of a forecasting cycle.

Replays a trace (CSV `timestamp,requests`, one row per interval) minute by minute through a
simulated Kubernetes HPA (modelserve.forecasting.hpa_sim, 15 s syncs) and compares:

- reactive:     the HPA alone (target = capacity-per-replica x target-utilisation per pod);
- predictive:   the same HPA whose minReplicas is set every planning step by the operator's own code
                (clean_series -> fit_forecaster every refit interval on a rolling 7 d history ->
                forecast -> plan_floor), using only data up to the current minute;
- hw-1-sync:    a baseline in the style of the predictive-HPA projects: Holt-Winters (fixed
                smoothing) on the HPA's own replica evaluations, one sync period ahead, max'ed with it;
- oracle:       knows future demand; starts pods exactly startup-seconds before they are needed,
                at the same per-pod target as the HPA.

Under-provisioned time: demand > Ready pods x capacity-per-replica (15 s resolution).
Replica-hours: all pods, Ready or starting. Also reported: the reactive HPA given extra headroom
(a lower target utilisation, found by bisection) until it costs as much as predictive.

    python benchmarks/autoscaling.py --trace ../shared/traces/nasa_http_1995jul_1min.csv --plot x.png
    python benchmarks/autoscaling.py --cost          # CPU seconds of one cycle for 1,000 series
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from modelserve.forecasting import (
    HPA_SYNC_SECONDS,
    FloorParams,
    Forecast,
    ForecastState,
    HpaSimulator,
    InsufficientHistory,
    clean_series,
    fit_forecaster,
    forecast,
    plan_floor,
)

DAY = 86400


# --- trace ----------------------------------------------------------------------------------------


def load_trace(path: Path) -> tuple[float, int, np.ndarray]:
    """(start epoch seconds, interval seconds, request counts) of a trace CSV."""
    stamps: list[str] = []
    counts: list[float] = []
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            stamps.append(row["timestamp"].rstrip("Z"))
            counts.append(float(row["requests"]))
    times = np.array(stamps, dtype="datetime64[s]").astype(np.int64).astype(float)
    interval = int(np.median(np.diff(times[:100])))
    expected = np.arange(times[0], times[-1] + interval, interval)
    values = np.full(expected.shape[0], np.nan)
    values[((times - times[0]) // interval).astype(int)] = counts
    return float(times[0]), interval, values


def minute_demand(counts: np.ndarray, interval: int, scale: float) -> np.ndarray:
    """Requests per second in each minute (a 5-min count is spread evenly over its 5 minutes)."""
    per_second = np.nan_to_num(counts, nan=0.0) / interval * scale
    return np.repeat(per_second, interval // 60) if interval >= 60 else per_second


def nice_capacity(peak: float, replicas: int = 30) -> float:
    """The round capacity per replica (1, 2, 2.5, 5 x 10^k) with which `peak` needs closest to `replicas`."""
    exponent = 10 ** math.floor(math.log10(peak / replicas))
    candidates = [m * exponent * scale for scale in (0.1, 1, 10) for m in (1, 2, 2.5, 5)]
    return min(candidates, key=lambda c: abs(peak / c - replicas))


# --- simulation -----------------------------------------------------------------------------------


@dataclass
class Setup:
    capacity_per_replica: float
    target_utilization: float = 0.7
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
class Run:
    name: str
    under_minutes: float
    replica_hours: float
    minutes: int
    ready: np.ndarray = field(repr=False)  # Ready pods at the start of each minute
    alive: np.ndarray = field(repr=False)  # all pods at the start of each minute
    notes: dict = field(default_factory=dict)

    @property
    def under_percent(self) -> float:
        return 100.0 * self.under_minutes / self.minutes


def simulate(
    name: str,
    demand: np.ndarray,
    setup: Setup,
    start: float,
    *,
    floor_for_minute=None,
    target_utilization: float | None = None,
    evaluate_from: int = 0,
) -> Run:
    """Replay `demand` (req/s per minute) through the HPA; `floor_for_minute(i, now)` gives minReplicas."""
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
    return Run(name, under_ticks / ticks, hours, minutes, ready_log, alive_log)


def floor_params(setup: Setup) -> FloorParams:
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


def replay_floors(recorded: list, minutes: int, params: FloorParams, *, burst: bool = True) -> np.ndarray:
    """The floors (0 = none yet) that plan_floor with `params` sets, minute by minute, on forecasts
    recorded by PredictiveFloor(record=True): the forecasting does not depend on the planner's
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


class PredictiveFloor:
    """The operator's predictive cycle, replayed: data up to the current minute only."""

    def __init__(self, demand: np.ndarray, start: float, setup: Setup, *, record: bool = False):
        self.demand, self.start, self.setup = demand, start, setup
        self.params = floor_params(setup)
        # With record=True, what plan_floor was given at each planning step (minute, now, forecast
        # without its state, live demand), so other planner settings can be replayed on it.
        self.recorded: list[tuple[int, float, Forecast | InsufficientHistory, float]] | None = (
            [] if record else None
        )
        self.state: ForecastState | InsufficientHistory | None = None
        self.floor: int | None = None
        self.last_raised_at: float | None = None
        self.fits = 0
        self.fit_seconds = 0.0
        self.update_seconds = 0.0
        self.models: dict[str, int] = {}
        self.floors = np.zeros(demand.shape[0], dtype=np.int32)

    def _minutes(self, first: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        idx = np.arange(max(first, 0), end)
        return self.start + idx * 60.0, self.demand[idx]

    def __call__(self, i: int, now: float) -> int | None:
        s = self.setup
        elapsed = i * 60
        # Minutes whose data has reached Prometheus: they ended at least metric-delay ago.
        available = int((elapsed - s.metric_delay_seconds) // 60)
        if available <= 0:
            return self.floor
        complete_end = self.start + available * 60.0
        complete_end -= complete_end % s.step_seconds  # only whole forecasting bins
        last_complete_minute = int((complete_end - self.start) // 60)
        if elapsed % s.refit_interval_seconds == 0:
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
            if isinstance(self.state, ForecastState):
                self.models[self.state.model] = self.models.get(self.state.model, 0) + 1
        if elapsed % s.planning_interval_seconds == 0 and self.state is not None:
            t0 = time.process_time()
            live = float(self.demand[available - 1])
            if isinstance(self.state, InsufficientHistory):
                decision = plan_floor(
                    self.state, self.floor, live, self.params, now, last_raised_at=self.last_raised_at
                )
                if self.recorded is not None:
                    self.recorded.append((i, now, self.state, live))
            else:
                first = int((self.state.last_time + s.step_seconds - self.start) // 60)
                times, values = self._minutes(first, last_complete_minute)
                fc = forecast(
                    self.state,
                    clean_series(times, values, step_seconds=s.step_seconds),
                    now=now,
                    horizon_seconds=self.params.effective_horizon_seconds,
                )
                self.state = fc.state
                decision = plan_floor(
                    fc, self.floor, live, self.params, now, last_raised_at=self.last_raised_at
                )
                if self.recorded is not None:
                    self.recorded.append((i, now, replace(fc, state=None), live))  # type: ignore[arg-type]
            self.floor, self.last_raised_at = decision.floor, decision.last_raised_at
            self.update_seconds += time.process_time() - t0
        self.floors[i] = self.floor or 0
        return self.floor


class HoltWintersOneSync:
    """PHPA-style baseline: Holt-Winters with fixed smoothing over the HPA's per-minute replica
    evaluations (daily season), predicting the next evaluation; minReplicas = that prediction."""

    ALPHA, BETA, GAMMA = 0.5, 0.1, 0.3

    def __init__(self, demand: np.ndarray, setup: Setup):
        self.demand, self.setup = demand, setup
        self.season = np.zeros(1440)
        self.level = self.trend = 0.0
        self.seen = 0

    def __call__(self, i: int, now: float) -> int | None:
        s = self.setup
        available = int((i * 60 - s.metric_delay_seconds) // 60)
        while self.seen < available:
            x = math.ceil(self.demand[self.seen] / s.target_per_replica)
            p = self.seen % 1440
            if self.seen < 1440:  # first day: learn the season's initial shape
                self.season[p] = x
                if self.seen == 1439:
                    self.level = float(self.season.mean())
                    self.season -= self.level
            else:
                prev_level = self.level
                self.level = self.ALPHA * (x - self.season[p]) + (1 - self.ALPHA) * (self.level + self.trend)
                self.trend = self.BETA * (self.level - prev_level) + (1 - self.BETA) * self.trend
                self.season[p] = self.GAMMA * (x - self.level) + (1 - self.GAMMA) * self.season[p]
            self.seen += 1
        if self.seen <= 1440:
            return None
        predicted = self.level + self.trend + self.season[self.seen % 1440]
        return max(1, math.ceil(predicted - 1e-9))


def oracle(demand: np.ndarray, setup: Setup, utilization: float, evaluate_from: int) -> Run:
    """Pods needed at minute j are started exactly startup-seconds earlier and kept no longer."""
    need = np.ceil(demand / (setup.capacity_per_replica * utilization) - 1e-9).astype(int)
    need = np.maximum(need, 1)
    lead = math.ceil(setup.startup_seconds / 60)
    padded = np.r_[need, np.full(lead, need[-1])]
    alive = np.lib.stride_tricks.sliding_window_view(padded, lead + 1).max(axis=1)[: need.shape[0]]
    hours = float(alive[evaluate_from:].sum() / 60)
    return Run("oracle", 0.0, hours, need.shape[0] - evaluate_from, need, alive)


def equal_cost_reactive(
    demand: np.ndarray, setup: Setup, start: float, cost: float, evaluate_from: int
) -> tuple[float, Run]:
    """Bisect the reactive HPA's target utilisation until it spends `cost` replica-hours."""
    lo, hi = 0.05, setup.target_utilization
    best = simulate("reactive", demand, setup, start, target_utilization=hi, evaluate_from=evaluate_from)
    if best.replica_hours >= cost:
        return hi, best
    for _ in range(9):
        mid = (lo + hi) / 2
        run = simulate("reactive", demand, setup, start, target_utilization=mid, evaluate_from=evaluate_from)
        if run.replica_hours >= cost:
            lo, best = mid, run
        else:
            hi = mid
    if best.replica_hours < cost:  # never reached: report the most generous tried
        best = simulate("reactive", demand, setup, start, target_utilization=lo, evaluate_from=evaluate_from)
    return lo, best


@dataclass
class Replay:
    """A trace turned into per-minute demand, and the simulation settings from the command line."""

    path: Path
    start: float
    interval: int
    demand: np.ndarray
    smooth_peak: float
    setup: Setup


def replay_from_args(args: argparse.Namespace) -> Replay:
    path = Path(args.trace)
    start, interval, counts = load_trace(path)
    raw = minute_demand(counts, interval, args.scale)
    if args.days:
        raw = raw[: int(args.days * 1440)]
    smooth_peak = float(np.convolve(raw, np.ones(5) / 5, mode="valid").max())
    capacity = args.capacity_per_replica or nice_capacity(smooth_peak)
    setup = Setup(
        capacity_per_replica=capacity,
        target_utilization=args.target_utilization,
        startup_seconds=args.startup_seconds,
        metric_delay_seconds=args.metric_delay_seconds,
        refit_interval_seconds=args.refit_interval,
        planning_interval_seconds=args.planning_interval,
        quantile=args.quantile,
        headroom_percent=args.headroom,
        hold_seconds=args.hold_seconds,
        burst=not args.no_burst,
    )
    return Replay(path, start, interval, raw, smooth_peak, setup)


def run_trace(args: argparse.Namespace) -> dict:
    r = replay_from_args(args)
    path, start, interval, raw, setup = r.path, r.start, r.interval, r.demand, r.setup
    smooth_peak = r.smooth_peak
    capacity = setup.capacity_per_replica
    evaluate_from = setup.min_history_seconds // 60
    print(
        f"# {path.name}: {raw.shape[0]} minutes, interval {interval}s, scale {args.scale:g}; "
        f"capacity-per-replica {capacity:g} req/s (5-min peak {smooth_peak:.1f} req/s needs "
        f"{math.ceil(smooth_peak / capacity)} replicas at 100%); "
        f"target utilisation {setup.target_utilization:g}; "
        f"startup {setup.startup_seconds:g}s; metric delay {setup.metric_delay_seconds:g}s; "
        f"scored from day {evaluate_from // 1440} (after the {evaluate_from // 1440} d min history)",
        file=sys.stderr,
    )

    wall = time.time()
    reactive = simulate("reactive", raw, setup, start, evaluate_from=evaluate_from)
    planner = PredictiveFloor(raw, start, setup)
    predictive = simulate(
        "predictive", raw, setup, start, floor_for_minute=planner, evaluate_from=evaluate_from
    )
    predictive.notes = {
        "fits": planner.fits,
        "fit_cpu_seconds": round(planner.fit_seconds, 1),
        "update_cpu_seconds": round(planner.update_seconds, 1),
        "models": planner.models,
    }
    baseline = simulate(
        "hw-1-sync",
        raw,
        setup,
        start,
        floor_for_minute=HoltWintersOneSync(raw, setup),
        evaluate_from=evaluate_from,
    )
    best = oracle(raw, setup, setup.target_utilization, evaluate_from)
    full = oracle(raw, setup, 1.0, evaluate_from)
    utilization_eq, reactive_eq = equal_cost_reactive(
        raw, setup, start, predictive.replica_hours, evaluate_from
    )
    reactive_eq.name = f"reactive@{utilization_eq:.2f}"

    runs = [reactive, predictive, baseline, reactive_eq, best]
    table = []
    for run in runs:
        table.append(
            {
                "policy": run.name,
                "under_provisioned_minutes": round(run.under_minutes, 1),
                "under_provisioned_percent": round(run.under_percent, 3),
                "replica_hours": round(run.replica_hours, 1),
                "vs_oracle": round(run.replica_hours / best.replica_hours, 3),
                **run.notes,
            }
        )
    checks: dict[str, float | bool | None] = {
        "a_under_ratio": (
            predictive.under_minutes / reactive.under_minutes if reactive.under_minutes else None
        ),
        "a_cost_ratio": predictive.replica_hours / reactive.replica_hours,
        "b_equal_cost_under_ratio": (
            predictive.under_minutes / reactive_eq.under_minutes if reactive_eq.under_minutes else None
        ),
        "c_vs_oracle": predictive.replica_hours / best.replica_hours,
    }
    under_ratio = checks["a_under_ratio"]
    checks["a_pass"] = bool(
        under_ratio is not None
        and under_ratio <= 0.2
        and predictive.replica_hours <= 1.10 * reactive.replica_hours
    )
    checks["b_pass"] = bool(predictive.under_minutes < reactive_eq.under_minutes)
    checks["c_pass"] = bool(predictive.replica_hours <= 1.25 * best.replica_hours)
    result = {
        "trace": path.name,
        "minutes": int(raw.shape[0]),
        "scored_minutes": reactive.minutes,
        "setup": asdict(setup),
        "scale": args.scale,
        "oracle_full_utilization_replica_hours": round(full.replica_hours, 1),
        "equal_cost_target_utilization": round(utilization_eq, 3),
        "table": table,
        "checks": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in checks.items()},
        "wall_seconds": round(time.time() - wall, 1),
    }
    if args.plot:
        plot(
            args.plot, path.name, start, raw, setup, reactive, predictive, best, planner.floors, evaluate_from
        )
    return result


def parse_list(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def run_sweep(args: argparse.Namespace) -> dict:
    """The cost/coverage frontier: every quantile x burst x headroom x hold setting, each scored like a
    normal run; (b) is read off the reactive HPA's own cost/coverage curve (target utilisation 0.7
    down to 0.3), interpolated at the setting's replica-hours."""
    r = replay_from_args(args)
    path, start, raw, base = r.path, r.start, r.demand, r.setup
    capacity = base.capacity_per_replica
    evaluate_from = base.min_history_seconds // 60
    wall = time.time()
    reactive = simulate("reactive", raw, base, start, evaluate_from=evaluate_from)
    best = oracle(raw, base, base.target_utilization, evaluate_from)
    curve = []  # (replica-hours, under-provisioned minutes) of the reactive HPA with more headroom
    for utilization in np.arange(base.target_utilization, 0.29, -0.05):
        run = simulate(
            "reactive", raw, base, start, target_utilization=float(utilization), evaluate_from=evaluate_from
        )
        curve.append((run.replica_hours, run.under_minutes))
    costs, unders = np.array(curve).T
    rows = []
    for quantile in parse_list(args.sweep_quantiles):
        setup = replace(base, quantile=quantile)
        planner = PredictiveFloor(raw, start, setup, record=True)
        for i in range(raw.shape[0]):
            planner(i, start + i * 60.0)
        assert planner.recorded is not None
        for burst, headroom, hold in itertools.product(
            [bool(b) for b in parse_list(args.sweep_burst)] if setup.burst else [False],
            parse_list(args.sweep_headroom),
            parse_list(args.sweep_hold),
        ):
            params = floor_params(replace(setup, headroom_percent=headroom, hold_seconds=hold))
            floors = replay_floors(planner.recorded, raw.shape[0], params, burst=burst)
            run = simulate(
                "predictive",
                raw,
                setup,
                start,
                evaluate_from=evaluate_from,
                floor_for_minute=lambda i, now, f=floors: int(f[i]) or None,
            )
            equal_cost_under = float(np.interp(run.replica_hours, costs, unders))
            under_ratio = run.under_minutes / reactive.under_minutes if reactive.under_minutes else None
            cost_ratio = run.replica_hours / reactive.replica_hours
            rows.append(
                {
                    "quantile": quantile,
                    "burst": burst,
                    "headroom": headroom,
                    "hold_seconds": hold,
                    "under_provisioned_minutes": round(run.under_minutes, 1),
                    "under_ratio": None if under_ratio is None else round(under_ratio, 3),
                    "cost_ratio": round(cost_ratio, 3),
                    "vs_oracle": round(run.replica_hours / best.replica_hours, 3),
                    "equal_cost_reactive_under_minutes": round(equal_cost_under, 1),
                    "a_pass": bool(under_ratio is not None and under_ratio <= 0.2 and cost_ratio <= 1.10),
                    "b_pass": bool(run.under_minutes < equal_cost_under),
                    "c_pass": bool(run.replica_hours <= 1.25 * best.replica_hours),
                }
            )
    return {
        "trace": path.name,
        "capacity_per_replica": capacity,
        "scored_minutes": reactive.minutes,
        "reactive": {
            "under_provisioned_minutes": round(reactive.under_minutes, 1),
            "replica_hours": round(reactive.replica_hours, 1),
            "vs_oracle": round(reactive.replica_hours / best.replica_hours, 3),
        },
        "planning_interval_seconds": base.planning_interval_seconds,
        "rows": rows,
        "wall_seconds": round(time.time() - wall, 1),
    }


def plot(
    target: str,
    title: str,
    start: float,
    demand: np.ndarray,
    setup: Setup,
    reactive: Run,
    predictive: Run,
    best: Run,
    floors: np.ndarray,
    evaluate_from: int,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    need = demand / setup.capacity_per_replica
    # Show the 3 days around the day with the most under-provisioning (either policy), plus a
    # tie-break on peak demand so a trace with none still shows its busiest days.
    short = (need > reactive.ready).astype(float) + (need > predictive.ready)
    day_starts = np.arange(0, need.shape[0], 1440)
    day_gaps = np.add.reduceat(short, day_starts) + np.maximum.reduceat(need, day_starts) / (need.max() + 1)
    day_gaps[: evaluate_from // 1440] = -1
    last_start = max(0, need.shape[0] // 1440 - 3)
    first_day = int(np.clip(np.argmax(day_gaps) - 1, evaluate_from // 1440, last_start))
    lo, hi = first_day * 1440, min(need.shape[0], first_day * 1440 + 3 * 1440)
    hours = (np.arange(lo, hi) - lo) / 60
    fig, axes = plt.subplots(2, 1, figsize=(11, 7), gridspec_kw={"height_ratios": [2, 1]})
    ax = axes[0]
    ax.plot(hours, need[lo:hi], color="0.6", lw=0.6, label="demand / capacity-per-replica")
    ax.plot(hours, reactive.ready[lo:hi], color="tab:red", lw=1, label="reactive HPA: Ready pods")
    ax.plot(hours, predictive.ready[lo:hi], color="tab:blue", lw=1, label="predictive: Ready pods")
    ax.plot(hours, floors[lo:hi], color="tab:blue", lw=0.8, ls="--", label="predictive floor (minReplicas)")
    ax.plot(hours, best.alive[lo:hi], color="tab:green", lw=0.8, alpha=0.7, label="oracle pods")
    ax.set_ylabel("replicas")
    ax.set_title(f"{title}: days {first_day}-{first_day + 3} (startup {setup.startup_seconds:g}s)")
    ax.legend(loc="upper left", fontsize=8)
    ax = axes[1]
    short_r = np.maximum(need - reactive.ready, 0)
    short_p = np.maximum(need - predictive.ready, 0)
    ax.plot(hours, short_r[lo:hi], color="tab:red", lw=0.8, label="reactive shortfall")
    ax.plot(hours, short_p[lo:hi], color="tab:blue", lw=0.8, label="predictive shortfall")
    ax.set_ylabel("missing replicas")
    ax.set_xlabel("hours")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(target, dpi=90)
    plt.close(fig)


# --- cost of one forecasting cycle ----------------------------------------------------------------


def synthetic_history(
    rng: np.random.Generator, days: int, step: int, start: float
) -> tuple[np.ndarray, np.ndarray]:
    n = days * DAY // step
    t = start + step * np.arange(n, dtype=float)
    base = rng.uniform(5, 500)
    shape = 1 + rng.uniform(0.3, 0.9) * np.sin(2 * np.pi * (t % DAY) / DAY + rng.uniform(0, 6.3))
    weekly = 1 - rng.uniform(0, 0.3) * (((t // DAY) % 7) >= 5)
    values = rng.poisson(base * shape * weekly * step / 60) / (step / 60) / 60
    return t, values


def run_cost(args: argparse.Namespace) -> dict:
    """CPU seconds of one planning cycle over `--series` ModelDeployments (1 region each)."""
    rng = np.random.default_rng(7)
    step, start = 300, 1_700_000_000.0 - (1_700_000_000.0 % DAY)
    fraction = args.planning_interval / args.refit_interval
    refits = max(1, round(args.series * fraction))
    updates = args.series - refits
    params = FloorParams(min_replicas=1, max_replicas=100, target_per_replica=10.0, startup_seconds=60)
    horizon = params.effective_horizon_seconds
    histories = [synthetic_history(rng, 7, step, start) for _ in range(refits)]
    # The burst query's last day at a 1-minute step, per refit (its dispersion is measured in the fit).
    fines = [synthetic_history(rng, 1, 60, start + 6 * DAY) for _ in range(refits)]
    # States to update: fitted outside the timed region (the operator keeps them from earlier cycles).
    pool: list[tuple[ForecastState, float, float]] = []
    for t, v in histories[: min(refits, 20)]:
        fitted = fit_forecaster(clean_series(t[:-1], v[:-1], step_seconds=step), horizon_seconds=horizon)
        assert isinstance(fitted, ForecastState)
        pool.append((fitted, float(t[-1]), float(v[-1])))
    cpu = time.process_time()
    for (t, v), (ft, fv) in zip(histories, fines, strict=True):
        fine = clean_series(ft, fv, step_seconds=60, outlier_threshold=None)
        fit_forecaster(
            clean_series(t, v, step_seconds=step), horizon_seconds=horizon, now=t[-1] + step, fine=fine
        )
    refit_cpu = time.process_time() - cpu
    cpu = time.process_time()
    for k in range(updates):
        state, t_new, v_new = pool[k % len(pool)]
        now = t_new + step
        # The operator's cheap step: the samples since the last cycle, cleaned, folded in, planned on.
        fc = forecast(
            state, clean_series([t_new], [v_new], step_seconds=step), now=now, horizon_seconds=horizon
        )
        plan_floor(fc, 3, float(v_new), params, now)
        fc.state.to_json()
    update_cpu = time.process_time() - cpu
    total = refit_cpu + update_cpu
    state_sizes = [len(s.to_json()) for s, _, _ in pool]
    return {
        "series": args.series,
        "refits": refits,
        "cheap_updates": updates,
        "refit_cpu_seconds": round(refit_cpu, 2),
        "update_cpu_seconds": round(update_cpu, 2),
        "cycle_cpu_seconds": round(total, 2),
        "per_refit_ms": round(1000 * refit_cpu / refits, 1),
        "per_update_ms": round(1000 * update_cpu / max(updates, 1), 2),
        "state_json_bytes_max": max(state_sizes) if state_sizes else None,
        "models": sorted({s.model for s, _, _ in pool}),
        "budget_seconds": 30,
        "pass": total <= 30,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trace", help="CSV with timestamp,requests")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the request rate (default 1)")
    parser.add_argument(
        "--capacity-per-replica",
        type=float,
        default=None,
        help="req/s one replica can serve (default: 5-min peak needs ~30 replicas)",
    )
    parser.add_argument(
        "--target-utilization", type=float, default=0.7, help="HPA target, fraction of capacity"
    )
    parser.add_argument("--startup-seconds", type=float, default=60)
    parser.add_argument(
        "--metric-delay-seconds",
        type=float,
        default=60,
        help="age of the newest demand sample the HPA and forecaster see (scrape + rate window)",
    )
    parser.add_argument("--quantile", type=float, default=0.75)
    parser.add_argument("--headroom", type=float, default=5, help="headroomPercent")
    parser.add_argument("--refit-interval", type=int, default=3600, help="seconds")
    parser.add_argument(
        "--planning-interval",
        type=int,
        default=60,
        help="seconds between planning steps (default 60, the operator's)",
    )
    parser.add_argument(
        "--hold-seconds",
        type=float,
        default=300,
        help="hold after a raise (predictive.holdAfterRaise; the operator's default 300)",
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="replay the planner over --sweep-quantiles x --sweep-burst x --sweep-headroom x "
        "--sweep-hold (one forecasting pass per quantile) and print the cost/coverage "
        "frontier",
    )
    parser.add_argument("--sweep-quantiles", default="0.5,0.75,0.9")
    parser.add_argument("--sweep-headroom", default="0,5,10")
    parser.add_argument("--sweep-hold", default="0,300,600")
    parser.add_argument(
        "--sweep-burst",
        default="1,0",
        help="with and/or without the burst allowance (1 and/or 0; default both)",
    )
    parser.add_argument(
        "--no-burst",
        action="store_true",
        help="no burst allowance (do not measure the dispersion of minute demand)",
    )
    parser.add_argument("--days", type=float, default=None, help="only the first N days of the trace")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--plot", help="write a PNG of 3 days (reactive vs predictive vs oracle)")
    parser.add_argument("--cost", action="store_true", help="measure the CPU cost of one cycle instead")
    parser.add_argument("--series", type=int, default=1000, help="--cost: number of ModelDeployments")
    # A canary at each day's peak, per-revision HPAs vs none (benchmarks/rollout_autoscaling.py; imported
    # here because it builds on this module).
    import rollout_autoscaling

    parser.add_argument("--rollout", action="store_true", help="a rollout in the middle of each peak")
    rollout_autoscaling.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.rollout:
        if not args.trace:
            parser.error("--rollout needs --trace")
        result = rollout_autoscaling.run_rollout_benchmark(args)
        print(json.dumps(result, indent=2)) if args.json else rollout_autoscaling.print_result(result)
        return 0

    if args.cost:
        result = run_cost(args)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(
                f"one planning cycle, {result['series']} series: {result['cycle_cpu_seconds']} CPU s "
                f"({result['refits']} refits x {result['per_refit_ms']} ms + "
                f"{result['cheap_updates']} updates x "
                f"{result['per_update_ms']} ms); budget 30 s: {'PASS' if result['pass'] else 'FAIL'}"
            )
        return 0
    if not args.trace:
        parser.error("--trace or --cost is required")
    if args.sweep:
        sweep = run_sweep(args)
        if args.json:
            print(json.dumps(sweep, indent=2))
            return 0
        r = sweep["reactive"]
        print(
            f"# {sweep['trace']}: reactive {r['under_provisioned_minutes']} under-provisioned min, "
            f"{r['replica_hours']} replica-h ({r['vs_oracle']}x oracle); "
            f"planning every {sweep['planning_interval_seconds']}s; wall {sweep['wall_seconds']} s"
        )
        print(
            "| quantile | burst | headroom % | hold s | under-prov. min | vs reactive "
            "| replica-h vs reactive | vs oracle | equal-cost reactive min | (a) | (b) | (c) |"
        )
        print("|---:|:-:|---:|---:|---:|---:|---:|---:|---:|:-:|:-:|:-:|")
        for row in sweep["rows"]:
            marks = ["✔" if row[k] else "✘" for k in ("a_pass", "b_pass", "c_pass")]
            print(
                f"| {row['quantile']:g} | {'on' if row['burst'] else 'off'} | {row['headroom']:g} "
                f"| {row['hold_seconds']:g} "
                f"| {row['under_provisioned_minutes']} | {row['under_ratio']} | {row['cost_ratio']} "
                f"| {row['vs_oracle']} | {row['equal_cost_reactive_under_minutes']} | "
                + " | ".join(marks)
                + " |"
            )
        return 0
    result = run_trace(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{'policy':<16} {'under-prov min':>14} {'under %':>8} {'replica-h':>10} {'vs oracle':>9}")
    for row in result["table"]:
        print(
            f"{row['policy']:<16} {row['under_provisioned_minutes']:>14.1f} "
            f"{row['under_provisioned_percent']:>8.3f} "
            f"{row['replica_hours']:>10.1f} {row['vs_oracle']:>9.3f}"
        )
    print("checks:", json.dumps(result["checks"]))
    print(f"wall {result['wall_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
