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
    python benchmarks/autoscaling.py --trace ../shared/traces/nasa_http_1995jul_5min.csv \
        --objective maxExtraCostPercent=10 --no-baselines   # self-tuned daily on the trace's past
    python benchmarks/autoscaling.py --tuning-cost   # CPU seconds of a tuning pass, amortised
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from modelserve.api.modeldeployment import MAX_EXTRA_COST_PERCENT, OBJECTIVE_FIELDS, Objective
from modelserve.forecasting import (
    FloorParams,
    ForecastState,
    clean_series,
    fit_forecaster,
    forecast,
    plan_floor,
)
from modelserve.forecasting.tuning import (
    DEFAULT_GRID,
    TUNING_INTERVAL_SECONDS,
    FixedKnobs,
    ReplayedCycle,
    ReplayRun,
    ReplaySetup,
    TuningResult,
    replay_floor_params,
    replay_floors,
    simulate_hpa,
    tune,
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


# --- baselines ------------------------------------------------------------------------------------


class HoltWintersOneSync:
    """PHPA-style baseline: Holt-Winters with fixed smoothing over the HPA's per-minute replica
    evaluations (daily season), predicting the next evaluation; minReplicas = that prediction."""

    ALPHA, BETA, GAMMA = 0.5, 0.1, 0.3

    def __init__(self, demand: np.ndarray, setup: ReplaySetup):
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


def oracle(demand: np.ndarray, setup: ReplaySetup, utilization: float, evaluate_from: int) -> ReplayRun:
    """Pods needed at minute j are started exactly startup-seconds earlier and kept no longer."""
    need = np.ceil(demand / (setup.capacity_per_replica * utilization) - 1e-9).astype(int)
    need = np.maximum(need, 1)
    lead = math.ceil(setup.startup_seconds / 60)
    padded = np.r_[need, np.full(lead, need[-1])]
    alive = np.lib.stride_tricks.sliding_window_view(padded, lead + 1).max(axis=1)[: need.shape[0]]
    hours = float(alive[evaluate_from:].sum() / 60)
    return ReplayRun("oracle", 0.0, hours, need.shape[0] - evaluate_from, need, alive)


def equal_cost_reactive(
    demand: np.ndarray, setup: ReplaySetup, start: float, cost: float, evaluate_from: int
) -> tuple[float, ReplayRun]:
    """Bisect the reactive HPA's target utilisation until it spends `cost` replica-hours."""
    lo, hi = 0.05, setup.target_utilization
    best = simulate_hpa("reactive", demand, setup, start, target_utilization=hi, evaluate_from=evaluate_from)
    if best.replica_hours >= cost:
        return hi, best
    for _ in range(9):
        mid = (lo + hi) / 2
        run = simulate_hpa(
            "reactive", demand, setup, start, target_utilization=mid, evaluate_from=evaluate_from
        )
        if run.replica_hours >= cost:
            lo, best = mid, run
        else:
            hi = mid
    if best.replica_hours < cost:  # never reached: report the most generous tried
        best = simulate_hpa(
            "reactive", demand, setup, start, target_utilization=lo, evaluate_from=evaluate_from
        )
    return lo, best


@dataclass
class Replay:
    """A trace turned into per-minute demand, and the simulation settings from the command line."""

    path: Path
    start: float
    interval: int
    demand: np.ndarray
    smooth_peak: float
    setup: ReplaySetup


def replay_from_args(args: argparse.Namespace) -> Replay:
    path = Path(args.trace)
    start, interval, counts = load_trace(path)
    raw = minute_demand(counts, interval, args.scale)
    if args.days:
        raw = raw[: int(args.days * 1440)]
    smooth_peak = float(np.convolve(raw, np.ones(5) / 5, mode="valid").max())
    capacity = args.capacity_per_replica or nice_capacity(smooth_peak)
    setup = ReplaySetup(
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
    reactive = simulate_hpa("reactive", raw, setup, start, evaluate_from=evaluate_from)
    objective = parse_objective(args.objective) if args.objective else None
    tuned = SelfTunedCycle(raw, start, setup, objective) if objective else None
    planner = tuned.cycle if tuned else ReplayedCycle(raw, start, setup)
    predictive = simulate_hpa(
        "self-tuned" if tuned else "predictive",
        raw,
        setup,
        start,
        floor_for_minute=tuned or planner,
        evaluate_from=evaluate_from,
    )
    predictive.notes = {
        "fits": planner.fits,
        "fit_cpu_seconds": round(planner.fit_seconds, 1),
        "update_cpu_seconds": round(planner.update_seconds, 1),
        "models": planner.models,
        **(tuned.summary() if tuned else {}),
    }
    baseline = (
        None
        if args.no_baselines
        else simulate_hpa(
            "hw-1-sync",
            raw,
            setup,
            start,
            floor_for_minute=HoltWintersOneSync(raw, setup),
            evaluate_from=evaluate_from,
        )
    )
    best = oracle(raw, setup, setup.target_utilization, evaluate_from)
    full = oracle(raw, setup, 1.0, evaluate_from)
    utilization_eq, reactive_eq = (
        (math.nan, None)
        if args.no_baselines
        else equal_cost_reactive(raw, setup, start, predictive.replica_hours, evaluate_from)
    )
    if reactive_eq is not None:
        reactive_eq.name = f"reactive@{utilization_eq:.2f}"

    runs = [run for run in (reactive, predictive, baseline, reactive_eq, best) if run is not None]
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
            predictive.under_minutes / reactive_eq.under_minutes
            if reactive_eq is not None and reactive_eq.under_minutes
            else None
        ),
        "c_vs_oracle": predictive.replica_hours / best.replica_hours,
    }
    under_ratio = checks["a_under_ratio"]
    checks["a_pass"] = bool(
        under_ratio is not None
        and under_ratio <= 0.2
        and predictive.replica_hours <= 1.10 * reactive.replica_hours
    )
    checks["b_pass"] = (
        None if reactive_eq is None else bool(predictive.under_minutes < reactive_eq.under_minutes)
    )
    checks["c_pass"] = bool(predictive.replica_hours <= 1.25 * best.replica_hours)
    result = {
        "trace": path.name,
        "minutes": int(raw.shape[0]),
        "scored_minutes": reactive.minutes,
        "setup": asdict(setup),
        "scale": args.scale,
        "oracle_full_utilization_replica_hours": round(full.replica_hours, 1),
        "equal_cost_target_utilization": None if reactive_eq is None else round(utilization_eq, 3),
        "table": table,
        "checks": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in checks.items()},
        "wall_seconds": round(time.time() - wall, 1),
    }
    if args.plot:
        plot(
            args.plot, path.name, start, raw, setup, reactive, predictive, best, planner.floors, evaluate_from
        )
    return result


# --- self-tuning (--objective) ----------------------------------------------------------------------


def parse_objective(text: str) -> Objective:
    """`NAME=VALUE` (e.g. maxExtraCostPercent=10) -> Objective; NAME is a spec objective field."""
    name, _, value = text.partition("=")
    if name not in OBJECTIVE_FIELDS or not value:
        raise SystemExit(f"--objective: expected NAME=VALUE with NAME one of {', '.join(OBJECTIVE_FIELDS)}")
    return Objective(name, float(value))


class SelfTunedCycle:
    """The operator with `objective` set and no explicit knobs: the cycle runs with the defaults until
    a day of replay plus the minimum history exist, then every TUNING_INTERVAL_SECONDS it is tuned
    (modelserve.forecasting.tuning.tune, the operator's own code) on the minutes seen so far only."""

    def __init__(self, demand: np.ndarray, start: float, setup: ReplaySetup, objective: Objective):
        self.demand, self.start, self.base, self.objective = demand, start, setup, objective
        self.cycle = ReplayedCycle(demand, start, setup)
        self.tunings: list[TuningResult] = []
        self.tuning_cpu_seconds = 0.0

    def __call__(self, i: int, now: float) -> int | None:
        if i and (i * 60) % TUNING_INTERVAL_SECONDS == 0:
            available = int((i * 60 - self.base.metric_delay_seconds) // 60)
            earlier = [t.scores for t in self.tunings]
            result = tune(self.demand[:available], self.start, self.base, self.objective, earlier=earlier)
            if isinstance(result, TuningResult):
                self.tunings.append(result)
                self.tuning_cpu_seconds += result.cpu_seconds
                k = result.knobs
                self.cycle.retune(k.quantile, k.headroom_percent, k.hold_seconds)
        return self.cycle(i, now)

    def summary(self) -> dict:
        chosen: dict[str, int] = {}
        for t in self.tunings:
            key = f"q{t.knobs.quantile:g}/h{t.knobs.headroom_percent:g}/hold{t.knobs.hold_seconds:g}"
            chosen[key] = chosen.get(key, 0) + 1
        return {
            "objective": self.objective.describe(),
            "tunings": len(self.tunings),
            "tunings_met": sum(t.met for t in self.tunings),
            "tuning_cpu_seconds_per_pass": round(self.tuning_cpu_seconds / max(len(self.tunings), 1), 2),
            "chosen": chosen,
            "not_met": [t.reason for t in self.tunings if not t.met][:3],
        }


def run_tuning_cost(args: argparse.Namespace) -> dict:
    """CPU seconds of one tuning pass (8 days of synthetic minute demand: 7 to fit on, the last one
    replayed over the default grid), and amortised per planning cycle over `--series` models tuned
    once every TUNING_INTERVAL_SECONDS."""
    rng = np.random.default_rng(11)
    start = 1_700_000_000.0 - (1_700_000_000.0 % DAY)
    passes = []
    for _ in range(args.tuning_samples):
        _, demand = synthetic_history(rng, 8, 60, start)
        setup = ReplaySetup(capacity_per_replica=nice_capacity(float(demand.max())))
        result = tune(demand, start, setup, Objective(MAX_EXTRA_COST_PERCENT, 10))
        assert isinstance(result, TuningResult)
        passes.append(result.cpu_seconds)
    per_pass = float(np.mean(passes))
    per_cycle = args.series * per_pass * args.planning_interval / TUNING_INTERVAL_SECONDS
    return {
        "series": args.series,
        "grid_points": len(DEFAULT_GRID.points(FixedKnobs())),
        "tuning_pass_cpu_seconds": [round(p, 2) for p in passes],
        "per_pass_cpu_seconds": round(per_pass, 2),
        "tuning_interval_seconds": TUNING_INTERVAL_SECONDS,
        "planning_interval_seconds": args.planning_interval,
        "amortised_cpu_seconds_per_cycle": round(per_cycle, 2),
        "budget_seconds": 30,
    }


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
    reactive = simulate_hpa("reactive", raw, base, start, evaluate_from=evaluate_from)
    best = oracle(raw, base, base.target_utilization, evaluate_from)
    curve = []  # (replica-hours, under-provisioned minutes) of the reactive HPA with more headroom
    for utilization in np.arange(base.target_utilization, 0.29, -0.05):
        run = simulate_hpa(
            "reactive", raw, base, start, target_utilization=float(utilization), evaluate_from=evaluate_from
        )
        curve.append((run.replica_hours, run.under_minutes))
    costs, unders = np.array(curve).T
    rows = []
    for quantile in parse_list(args.sweep_quantiles):
        setup = replace(base, quantile=quantile)
        planner = ReplayedCycle(raw, start, setup, record=True)
        for i in range(raw.shape[0]):
            planner(i, start + i * 60.0)
        assert planner.recorded is not None
        for burst, headroom, hold in itertools.product(
            [bool(b) for b in parse_list(args.sweep_burst)] if setup.burst else [False],
            parse_list(args.sweep_headroom),
            parse_list(args.sweep_hold),
        ):
            params = replay_floor_params(replace(setup, headroom_percent=headroom, hold_seconds=hold))
            floors = replay_floors(planner.recorded, raw.shape[0], params, burst=burst)
            run = simulate_hpa(
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
    setup: ReplaySetup,
    reactive: ReplayRun,
    predictive: ReplayRun,
    best: ReplayRun,
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
    parser.add_argument(
        "--objective",
        help="self-tuning on, e.g. maxExtraCostPercent=10 or maxUnderProvisionedPercent=0.5 "
        "(spec.autoscaling.predictive.objective): tuned daily on the trace's past",
    )
    parser.add_argument(
        "--tuning-cost",
        action="store_true",
        help="measure the CPU cost of a self-tuning pass and amortise it over --series models",
    )
    parser.add_argument(
        "--no-baselines",
        action="store_true",
        help="skip hw-1-sync and the equal-cost reactive HPA (target b): a quicker run",
    )
    parser.add_argument("--tuning-samples", type=int, default=3, help="--tuning-cost: passes to time")
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

    if args.tuning_cost:
        tuning = run_tuning_cost(args)
        print(json.dumps(tuning, indent=2))
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
    tuned = result["table"][1]
    if "objective" in tuned:
        keys = ("objective", "tunings", "tunings_met", "tuning_cpu_seconds_per_pass", "chosen", "not_met")
        print("self-tuning:", json.dumps({k: tuned[k] for k in keys}))
    print(f"wall {result['wall_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
