"""Choosing the seasonality and the model (`auto`) by rolling-origin backtest, then fitting.

`fit_forecaster` is the expensive call of the forecasting cycle (once per refit interval): it
detects the season, fits each candidate on the history minus its last day, rolls every candidate
through that last day bin by bin — each bin is a forecast origin, the forecast `horizon` ahead is
scored against what happened (sMAPE) — and keeps the best. The winner's state has then already
seen the whole history, so no second fit is needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from modelserve.api.durations import format_duration

from .burst import estimate_dispersion
from .models import (
    DAILY,
    HOLT_WINTERS,
    MODELS,
    NO_SEASON,
    SARIMAX,
    SEASON_SECONDS,
    SEASONAL_NAIVE,
    WEEKLY,
    ForecastState,
    advance,
    fit_model,
    from_log,
    predict,
    set_residual_quantiles,
    to_log,
)
from .series import Series, fill_gaps

AUTO = "auto"
SEASONALITIES = (AUTO, DAILY, WEEKLY, NO_SEASON)
# Autocorrelation at the season's lag above which that season is used (auto).
SEASONAL_ACF_THRESHOLD = 0.3
# Weekly wins over daily only when the week explains clearly more than the day does.
WEEKLY_MARGIN = 0.05
BACKTEST_SECONDS = 86400


@dataclass(frozen=True)
class InsufficientHistory:
    """Not enough data to forecast; the operator leaves the HPA purely reactive and shows `message`."""

    have_seconds: float
    need_seconds: float
    detail: str = ""

    @property
    def message(self) -> str:
        text = (
            f"insufficient history: have {format_duration(self.have_seconds)}, "
            f"need {format_duration(self.need_seconds)}"
        )
        return f"{text} {self.detail}".strip()


def autocorrelation(z: np.ndarray, lag: int) -> float:
    """Pearson correlation of the series with itself `lag` bins earlier (NaN pairs skipped)."""
    if lag <= 0 or z.shape[0] <= lag + 2:
        return float("nan")
    a, b = z[lag:], z[:-lag]
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def detect_seasonality(z: np.ndarray, step_seconds: int) -> tuple[str, dict[str, float]]:
    """`daily`, `weekly` or `none` from the data length and the autocorrelation at 1 d and 7 d lags.

    A season is only considered when the history holds two of them (one to learn, one to check).
    """
    n = z.shape[0]
    acf = {}
    for name in (DAILY, WEEKLY):
        lag = SEASON_SECONDS[name] // step_seconds
        acf[name] = autocorrelation(z, lag) if n >= 2 * lag else float("nan")
    daily_ok = acf[DAILY] >= SEASONAL_ACF_THRESHOLD
    weekly_ok = acf[WEEKLY] >= SEASONAL_ACF_THRESHOLD
    if weekly_ok and (not daily_ok or acf[WEEKLY] > acf[DAILY] + WEEKLY_MARGIN):
        return WEEKLY, acf
    if daily_ok:
        return DAILY, acf
    return NO_SEASON, acf


def smape(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Symmetric MAPE in percent (0..200); pairs where both are 0 count as perfect."""
    a, p = np.asarray(actual, float), np.asarray(predicted, float)
    ok = np.isfinite(a) & np.isfinite(p)
    a, p = a[ok], p[ok]
    if a.size == 0:
        return float("nan")
    denominator = np.abs(a) + np.abs(p)
    terms = np.where(denominator > 0, 2 * np.abs(a - p) / np.where(denominator > 0, denominator, 1), 0.0)
    return float(100 * terms.mean())


def fit_forecaster(
    series: Series,
    *,
    model: str = AUTO,
    seasonality: str = AUTO,
    min_history_seconds: float = 2 * 86400,
    quantile: float = 0.9,
    horizon_seconds: float = 900,
    now: float | None = None,
    fine: Series | None = None,
) -> ForecastState | InsufficientHistory:
    """History in, a fitted :class:`ForecastState` out (or :class:`InsufficientHistory`).

    - `model`: `auto` (lowest backtest sMAPE) or one of holtWinters | sarimax | seasonalNaive.
    - `seasonality`: `auto` (autocorrelation at 1 d / 7 d, needs 2 seasons of data) or daily |
      weekly | none. An explicit season needs two seasons of history (weekly: 14 d).
    - `min_history_seconds`: observed data (gaps do not count) needed before forecasting at all.
    - `quantile`: the upper quantile the prediction interval gives (capacity is planned on it).
    - `horizon_seconds`: the lead the backtest scores (the planner's look-ahead).
    - `now`: recorded as the fit time (defaults to the end of the series).
    - `fine`: recent demand at a 1-minute step (the last day is plenty); sets the state's
      `dispersion`, from which the forecast adds a burst allowance (see `burst`). None: no allowance.
    """
    _check_settings(model, seasonality, quantile)
    step = series.step_seconds
    have = series.observed_seconds
    if have < min_history_seconds or series.observed_points < 4:
        return InsufficientHistory(have, max(min_history_seconds, 4 * step))
    for name in (DAILY, WEEKLY):
        if SEASON_SECONDS[name] % step:
            raise ValueError(f"step_seconds: {step}s does not divide a day; use e.g. 60, 300 or 900")

    values = series.values
    finite = np.flatnonzero(np.isfinite(values))
    values = values[finite[0] : finite[-1] + 1]
    start = series.start + finite[0] * step
    mean = float(np.nanmean(values))
    offset = max(0.1 * mean, 1e-9)  # keeps log() finite at 0 and damps relative noise at low rates

    if seasonality == AUTO:
        season, _acf = detect_seasonality(to_log(fill_gaps(values, 1), offset), step)
    else:
        season = seasonality
        need = 2 * SEASON_SECONDS[season]
        if have < need:
            return InsufficientHistory(have, need, f"for {season} seasonality")
    m = SEASON_SECONDS[season] // step if SEASON_SECONDS[season] else 1
    z = to_log(fill_gaps(values, m), offset)
    fitted_at = float(now) if now is not None else start + z.shape[0] * step
    candidates = MODELS if model == AUTO else (model,)
    fit = _Fit(z, start, step, season, quantile, offset, fitted_at, max(1, math.ceil(horizon_seconds / step)))
    best = _best_backtested(fit, candidates)
    best.history_points = int(series.observed_points)
    if fine is not None:
        best.dispersion = estimate_dispersion(fine, step)
    return best


def _check_settings(model: str, seasonality: str, quantile: float) -> None:
    """ValueError naming the spec field for a model, seasonality or quantile outside the API."""
    if model != AUTO and model not in MODELS:
        raise ValueError(
            f"spec.autoscaling.predictive.model: {model!r} is not one of auto, {', '.join(MODELS)}"
        )
    if seasonality not in SEASONALITIES:
        raise ValueError(
            f"spec.autoscaling.predictive.seasonality: {seasonality!r} is not one of "
            f"{', '.join(SEASONALITIES)}"
        )
    if not 0.5 <= quantile < 1:
        raise ValueError(f"spec.autoscaling.predictive.quantile: {quantile} is not in [0.5, 1)")


@dataclass(frozen=True)
class _Fit:
    """One fit's prepared input: the log-scale series ``z`` from ``start``, its step, season and the
    settings every candidate model is fitted with; ``lead`` is the backtest's horizon in bins."""

    z: np.ndarray
    start: float
    step: int
    season: str
    quantile: float
    offset: float
    fitted_at: float
    lead: int


def _best_backtested(fit: _Fit, candidates: tuple[str, ...]) -> ForecastState:
    """Fit every candidate on all but the last BACKTEST_SECONDS, score it on those (sMAPE at the
    lead), and return the best, rolled through to the end of the data with its scores recorded."""
    n = fit.z.shape[0]
    backtest = min(BACKTEST_SECONDS // fit.step, n // 4)
    train = n - backtest
    results: list[tuple[float, str, ForecastState]] = []
    for name in candidates:
        state, errors, times = fit_model(
            name,
            fit.z[:train],
            start=fit.start,
            step_seconds=fit.step,
            seasonality=fit.season,
            quantile=fit.quantile,
            offset=fit.offset,
            now=fit.fitted_at,
        )
        error, state, held_out_errors = _roll_through(state, fit.z[train:], fit.lead)
        # The interval is set from in-sample and held-out one-step errors together.
        held_out_times = fit.start + fit.step * np.arange(train, n, dtype=float)
        set_residual_quantiles(state, np.r_[errors, held_out_errors], np.r_[times, held_out_times])
        results.append((error, name, state))
    scores = {name: round(err, 3) for err, name, _ in results}
    # NaN scores (no backtest possible) sort last; ties prefer the simpler model (listed later).
    order = {HOLT_WINTERS: 0, SARIMAX: 1, SEASONAL_NAIVE: 2}
    best_error, _name, best = min(results, key=lambda r: (math.isnan(r[0]), r[0], -order[r[1]]))
    best.backtest_error = None if math.isnan(best_error) else round(best_error, 3)
    best.candidates = scores
    return best


def _roll_through(state: ForecastState, z: np.ndarray, lead: int) -> tuple[float, ForecastState, np.ndarray]:
    """Advance `state` over the held-out bins `z`, forecasting `lead` bins ahead from every origin.

    Returns the sMAPE of those forecasts (original scale), the state at the end of `z` and the
    one-step errors seen on the way (out-of-sample evidence for the interval width).
    """
    if z.shape[0] == 0:
        return float("nan"), state, np.zeros(0)
    first, _ = predict(state, np.array([lead]))
    errors, ahead = advance(state, z, lead=lead)
    # forecasts[k] is for held-out bin k: from the origin before the backtest (k = lead - 1) and
    # from each held-out bin i (k = i + lead).
    forecasts = np.full(z.shape[0], np.nan)
    if lead - 1 < z.shape[0]:
        forecasts[lead - 1] = first[0]
    forecasts[lead:] = ahead[: max(z.shape[0] - lead, 0)]
    actual = from_log(z, state.offset)
    error = smape(actual, from_log(forecasts, state.offset))
    return error, state, errors
