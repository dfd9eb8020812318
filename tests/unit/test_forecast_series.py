"""Cleaning demand history: resampling, gaps, counter resets, outliers."""

import datetime as dt

import numpy as np
import pytest
from modelserve.forecasting import clean_series
from modelserve.forecasting.series import fill_gaps

T0 = 1_700_006_400.0  # a multiple of 300 s


def test_gauge_samples_are_averaged_into_epoch_aligned_bins():
    times = T0 + 60 * np.arange(10) + 17  # 1-min samples, not aligned
    s = clean_series(times, np.arange(10.0), step_seconds=300, outlier_threshold=None)
    assert s.start % 300 == 0
    assert len(s) == 2
    np.testing.assert_allclose(s.values, [2.0, 7.0])


def test_missing_timestamps_become_nan_and_do_not_count_as_history():
    times = np.r_[T0 + 300 * np.arange(5), T0 + 300 * np.arange(8, 10)]
    s = clean_series(times, np.ones(7), step_seconds=300)
    assert len(s) == 10
    assert s.missing_points == 3
    assert np.isnan(s.values[5:8]).all()
    assert s.observed_seconds == 7 * 300


def test_non_finite_values_and_duplicate_timestamps():
    times = [T0, T0, T0 + 300, T0 + 600]
    s = clean_series(times, [1.0, 2.0, np.nan, 3.0], step_seconds=300, outlier_threshold=None)
    np.testing.assert_allclose(s.values[[0, 2]], [2.0, 3.0])  # duplicate keeps the last
    assert np.isnan(s.values[1])


def test_counter_is_converted_to_rates_and_a_reset_is_not_a_negative_rate():
    times = T0 + 60 * np.arange(6)
    counter = [0, 60, 120, 30, 90, 150]  # restarted between the 3rd and 4th sample
    s = clean_series(times, counter, is_counter=True, step_seconds=60, outlier_threshold=None)
    assert s.counter_resets == 1
    np.testing.assert_allclose(s.values, [1.0, 1.0, 0.5, 1.0, 1.0])


def test_counter_rates_weigh_irregular_scrapes_by_time():
    times = [T0, T0 + 10, T0 + 300]
    s = clean_series(times, [0, 100, 390], is_counter=True, step_seconds=300, outlier_threshold=None)
    np.testing.assert_allclose(s.values, [390 / 300])


def test_datetimes_and_iso_strings_are_accepted():
    base = dt.datetime.fromtimestamp(T0, dt.UTC)
    a = clean_series([base, base + dt.timedelta(minutes=5)], [1, 2], step_seconds=300)
    b = clean_series(
        [base.isoformat().replace("+00:00", "Z"), (base + dt.timedelta(minutes=5)).isoformat()],
        [1, 2],
        step_seconds=300,
    )
    assert a.start == b.start == T0
    np.testing.assert_allclose(a.values, b.values)


def test_single_spike_is_clipped_but_a_sustained_surge_is_kept():
    rng = np.random.default_rng(1)
    values = 100 + rng.normal(0, 3, 300)
    values[50] = 5000  # one-bin glitch
    values[150:200] *= 4  # a 4 h surge: real demand
    s = clean_series(T0 + 300 * np.arange(300), values, step_seconds=300)
    assert s.outliers_clipped >= 1
    assert s.values[50] < 200
    assert np.median(s.values[160:190]) > 350


def test_negative_rates_are_floored_at_zero():
    s = clean_series([T0, T0 + 300], [-5, 3], step_seconds=300, outlier_threshold=None)
    assert s.values.min() == 0


def test_fill_gaps_prefers_the_value_one_season_earlier():
    values = np.array([1, 2, 3, 4, 1, np.nan, 3, np.nan], dtype=float)
    np.testing.assert_allclose(fill_gaps(values, 4)[:7], [1, 2, 3, 4, 1, 2, 3])
    assert np.isnan(fill_gaps(values, 4)[7])  # trailing gap is not invented


def test_bad_step_names_the_field():
    with pytest.raises(ValueError, match="step_seconds"):
        clean_series([T0], [1], step_seconds=0)
