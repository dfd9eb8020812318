"""PrometheusRule generation: names, labels, windows, multiwindow alerts, merged labels/annotations."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from modelserve.slo import parse_sla_policy, render_prometheus_rule, render_rule_groups
from modelserve.slo.rules import dump_rule_file

SPEC = parse_sla_policy(
    {
        "objectives": [
            {"name": "availability", "type": "availability", "target": 99.9},
            {"name": "latency", "type": "latency", "target": 99, "latency": {"thresholdMilliseconds": 300}},
            {"name": "accuracy", "type": "quality", "quality": {"metric": "model_accuracy", "min": 0.9}},
        ],
        "alerting": {
            "labels": {"team": "ml", "severity": "ignored"},
            "annotations": {"runbook_url": "https://runbooks/slo"},
        },
    }
)


# Spaces inside a placeholder ({{ namespace }}) are allowed.
TEMPLATED = 'model="{{model}}", namespace="{{ namespace }}"'


def rules_of(groups: list[dict[str, Any]], index: int) -> list[dict[str, Any]]:
    return groups[index]["rules"]


def test_prometheus_rule_wraps_the_plain_groups() -> None:
    rule = render_prometheus_rule("gold", "prod", SPEC, ["fraud"], labels={"release": "kube-prometheus"})
    assert rule["apiVersion"] == "monitoring.coreos.com/v1" and rule["kind"] == "PrometheusRule"
    assert rule["metadata"]["name"] == "modelserve-sla-gold"
    assert rule["metadata"]["namespace"] == "prod"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus"
    assert rule["metadata"]["labels"]["modelserve.io/sla-policy"] == "gold"
    assert rule["spec"]["groups"] == render_rule_groups("gold", "prod", SPEC, ["fraud"])


def test_recording_rules_cover_every_window_of_every_objective_with_dashboard_labels() -> None:
    groups = render_rule_groups("gold", "prod", SPEC, ["fraud", "churn"])
    assert [g["name"] for g in groups] == ["modelserve-slo.prod.gold.sli", "modelserve-slo.prod.gold.alerts"]
    records = rules_of(groups, 0)
    for objective, slo_type in (
        ("availability", "availability"),
        ("latency", "latency"),
        ("accuracy", "quality"),
    ):
        mine = [r for r in records if r["labels"]["objective"] == objective]
        names = [r["record"] for r in mine]
        for window in ("5m", "30m", "1h", "6h", "3d", "30d"):
            assert f"modelserve:sli_error_ratio:rate{window}" in names
        for name in (
            "modelserve:slo_attainment:ratio",
            "modelserve:slo_target:ratio",
            "modelserve:slo_error_budget_remaining:ratio",
        ):
            assert name in names
        for r in mine:
            assert r["labels"]["sla_policy"] == "gold" and r["labels"]["slo_type"] == slo_type
    availability_5m = next(r for r in records if r["record"] == "modelserve:sli_error_ratio:rate5m")
    expr = availability_5m["expr"]
    assert 'model=~"churn|fraud"' in expr and 'namespace="prod"' in expr
    assert "sum by (namespace, model)" in expr and 'code=~"5..|timeout"' in expr
    assert "rate(modelserve_requests_total" in expr  # rate() handles counter resets


def test_latency_uses_the_largest_bucket_below_a_non_boundary_threshold() -> None:
    records = rules_of(render_rule_groups("gold", "prod", SPEC, ["fraud"]), 0)
    latency = next(
        r
        for r in records
        if r["labels"]["objective"] == "latency" and r["record"] == "modelserve:sli_error_ratio:rate1h"
    )
    assert 'le="0.25"' in latency["expr"]  # 300ms is not a default bucket; 250ms is the largest below
    assert 'le="+Inf"' in latency["expr"]


def test_quality_records_one_verdict_per_evaluation_then_averages_it() -> None:
    records = rules_of(render_rule_groups("gold", "prod", SPEC, ["fraud"]), 0)
    accuracy = [r for r in records if r["labels"]["objective"] == "accuracy"]
    assert accuracy[0]["record"] == "modelserve:sli_quality_good:bool"
    assert ">= bool 0.9" in accuracy[0]["expr"] and "modelserve_model_accuracy" in accuracy[0]["expr"]
    window = next(r for r in accuracy if r["record"] == "modelserve:sli_error_ratio:rate30d")
    assert window["expr"].startswith("1 - avg_over_time(modelserve:sli_quality_good:bool{")


def test_multiwindow_alerts_per_tier_with_merged_labels_and_annotations() -> None:
    alerts = rules_of(render_rule_groups("gold", "prod", SPEC, ["fraud"]), 1)
    assert len(alerts) == 3 * 3  # objectives x tiers
    first = alerts[0]
    assert first["alert"] == "ModelServeSLOBurnRatePage"
    assert first["labels"] == {
        "team": "ml",
        "sla_policy": "gold",
        "objective": "availability",
        "slo_type": "availability",
        "severity": "page",
        "long_window": "1h",
        "short_window": "5m",
    }  # the tier's severity wins over a user label of the same name
    assert "modelserve:sli_error_ratio:rate1h{" in first["expr"]
    assert "modelserve:sli_error_ratio:rate5m{" in first["expr"]
    assert first["expr"].count("/ 0.001 > 14.4") == 2 and "\nand\n" in first["expr"]
    annotations = first["annotations"]
    assert annotations["runbook_url"] == "https://runbooks/slo"
    assert "{{ $labels.model }}" in annotations["summary"] and "availability" in annotations["summary"]
    assert "{{ $value" in annotations["description"] and "1h" in annotations["description"]
    assert "30d budget lasts 2d2h" in annotations["description"]  # 30d / 14.4 = 50h
    assert [a["alert"] for a in alerts[:3]] == [
        "ModelServeSLOBurnRatePage",
        "ModelServeSLOBurnRatePage",
        "ModelServeSLOBurnRateTicket",
    ]
    assert "/ 0.01 > 6" in alerts[4]["expr"]  # latency, 99% target, second page tier


def test_user_annotations_override_defaults() -> None:
    spec = parse_sla_policy(
        {
            "objectives": [{"name": "a", "type": "availability", "target": 99}],
            "alerting": {"annotations": {"summary": "custom"}},
        }
    )
    alerts = rules_of(render_rule_groups("p", "ns", spec), 1)
    assert {a["annotations"]["summary"] for a in alerts} == {"custom"}


def test_models_none_selects_the_whole_namespace_and_empty_renders_nothing() -> None:
    records = rules_of(render_rule_groups("gold", "prod", SPEC, None), 0)
    assert "model=~" not in records[0]["expr"]
    assert render_rule_groups("gold", "prod", SPEC, []) == []


def test_no_burn_rate_tiers_means_no_alert_group() -> None:
    spec = parse_sla_policy(
        {"objectives": [{"name": "a", "type": "availability", "target": 99}], "alerting": {"burnRates": []}}
    )
    groups = render_rule_groups("p", "ns", spec, ["m"])
    assert len(groups) == 1
    assert {r["record"] for r in groups[0]["rules"]} >= {"modelserve:sli_error_ratio:rate30d"}


def test_custom_queries_with_model_placeholder_render_per_model() -> None:
    spec = parse_sla_policy(
        {
            "objectives": [
                {
                    "name": "biz",
                    "type": "custom",
                    "target": 98,
                    "custom": {
                        "goodQuery": f"sum(rate(good{{{TEMPLATED}}}[{{{{window}}}}]))",
                        "totalQuery": f"sum(rate(total{{{TEMPLATED}}}[{{{{window}}}}]))",
                    },
                }
            ]
        }
    )
    records = rules_of(render_rule_groups("p", "ns", spec, ["b", "a"]), 0)
    one_hour = [r for r in records if r["record"] == "modelserve:sli_error_ratio:rate1h"]
    assert [r["labels"]["model"] for r in one_hour] == ["a", "b"]
    assert 'good{model="a", namespace="ns"}[1h]' in one_hour[0]["expr"]
    with pytest.raises(ValueError, match="model list"):
        render_rule_groups("p", "ns", spec, None)


def test_rule_file_yaml_round_trips() -> None:
    groups = render_rule_groups("gold", "prod", SPEC, ["fraud"])
    assert yaml.safe_load(dump_rule_file(groups)) == {"groups": groups}
