"""The one Prometheus client (metrics_source.PrometheusQuery): subqueries and result shapes."""

from __future__ import annotations

from typing import Any

import pytest
from modelserve.metrics_source import MetricsUnavailable, PrometheusQuery, UnexpectedResult, parse_matrix


class Backend:
    """Answers every instant query with ``answer`` (raised when it is an exception)."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict | None]] = []

    def custom_query(self, query: str, params: dict | None = None, timeout: Any = None) -> Any:
        self.calls.append((query, params))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer

    def custom_query_range(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - not used here
        raise AssertionError("no range queries here")


MATRIX = [{"metric": {"le": "0.1"}, "values": [[1700000000, "3"], [1700000060, "NaN"]]}]


def test_matrix_returns_a_subquerys_series_with_labels() -> None:
    backend = Backend(MATRIX)
    series = PrometheusQuery("", backend=backend, timeout_seconds=5).matrix(
        "sum(x[1m])[2m:1m]", time=1700000100
    )
    assert series[0][0] == {"le": "0.1"}
    assert series[0][1][0] == (1700000000.0, 3.0)
    assert series[0][1][1][1] != series[0][1][1][1]  # NaN kept; callers decide
    assert backend.calls == [("sum(x[1m])[2m:1m]", {"timeout": "5s", "time": "1700000100.000"})]


def test_matrix_rejects_an_instant_vector_and_maps_outages() -> None:
    with pytest.raises(UnexpectedResult, match="range vector"):
        PrometheusQuery("", backend=Backend([{"metric": {}, "value": [1, "1"]}])).matrix("q")
    with pytest.raises(MetricsUnavailable, match="ConnectionError"):
        PrometheusQuery("", backend=Backend(ConnectionError("refused"))).matrix("q")


@pytest.mark.parametrize("point", [[1], "x", [1, 2, 3], [1, "abc"]])
def test_malformed_points_are_unexpected_results(point: Any) -> None:
    with pytest.raises(UnexpectedResult):
        parse_matrix([{"metric": {}, "values": [point]}], "q")
