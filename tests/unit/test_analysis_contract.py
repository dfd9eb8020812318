"""Unit tests for the metric contract, presets and PromQL templating."""

from __future__ import annotations

import pytest
from modelserve.analysis.contract import (
    PRESETS,
    QueryTarget,
    analysis_window_seconds,
    format_duration,
    gate_queries,
    render_query,
    template_values,
)
from modelserve.api.durations import parse_duration
from modelserve.api.gates import GateSpec, TemplateError

TARGET = QueryTarget(namespace="prod", model="fraud", revision="7f9c", stable_revision="5d2a")


def test_error_rate_queries_count_requests_and_errors() -> None:
    q = gate_queries(GateSpec("e", builtin="errorRate", max=0.01), "modelserve", TARGET, "7f9c", 120)
    assert q.kind == "rate"
    assert (
        q.total
        == 'sum(increase(modelserve_requests_total{namespace="prod",model="fraud",revision="7f9c"}[2m]))'
    )
    assert q.errors == (
        'sum(increase(modelserve_requests_total{namespace="prod",model="fraud",revision="7f9c",'
        'code=~"5..|timeout"}[2m]))'
    )


def test_stable_queries_use_the_stable_revision() -> None:
    q = gate_queries(GateSpec("e", builtin="errorRate", max=0.01), "modelserve", TARGET, "5d2a", 60)
    assert 'revision="5d2a"' in q.total and "[1m]" in q.total


def test_latency_queries_are_bucket_increases_by_le() -> None:
    q = gate_queries(
        GateSpec("p", builtin="latencyP99", max_milliseconds=500), "modelserve", TARGET, "7f9c", 300
    )
    assert q.kind == "histogram"
    assert q.buckets == (
        'sum by (le) (increase(modelserve_request_duration_seconds_bucket{namespace="prod",model="fraud",'
        'revision="7f9c"}[5m]))'
    )
    assert q.latency_unit_seconds == 1.0


def test_istio_preset_maps_revision_to_workload() -> None:
    q = gate_queries(GateSpec("e", builtin="errorRate", max=0.01), "istio", TARGET, "7f9c", 60)
    assert 'destination_workload="fraud-7f9c"' in q.total
    assert 'destination_workload_namespace="prod"' in q.total
    assert 'reporter="destination"' in q.total
    assert 'response_code=~"5.."' in (q.errors or "")
    lat = gate_queries(
        GateSpec("p", builtin="latencyP50", max_milliseconds=50), PRESETS["istio"], TARGET, "7f9c", 60
    )
    assert "istio_request_duration_milliseconds_bucket" in (lat.buckets or "")
    assert lat.latency_unit_seconds == 0.001


def test_quality_gauges_come_from_the_modelserve_contract() -> None:
    q = gate_queries(GateSpec("a", builtin="accuracy", min=0.9), "istio", TARGET, "7f9c", 600)
    assert (
        q.value == "avg(avg_over_time(modelserve_model_accuracy"
        '{namespace="prod",model="fraud",revision="7f9c"}[10m]))'
    )
    assert "istio_requests_total" in q.total  # sample size still from the preset's request counter


def test_custom_query_templating() -> None:
    gate = GateSpec(
        "custom",
        query='sum(rate(x{ns="{{namespace}}",m="{{ model }}",r="{{revision}}"}[{{interval}}]))'
        ' / sum(rate(x{r="{{stableRevision}}"}[{{interval}}]))',
        max=1.2,
    )
    q = gate_queries(gate, "modelserve", TARGET, "7f9c", 90)
    assert q.value == 'sum(rate(x{ns="prod",m="fraud",r="7f9c"}[1m30s])) / sum(rate(x{r="5d2a"}[1m30s]))'


def test_unknown_placeholder_names_the_gate() -> None:
    with pytest.raises(
        TemplateError, match=r"gates\[my-gate\]\.query: unknown placeholder\(s\) \{\{revison\}\}"
    ):
        render_query("up{r='{{revison}}'}", "my-gate", template_values(TARGET, "7f9c", 60))


def test_missing_stable_revision_is_an_error() -> None:
    target = QueryTarget("prod", "fraud", "7f9c", None)
    with pytest.raises(TemplateError, match="stableRevision"):
        render_query("{{stableRevision}}", "g", template_values(target, "7f9c", 60))


def test_label_values_are_escaped() -> None:
    q = gate_queries(
        GateSpec("e", builtin="errorRate", max=0.01),
        "modelserve",
        QueryTarget("prod", 'we"ird', "r"),
        "r",
        60,
    )
    assert 'model="we\\"ird"' in q.total


def test_durations() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25
    assert format_duration(5400) == "1h30m"
    assert format_duration(0.2) == "1s"
    with pytest.raises(ValueError, match=r"spec\.x: invalid duration"):
        parse_duration("5 minutes", "spec.x")


def test_analysis_window_grows_and_is_capped() -> None:
    assert analysis_window_seconds(1000, 1030, 60) == 60
    assert analysis_window_seconds(1000, 1300, 60) == 300
    assert analysis_window_seconds(0, 10_000, 60, max_window_seconds=3600) == 3600
