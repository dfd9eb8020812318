"""benchmarks/autoscaling.py --sweep replays the planner on recorded forecasts: the replay must give
exactly the floors of a live run with the same settings, and react to the settings it varies."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from modelserve.forecasting import Forecast

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_autoscaling", ROOT / "benchmarks" / "autoscaling.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_autoscaling"] = module
    spec.loader.exec_module(module)
    return module


def _daily_demand(days: int, seed: int = 3) -> np.ndarray:
    minutes = np.arange(days * 1440)
    shape = 1 + 0.8 * np.sin(2 * np.pi * minutes / 1440)
    return np.random.default_rng(seed).poisson(60 * shape * 3) / 60.0  # req/s per minute


def test_replayed_floors_equal_the_live_runs_and_follow_the_settings(bench) -> None:
    demand = _daily_demand(3)
    start = 1_700_006_400.0  # a midnight
    setup = bench.ReplaySetup(
        capacity_per_replica=1.0, model="seasonalNaive", seasonality="daily", refit_interval_seconds=6 * 3600
    )
    planner = bench.ReplayedCycle(demand, start, setup, record=True)
    live = bench.simulate_hpa(
        "predictive", demand, setup, start, floor_for_minute=planner, evaluate_from=2 * 1440
    )
    assert planner.recorded and planner.floors[-1] > 0
    replayed = bench.replay_floors(planner.recorded, demand.shape[0], planner.params)
    assert np.array_equal(replayed, planner.floors)
    again = bench.simulate_hpa(
        "predictive",
        demand,
        setup,
        start,
        evaluate_from=2 * 1440,
        floor_for_minute=lambda i, now: int(replayed[i]) or None,
    )
    assert again.replica_hours == live.replica_hours and again.under_minutes == live.under_minutes
    # More headroom: never a lower floor once forecasting, a higher one somewhere.
    wider = bench.replay_floors(
        planner.recorded, demand.shape[0], bench.replay_floor_params(replace(setup, headroom_percent=50))
    )
    forecasting = np.arange(demand.shape[0]) >= 2 * 1440 + 10
    assert np.all(wider[forecasting] >= replayed[forecasting])
    assert np.any(wider[forecasting] > replayed[forecasting])
    # The burst allowance: Poisson minutes measure a dispersion of ~1 and add capacity; replaying
    # without it gives lower floors overall (not minute by minute: the hold after a raise makes the
    # floor depend on when it was raised).
    fitted = [fc for _, _, fc, _ in planner.recorded if isinstance(fc, Forecast)]
    assert fitted and all(fc.burst is not None and np.all(fc.burst > 0) for fc in fitted)
    plain = bench.replay_floors(planner.recorded, demand.shape[0], planner.params, burst=False)
    assert plain[forecasting].sum() < replayed[forecasting].sum()
    assert np.mean(plain[forecasting] <= replayed[forecasting]) > 0.9
    # --no-burst: no dispersion is measured, the floors are the replay without the allowance.
    off = bench.ReplayedCycle(demand, start, replace(setup, burst=False))
    bench.simulate_hpa("predictive", demand, setup, start, floor_for_minute=off, evaluate_from=2 * 1440)
    assert np.array_equal(off.floors, plain)
