"""Status queries, their results -> measurements, freeze semantics, and the policy as canary gates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from modelserve.api.gates import GateSpec
from modelserve.slo import (
    compute_model_status,
    measurements_from_results,
    parse_sla_policy,
    queries_for_status,
    rollout_frozen,
    rollout_gate_from_policy,
    window_elapsed_seconds,
)
from modelserve.slo.queries import choose_latency_bucket, le_matcher, status_query_key

NOW = datetime(2024, 5, 1, tzinfo=UTC)
SPEC = parse_sla_policy(
    {
        "objectives": [
            {"name": "availability", "type": "availability", "target": 99.9},
            {"name": "latency", "type": "latency", "target": 99, "latency": {"thresholdMilliseconds": 1000}},
            {
                "name": "accuracy",
                "type": "quality",
                "target": 95,
                "quality": {"metric": "model_accuracy", "min": 0.9},
            },
        ],
        "errorBudgetPolicy": "freezeRollouts",
    }
)


def test_status_queries_cover_every_objective_window_and_kind() -> None:
    queries = queries_for_status(SPEC, "prod", "fraud")
    windows = ("slo", "5m", "30m", "1h", "6h", "3d")
    assert set(queries) == {
        status_query_key(o, w, k)
        for o in ("availability", "latency", "accuracy")
        for w in windows
        for k in ("good", "total")
    }
    assert queries["availability/slo/total"] == (
        'sum (increase(modelserve_requests_total{namespace="prod", model="fraud"}[30d]))'
    )
    assert 'code=~"5..|timeout"' in queries["availability/1h/good"]
    assert 'le=~"1|1.0"' in queries["latency/5m/good"]
    assert queries["accuracy/slo/total"].startswith("count_over_time((")
    assert "[30d:1m]" in queries["accuracy/slo/good"]


def test_partial_window_shortens_the_slo_range_to_whole_minutes() -> None:
    queries = queries_for_status(SPEC, "prod", "fraud", elapsed_seconds=2 * 86400 + 30)
    assert "[2d1m]" in queries["availability/slo/total"]
    assert (
        "[30d]"
        in queries_for_status(SPEC, "prod", "fraud", elapsed_seconds=40 * 86400)["availability/slo/total"]
    )


def test_client_errors_count_as_bad_when_asked() -> None:
    spec = parse_sla_policy(
        {"objectives": [{"name": "a", "type": "availability", "target": 99, "countClientErrorsAsBad": True}]}
    )
    assert 'code=~"[45]..|timeout"' in queries_for_status(spec, "ns", "m")["a/1h/good"]


def test_results_become_measurements_and_status() -> None:
    results: dict[str, float | None] = {
        "availability/slo/good": 9_996_000,
        "availability/slo/total": 10_000_000,
        "availability/1h/good": 19_900,
        "availability/1h/total": 20_000,
        "latency/slo/good": 9_950_000.0,
        "latency/slo/total": 10_000_000.0,
        "accuracy/slo/good": 40_000,
        "accuracy/slo/total": 43_200,  # minutes with accuracy >= 0.9
        "accuracy/1h/total": float("nan"),
    }
    measurements = measurements_from_results(SPEC, results)
    assert measurements["availability"].window is not None
    assert measurements["availability"].window.bad == 4_000
    assert set(measurements["availability"].burn_windows) == {"1h"}
    assert measurements["accuracy"].burn_windows == {}
    status = compute_model_status(SPEC, measurements, 30 * 86400, NOW, model="fraud")
    by_name = {o.objective: o for o in status.objectives}
    assert by_name["availability"].budget_remaining_percent == pytest.approx(60.0)
    assert by_name["latency"].budget_remaining_percent == pytest.approx(50.0)  # 0.5% of 1% used
    assert by_name["accuracy"].attainment_percent == pytest.approx(92.5926, abs=1e-4)
    assert not by_name["accuracy"].compliant and by_name["accuracy"].exhausted
    assert status.error_budget_remaining_percent == 0.0 and not status.compliant


def test_freeze_blocks_new_rollouts_only_while_exhausted_and_not_overridden() -> None:
    exhausted = compute_model_status(
        SPEC,
        measurements_from_results(SPEC, {"availability/slo/good": 990, "availability/slo/total": 1000}),
        None,
        NOW,
    )
    healthy = compute_model_status(
        SPEC,
        measurements_from_results(SPEC, {"availability/slo/good": 1000, "availability/slo/total": 1000}),
        None,
        NOW,
    )
    assert exhausted.exhausted and not healthy.exhausted
    assert rollout_frozen(SPEC, exhausted)
    assert not rollout_frozen(SPEC, exhausted, {"modelserve.io/override-freeze": "true"})
    assert rollout_frozen(SPEC, exhausted, {"modelserve.io/override-freeze": "false"})
    assert not rollout_frozen(SPEC, healthy)
    assert not rollout_frozen(SPEC, None)
    warn_only = parse_sla_policy(
        {"objectives": [{"name": "availability", "type": "availability", "target": 99.9}]}
    )
    assert not rollout_frozen(warn_only, exhausted)


def test_window_elapsed_is_measured_from_the_youngest_of_policy_and_model() -> None:
    window = 30 * 86400.0
    assert window_elapsed_seconds(window, NOW, NOW - timedelta(days=40), NOW - timedelta(days=2)) == 2 * 86400
    assert window_elapsed_seconds(window, NOW, NOW - timedelta(days=40)) == window
    assert window_elapsed_seconds(window, NOW) == window
    assert window_elapsed_seconds(window, NOW, None, NOW + timedelta(seconds=5)) == 0.0


@pytest.mark.parametrize(
    ("threshold_ms", "le", "exact"),
    [(250, 0.25, True), (300, 0.25, False), (1000, 1.0, True), (20_000, 10.0, False), (1, 0.005, False)],
)
def test_latency_bucket_choice(threshold_ms: float, le: float, exact: bool) -> None:
    bucket = choose_latency_bucket(threshold_ms)
    assert (bucket.le_seconds, bucket.exact) == (le, exact)
    assert bool(bucket.note) is not exact
    assert choose_latency_bucket(300, None).le_seconds == pytest.approx(0.3)


def test_le_matcher_accepts_both_integer_spellings() -> None:
    assert le_matcher(1.0) == 'le=~"1|1.0"'
    assert le_matcher(0.25) == 'le="0.25"'


def test_policy_as_canary_gates() -> None:
    gates = rollout_gate_from_policy(SPEC)
    assert gates[0] == {"name": "slo-availability", "builtin": "errorRate", "max": pytest.approx(0.0144)}
    latency = gates[1]
    assert latency["name"] == "slo-latency" and latency["max"] == pytest.approx(0.144)
    assert 'revision="{{revision}}"' in latency["query"] and "[{{interval}}]" in latency["query"]
    assert gates[2] == {"name": "slo-accuracy", "builtin": "accuracy", "min": 0.9}
    for gate in gates:  # the analysis judge accepts them as they are
        GateSpec.from_mapping(gate).validate()


def test_gates_with_client_errors_use_a_query_and_skip_custom_objectives() -> None:
    spec = parse_sla_policy(
        {
            "objectives": [
                {"name": "a", "type": "availability", "target": 99, "countClientErrorsAsBad": True},
                {
                    "name": "c",
                    "type": "custom",
                    "target": 99,
                    "custom": {"goodQuery": "g", "totalQuery": "t"},
                },
            ],
            "alerting": {
                "burnRates": [{"severity": "ticket", "factor": 1, "longWindow": "3d", "shortWindow": "6h"}]
            },
        }
    )
    gates = rollout_gate_from_policy(spec)
    assert len(gates) == 1
    assert gates[0]["max"] == pytest.approx(0.01)  # no page tier: factor 1
    assert 'code=~"[45]..|timeout"' in gates[0]["query"]
    GateSpec.from_mapping(gates[0]).validate()


def test_user_queries_without_model_placeholder_are_narrowed_to_the_model_for_status() -> None:
    spec = parse_sla_policy(
        {
            "objectives": [
                {
                    "name": "biz",
                    "type": "custom",
                    "target": 99,
                    "custom": {
                        "goodQuery": "rate(good[{{window}}])",
                        "totalQuery": "rate(total[{{window}}])",
                    },
                },
                {"name": "conf", "type": "quality", "quality": {"query": "my_confidence", "min": 0.6}},
            ]
        }
    )
    queries = queries_for_status(spec, "prod", "fraud")
    narrowed = 'and on (namespace, model) label_replace(label_replace(vector(1), "namespace", "prod"'
    assert narrowed in queries["biz/1h/good"] and '"model", "fraud"' in queries["biz/1h/good"]
    assert "rate(good[1h])" in queries["biz/1h/good"]
    assert narrowed in queries["conf/slo/good"]
