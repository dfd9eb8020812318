"""Demand models: Holt-Winters, SARIMAX (Fourier regression with AR(2) errors) and seasonal naive.

Each model has two costs. *Fitting* (statsmodels) estimates parameters from a whole history and is
done once per refit interval. *Updating* folds new bins into a small :class:`ForecastState` with the
parameters held fixed — a few arithmetic operations per bin in plain Python — and forecasting from
that state is closed-form. That split is what lets one operator core forecast for 1,000
ModelDeployments every minute (see docs/autoscaling.md, "Cost").

All models work on z = log(rate + offset): traffic is multiplicative (the evening peak is a factor of
the night, not an added constant), forecasts cannot go negative, and an upper quantile in log space
is exactly the same quantile after `exp` (quantiles commute with monotone maps).

Seasonal components are indexed by *absolute phase* — `round(t / step) mod season_points` — so a
state needs no bookkeeping of where in the season it stopped.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from .burst import planned_width

HOLT_WINTERS = "holtWinters"
SARIMAX = "sarimax"
SEASONAL_NAIVE = "seasonalNaive"
MODELS = (HOLT_WINTERS, SARIMAX, SEASONAL_NAIVE)

DAILY, WEEKLY, NO_SEASON = "daily", "weekly", "none"
SEASON_SECONDS = {DAILY: 86400, WEEKLY: 7 * 86400, NO_SEASON: 0}

# Fourier terms for the SARIMAX regression: enough harmonics for a sharp daily profile, fewer for
# the week (its shape is mostly "weekend lower").
DAILY_HARMONICS = 6
WEEKLY_HARMONICS = 3

# While updating, a one-step error larger than this many robust standard deviations is clipped, so
# one bad bin cannot drag level and season away (the cleaner only sees the bins of one query).
INNOVATION_CLIP = 6.0

STATE_VERSION = 1


@dataclass
class ForecastState:
    """Everything needed to update and forecast without refitting; JSON-serialisable and small.

    `season` has `season_points` log-space values (HW: seasonal components, naive: the last season);
    at 5-minute steps a daily season is 288 numbers (~3 KB of JSON), a weekly one 2016 (~20 KB).
    `last_time` is the start of the last bin folded in; `resid_quantile` is the `quantile` of one-step
    log-space errors, which sets the width of the prediction interval; `hourly_quantiles` (24 values,
    seasonal models) is the same per hour of the day (UTC), because noise is not the same at 4 am
    and at the peak. `dispersion` (φ, see `burst`) sizes the burst allowance; None = no allowance.
    """

    model: str
    seasonality: str
    season_points: int
    step_seconds: int
    offset: float
    last_time: float
    fitted_at: float
    quantile: float
    resid_quantile: float
    resid_scale: float
    params: dict[str, float] = field(default_factory=dict)
    level: float = 0.0
    trend: float = 0.0
    season: list[float] = field(default_factory=list)
    beta: list[float] = field(default_factory=list)
    ar_state: list[float] = field(default_factory=list)
    hourly_quantiles: list[float] = field(default_factory=list)
    backtest_error: float | None = None
    backtest_metric: str = "sMAPE"
    candidates: dict[str, float] = field(default_factory=dict)
    history_points: int = 0
    dispersion: float | None = None
    version: int = STATE_VERSION

    def to_json(self) -> str:
        """Compact JSON (season values rounded to 1e-5 in log space, i.e. 0.001 % of the rate)."""
        data = asdict(self)
        data["season"] = [round(v, 5) for v in self.season]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> ForecastState:
        data = json.loads(text)
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"forecast state: version {data.get('version')!r}, expected {STATE_VERSION}")
        return cls(**data)

    def copy(self) -> ForecastState:
        return replace(
            self,
            params=dict(self.params),
            season=list(self.season),
            beta=list(self.beta),
            ar_state=list(self.ar_state),
            candidates=dict(self.candidates),
        )


@dataclass(frozen=True)
class Forecast:
    """Point forecast and upper prediction bound per future bin.

    `times[i]` is the start of a bin of `step_seconds`; `point` is the median forecast rate, `upper`
    its `quantile`. `data_end` is the end of the last bin of real data the forecast rests on.
    `state` is the input state advanced over the new bins: keep it for the next cycle.
    """

    times: np.ndarray
    point: np.ndarray
    upper: np.ndarray
    quantile: float
    model: str
    step_seconds: int
    data_end: float
    state: ForecastState
    burst: np.ndarray | None = None

    @property
    def planned(self) -> np.ndarray:
        """What capacity is planned on: the upper quantile plus the burst allowance."""
        return self.upper if self.burst is None else self.upper + self.burst


def phase_of(times: np.ndarray | float, step_seconds: int, season_points: int) -> np.ndarray:
    return (np.rint(np.asarray(times, dtype=float) / step_seconds).astype(np.int64)) % max(season_points, 1)


def fourier_features(times: np.ndarray, seasonality: str) -> np.ndarray:
    """Design matrix [1, sin/cos of the daily (and weekly) harmonics] at absolute times."""
    t = np.asarray(times, dtype=float)
    columns = [np.ones_like(t)]
    periods = []
    if seasonality in (DAILY, WEEKLY):
        periods += [(86400.0, k) for k in range(1, DAILY_HARMONICS + 1)]
    if seasonality == WEEKLY:
        periods += [(7 * 86400.0, k) for k in range(1, WEEKLY_HARMONICS + 1)]
    for period, k in periods:
        angle = 2 * np.pi * k * (t % period) / period
        columns += [np.sin(angle), np.cos(angle)]
    return np.column_stack(columns)


# --- updating: fold new log-space bins into a state ------------------------------------------------


def advance(state: ForecastState, z: np.ndarray, lead: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fold consecutive bins `z` (log space, NaN = missing) that follow `state.last_time` into `state`.

    Mutates `state`. Returns the one-step errors (NaN for missing bins) and, when `lead` > 0, the
    log-space point forecast made after each bin for the bin `lead` steps later (for backtests).
    """
    n = z.shape[0]
    errors = np.full(n, np.nan)
    ahead = np.full(n, np.nan)
    if n == 0:
        return errors, ahead
    step, m = state.step_seconds, max(state.season_points, 1)
    first_index = round(state.last_time / step) + 1
    clip = INNOVATION_CLIP * state.resid_scale if state.resid_scale > 0 else math.inf
    season = state.season
    if state.model == HOLT_WINTERS:
        alpha, beta, gamma, phi = (state.params[k] for k in ("alpha", "beta", "gamma", "phi"))
        phi_sum = sum(phi**j for j in range(1, lead + 1))
        level, trend = state.level, state.trend
        for i in range(n):
            p = (first_index + i) % m
            predicted = level + phi * trend + season[p]
            zi = z[i]
            e = 0.0
            if zi == zi:  # not NaN
                e = min(max(zi - predicted, -clip), clip)
                errors[i] = zi - predicted
            level, trend = level + phi * trend + alpha * e, phi * trend + alpha * beta * e
            season[p] += gamma * e
            if lead:
                ahead[i] = level + phi_sum * trend + season[(first_index + i + lead) % m]
        state.level, state.trend = level, trend
    elif state.model == SARIMAX:
        phi1, phi2 = state.params["ar1"], state.params["ar2"]
        coef = np.asarray(state.beta)
        times = (first_index + np.arange(n + lead)) * float(step)
        regression = fourier_features(times, state.seasonality) @ coef
        u1, u2 = state.ar_state
        for i in range(n):
            predicted_u = phi1 * u1 + phi2 * u2
            zi = z[i]
            u = predicted_u
            if zi == zi:
                raw = zi - regression[i] - predicted_u
                errors[i] = raw
                u = predicted_u + min(max(raw, -clip), clip)
            u1, u2 = u, u1
            if lead:
                a, b = u1, u2
                for _ in range(lead):
                    a, b = phi1 * a + phi2 * b, a
                ahead[i] = regression[i + lead] + a
        state.ar_state = [u1, u2]
    elif state.model == SEASONAL_NAIVE:
        for i in range(n):
            p = (first_index + i) % m
            zi = z[i]
            if zi == zi:
                errors[i] = zi - season[p]
                season[p] = zi
            if lead:
                ahead[i] = season[(first_index + i + lead) % m]
    else:
        raise ValueError(f"forecast state: unknown model {state.model!r}")
    state.last_time += n * step
    return errors, ahead


def predict(state: ForecastState, leads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-space point forecasts for `leads` (steps after `state.last_time`) and their variance factor.

    The factor is Var(error at lead h) / Var(one-step error) under the model, so the upper bound is
    point + resid_quantile * sqrt(factor) (residual-based interval).
    """
    leads = np.asarray(leads, dtype=np.int64)
    step, m = state.step_seconds, max(state.season_points, 1)
    first_index = round(state.last_time / step)
    phases = (first_index + leads) % m
    season = np.asarray(state.season) if state.season else np.zeros(m)
    if state.model == HOLT_WINTERS:
        alpha, beta, gamma, phi = (state.params[k] for k in ("alpha", "beta", "gamma", "phi"))
        top = int(leads.max()) if leads.size else 0
        powers = phi ** np.arange(1, top + 1)
        phi_sums = np.r_[0.0, np.cumsum(powers)]  # phi_sums[h] = phi + ... + phi^h
        point = state.level + phi_sums[leads] * state.trend + season[phases]
        # ETS(A,Ad,A): c_j = alpha (1 + beta phi_j) + gamma [j mod m == 0]; Var_h = s2 (1 + sum_{j<h} c_j^2)
        j = np.arange(1, top + 1)
        c = alpha * (1 + beta * phi_sums[1:]) + gamma * ((j % m) == 0) * (m > 1)
        cum = np.r_[0.0, np.cumsum(c**2)]
        factor = 1.0 + cum[np.maximum(leads - 1, 0)]
        return point, factor
    if state.model == SARIMAX:
        phi1, phi2 = state.params["ar1"], state.params["ar2"]
        top = int(leads.max()) if leads.size else 0
        u1, u2 = state.ar_state
        future_u = np.empty(top + 1)
        psi = np.empty(top + 1)  # MA(infinity) weights of the AR(2) errors
        future_u[0], psi[0] = u1, 1.0
        for h in range(1, top + 1):
            u1, u2 = phi1 * u1 + phi2 * u2, u1
            future_u[h] = u1
            psi[h] = phi1 * psi[h - 1] + (phi2 * psi[h - 2] if h >= 2 else 0.0)
        times = (first_index + leads) * float(step)
        point = fourier_features(times, state.seasonality) @ np.asarray(state.beta) + future_u[leads]
        cum = np.cumsum(psi**2)
        factor = cum[np.maximum(leads - 1, 0)]
        return point, factor
    if state.model == SEASONAL_NAIVE:
        # Errors of "same bin last season" do not grow with the lead (up to one season).
        return season[phases], np.ones(leads.shape[0])
    raise ValueError(f"forecast state: unknown model {state.model!r}")


def to_log(values: np.ndarray, offset: float) -> np.ndarray:
    return np.log(np.maximum(values, 0.0) + offset)


def from_log(z: np.ndarray, offset: float) -> np.ndarray:
    return np.maximum(np.exp(z) - offset, 0.0)


# --- fitting: one model on a gap-free log-space history -------------------------------------------


def _robust_scale(errors: np.ndarray) -> float:
    e = errors[np.isfinite(errors)]
    if e.size == 0:
        return 0.0
    return float(max(1.4826 * np.median(np.abs(e - np.median(e))), 1e-6))


def _new_state(
    model: str,
    seasonality: str,
    m: int,
    step: int,
    offset: float,
    start: float,
    quantile: float,
    now: float,
    **kw: Any,
) -> ForecastState:
    return ForecastState(
        model=model,
        seasonality=seasonality,
        season_points=m,
        step_seconds=step,
        offset=offset,
        last_time=start - step,
        fitted_at=now,
        quantile=quantile,
        resid_quantile=0.0,
        resid_scale=0.0,
        **kw,
    )


def fit_model(
    model: str,
    z: np.ndarray,
    *,
    start: float,
    step_seconds: int,
    seasonality: str,
    quantile: float,
    offset: float,
    now: float,
) -> tuple[ForecastState, np.ndarray, np.ndarray]:
    """Fit `model` on gap-free log-space bins `z` starting at `start`; return the state after the last
    bin, the in-sample one-step errors (after a burn-in of one season) and the times of their bins."""
    m = int(SEASON_SECONDS[seasonality] // step_seconds) if SEASON_SECONDS[seasonality] else 1
    if model == HOLT_WINTERS:
        state = _fit_holt_winters(z, start, step_seconds, seasonality, m, quantile, offset, now)
    elif model == SARIMAX:
        state = _fit_sarimax(z, start, step_seconds, seasonality, m, quantile, offset, now)
    elif model == SEASONAL_NAIVE:
        state = _new_state(SEASONAL_NAIVE, seasonality, m, step_seconds, offset, start, quantile, now)
        first = z[:m] if z.shape[0] >= m else np.r_[z, np.full(m - z.shape[0], z.mean())]
        state.season = [0.0] * m
        for i, value in enumerate(first):  # seed the ring buffer with the first season
            state.season[(round(start / step_seconds) + i) % m] = float(value)
        # The naive model is "fitted" by its first season; errors are measured from the second on.
        state.last_time = start + (min(m, z.shape[0]) - 1) * step_seconds
        errors, _ = advance(state, z[m:])
        times = start + step_seconds * np.arange(m, z.shape[0], dtype=float)
        return set_residual_quantiles(state, errors, times), errors, times
    else:
        raise ValueError(f"spec.autoscaling.predictive.model: unknown model {model!r}")
    errors, _ = advance(state, z)
    burn = m if m > 1 else min(12, z.shape[0] // 4)
    times = start + step_seconds * np.arange(burn, z.shape[0], dtype=float)
    return set_residual_quantiles(state, errors[burn:], times), errors[burn:], times


# Hourly quantiles are shrunk towards the overall one with this many pseudo-observations, so an hour
# with few errors does not get a noisy band.
HOURLY_SHRINKAGE = 20


def set_residual_quantiles(state: ForecastState, errors: np.ndarray, times: np.ndarray) -> ForecastState:
    """Set the interval width (overall and per UTC hour of day) and the clipping scale from one-step
    errors made at `times` (log space). Negative quantiles are floored at 0: the upper bound never
    sits below the point forecast."""
    ok = np.isfinite(errors)
    e, t = errors[ok], times[ok]
    state.resid_scale = _robust_scale(e)
    overall = float(max(np.quantile(e, state.quantile), 0.0)) if e.size else 0.0
    state.resid_quantile = overall
    state.hourly_quantiles = []
    if state.season_points > 1 and e.size >= 24 * HOURLY_SHRINKAGE:
        hours = ((t % 86400) // 3600).astype(int)
        hourly = []
        for hour in range(24):
            bucket = e[hours == hour]
            q = float(np.quantile(bucket, state.quantile)) if bucket.size else overall
            shrunk = (bucket.size * q + HOURLY_SHRINKAGE * overall) / (bucket.size + HOURLY_SHRINKAGE)
            hourly.append(max(shrunk, 0.0))
        state.hourly_quantiles = hourly
    return state


def residual_quantile_at(state: ForecastState, times: np.ndarray) -> np.ndarray:
    """The one-step error quantile that applies to bins starting at `times`."""
    if len(state.hourly_quantiles) == 24:
        return np.asarray(state.hourly_quantiles)[((np.asarray(times) % 86400) // 3600).astype(int)]
    return np.full(np.shape(times), state.resid_quantile)


def _fit_holt_winters(
    z: np.ndarray,
    start: float,
    step: int,
    seasonality: str,
    m: int,
    quantile: float,
    offset: float,
    now: float,
) -> ForecastState:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonal = m > 1
    # Initial components from the first season (or first bins): "known" initialisation means the
    # optimiser only searches the 4 smoothing parameters, not 288 initial seasonal values.
    head = z[:m] if seasonal else z[: min(12, z.shape[0])]
    level0 = float(np.mean(head))
    init: dict[str, Any] = {"initialization_method": "known", "initial_level": level0, "initial_trend": 0.0}
    if seasonal:
        init["initial_seasonal"] = head - level0
    hw = ExponentialSmoothing(
        z,
        trend="add",
        damped_trend=True,
        seasonal="add" if seasonal else None,
        seasonal_periods=m if seasonal else None,
        **init,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; the backtest judges the result
        fit = hw.fit(use_brute=False)  # the brute-force start grid triples the cost for the same SSE
    p = fit.params
    params = {
        "alpha": float(p["smoothing_level"]),
        "beta": float(p.get("smoothing_trend") or 0.0),
        "gamma": float(p.get("smoothing_seasonal") or 0.0) if seasonal else 0.0,
        "phi": float(p.get("damping_trend") or 1.0),
    }
    # statsmodels' smoothing_trend is beta* (b_t = beta*(l_t - l_t-1) + (1 - beta*) phi b_t-1).
    state = _new_state(
        HOLT_WINTERS,
        seasonality,
        m,
        step,
        offset,
        start,
        quantile,
        now,
        params=params,
        level=level0,
        trend=0.0,
    )
    season = [0.0] * m
    if seasonal:
        base = round(start / step)
        for i in range(m):
            season[(base + i) % m] = float(head[i] - level0)
    state.season = season
    return state


def _fit_sarimax(
    z: np.ndarray,
    start: float,
    step: int,
    seasonality: str,
    m: int,
    quantile: float,
    offset: float,
    now: float,
) -> ForecastState:
    """Regression on Fourier terms with AR(2) errors, i.e. SARIMAX(2,0,0) with exogenous harmonics.

    Estimated in two stages — OLS for the harmonics, then statsmodels' Burg estimator for the AR(2)
    errors — because exact state-space MLE costs about 1 s per series, 10x the whole budget.
    """
    from statsmodels.regression.linear_model import burg

    times = start + step * np.arange(z.shape[0], dtype=float)
    design = fourier_features(times, seasonality)
    coef, *_ = np.linalg.lstsq(design, z, rcond=None)
    resid = z - design @ coef
    ar, _sigma2 = burg(resid, order=2, demean=False)
    phi1, phi2 = float(ar[0]), float(ar[1])
    # Keep the AR part stationary (Burg should, rounding may not).
    if not (phi2 + phi1 < 1 and phi2 - phi1 < 1 and abs(phi2) < 1):
        phi1, phi2 = min(max(phi1, -0.99), 0.99), 0.0
    return _new_state(
        SARIMAX,
        seasonality,
        m,
        step,
        offset,
        start,
        quantile,
        now,
        params={"ar1": phi1, "ar2": phi2},
        beta=[float(c) for c in coef],
        ar_state=[0.0, 0.0],
    )


# --- the cheap cycle ------------------------------------------------------------------------------

# A state this far behind `now` is not advanced through the void: forecasting from it is refused by
# the planner anyway (data too old), and the loop would cost time.
MAX_FORECAST_STEPS = 4 * 2016


def forecast(
    state: ForecastState,
    series_since_fit: Any,
    *,
    now: float,
    horizon_seconds: float,
    step_seconds: int | None = None,
) -> Forecast:
    """Cheap update: fold the bins of `series_since_fit` newer than `state.last_time`, then forecast.

    `series_since_fit` is a :class:`~modelserve.forecasting.series.Series` on the state's step (bins
    at or before `state.last_time` are ignored, so passing the whole history is fine, just slower).
    Missing bins between the state and the new data count as gaps; trailing NaN bins are left for the
    next cycle. The forecast covers every bin from the end of the data to `now + horizon_seconds`.
    The input state is not modified; the advanced one is `Forecast.state`.
    """
    step = state.step_seconds
    if step_seconds is not None and step_seconds != step:
        raise ValueError(f"step_seconds: the state was fitted on {step}s steps, not {step_seconds}s")
    if series_since_fit.step_seconds != step:
        raise ValueError(
            f"series_since_fit: step is {series_since_fit.step_seconds}s, the state's is {step}s"
        )
    advanced = state.copy()
    new = series_since_fit.after(state.last_time)
    values = new.values
    finite = np.flatnonzero(np.isfinite(values))
    if finite.size:
        values = values[: finite[-1] + 1]
        gap = round((new.start - state.last_time) / step) - 1
        if gap > MAX_FORECAST_STEPS:  # data resumed after a long outage: restart from it
            advanced.last_time = new.start - step
            gap = 0
        z = np.r_[np.full(max(gap, 0), np.nan), to_log(values, state.offset)]
        advance(advanced, z)
    steps = math.ceil((now + horizon_seconds - advanced.last_time) / step)
    steps = min(max(steps, 1), MAX_FORECAST_STEPS)
    leads = np.arange(1, steps + 1)
    z_point, factor = predict(advanced, leads)
    times = advanced.last_time + leads * float(step)
    width = residual_quantile_at(advanced, times) * np.sqrt(factor)
    point = from_log(z_point, state.offset)
    upper = from_log(z_point + width, state.offset)
    planned = from_log(
        z_point + planned_width(width, point, state.offset, state.dispersion, state.quantile), state.offset
    )
    return Forecast(
        times=times,
        point=point,
        upper=upper,
        quantile=state.quantile,
        model=state.model,
        step_seconds=step,
        data_end=advanced.last_time + step,
        state=advanced,
        burst=np.maximum(planned - upper, 0.0),
    )
