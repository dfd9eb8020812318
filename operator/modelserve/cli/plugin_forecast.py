"""`kubectl modelserve forecast --prometheus-url ... --plot FILE.png`: demand history, forecast, floor.

The operator's status already says what it forecast (status.autoscaling); this module only adds a
picture of it for a human. It fetches the demand history with the ModelDeployment's demand query,
fits the same forecaster the operator uses (`modelserve.forecasting`: clean_series, fit_forecaster,
forecast) and draws history, point forecast, prediction interval and the floor from status. The fit
here is for the plot only; it never feeds back into the cluster.

The demand query, its 5-minute grid and the placement of its samples are the operator's own
(modelserve.forecasting.demand), so the picture shows the history the operator fits.

`fetch_demand` does the HTTP; everything else is pure apart from writing the PNG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelserve.api.durations import parse_duration
from modelserve.forecasting import InsufficientHistory, demand, fit_forecaster, forecast
from modelserve.metrics_source import MetricsError, PrometheusQuery
from modelserve.runtimes import builtin_catalogue, requests_series

DEFAULT_PLOT_HORIZON = "1d"
HTTP_TIMEOUT_SECONDS = 30


class ForecastError(Exception):
    """The forecast could not be drawn (no data, Prometheus error)."""


def demand_query(md: Mapping[str, Any]) -> str:
    """The ModelDeployment's demand query, as the operator builds it (forecasting.demand): the model's
    total demand, over all its regions (a plot of one series, where the operator fits one per region
    under a placement)."""
    meta = md.get("metadata") or {}
    namespace, name = str(meta.get("namespace") or "default"), str(meta.get("name") or "")
    spec = md.get("spec") or {}
    predictive = (spec.get("autoscaling") or {}).get("predictive") or {}
    model, runtime = spec.get("model") or {}, spec.get("runtime") or {}
    requests = requests_series(
        builtin_catalogue(), runtime.get("name"), str(model.get("format") or "custom"), runtime.get("image")
    )
    return demand.demand_query(namespace, name, predictive.get("query") or None, requests=requests)


def fetch_demand(
    url: str, query: str, start: float, end: float, *, client: PrometheusQuery | None = None
) -> tuple[list[float], list[float]]:
    """Range query `query` over [start, end] (epoch seconds) against Prometheus at `url` with the
    operator's own client, on the operator's grid (demand.STEP_SECONDS, aligned to the epoch; several
    requests when the span exceeds what Prometheus accepts in one). Several series are summed per
    time; NaN samples are dropped. Raises ForecastError when Prometheus cannot answer."""
    span = demand.aligned_range(start, end)
    if span is None:
        return [], []
    prometheus = client or PrometheusQuery(url, timeout_seconds=HTTP_TIMEOUT_SECONDS)
    totals: dict[float, float] = {}
    try:
        for first, last in demand.split_range(*span):
            for _, points in prometheus.range(query, first, last, demand.STEP_SECONDS):
                for ts, value in points:
                    if math.isfinite(value):
                        totals[ts] = totals.get(ts, 0.0) + value
    except MetricsError as exc:
        raise ForecastError(f"Prometheus at {url}: {exc}") from exc
    times = sorted(totals)
    return times, [totals[t] for t in times]


@dataclass(frozen=True)
class ForecastSettings:
    """The predictive settings the plot uses (the operator's, from spec, with the CRD's defaults)."""

    history_seconds: float
    min_history_seconds: float
    model: str
    seasonality: str
    quantile: float
    horizon_seconds: float


def forecast_settings(md: Mapping[str, Any], plot_horizon: str = DEFAULT_PLOT_HORIZON) -> ForecastSettings:
    """spec.autoscaling.predictive (defaults per docs/api.md) and the plot's horizon in."""
    predictive = ((md.get("spec") or {}).get("autoscaling") or {}).get("predictive") or {}
    path = "spec.autoscaling.predictive"
    return ForecastSettings(
        history_seconds=parse_duration(str(predictive.get("history") or "7d"), field=f"{path}.history"),
        min_history_seconds=parse_duration(
            str(predictive.get("minHistory") or "2d"), field=f"{path}.minHistory"
        ),
        model=str(predictive.get("model") or "auto"),
        seasonality=str(predictive.get("seasonality") or "auto"),
        quantile=_quantile(md, predictive),
        horizon_seconds=parse_duration(plot_horizon, field="--horizon"),
    )


def _quantile(md: Mapping[str, Any], predictive: Mapping[str, Any]) -> float:
    """The quantile the operator plans on: the spec's, else the self-tuning's (status), else 0.75."""
    if predictive.get("quantile") is not None:
        return float(predictive["quantile"])
    tuning = (((md.get("status") or {}).get("autoscaling")) or {}).get("tuning") or {}
    return float(tuning.get("quantile") or 0.75)


@dataclass
class ForecastPicture:
    """What the plot shows: the cleaned history, the forecast (None with too little history) and why."""

    history_times: list[float]
    history_values: list[float]
    forecast_times: list[float]
    forecast_point: list[float]
    forecast_upper: list[float]
    quantile: float
    model: str | None
    message: str


def fit_picture(
    times: Sequence[float], values: Sequence[float], settings: ForecastSettings, now: float
) -> ForecastPicture:
    """Demand samples (range-query evaluation times and values) in, cleaned history + forecast out,
    with the operator's forecasting module. Raises ForecastError when there are no samples.
    """
    if not times:
        raise ForecastError("the demand query returned no samples")
    series = demand.series_from_points(list(zip(times, values, strict=True)))
    history_times = [float(t) for t in series.times]
    history_values = [float(v) for v in series.values]
    state = fit_forecaster(
        series,
        model=settings.model,
        seasonality=settings.seasonality,
        min_history_seconds=settings.min_history_seconds,
        quantile=settings.quantile,
        horizon_seconds=min(settings.horizon_seconds, 3600.0),
        now=now,
    )
    if isinstance(state, InsufficientHistory):
        return ForecastPicture(
            history_times, history_values, [], [], [], settings.quantile, None, state.message
        )
    fc = forecast(state, series, now=now, horizon_seconds=settings.horizon_seconds)
    error = f", backtest sMAPE {state.backtest_error}%" if state.backtest_error is not None else ""
    return ForecastPicture(
        history_times,
        history_values,
        [float(t) for t in fc.times],
        [float(v) for v in fc.point],
        [float(v) for v in fc.upper],
        fc.quantile,
        fc.model,
        f"{fc.model}{error}",
    )


def floor_capacity(md: Mapping[str, Any], floor: int | None) -> float | None:
    """The demand the floor can serve, in the demand query's unit, when the target says (requests per
    second per replica); None otherwise (the floor is then drawn in replicas on a second axis)."""
    if floor is None:
        return None
    target = (((md.get("spec") or {}).get("autoscaling") or {}).get("target")) or {}
    if target.get("metric") == "requestsPerSecond" and target.get("averageValue"):
        return float(floor) * float(target["averageValue"])
    return None


def plot_picture(
    path: str, picture: ForecastPicture, *, title: str, floor: int | None, floor_demand: float | None
) -> None:
    """Draw history, forecast, prediction interval and the floor into `path` (PNG, matplotlib Agg)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ForecastError("--plot needs matplotlib: pip install 'modelserve[plot]'") from exc
    from datetime import UTC, datetime

    def dates(ts: Sequence[float]) -> Any:  # matplotlib takes datetimes; its stubs say floats
        return [datetime.fromtimestamp(t, UTC) for t in ts]

    fig, ax = plt.subplots(figsize=(11, 4.5), dpi=110)
    try:
        ax.plot(dates(picture.history_times), picture.history_values, color="#4c72b0", lw=1.0, label="demand")
        if picture.forecast_times:
            ft = dates(picture.forecast_times)
            ax.fill_between(
                ft,
                picture.forecast_point,
                picture.forecast_upper,
                color="#dd8452",
                alpha=0.25,
                label=f"prediction interval (to q{picture.quantile:g})",
            )
            ax.plot(ft, picture.forecast_point, color="#dd8452", lw=1.4, label=f"forecast ({picture.model})")
            ax.plot(ft, picture.forecast_upper, color="#dd8452", lw=0.8, ls="--")
        everything = picture.history_times + picture.forecast_times
        if floor is not None and everything:
            span = dates([min(everything), max(everything)])
            if floor_demand is not None:
                ax.plot(
                    span,
                    [floor_demand, floor_demand],
                    color="#55a868",
                    lw=1.4,
                    label=f"floor now: {floor} replicas = {floor_demand:g} at the target per replica",
                )
            else:
                twin = ax.twinx()
                twin.plot(span, [floor, floor], color="#55a868", lw=1.4, label=f"floor now: {floor} replicas")
                twin.set_ylabel("replicas")
                twin.set_ylim(bottom=0, top=max(floor * 1.5, 1))
                twin.legend(loc="upper right")
        ax.set_title(title + ("" if picture.forecast_times else f" ({picture.message})"))
        ax.set_ylabel("demand")
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left")
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
