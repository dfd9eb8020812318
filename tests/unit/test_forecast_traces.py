"""Forecasting slices of the real traces in ../shared/traces (skipped when the folder is absent)."""

from pathlib import Path

import numpy as np
import pytest
from modelserve.forecasting import ForecastState, clean_series, fit_forecaster, forecast, smape

REPO = Path(__file__).resolve().parents[2]
TRACES = REPO / ".." / "shared" / "traces"
NASA_5MIN = TRACES / "nasa_http_1995jul_5min.csv"

pytestmark = pytest.mark.skipif(
    not NASA_5MIN.exists(), reason=f"trace {NASA_5MIN} not found (the traces live outside the repo)"
)


def read_slice(path: Path, first_row: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    with open(path) as handle:
        lines = handle.read().splitlines()[1 + first_row : 1 + first_row + rows]
    stamps = np.array([line.split(",")[0].rstrip("Z") for line in lines], dtype="datetime64[s]")
    counts = np.array([float(line.split(",")[1]) for line in lines])
    return stamps.astype(np.int64).astype(float), counts / 300.0  # requests per second


@pytest.mark.parametrize("first_day", [0, 10])
def test_three_days_of_nasa_fit_and_forecast_the_next_six_hours(first_day):
    t, y = read_slice(NASA_5MIN, first_day * 288, 3 * 288 + 72)
    fit_t, fit_y = t[: 3 * 288], y[: 3 * 288]
    state = fit_forecaster(clean_series(fit_t, fit_y), horizon_seconds=900)
    assert isinstance(state, ForecastState)
    assert state.seasonality == "daily"
    assert state.backtest_error is not None and state.backtest_error < 40
    predictions = []
    for i in range(72):  # 6 hours of 5-minute planning steps, one new bin each
        fc = forecast(
            state,
            clean_series(t[3 * 288 + i - 1 : 3 * 288 + i], y[3 * 288 + i - 1 : 3 * 288 + i]),
            now=t[3 * 288 + i],
            horizon_seconds=300,
        )
        state = fc.state
        predictions.append(fc.point[0])
    # NASA at ~1 request/s is noisy (Poisson alone is ~7 % per 5-min bin); naive persistence scores ~30-50.
    assert smape(y[3 * 288 :], np.array(predictions)) < 35
