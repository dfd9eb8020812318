"""The burst allowance: dispersion of minute demand, measured; the allowance it gives; the planner
planning on upper quantile + allowance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from modelserve.forecasting import FloorParams, clean_series, fit_forecaster, forecast, plan_floor
from modelserve.forecasting.burst import (
    BURST_WINDOW_SECONDS,
    estimate_dispersion,
    planned_width,
    z_score,
)
from modelserve.forecasting.models import Forecast, ForecastState
from modelserve.forecasting.series import Series

DAY = 86400
T0 = 1_700_000_000 - 1_700_000_000 % DAY


def minute_rates(rng: np.random.Generator, rate: np.ndarray, dispersion: float) -> np.ndarray:
    """Requests/s per minute: counts with mean rate x 60 and variance dispersion x mean
    (Poisson for 1, negative binomial above)."""
    mean = rate * 60
    if dispersion == 1:
        counts = rng.poisson(mean)
    else:
        # NB with variance = mean * dispersion: n = mean / (dispersion - 1), p = 1 / dispersion
        counts = rng.negative_binomial(mean / (dispersion - 1), 1 / dispersion)
    return counts / 60.0


def daily_rate(minutes: int, base: float = 5.0) -> np.ndarray:
    t = np.arange(minutes) * 60.0
    return base * (1 + 0.6 * np.sin(2 * np.pi * t / DAY))


@pytest.mark.parametrize("dispersion", [1.0, 3.0, 10.0])
def test_dispersion_is_recovered_from_a_day_of_minutes(dispersion):
    rng = np.random.default_rng(4)
    values = minute_rates(rng, daily_rate(1440), dispersion)
    fine = Series(float(T0), 60, values)
    estimate = estimate_dispersion(fine)
    assert estimate == pytest.approx(dispersion, rel=0.12)


def test_a_slowly_moving_rate_is_not_mistaken_for_bursts():
    # Deterministic demand that ramps 10x over the day: no noise, so no dispersion.
    values = np.linspace(1, 10, 1440)
    assert estimate_dispersion(Series(float(T0), 60, values)) == pytest.approx(0.0, abs=0.01)


def test_demand_flat_inside_its_bins_has_no_dispersion():
    # A 5-minute trace spread evenly over its minutes (the benchmark's 5-minute traces).
    values = np.repeat(np.random.default_rng(1).uniform(1, 9, 288), 5)
    assert estimate_dispersion(Series(float(T0), 60, values)) == 0.0


def test_bins_are_aligned_to_the_epoch_grid():
    # Flat 5-minute blocks aligned to the epoch; a series starting 2 minutes into a block must still
    # group the minutes of each block together (else every group straddles two levels).
    values = np.repeat(np.arange(1, 289, dtype=float), 5)[2:]
    assert estimate_dispersion(Series(float(T0 + 120), 60, values)) == 0.0


def test_too_little_or_wrong_data_gives_no_estimate():
    rng = np.random.default_rng(2)
    short = minute_rates(rng, np.full(30, 5.0), 1.0)  # 6 bins < MIN_BINS
    assert estimate_dispersion(Series(float(T0), 60, short)) is None
    idle = np.zeros(600)  # no traffic: nothing to measure
    assert estimate_dispersion(Series(float(T0), 60, idle)) is None
    five_minute = Series(float(T0), 300, np.ones(300))
    assert estimate_dispersion(five_minute) is None  # not a 1-minute series
    gappy = minute_rates(rng, np.full(600, 5.0), 1.0)
    gappy[::2] = np.nan  # at most 3 of 5 minutes per bin survive; still measurable
    estimate = estimate_dispersion(Series(float(T0), 60, gappy))
    assert estimate is not None and 0.5 < estimate < 2.0
    gappy[1::2] = np.nan
    assert estimate_dispersion(Series(float(T0), 60, gappy)) is None


def test_minute_noise_adds_to_the_forecast_interval_in_quadrature():
    assert z_score(0.5) == 0.0
    assert z_score(0.9) == pytest.approx(1.2816, abs=1e-4)
    with pytest.raises(ValueError):
        z_score(1.0)
    point = np.array([1.0, 100.0, 100.0])
    width = np.array([0.2, 0.2, 0.0])
    widened = planned_width(width, point, 0.0, 3.0, 0.9)
    sigma = np.sqrt(3.0 * point / BURST_WINDOW_SECONDS) / point  # relative minute noise
    assert widened == pytest.approx(np.sqrt(width**2 + (1.2816 * sigma) ** 2), rel=1e-4)
    # The square-root rule: relative to the rate the noise shrinks as 1/sqrt(rate); at 1 req/s it
    # dominates a 20 % forecast interval, at 100 req/s it barely widens it.
    assert widened[0] > 0.3 and widened[1] < 0.21
    # With a perfect forecast (width 0) the bound is exactly z_q minute-noise sds above the point.
    assert widened[2] == pytest.approx(1.2816 * math.sqrt(3.0 * 100 / 60) / 100, rel=1e-4)
    # Independent errors: never wider than the two added, never narrower than either.
    assert np.all(widened <= width + 1.2816 * sigma + 1e-12) and np.all(widened >= width)
    # No allowance when φ is unknown or zero, or at the median.
    for dispersion, q in ((None, 0.9), (0.0, 0.9), (3.0, 0.5)):
        assert np.array_equal(planned_width(width, point, 0.0, dispersion, q), width)


def _history(days: int, dispersion: float, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    minutes = days * 1440
    values = minute_rates(rng, daily_rate(minutes), dispersion)
    return T0 + 60.0 * np.arange(minutes), values


def test_fit_measures_dispersion_and_the_forecast_carries_the_allowance():
    times, values = _history(4, 3.0)
    series = clean_series(times, values, step_seconds=300)
    fine = clean_series(times[-1440:], values[-1440:], step_seconds=60, outlier_threshold=None)
    state = fit_forecaster(series, seasonality="daily", quantile=0.9, fine=fine)
    assert isinstance(state, ForecastState)
    assert state.dispersion == pytest.approx(3.0, rel=0.15)
    # The state survives its JSON round trip with the dispersion.
    assert ForecastState.from_json(state.to_json()).dispersion == state.dispersion
    now = times[-1] + 60
    fc = forecast(state, series, now=now, horizon_seconds=900)
    assert fc.burst is not None and np.all(fc.burst > 0)
    # upper + burst is the q0.9 of minute demand: the forecast interval and the minute noise of
    # φ = 3 in quadrature (log(rate + offset) space).
    off = state.offset
    width = np.log(fc.upper + off) - np.log(fc.point + off)
    expected = (fc.point + off) * np.exp(planned_width(width, fc.point, off, state.dispersion, 0.9)) - off
    np.testing.assert_allclose(fc.planned, expected, rtol=1e-6)
    # At ~5 req/s the minute noise of φ = 3 (±13 %) is a good part of the bound, less than additive.
    additive = 1.2816 * np.sqrt(state.dispersion * fc.upper / 60)
    assert np.all(fc.burst < additive) and np.all(fc.burst > 0.2 * additive)
    # Without the fine series there is no allowance at all.
    plain = fit_forecaster(series, seasonality="daily", quantile=0.9)
    assert isinstance(plain, ForecastState) and plain.dispersion is None
    fc_plain = forecast(plain, series, now=now, horizon_seconds=900)
    assert not fc_plain.burst.any()
    np.testing.assert_allclose(fc_plain.planned, fc_plain.upper)


def _forecast(upper: list[float], burst: list[float] | None, now: float) -> Forecast:
    times = now - 60 + 300.0 * np.arange(len(upper))
    return Forecast(
        times=times,
        point=np.asarray(upper) * 0.8,
        upper=np.asarray(upper, dtype=float),
        quantile=0.9,
        model="holtWinters",
        step_seconds=300,
        data_end=now - 60,
        state=None,  # type: ignore[arg-type]
        burst=None if burst is None else np.asarray(burst, dtype=float),
    )


def test_planner_provisions_for_upper_plus_allowance():
    params = FloorParams(
        min_replicas=1, max_replicas=100, target_per_replica=1.0, headroom_percent=0, startup_seconds=60
    )
    now = float(T0)
    without = plan_floor(_forecast([10.0, 10.0, 10.0], None, now), None, None, params, now)
    assert without.floor == 10 and without.burst == 0
    with_burst = plan_floor(_forecast([10.0, 10.0, 10.0], [2.5, 2.5, 2.5], now), None, None, params, now)
    assert with_burst.floor == 13
    assert with_burst.peak == 10.0 and with_burst.burst == pytest.approx(2.5)
    assert "burst allowance 2.5" in with_burst.message
    # The bin that needs the most capacity is the one with the largest upper + allowance, even when
    # another bin has the larger upper quantile alone.
    picked = plan_floor(_forecast([10.0, 9.0, 1.0], [0.5, 3.0, 0.0], now), None, None, params, now)
    assert picked.floor == 12 and picked.peak == 9.0 and picked.peak_time == now - 60 + 300
