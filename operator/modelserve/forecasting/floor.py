"""The predictive floor: a forecast in, the HPA's minReplicas out (pure).

    floor = clamp(ceil(max over [now, now + horizon] of (upper-quantile forecast + burst allowance)
                       / target x (1 + headroom)), minReplicas, maxReplicas)

(the burst allowance covers the minute-to-minute noise inside a forecast's 5-minute bins; see
`burst`), with four rules on top:

- **Lead time.** A pod asked for at `now` serves at `now + startupSeconds + one HPA sync (15 s)`, and
  the floor decided now stays until the next planning step's floor takes effect, so the look-ahead
  is never shorter than lead + planning interval (default horizon: that, at least 5 minutes).
- **Live demand.** The floor never drops below what the demand measured right now needs
  (`ceil(live / target)`): a forecast that misses a surge must not take capacity away from it.
- **Gradual descent.** It falls at most `scaleDownPercentPerStep` percent of its value per planning
  step (at least one replica), so a forecast that dips early does not drop a fleet at once.
- **Hold after raise (hysteresis).** After the floor rises it is not lowered for `hold_seconds`
  (default 5 minutes, the HPA's own scale-down stabilization window): raise and fall from noise in
  consecutive steps would otherwise flap the Deployment. Raises are never delayed.

The user's `minReplicas` / `maxReplicas` always win. With no usable forecast (missing or stale data)
the current floor is kept and the reason says why; with too little history the floor is
`minReplicas`, i.e. the HPA stays purely reactive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .models import Forecast
from .selection import InsufficientHistory

HPA_SYNC_SECONDS = 15
MIN_DEFAULT_HORIZON_SECONDS = 300

# FloorDecision.reason values (CamelCase, as Kubernetes condition reasons).
REASON_FORECAST_PEAK = "ForecastPeak"
REASON_LIVE_DEMAND = "LiveDemand"
REASON_HOLD_AFTER_RAISE = "HoldAfterRaise"
REASON_GRADUAL_DESCENT = "GradualDescent"
REASON_MIN_REPLICAS = "MinReplicas"
REASON_MAX_REPLICAS = "MaxReplicas"
REASON_NO_FORECAST = "NoForecast"
REASON_STALE_DATA = "StaleData"
REASON_INSUFFICIENT_HISTORY = "InsufficientHistory"


@dataclass(frozen=True)
class FloorParams:
    """The planner's knobs, from spec.autoscaling (+ predictive) and spec.runtime.startupSeconds.

    `target_per_replica` is the demand one replica should carry (the HPA target's averageValue, in
    the same unit as the forecast). `horizon_seconds=None` means the default lead-based horizon.
    """

    min_replicas: int
    max_replicas: int
    target_per_replica: float
    headroom_percent: float = 5.0
    startup_seconds: float = 60.0
    scale_down_percent_per_step: float = 10.0
    horizon_seconds: float | None = None
    hold_seconds: float = 300.0
    max_data_age_seconds: float = 900.0
    planning_interval_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.target_per_replica <= 0:
            raise ValueError("spec.autoscaling.target.averageValue: must be > 0 for a predictive floor")
        if self.max_replicas < self.min_replicas:
            raise ValueError("spec.autoscaling.maxReplicas: must be >= minReplicas")

    @property
    def lead_seconds(self) -> float:
        """How long before time t a floor must be set for pods to be Ready at t."""
        return self.startup_seconds + HPA_SYNC_SECONDS

    @property
    def effective_horizon_seconds(self) -> float:
        """The look-ahead: the floor set now is the only one in force over [now + lead, now + planning
        interval + lead], so the window reaches at least that far."""
        needed = self.lead_seconds + self.planning_interval_seconds
        default = max(needed, MIN_DEFAULT_HORIZON_SECONDS)
        horizon = default if self.horizon_seconds is None else self.horizon_seconds
        return max(horizon, needed)


@dataclass(frozen=True)
class FloorDecision:
    """The floor to set as the HPA's minReplicas and why.

    `peak` / `peak_time`: the upper-quantile forecast in the bin of the look-ahead window that needs
    the most capacity, and the start of that bin (None when there was no forecast); `burst`: the
    burst allowance planned on top of `peak` there. `last_raised_at`: keep it and pass it back next
    time (the hold rule needs it).
    """

    floor: int
    reason: str
    message: str
    peak: float | None = None
    peak_time: float | None = None
    last_raised_at: float | None = None
    burst: float | None = None


def replicas_for(demand: float, target_per_replica: float, headroom_percent: float = 0.0) -> int:
    """ceil(demand / target x (1 + headroom)), tolerant of float noise (10.0000001 -> 10)."""
    need = demand / target_per_replica * (1 + headroom_percent / 100.0)
    return max(0, math.ceil(need - 1e-9))


def _clamp(value: int, params: FloorParams) -> tuple[int, str | None]:
    """``value`` within [minReplicas, maxReplicas], and the reason when it had to be moved."""
    if value < params.min_replicas:
        return params.min_replicas, REASON_MIN_REPLICAS
    if value > params.max_replicas:
        return params.max_replicas, REASON_MAX_REPLICAS
    return value, None


@dataclass(frozen=True)
class _Peak:
    """The forecast's highest planned demand over the horizon: ``need`` (with the burst allowance),
    the upper quantile ``peak`` at ``peak_time``."""

    need: float
    peak: float
    peak_time: float


def _forecast_peak(forecast: Forecast, params: FloorParams, now: float) -> _Peak | str:
    """The peak over [now, now + horizon], or why the forecast cannot say (stale, short, gaps)."""
    age = now - forecast.data_end
    if age > params.max_data_age_seconds:
        return (
            f"newest demand data is {age:.0f}s old (limit "
            f"{params.max_data_age_seconds:.0f}s); keeping the current floor"
        )
    horizon = params.effective_horizon_seconds
    times = np.asarray(forecast.times, dtype=float)
    upper = np.asarray(forecast.upper, dtype=float)
    planned = np.asarray(forecast.planned, dtype=float)
    # Bins that overlap [now, now + horizon].
    in_window = (times < now + horizon) & (times + forecast.step_seconds > now)
    if not in_window.any() or times[in_window].max() + forecast.step_seconds < now + horizon:
        return f"forecast does not reach now + {horizon:.0f}s; keeping the current floor"
    window = planned[in_window]
    if not np.all(np.isfinite(window)):
        return "forecast has missing values; keeping the current floor"
    peak_index = int(np.argmax(window))
    return _Peak(
        need=float(window[peak_index]),
        peak=float(upper[in_window][peak_index]),
        peak_time=float(times[in_window][peak_index]),
    )


def _next_floor(
    current: int, wanted: int, params: FloorParams, now: float, last_raised_at: float | None
) -> tuple[int, str | None, str, float | None]:
    """Raise at once; hold after a raise; then descend by at most scaleDownPercentPerStep.

    Returns (floor, reason when it is not the wanted floor, message suffix, time of the last raise)."""
    if wanted >= current:
        return wanted, None, "", now if wanted > current else last_raised_at
    if last_raised_at is not None and now - last_raised_at < params.hold_seconds:
        left = params.hold_seconds - (now - last_raised_at)
        message = f"; holding {current} for {left:.0f}s after the last raise"
        return current, REASON_HOLD_AFTER_RAISE, message, last_raised_at
    drop = max(1, math.floor(current * params.scale_down_percent_per_step / 100.0))
    floor = max(wanted, current - drop)
    if floor > wanted:
        message = f"; descending gradually {current} -> {floor} (at most {drop} per step)"
        return floor, REASON_GRADUAL_DESCENT, message, last_raised_at
    return floor, None, "", last_raised_at


def plan_floor(
    forecast: Forecast | InsufficientHistory | None,
    current_floor: int | None,
    live_demand: float | None,
    params: FloorParams,
    now: float,
    *,
    last_raised_at: float | None = None,
) -> FloorDecision:
    """Forecast + current floor + live demand + clock in, the next floor out. See the module doc.

    Stages: a forecast to use (else keep the floor); its peak over the horizon; replicas for the peak
    and for live demand; the step from the current floor (raise, hold, descend); the clamp."""

    def keep(reason: str, message: str) -> FloorDecision:
        base = params.min_replicas if current_floor is None else current_floor
        floor, clamped = _clamp(base, params)
        if clamped:
            message += f"; floor clamped to {clamped} {floor}"
        return FloorDecision(floor, reason, message, last_raised_at=last_raised_at)

    if isinstance(forecast, InsufficientHistory):
        return FloorDecision(
            params.min_replicas,
            REASON_INSUFFICIENT_HISTORY,
            f"{forecast.message}; the HPA stays reactive",
            last_raised_at=last_raised_at,
        )
    if forecast is None:
        return keep(REASON_NO_FORECAST, "no forecast available; keeping the current floor")
    peak = _forecast_peak(forecast, params, now)
    if isinstance(peak, str):
        stale = now - forecast.data_end > params.max_data_age_seconds
        return keep(REASON_STALE_DATA if stale else REASON_NO_FORECAST, peak)
    burst = peak.need - peak.peak

    from_forecast = replicas_for(peak.need, params.target_per_replica, params.headroom_percent)
    live_ok = live_demand is not None and math.isfinite(live_demand)
    from_live = replicas_for(live_demand, params.target_per_replica) if live_ok else 0  # type: ignore[arg-type]
    wanted = max(from_forecast, from_live)
    reason = REASON_LIVE_DEMAND if from_live > from_forecast else REASON_FORECAST_PEAK
    allowance = f" + burst allowance {burst:.3g}" if burst > 0 else ""
    message = (
        f"q{forecast.quantile:g} forecast peak {peak.peak:.4g}{allowance} in the next "
        f"{params.effective_horizon_seconds:.0f}s -> {from_forecast} replicas "
        f"(headroom {params.headroom_percent:g}%)"
    )
    if live_ok:
        message += f"; live demand {live_demand:.4g} needs {from_live}"

    current = params.min_replicas if current_floor is None else current_floor
    floor, step_reason, step_message, raised_at = _next_floor(current, wanted, params, now, last_raised_at)
    reason, message = step_reason or reason, message + step_message
    clamped_floor, clamped = _clamp(floor, params)
    if clamped:
        reason = clamped
        message += f"; clamped to {clamped} {clamped_floor}"
    return FloorDecision(
        clamped_floor,
        reason,
        message,
        peak=peak.peak,
        peak_time=peak.peak_time,
        last_raised_at=raised_at,
        burst=burst,
    )
