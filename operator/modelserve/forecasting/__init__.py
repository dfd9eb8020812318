"""Predictive autoscaling core: clean demand history, forecast it, plan the HPA's minReplicas floor.

Pure (no I/O). The operator's cycle per ModelDeployment (and per region, one series each):

    series = clean_series(timestamps, values, is_counter=False, step_seconds=300)
    state = fit_forecaster(series, model=..., seasonality=..., min_history_seconds=..., quantile=...)
        # every refitInterval; an InsufficientHistory instead of a state leaves the HPA reactive
    fc = forecast(state, series_since_fit, now=now, horizon_seconds=params.effective_horizon_seconds)
        # every planning step (cheap); keep fc.state for the next step
    decision = plan_floor(fc, current_floor, live_demand, params, now, last_raised_at=...)

`demand` builds the demand query and turns its samples into a Series (the operator and
`kubectl modelserve forecast` share it); `cycle` holds the operator's per-step decisions (settings
from spec, when to refit, the floor handed to the planner and its status). `hpa_sim` simulates the
Kubernetes HPA for the benchmark and the tests.
"""

from .floor import (
    HPA_SYNC_SECONDS,
    REASON_FORECAST_PEAK,
    REASON_GRADUAL_DESCENT,
    REASON_HOLD_AFTER_RAISE,
    REASON_INSUFFICIENT_HISTORY,
    REASON_LIVE_DEMAND,
    REASON_MAX_REPLICAS,
    REASON_MIN_REPLICAS,
    REASON_NO_FORECAST,
    REASON_STALE_DATA,
    FloorDecision,
    FloorParams,
    plan_floor,
    replicas_for,
)
from .hpa_sim import HpaBehavior, HpaSimulator, replicas_for_metric
from .models import (
    DAILY,
    HOLT_WINTERS,
    NO_SEASON,
    SARIMAX,
    SEASONAL_NAIVE,
    WEEKLY,
    Forecast,
    ForecastState,
    forecast,
)
from .selection import AUTO, InsufficientHistory, detect_seasonality, fit_forecaster, smape
from .series import Series, clean_series

__all__ = [
    "AUTO",
    "DAILY",
    "HOLT_WINTERS",
    "HPA_SYNC_SECONDS",
    "NO_SEASON",
    "REASON_FORECAST_PEAK",
    "REASON_GRADUAL_DESCENT",
    "REASON_HOLD_AFTER_RAISE",
    "REASON_INSUFFICIENT_HISTORY",
    "REASON_LIVE_DEMAND",
    "REASON_MAX_REPLICAS",
    "REASON_MIN_REPLICAS",
    "REASON_NO_FORECAST",
    "REASON_STALE_DATA",
    "SARIMAX",
    "SEASONAL_NAIVE",
    "WEEKLY",
    "FloorDecision",
    "FloorParams",
    "Forecast",
    "ForecastState",
    "HpaBehavior",
    "HpaSimulator",
    "InsufficientHistory",
    "Series",
    "clean_series",
    "detect_seasonality",
    "fit_forecaster",
    "forecast",
    "plan_floor",
    "replicas_for",
    "replicas_for_metric",
    "smape",
]
