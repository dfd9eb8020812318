"""The predictive floor planner: lead time, clamps, live demand, gradual descent, hold, missing data."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelserve.forecasting import (
    REASON_FORECAST_PEAK,
    REASON_GRADUAL_DESCENT,
    REASON_HOLD_AFTER_RAISE,
    REASON_INSUFFICIENT_HISTORY,
    REASON_LIVE_DEMAND,
    REASON_MAX_REPLICAS,
    REASON_MIN_REPLICAS,
    REASON_NO_FORECAST,
    REASON_STALE_DATA,
    FloorParams,
    Forecast,
    ForecastState,
    InsufficientHistory,
    plan_floor,
)

NOW = 1_000_000.0
STEP = 300


def make_forecast(upper, *, start=NOW, data_end=NOW, step=STEP):
    upper = np.asarray(upper, dtype=float)
    times = start + step * np.arange(upper.shape[0], dtype=float)
    state = ForecastState(
        model="seasonalNaive",
        seasonality="none",
        season_points=1,
        step_seconds=step,
        offset=1.0,
        last_time=start - step,
        fitted_at=start,
        quantile=0.9,
        resid_quantile=0.0,
        resid_scale=0.0,
    )
    return Forecast(
        times=times,
        point=upper * 0.8,
        upper=upper,
        quantile=0.9,
        model="seasonalNaive",
        step_seconds=step,
        data_end=data_end,
        state=state,
    )


def params(**kw):
    base = dict(
        min_replicas=1,
        max_replicas=50,
        target_per_replica=10.0,
        headroom_percent=10,
        startup_seconds=60,
        scale_down_percent_per_step=10,
        hold_seconds=600,
    )
    base.update(kw)
    return FloorParams(**base)


def test_floor_is_the_upper_forecast_peak_over_target_with_headroom():
    d = plan_floor(make_forecast([95, 80, 10]), 3, 20.0, params(), NOW)
    # horizon = max(60 + 15, 300) = 300 s: only the first bin is in [now, now + 300)
    assert d.floor == 11  # ceil(95 / 10 * 1.1) = ceil(10.45)
    assert d.reason == REASON_FORECAST_PEAK
    assert d.peak == 95 and d.peak_time == NOW
    assert d.last_raised_at == NOW


def test_headroom_rounding_is_exact_at_integers():
    assert plan_floor(make_forecast([100]), 1, 0.0, params(headroom_percent=0), NOW).floor == 10


def test_look_ahead_covers_pod_startup_plus_one_sync():
    p = params(startup_seconds=900, horizon_seconds=60)  # a too-short horizon is stretched
    assert p.effective_horizon_seconds == 975  # 900 s startup + 15 s sync + 60 s planning interval
    d = plan_floor(make_forecast([10, 10, 10, 200, 10]), 1, 0.0, p, NOW)
    assert d.floor == 22 and d.peak_time == NOW + 3 * STEP  # the bin at +900 s starts within the lead
    short = plan_floor(make_forecast([10, 10, 10, 200, 10]), 1, 0.0, params(startup_seconds=60), NOW)
    assert short.floor == 2  # with a 75 s lead the +900 s peak is not this step's business


def test_user_min_and_max_always_win():
    d = plan_floor(make_forecast([1000]), 5, 0.0, params(max_replicas=20), NOW)
    assert d.floor == 20 and d.reason == REASON_MAX_REPLICAS
    d = plan_floor(make_forecast([1]), 5, 0.0, params(min_replicas=8), NOW - 10_000, last_raised_at=None)
    d = plan_floor(make_forecast([1]), 8, 0.0, params(min_replicas=8), NOW)
    assert d.floor == 8 and d.reason == REASON_MIN_REPLICAS


def test_descent_is_gradual_at_least_one_replica_per_step():
    d = plan_floor(make_forecast([10]), 40, 0.0, params(), NOW)
    assert d.floor == 36 and d.reason == REASON_GRADUAL_DESCENT
    d = plan_floor(make_forecast([10]), 5, 0.0, params(), NOW)
    assert d.floor == 4  # 10 % of 5 rounds to 0: at least one
    d = plan_floor(make_forecast([10]), 3, 0.0, params(), NOW)
    assert d.floor == 2 and d.reason == REASON_FORECAST_PEAK  # reached the forecast's 2


def test_never_below_what_live_demand_needs():
    d = plan_floor(make_forecast([10]), 27, 251.0, params(), NOW)
    assert d.floor == 26 and d.reason == REASON_LIVE_DEMAND  # ceil(251 / 10) stops the descent (25)
    d = plan_floor(make_forecast([10]), 2, 251.0, params(), NOW)
    assert d.floor == 26 and d.reason == REASON_LIVE_DEMAND


def test_no_lowering_within_the_hold_after_a_raise():
    raised = plan_floor(make_forecast([200]), 5, 0.0, params(), NOW)
    assert raised.floor == 22
    later = make_forecast([10], start=NOW + 300, data_end=NOW + 300)
    held = plan_floor(later, raised.floor, 0.0, params(), NOW + 300, last_raised_at=raised.last_raised_at)
    assert held.floor == 22 and held.reason == REASON_HOLD_AFTER_RAISE
    after = plan_floor(
        make_forecast([10], start=NOW + 600, data_end=NOW + 600),
        held.floor,
        0.0,
        params(),
        NOW + 600,
        last_raised_at=held.last_raised_at,
    )
    assert after.floor == 20 and after.reason == REASON_GRADUAL_DESCENT


def test_raises_are_never_held_back():
    d = plan_floor(make_forecast([300]), 10, 0.0, params(), NOW, last_raised_at=NOW - 1)
    assert d.floor == 33


def test_missing_or_stale_data_keeps_the_current_floor():
    d = plan_floor(None, 7, 0.0, params(), NOW)
    assert (d.floor, d.reason) == (7, REASON_NO_FORECAST)
    d = plan_floor(make_forecast([500], data_end=NOW - 3600), 7, 0.0, params(), NOW)
    assert (d.floor, d.reason) == (7, REASON_STALE_DATA)
    assert "3600s old" in d.message
    d = plan_floor(make_forecast([np.nan]), 7, 0.0, params(), NOW)
    assert (d.floor, d.reason) == (7, REASON_NO_FORECAST)
    d = plan_floor(make_forecast([500], start=NOW - 2 * STEP), 7, 0.0, params(), NOW)
    assert (d.floor, d.reason) == (7, REASON_NO_FORECAST)  # does not reach now + horizon


def test_insufficient_history_leaves_the_hpa_reactive():
    d = plan_floor(InsufficientHistory(86400, 172800), 9, 50.0, params(min_replicas=2), NOW)
    assert d.floor == 2 and d.reason == REASON_INSUFFICIENT_HISTORY
    assert d.message.startswith("insufficient history: have 1d, need 2d")


def test_invalid_params_name_the_field():
    with pytest.raises(ValueError, match="averageValue"):
        params(target_per_replica=0)
    with pytest.raises(ValueError, match="maxReplicas"):
        params(min_replicas=5, max_replicas=2)


@settings(max_examples=200, deadline=None)
@given(
    peak=st.floats(0, 5000),
    live=st.floats(0, 5000),
    current=st.integers(0, 80),
    lo=st.integers(0, 10),
    span=st.integers(0, 60),
    pct=st.integers(1, 100),
)
def test_floor_properties(peak, live, current, lo, span, pct):
    p = params(min_replicas=lo, max_replicas=lo + span, scale_down_percent_per_step=pct, hold_seconds=0)
    d = plan_floor(make_forecast([peak, peak]), current, live, p, NOW)
    assert lo <= d.floor <= lo + span
    live_need = int(np.ceil(live / 10 - 1e-9))
    assert d.floor >= min(live_need, lo + span)
    if current <= lo + span and d.floor < current and d.floor > lo:
        assert current - d.floor <= max(1, current * pct // 100)  # gradual
