"""Cleaning demand history before it is forecast: gaps, counter resets, outliers, resampling.

Pure functions over numpy arrays. A :class:`Series` is a regular grid of bins aligned to multiples
of `step_seconds` since the Unix epoch, so two series cleaned at different times with the same step
share bin boundaries (the cheap forecast update relies on that). Missing bins hold NaN: the cleaner
never invents data, the models decide how to bridge gaps.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Hampel rule: a bin further than this many robust standard deviations from the median of its
# neighbourhood is clipped to that bound. 5 keeps genuine surges (several bins wide, they move the
# median) and removes single-bin spikes such as a scrape glitch or a retry storm.
OUTLIER_THRESHOLD = 5.0
OUTLIER_WINDOW_SECONDS = 2 * 3600


@dataclass(frozen=True)
class Series:
    """Demand on a regular grid: `values[i]` is the mean rate in [start + i*step, start + (i+1)*step).

    NaN marks a bin with no sample. `start` is a multiple of `step_seconds` (epoch seconds).
    The counters say what cleaning did, for status messages and tests.
    """

    start: float
    step_seconds: int
    values: np.ndarray = field(repr=False)
    counter_resets: int = 0
    outliers_clipped: int = 0

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def times(self) -> np.ndarray:
        """Start time of every bin (epoch seconds)."""
        return self.start + self.step_seconds * np.arange(len(self), dtype=float)

    @property
    def end(self) -> float:
        """Start time of the last bin (start - step when empty)."""
        return self.start + self.step_seconds * (len(self) - 1)

    @property
    def observed_points(self) -> int:
        return int(np.count_nonzero(np.isfinite(self.values)))

    @property
    def observed_seconds(self) -> float:
        """How much history the series really holds: observed bins x step (gaps do not count)."""
        return float(self.observed_points * self.step_seconds)

    @property
    def missing_points(self) -> int:
        return len(self) - self.observed_points

    def after(self, time: float) -> Series:
        """The bins that start strictly after `time`."""
        first = int(np.searchsorted(self.times, time, side="right"))
        return self._slice(first, len(self))

    def last(self, seconds: float) -> Series:
        """The bins that start within the last `seconds` of the series."""
        keep = min(len(self), int(seconds // self.step_seconds))
        return self._slice(len(self) - keep, len(self))

    def _slice(self, lo: int, hi: int) -> Series:
        return Series(
            self.start + lo * self.step_seconds,
            self.step_seconds,
            self.values[lo:hi].copy(),
            self.counter_resets,
            self.outliers_clipped,
        )


def to_epoch_seconds(timestamps: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Epoch seconds from numbers, numpy datetime64, `datetime` objects or ISO-8601 strings."""
    arr = np.asarray(timestamps)
    if arr.size == 0:
        return np.zeros(0, dtype=float)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[ns]").astype(np.int64) / 1e9
    if np.issubdtype(arr.dtype, np.number):
        return arr.astype(float)
    out = np.empty(arr.shape[0], dtype=float)
    for i, ts in enumerate(arr):
        if isinstance(ts, dt.datetime):
            value = ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)
        else:
            value = dt.datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
            value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        out[i] = value.timestamp()
    return out


def clean_series(
    timestamps: Sequence[Any] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    *,
    is_counter: bool = False,
    step_seconds: int = 300,
    outlier_threshold: float | None = OUTLIER_THRESHOLD,
) -> Series:
    """Samples (timestamps, values) in, a regular, cleaned :class:`Series` of rates out.

    - Samples are sorted; duplicate timestamps keep the last value; non-finite values are dropped.
    - `is_counter=True`: values are a monotonically increasing counter (e.g. `requests_total`);
      they become per-second rates, and a negative delta is a counter reset (process restart), so
      the increase over that interval is the new value itself, as Prometheus' `rate()` assumes.
    - Resampling: each bin holds the mean rate of the samples in it (counters: total increase /
      total time, so irregular scrapes weigh correctly); empty bins are NaN.
    - Outliers: single-bin spikes and dips are clipped by a Hampel rule (median +- threshold x
      1.4826 x MAD over a 2 h neighbourhood); `None` turns clipping off.
    - Negative rates are clipped to 0.
    """
    if step_seconds <= 0:
        raise ValueError(f"step_seconds: must be > 0, got {step_seconds}")
    t = to_epoch_seconds(timestamps)
    v = np.asarray(values, dtype=float)
    if t.shape != v.shape:
        raise ValueError(f"values: {v.shape[0]} values for {t.shape[0]} timestamps")
    ok = np.isfinite(t) & np.isfinite(v)
    t, v = t[ok], v[ok]
    if t.size == 0:
        return Series(0.0, step_seconds, np.zeros(0))
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    # Keep the last of duplicated timestamps.
    last_of_run = np.r_[t[1:] != t[:-1], True]
    t, v = t[last_of_run], v[last_of_run]

    resets = 0
    if is_counter:
        if t.size < 2:
            return Series(float(np.floor(t[0] / step_seconds) * step_seconds), step_seconds, np.zeros(0))
        delta = np.diff(v)
        reset = delta < 0
        resets = int(np.count_nonzero(reset))
        increase = np.where(reset, v[1:], delta)
        seconds = np.diff(t)
        t = (t[1:] + t[:-1]) / 2  # an increase belongs to the bin holding its interval's midpoint
        start = float(np.floor(t[0] / step_seconds) * step_seconds)
        idx = ((t - start) // step_seconds).astype(np.int64)
        n = int(idx[-1]) + 1
        total = np.bincount(idx, weights=increase, minlength=n)
        spent = np.bincount(idx, weights=seconds, minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = np.where(spent > 0, total / spent, np.nan)
    else:
        start = float(np.floor(t[0] / step_seconds) * step_seconds)
        idx = ((t - start) // step_seconds).astype(np.int64)
        n = int(idx[-1]) + 1
        total = np.bincount(idx, weights=v, minlength=n)
        count = np.bincount(idx, minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = np.where(count > 0, total / np.maximum(count, 1), np.nan)

    rates = np.maximum(rates, 0.0)
    clipped = 0
    if outlier_threshold is not None:
        window = max(3, int(OUTLIER_WINDOW_SECONDS // step_seconds) | 1)
        rates, clipped = clip_outliers(rates, window=window, threshold=outlier_threshold)
    return Series(start, step_seconds, rates, counter_resets=resets, outliers_clipped=clipped)


def clip_outliers(values: np.ndarray, *, window: int, threshold: float) -> tuple[np.ndarray, int]:
    """Hampel clipping: values beyond median +- threshold * 1.4826 * MAD of a centred window.

    Returns the clipped copy and how many values were clipped. NaN stays NaN. The scale has a floor
    (5 % of the local median) so a flat stretch does not turn ordinary noise into "outliers".
    """
    n = values.shape[0]
    if n < 3:
        return values.copy(), 0
    window = min(window if window % 2 else window + 1, n if n % 2 else n - 1)
    half = window // 2
    padded = np.pad(values, half, mode="constant", constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows are expected in gaps
        med = np.nanmedian(windows, axis=1)
        mad = np.nanmedian(np.abs(windows - med[:, None]), axis=1)
    scale = np.maximum(1.4826 * mad, 0.05 * np.abs(med))
    scale = np.where(np.isfinite(scale), scale, np.inf)
    upper = med + threshold * scale
    lower = np.maximum(med - threshold * scale, 0.0)
    out = values.copy()
    finite = np.isfinite(out) & np.isfinite(med) & (scale > 0)
    high = finite & (out > upper)
    low = finite & (out < lower)
    out[high] = upper[high]
    out[low] = lower[low]
    return out, int(np.count_nonzero(high | low))


def fill_gaps(values: np.ndarray, season_points: int) -> np.ndarray:
    """Interior NaN filled for fitting: the value one season earlier when known, else linear interpolation.

    Leading and trailing NaN are left alone (callers trim them): extrapolating would invent data.
    """
    out = values.copy()
    finite = np.isfinite(out)
    if finite.all() or not finite.any():
        return out
    first, last = int(np.argmax(finite)), int(len(out) - 1 - np.argmax(finite[::-1]))
    if season_points > 1:
        for i in range(first, last + 1):
            if not np.isfinite(out[i]) and i - season_points >= first and np.isfinite(out[i - season_points]):
                out[i] = out[i - season_points]
    inner = np.arange(first, last + 1)
    still = ~np.isfinite(out[first : last + 1])
    if still.any():
        known = ~still
        out[first : last + 1][still] = np.interp(inner[still], inner[known], out[first : last + 1][known])
    return out
