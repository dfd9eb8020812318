"""Forecasters: seasonality detection, model choice, robustness, cheap updates, state round trip."""

import math
import warnings

import numpy as np
import pytest
from modelserve.forecasting import (
    DAILY,
    HOLT_WINTERS,
    NO_SEASON,
    SARIMAX,
    SEASONAL_NAIVE,
    WEEKLY,
    ForecastState,
    InsufficientHistory,
    clean_series,
    fit_forecaster,
    forecast,
    smape,
)
from modelserve.forecasting.models import fit_model, predict

DAY = 86400
STEP = 300
T0 = 1_700_006_400.0 - (1_700_006_400.0 % DAY)  # midnight UTC


def daily_rate(t, base=50.0, amplitude=0.6):
    return base * (1 + amplitude * np.sin(2 * np.pi * (t % DAY) / DAY))


def synthetic(days, *, noise=0.08, seed=0, weekly=0.0, trend=0.0, step=STEP):
    rng = np.random.default_rng(seed)
    t = T0 + step * np.arange(int(days * DAY / step), dtype=float)
    weekend = ((t // DAY) % 7) >= 5
    y = daily_rate(t) * (1 - weekly * weekend) * (1 + trend * (t - T0) / DAY)
    return t, y * np.exp(rng.normal(0, noise, t.shape[0]))


def next_day_error(state, t_future, y_future, truth=None):
    """Roll the state through the future one bin at a time (cheap updates), forecasting 1 bin ahead."""
    predictions, uppers = [], []
    for i in range(t_future.shape[0]):
        now = t_future[i]
        fc = forecast(
            state,
            clean_series(t_future[:i], y_future[:i], step_seconds=STEP)
            if i
            else clean_series([], [], step_seconds=STEP),
            now=now,
            horizon_seconds=STEP,
        )
        state = fc.state
        predictions.append(fc.point[0])
        uppers.append(fc.upper[0])
    reference = y_future if truth is None else truth
    return smape(reference, np.array(predictions)), np.array(uppers)


def test_daily_series_is_forecast_well_and_a_smoothing_model_beats_naive():
    t, y = synthetic(5)
    state = fit_forecaster(clean_series(t[: 4 * 288], y[: 4 * 288]), horizon_seconds=600)
    assert isinstance(state, ForecastState)
    assert state.seasonality == DAILY
    assert state.model in (HOLT_WINTERS, SARIMAX)
    assert state.candidates[state.model] < state.candidates[SEASONAL_NAIVE]
    assert state.backtest_error is not None and state.backtest_error < 15
    error, uppers = next_day_error(state, t[4 * 288 :], y[4 * 288 :])
    assert error < 12
    coverage = np.mean(y[4 * 288 :] <= uppers)
    assert coverage > 0.75  # q0.9 interval


def test_forecast_is_flat_pattern_without_seasonality():
    rng = np.random.default_rng(3)
    t = T0 + STEP * np.arange(3 * 288, dtype=float)
    y = 20 * np.exp(rng.normal(0, 0.05, t.shape[0]))
    state = fit_forecaster(clean_series(t, y))
    assert isinstance(state, ForecastState)
    assert state.seasonality == NO_SEASON
    fc = forecast(state, clean_series([], [], step_seconds=STEP), now=t[-1] + STEP, horizon_seconds=3600)
    assert np.all(np.abs(fc.point - 20) < 3)


def test_weekly_pattern_is_detected_with_two_weeks_and_refused_with_one():
    t, y = synthetic(15, weekly=0.8, seed=2)
    y = np.where(((t // DAY) % 7) >= 5, y * 0.2, y)  # the weekend dominates the daily pattern
    state = fit_forecaster(clean_series(t, y), model=SEASONAL_NAIVE)
    assert isinstance(state, ForecastState)
    assert state.seasonality == WEEKLY
    short = fit_forecaster(clean_series(t[: 8 * 288], y[: 8 * 288]), seasonality=WEEKLY)
    assert isinstance(short, InsufficientHistory)
    assert short.message == "insufficient history: have 8d, need 14d for weekly seasonality"


def test_short_history_says_how_much_is_missing():
    t, y = synthetic(1.5)
    result = fit_forecaster(clean_series(t, y), min_history_seconds=2 * DAY)
    assert isinstance(result, InsufficientHistory)
    assert result.message == "insufficient history: have 1d12h, need 2d"


def test_gaps_count_against_history_and_are_bridged():
    t, y = synthetic(4, seed=4)
    rng = np.random.default_rng(5)
    keep = rng.random(t.shape[0]) > 0.1
    keep[400:440] = False  # a 3 h 20 min outage
    series = clean_series(t[keep][:-288], y[keep][:-288])
    assert series.missing_points > 0
    state = fit_forecaster(series, min_history_seconds=2 * DAY)
    assert isinstance(state, ForecastState)
    error, _ = next_day_error(state, t[-288:], y[-288:])
    assert error < 15


def test_counter_input_with_resets_forecasts_the_rate():
    t, y = synthetic(3, noise=0.02, seed=6)
    counter = np.cumsum(y * STEP)
    counter[300:] -= counter[299]  # the process restarted: counter from 0
    counter[600:] -= counter[599] - 5
    series = clean_series(t, counter, is_counter=True)
    assert series.counter_resets == 2
    state = fit_forecaster(series)
    assert isinstance(state, ForecastState)
    now = t[-1] + STEP
    fc = forecast(state, clean_series([], [], step_seconds=STEP), now=now, horizon_seconds=1800)
    truth = daily_rate(fc.times)
    assert smape(truth, fc.point) < 10


def test_outliers_do_not_inflate_the_forecast():
    t, y = synthetic(3, seed=7)
    spiky = y.copy()
    spiky[::97] *= 50
    state = fit_forecaster(clean_series(t, spiky))
    assert isinstance(state, ForecastState)
    fc = forecast(state, clean_series([], [], step_seconds=STEP), now=t[-1] + STEP, horizon_seconds=3600)
    assert np.all(fc.upper < 2 * daily_rate(fc.times))


def test_holt_winters_updates_match_statsmodels_with_the_same_parameters():
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    t, y = synthetic(3, seed=8)
    z = np.log(y)
    state, _, _ = fit_model(
        HOLT_WINTERS, z, start=t[0], step_seconds=STEP, seasonality=DAILY, quantile=0.9, offset=0.0, now=0.0
    )
    m = 288
    level0 = z[:m].mean()
    hw = ExponentialSmoothing(
        z,
        trend="add",
        damped_trend=True,
        seasonal="add",
        seasonal_periods=m,
        initialization_method="known",
        initial_level=level0,
        initial_trend=0.0,
        initial_seasonal=z[:m] - level0,
    )
    p = state.params
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = hw.fit(
            smoothing_level=p["alpha"],
            smoothing_trend=p["beta"],
            smoothing_seasonal=p["gamma"],
            damping_trend=p["phi"],
            optimized=False,
        )
    mine, _ = predict(state, np.arange(1, 13))
    np.testing.assert_allclose(mine, fit.forecast(12), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("model", [HOLT_WINTERS, SARIMAX, SEASONAL_NAIVE])
def test_state_survives_json_and_cheap_update_equals_passing_the_whole_history(model):
    t, y = synthetic(3, seed=9)
    fit_part = clean_series(t[:-24], y[:-24])
    state = fit_forecaster(fit_part, model=model)
    assert isinstance(state, ForecastState)
    assert state.model == model
    restored = ForecastState.from_json(state.to_json())
    assert len(state.to_json()) < 12_000
    now = t[-1] + STEP
    new = clean_series(t[-24:], y[-24:])
    a = forecast(state, new, now=now, horizon_seconds=900)
    b = forecast(restored, clean_series(t, y), now=now, horizon_seconds=900)
    np.testing.assert_allclose(a.point, b.point, rtol=1e-4)
    np.testing.assert_allclose(a.upper, b.upper, rtol=1e-4)
    assert np.all(a.upper >= a.point)
    assert a.data_end == t[-1] + STEP
    assert a.times[0] == t[-1] + STEP and a.times[-1] + STEP >= now + 900
    assert state.last_time == t[-25]  # the input state is not modified


def test_forecast_leaves_trailing_missing_bins_for_later():
    t, y = synthetic(3, seed=10)
    state = fit_forecaster(clean_series(t[:-3], y[:-3]))
    values = y[-3:].copy()
    values[-1] = np.nan
    fc = forecast(
        state, clean_series(t[-3:], values, outlier_threshold=None), now=t[-1] + STEP, horizon_seconds=600
    )
    assert fc.state.last_time == t[-2]


def test_invalid_settings_name_the_field():
    t, y = synthetic(3)
    with pytest.raises(ValueError, match=r"predictive\.model"):
        fit_forecaster(clean_series(t, y), model="prophet")
    with pytest.raises(ValueError, match=r"predictive\.seasonality"):
        fit_forecaster(clean_series(t, y), seasonality="hourly")
    with pytest.raises(ValueError, match=r"predictive\.quantile"):
        fit_forecaster(clean_series(t, y), quantile=1.2)


def test_smape_bounds():
    assert smape([1, 2], [1, 2]) == 0
    assert math.isclose(smape([0, 1], [0, 3]), 50.0)
    assert smape([1], [0]) == 200
