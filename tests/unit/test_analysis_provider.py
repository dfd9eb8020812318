"""Unit tests for the Prometheus provider: recorded result shapes, error mapping, fetched samples."""

from __future__ import annotations

import math
from typing import Any

import pytest
import requests
from modelserve.analysis.contract import QueryTarget
from modelserve.analysis.judge import AnalysisCounters, analyse_interval
from modelserve.analysis.providers import MetricProvider, ProviderError, fetch_samples
from modelserve.analysis.providers.prometheus import (
    PrometheusProvider,
    buckets_from_vector,
    points_from_matrix,
)
from modelserve.analysis.samples import HistogramSample, RateSample, ValueSample
from modelserve.analysis.verdict import Verdict
from modelserve.api.gates import AnalysisSpec, GateSpec

TARGET = QueryTarget("prod", "fraud", "cand", "stable")
ERR = GateSpec("error-rate", builtin="errorRate", max=0.01)
P99 = GateSpec("latency-p99", builtin="latencyP99", max_milliseconds=500)
ACC = GateSpec("accuracy", builtin="accuracy", min=0.9)


def vec(value: str, **labels: str) -> dict[str, Any]:
    return {"metric": labels, "value": [1700000000.123, value]}


class FakeClient:
    """Answers by substring of the query; raises if the answer is an exception."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.queries: list[str] = []

    def custom_query(self, query: str, params: dict[str, Any] | None = None, timeout: Any = None) -> Any:
        self.queries.append(query)
        assert params == {"timeout": "10s"} and timeout == 10.0
        for key, answer in self.answers.items():
            if key in query:
                if isinstance(answer, BaseException):
                    raise answer
                return answer
        return []


def scalar(result: Any) -> float | None:
    return PrometheusProvider(client=FakeClient({"q": result})).scalar("q")


def test_scalar_shapes() -> None:
    assert scalar([vec("598.7")]) == 598.7
    assert scalar([]) is None
    assert scalar([vec("NaN")]) is None
    assert scalar([1700000000, "3"]) == 3.0  # scalar result type
    # A result of another shape than asked for is an Error verdict, like an outage.
    with pytest.raises(ProviderError, match="2 series"):
        scalar([vec("1", a="x"), vec("2", a="y")])
    with pytest.raises(ProviderError, match="instant vector"):
        scalar([{"metric": {}, "values": [[1, "1"]]}])
    with pytest.raises(ProviderError, match="non-numeric"):
        scalar([vec("abc")])


def test_buckets_convert_units_and_inf() -> None:
    series = [({"le": "100"}, 10.0), ({"le": "+Inf"}, 30.0), ({"le": "250"}, 20.0), ({"le": "500"}, math.nan)]
    assert buckets_from_vector(series, "q", unit_seconds=0.001) == [
        (0.1, 10.0),
        (math.inf, 30.0),
        (0.25, 20.0),
    ]
    assert buckets_from_vector([], "q") is None
    with pytest.raises(ProviderError, match="'le'"):
        buckets_from_vector([({}, 1.0)], "q")


def test_subquery_points_drop_nan_and_need_one_series() -> None:
    assert points_from_matrix([({}, [(1.0, 2.0), (2.0, math.nan)])], "q") == {1.0: 2.0}
    assert points_from_matrix([], "q") == {}
    with pytest.raises(ProviderError, match="2 series"):
        points_from_matrix([({"a": "x"}, []), ({"a": "y"}, [])], "q")


def test_fetch_rate_sample_rounds_and_defaults_errors_to_zero() -> None:
    client = FakeClient({'code=~"5..|timeout"': [], "modelserve_requests_total": [vec("600.4")]})
    provider = PrometheusProvider(client=client)
    assert isinstance(provider, MetricProvider)
    assert provider.fetch(ERR, TARGET, "cand", 60) == RateSample(errors=0, total=600)
    client = FakeClient({'code=~"5..|timeout"': [vec("30.6")], "modelserve_requests_total": [vec("600")]})
    assert PrometheusProvider(client=client).fetch(ERR, TARGET, "cand", 60) == RateSample(31, 600)


def test_fetch_no_series_is_no_data() -> None:
    provider = PrometheusProvider(client=FakeClient({}))
    assert provider.fetch(ERR, TARGET, "cand", 60) is None
    assert provider.fetch(P99, TARGET, "cand", 60) is None
    assert provider.fetch(ACC, TARGET, "cand", 60) is None


def test_fetch_histogram_and_gauge() -> None:
    client = FakeClient(
        {
            "_bucket": [vec("400", le="0.1"), vec("590", le="0.5"), vec("600", le="+Inf")],
            "modelserve_model_accuracy": [vec("0.93")],
            "modelserve_requests_total": [vec("600")],
        }
    )
    provider = PrometheusProvider(client=client)
    sample = provider.fetch(P99, TARGET, "cand", 60)
    assert isinstance(sample, HistogramSample) and sample.samples == 600
    assert provider.fetch(ACC, TARGET, "cand", 60) == ValueSample(0.93, 600)


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ConnectionError("refused"),
        requests.exceptions.ReadTimeout("slow"),
        ValueError("bad json"),
        KeyError("data"),
    ],
)
def test_failures_map_to_provider_error(exc: Exception) -> None:
    provider = PrometheusProvider(client=FakeClient({"modelserve_requests_total": exc}))
    with pytest.raises(ProviderError):
        provider.fetch(ERR, TARGET, "cand", 60)


def test_http_error_from_client_maps_to_provider_error() -> None:
    from prometheus_api_client.exceptions import PrometheusApiClientException

    exc = PrometheusApiClientException("HTTP Status Code 400 (b'parse error')")
    provider = PrometheusProvider(client=FakeClient({"modelserve_requests_total": exc}))
    with pytest.raises(ProviderError, match="400"):
        provider.fetch(ERR, TARGET, "cand", 60)


def test_fetched_samples_map_errors_and_no_data() -> None:
    client = FakeClient(
        {
            "modelserve_model_accuracy": [],  # gauge not exported yet: no data
            "_bucket": requests.exceptions.ConnectionError("refused"),
            'revision="cand",code': [vec("31")],
            'revision="stable",code': [vec("27")],
            'revision="cand"}': [vec("600")],
            'revision="stable"}': [vec("5400")],
        }
    )
    samples = fetch_samples(PrometheusProvider(client=client), [ERR, P99, ACC], TARGET, 60)
    spec = AnalysisSpec.from_mapping({"minSampleSize": 100, "gates": []})
    results, _ = analyse_interval([ERR, P99, ACC], samples, AnalysisCounters(), spec)
    assert [r.verdict for r in results] == [Verdict.FAILED, Verdict.ERROR, Verdict.INCONCLUSIVE]
    assert "refused" in results[1].message
    assert results[0].baseline_value == pytest.approx(0.005)


def test_provider_requires_url_without_client() -> None:
    with pytest.raises(ValueError, match=r"provider\.address"):
        PrometheusProvider(url=None)


def test_fetch_rate_sample_with_per_interval_counts() -> None:
    def matrix(*values: str) -> list[dict[str, Any]]:
        return [{"metric": {}, "values": [[1700000000 + 60 * i, v] for i, v in enumerate(values)]}]

    client = FakeClient(
        {
            # Subqueries first: they contain the instant queries' text.
            '5..|timeout"}[1m]))[30m:1m]': matrix("2", "9.4"),
            "}[1m]))[30m:1m]": matrix("600", "610.2", "590"),
            'code=~"5..|timeout"': [vec("11")],
            "modelserve_requests_total": [vec("1800")],
        }
    )
    sample = PrometheusProvider(client=client).fetch(ERR, TARGET, "stable", 120, interval_seconds=60)
    assert sample == RateSample(11, 1800, ((2, 600), (9, 610), (0, 590)))
    # The candidate's per-interval counts cover its own window; the stable's reach back 30 intervals.
    assert any("[2m:1m]" in q for q in client.queries) is False
    cand_client = FakeClient({"[2m:1m]": matrix("600", "600"), "modelserve_requests_total": [vec("1200")]})
    PrometheusProvider(client=cand_client).fetch(ERR, TARGET, "cand", 120, interval_seconds=60)
    assert any(q.endswith("[2m:1m]") for q in cand_client.queries)
    # A subquery answered with an instant vector is an error, not zero counts.
    wrong = FakeClient({"[2m:1m]": [vec("600")], "modelserve_requests_total": [vec("1200")]})
    with pytest.raises(ProviderError, match="range vector"):
        PrometheusProvider(client=wrong).fetch(ERR, TARGET, "cand", 120, interval_seconds=60)
