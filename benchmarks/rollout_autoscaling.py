#!/usr/bin/env python3
"""A canary rollout in the middle of a peak: does autoscaling keep up while two revisions serve?

`python benchmarks/autoscaling.py --trace T --rollout` (or this file directly). For each of the
first `--rollout-days` days of the trace, a canary starts `--rollout-lead` minutes before that day's
peak (the highest 30-minute mean) and runs the steps setWeight 10, pause, 25, pause, 50, pause, then
promotes (`--rollout-pause` minutes per pause). It is replayed through the simulated HPA
(modelserve.forecasting.hpa_sim) exactly as the operator runs it:

- one HPA per serving revision, each seeing its own share of the (delayed) demand, with the bounds
  the operator writes (`rollout.scaling.split_bounds`: the user's min/max split by the weight, the
  candidate's minimum raised to what the next weight needs), the model's size estimated from the
  stable's count and share (`model_replicas`);
- scale before weight: a weight moves only once the candidate's Ready pods cover its share of it;
  promotion scales the candidate to the model's size before it takes all traffic, and it keeps those
  pods as the new stable (one HPA again, the user's bounds);
- a minute tick is under-provisioned when either revision is sent more than its Ready pods serve.

The same trace without a rollout (one HPA) is the baseline; both are scored over the rollout windows
(start to promotion, plus 10 minutes). Target: the rollout adds at most 10 % under-provisioned time.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from modelserve.forecasting import HPA_SYNC_SECONDS, HpaSimulator
from modelserve.rollout.scaling import model_replicas, split_bounds
from modelserve.routers.replicas import candidate_share

sys.path.insert(0, str(Path(__file__).resolve().parent))
from autoscaling import load_trace, minute_demand, nice_capacity
from modelserve.forecasting.tuning import ReplaySetup as Setup

SETTLE_MINUTES = 10


@dataclass
class Canary:
    """The rollout's progress: steps are ("weight", w) or ("pause", seconds)."""

    steps: list[tuple[str, float]]
    weight: int = 0
    index: int = 0
    step_started: float = 0.0
    promoting: bool = False
    log: list[tuple[float, str]] = field(default_factory=list)


def default_steps(pause_minutes: float) -> list[tuple[str, float]]:
    pause = pause_minutes * 60
    return [
        ("weight", 10),
        ("pause", pause),
        ("weight", 25),
        ("pause", pause),
        ("weight", 50),
        ("pause", pause),
    ]


def _hpa(setup: Setup, low: int, high: int, pods: list[float]) -> HpaSimulator:
    return HpaSimulator(
        min_replicas=low,
        max_replicas=high,
        target_per_pod=setup.target_per_replica,
        startup_seconds=setup.startup_seconds,
        pods=pods,
    )


def _need(canary: Canary, total: int) -> int:
    """What the rollout machine wants the candidate to run (rollout.machine.candidate_replicas)."""
    if canary.promoting:
        return total
    need = candidate_share(total, canary.weight)
    if canary.index < len(canary.steps) and canary.steps[canary.index][0] == "weight":
        need = max(need, candidate_share(total, int(canary.steps[canary.index][1])))
    return max(need, 1)


def _advance(canary: Canary, now: float, candidate_ready: int, total: int) -> bool:
    """One move of the canary (True: promoted now)."""
    if canary.promoting:
        return candidate_ready >= total
    if canary.index >= len(canary.steps):
        canary.promoting = True
        canary.log.append((now, "promoting"))
        return False
    kind, value = canary.steps[canary.index]
    if kind == "weight":
        if candidate_ready >= candidate_share(total, int(value)):
            canary.weight = int(value)
            canary.index += 1
            canary.step_started = now
            canary.log.append((now, f"weight {canary.weight}"))
    elif now >= canary.step_started + value:
        canary.index += 1
        canary.step_started = now
    return False


def replay(
    demand: np.ndarray,
    setup: Setup,
    rollout_at: int | None,
    steps: list[tuple[str, float]],
    max_replicas: int,
    *,
    frozen: bool = False,
) -> tuple[np.ndarray, float | None]:
    """The under-provisioned fraction of each minute of `demand` (15-s ticks), and the minutes from
    the rollout's start to its promotion (None: no rollout, or not promoted within `demand`).

    `frozen`: the behaviour before per-revision HPAs — during the rollout no HPA acts; the stable
    keeps the size it had when the rollout started and the candidate runs its share of that."""
    capacity, delay = setup.capacity_per_replica, setup.metric_delay_seconds
    first = max(1, math.ceil(demand[0] / setup.target_per_replica))
    stable = _hpa(setup, 1, max_replicas, [-math.inf] * first)
    candidate: HpaSimulator | None = None
    canary: Canary | None = None
    ticks = int(60 // HPA_SYNC_SECONDS)
    frozen_total = 0
    under = np.zeros(demand.shape[0])
    promoted: float | None = None
    for i in range(demand.shape[0]):
        for k in range(ticks):
            now = i * 60.0 + k * HPA_SYNC_SECONDS
            seen = demand[max(0, int((now - delay) // 60))]
            if rollout_at is not None and i == rollout_at and k == 0 and canary is None:
                canary = Canary(list(steps), step_started=now)
                total = frozen_total = min(max(stable.replicas, 1), max_replicas)
                need = _need(canary, total)
                candidate = _hpa(setup, need, need, [now + setup.startup_seconds] * need)
            share = canary.weight / 100 if canary is not None else 0.0
            if canary is not None and candidate is not None:
                # The operator's reconcile: bounds from the weight and the model's size.
                total = min(
                    max(model_replicas(stable.replicas, candidate.replicas, canary.weight), 1), max_replicas
                )
                if frozen:
                    total = frozen_total
                if _advance(canary, now, candidate.ready(now), total):
                    stable, candidate = candidate, None
                    promoted = now / 60 - (rollout_at or 0)
                    stable.max_replicas, stable.min_replicas = max_replicas, 1
                    canary = None
                    share = 0.0
                else:
                    share = canary.weight / 100
                    if frozen:
                        need = _need(canary, total)
                        candidate.max_replicas = need
                        candidate.sync(now, 0.0, min_replicas=need)
                    else:
                        s, c = split_bounds(1, max_replicas, canary.weight, _need(canary, total))
                        stable.max_replicas, candidate.max_replicas = s.max_replicas, c.max_replicas
                        stable.sync(now, seen * (1 - share), min_replicas=s.min_replicas)
                        candidate.sync(now, seen * share, min_replicas=c.min_replicas)
            if candidate is None:
                stable.sync(now, seen)
            d = demand[i]
            lacking = d * (1 - share) > stable.ready(now) * capacity
            if candidate is not None:
                lacking = lacking or d * share > candidate.ready(now) * capacity
            under[i] += lacking / ticks
    return under, promoted


def daily_peaks(demand: np.ndarray, days: int) -> list[int]:
    """The minute of each day's highest 30-minute mean demand."""
    smooth = np.convolve(demand, np.ones(30) / 30, mode="same")
    return [d * 1440 + int(np.argmax(smooth[d * 1440 : (d + 1) * 1440])) for d in range(days)]


def run_rollout_benchmark(args: argparse.Namespace) -> dict:
    path = Path(args.trace)
    _, interval, counts = load_trace(path)
    demand = minute_demand(counts, interval, args.scale)
    smooth_peak = float(np.convolve(demand, np.ones(5) / 5, mode="valid").max())
    capacity = args.capacity_per_replica or nice_capacity(smooth_peak)
    setup = Setup(
        capacity_per_replica=capacity,
        target_utilization=args.target_utilization,
        startup_seconds=args.startup_seconds,
        metric_delay_seconds=args.metric_delay_seconds,
    )
    max_replicas = max(4, math.ceil(smooth_peak / setup.target_per_replica * 2))
    steps = default_steps(args.rollout_pause)
    days = min(args.rollout_days, demand.shape[0] // 1440)
    wall = time.time()
    rows = []
    for peak in daily_peaks(demand, days):
        start = max(0, peak - args.rollout_lead)
        lo, hi = max(0, start - 180), min(demand.shape[0], start + 180)  # 3 h either side
        window = demand[lo:hi]
        base, _ = replay(window, setup, None, steps, max_replicas)
        with_rollout, promoted = replay(window, setup, start - lo, steps, max_replicas)
        held, _ = replay(window, setup, start - lo, steps, max_replicas, frozen=True)
        scored = slice(start - lo, min(hi - lo, start - lo + args.rollout_window))
        rows.append(
            {
                "day": peak // 1440,
                "rollout_start_minute_of_day": start % 1440,
                "baseline_under_minutes": round(float(base[scored].sum()), 2),
                "rollout_under_minutes": round(float(with_rollout[scored].sum()), 2),
                "promoted_after_minutes": promoted,
                "frozen_under_minutes": round(float(held[scored].sum()), 2),
            }
        )
    base_total = sum(r["baseline_under_minutes"] for r in rows)
    roll_total = sum(r["rollout_under_minutes"] for r in rows)
    frozen_total = sum(r["frozen_under_minutes"] for r in rows)
    added = (
        (roll_total - base_total) / base_total * 100 if base_total else (0.0 if roll_total == 0 else math.inf)
    )
    return {
        "trace": path.name,
        "capacity_per_replica": capacity,
        "max_replicas": max_replicas,
        "startup_seconds": setup.startup_seconds,
        "steps": steps,
        "scored_minutes_per_rollout": args.rollout_window,
        "rows": rows,
        "baseline_under_minutes": round(base_total, 2),
        "rollout_under_minutes": round(roll_total, 2),
        "frozen_under_minutes": round(frozen_total, 2),
        "added_percent": round(added, 1),
        "pass": added <= 10.0,
        "wall_seconds": round(time.time() - wall, 1),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rollout-days", type=int, default=31, help="--rollout: one canary per day's peak")
    parser.add_argument(
        "--rollout-lead", type=int, default=15, help="--rollout: start N minutes before the peak"
    )
    parser.add_argument("--rollout-pause", type=float, default=5, help="--rollout: minutes per pause step")
    parser.add_argument(
        "--rollout-window", type=int, default=45, help="--rollout: minutes scored from the rollout's start"
    )


def print_result(result: dict) -> None:
    print(
        f"# {result['trace']}: canary 10/25/50 % + promotion at each day's peak; capacity "
        f"{result['capacity_per_replica']:g} req/s per replica, startup {result['startup_seconds']:g}s, "
        f"{result['scored_minutes_per_rollout']} min scored from each rollout's start"
    )
    print(
        "| day | start (min of day) | promoted after (min) | under-prov. min, no rollout "
        "| with rollout | HPAs frozen during it |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for row in result["rows"]:
        print(
            f"| {row['day']} | {row['rollout_start_minute_of_day']} | {row['promoted_after_minutes']} "
            f"| {row['baseline_under_minutes']} "
            f"| {row['rollout_under_minutes']} | {row['frozen_under_minutes']} |"
        )
    print(
        f"total: {result['baseline_under_minutes']} -> {result['rollout_under_minutes']} "
        f"under-provisioned minutes ({result['added_percent']:+.1f} %, target <= +10 %: "
        f"{'PASS' if result['pass'] else 'FAIL'}); with the HPAs frozen during the rollout (before): "
        f"{result['frozen_under_minutes']}; "
        f"wall {result['wall_seconds']} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trace", required=True)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--capacity-per-replica", type=float, default=None)
    parser.add_argument("--target-utilization", type=float, default=0.7)
    parser.add_argument("--startup-seconds", type=float, default=60)
    parser.add_argument("--metric-delay-seconds", type=float, default=60)
    parser.add_argument("--json", action="store_true")
    add_arguments(parser)
    args = parser.parse_args(argv)
    result = run_rollout_benchmark(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
