"""Forecaster + planner as minReplicas of the simulated HPA: the floor arrives before a steep ramp."""

import math

import numpy as np
from modelserve.forecasting import (
    FloorParams,
    HpaSimulator,
    clean_series,
    fit_forecaster,
    forecast,
    plan_floor,
)

DAY = 86400
T0 = 1_699_920_000.0  # midnight UTC


def demand_at(t):
    """A quiet night and a steep 08:00 ramp to 10x within 10 minutes, every day."""
    hour = (t % DAY) / 3600
    return 20.0 + 180.0 * np.clip((hour - 8) * 6, 0, 1) * (hour < 20)


def run(predictive: bool, startup: float = 300.0) -> tuple[int, float]:
    history_t = T0 + 300 * np.arange(3 * 288, dtype=float)
    state = fit_forecaster(clean_series(history_t, demand_at(history_t)))
    target = 10.0
    hpa = HpaSimulator(
        min_replicas=1, max_replicas=100, target_per_pod=target, startup_seconds=startup, initial_replicas=2
    )
    params = FloorParams(
        min_replicas=1,
        max_replicas=100,
        target_per_replica=target,
        startup_seconds=startup,
        planning_interval_seconds=300,
    )
    start = T0 + 3 * DAY
    floor, raised, under, pod_seconds = None, None, 0, 0.0
    for k in range(DAY // 15):
        now = start + 15 * k
        if predictive and k % 20 == 0:  # plan every 5 minutes on complete bins only
            done = np.arange(start, now - (now % 300), 300.0)
            fc = forecast(
                state,
                clean_series(done, demand_at(done)),
                now=now,
                horizon_seconds=params.effective_horizon_seconds,
            )
            state = fc.state
            decision = plan_floor(fc, floor, float(demand_at(now - 60)), params, now, last_raised_at=raised)
            floor, raised = decision.floor, decision.last_raised_at
        hpa.sync(now - start, float(demand_at(now - 60)), min_replicas=floor)
        under += demand_at(now) > hpa.ready(now - start) * target / 0.7
        pod_seconds += hpa.replicas * 15
    return under, pod_seconds / 3600


def test_predictive_floor_is_in_place_before_the_daily_ramp():
    reactive_under, reactive_cost = run(predictive=False)
    predictive_under, predictive_cost = run(predictive=True)
    assert reactive_under >= 20  # five minutes of startup: the reactive HPA is late every morning
    assert predictive_under <= reactive_under / 5
    assert predictive_cost <= reactive_cost * 1.5
    assert math.isfinite(predictive_cost)
