"""SLAPolicy spec parsing: defaults from api.md, and SpecError naming the field path."""

from __future__ import annotations

from typing import Any

import pytest
from modelserve.api.durations import parse_duration
from modelserve.slo import DEFAULT_BURN_RATE_TIERS, SpecError, parse_sla_policy
from modelserve.slo.model import FREEZE_ROLLOUTS, format_duration

MINIMAL = {"objectives": [{"name": "availability", "type": "availability", "target": 99.9}]}


def test_defaults_are_applied() -> None:
    spec = parse_sla_policy(MINIMAL)
    assert spec.window == "30d" and spec.window_seconds == 30 * 86400
    assert spec.selector is None
    assert spec.credits == ()
    assert spec.alerting.burn_rates == DEFAULT_BURN_RATE_TIERS
    assert [(t.severity, t.factor, t.long_window, t.short_window) for t in spec.alerting.burn_rates] == [
        ("page", 14.4, "1h", "5m"),
        ("page", 6.0, "6h", "30m"),
        ("ticket", 1.0, "3d", "6h"),
    ]
    assert spec.error_budget_policy == "warn" and not spec.freezes_rollouts
    objective = spec.objectives[0]
    assert objective.target_ratio == pytest.approx(0.999)
    assert objective.error_budget_ratio == 0.001
    assert not objective.count_client_errors_as_bad
    assert spec.burn_windows() == ("5m", "30m", "1h", "6h", "3d")
    assert spec.all_windows() == ("5m", "30m", "1h", "6h", "3d", "30d")


def test_accepts_a_whole_object_and_parses_everything() -> None:
    spec = parse_sla_policy(
        {
            "apiVersion": "modelserve.io/v1alpha1",
            "kind": "SLAPolicy",
            "metadata": {"name": "gold"},
            "spec": {
                "selector": {
                    "matchLabels": {"tier": "gold"},
                    "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}],
                },
                "window": "720h",
                "objectives": [
                    {
                        "name": "latency",
                        "type": "latency",
                        "target": 99,
                        "latency": {"thresholdMilliseconds": 300},
                    },
                    {
                        "name": "accuracy",
                        "type": "quality",
                        "quality": {"metric": "model_accuracy", "min": 0.9},
                    },
                    {
                        "name": "biz",
                        "type": "custom",
                        "target": 98,
                        "custom": {"goodQuery": "sum(good)", "totalQuery": "sum(total)"},
                    },
                ],
                "credits": [{"below": 99.9, "percent": 10}, {"below": 99, "percent": 25}],
                "alerting": {
                    "burnRates": [
                        {"severity": "page", "factor": 10, "longWindow": "90m", "shortWindow": "10m"}
                    ],
                    "labels": {"team": "ml"},
                    "annotations": {"runbook": "x"},
                },
                "errorBudgetPolicy": "freezeRollouts",
            },
        }
    )
    assert spec.window == "30d"  # canonical: rule names do not depend on how the window was written
    assert spec.selector is not None and spec.selector.match_labels == {"tier": "gold"}
    assert spec.selector.match_expressions[0].values == ("prod",)
    assert spec.objectives[0].latency is not None and spec.objectives[0].latency.threshold_milliseconds == 300
    assert spec.objectives[1].target_percent == 99.0  # quality default target
    assert spec.objectives[2].custom is not None
    assert spec.alerting.burn_rates[0].long_window == "1h30m"
    assert spec.burn_windows() == ("10m", "1h30m")
    assert spec.error_budget_policy == FREEZE_ROLLOUTS and spec.freezes_rollouts
    assert spec.alerting.labels == {"team": "ml"}


def objective(**fields: Any) -> dict[str, Any]:
    return {"objectives": [{"name": "o", "type": "availability", "target": 99.9, **fields}]}


@pytest.mark.parametrize(
    ("spec", "field_path"),
    [
        ({}, "spec.objectives"),
        ({"objectives": []}, "spec.objectives"),
        (objective(target=100), "spec.objectives[0].target"),
        (objective(target=0), "spec.objectives[0].target"),
        (objective(target="high"), "spec.objectives[0].target"),
        (objective(target=None), "spec.objectives[0].target"),
        (objective(type="speed"), "spec.objectives[0].type"),
        (objective(name="Not_A_Label"), "spec.objectives[0].name"),
        (objective(type="latency"), "spec.objectives[0].latency.thresholdMilliseconds"),
        (
            objective(type="latency", latency={"thresholdMilliseconds": 0}),
            "spec.objectives[0].latency.thresholdMilliseconds",
        ),
        (objective(type="quality"), "spec.objectives[0].quality"),
        (objective(type="quality", quality={"metric": "model_accuracy"}), "spec.objectives[0].quality"),
        (objective(type="quality", quality={"min": 0.9}), "spec.objectives[0].quality.metric"),
        (
            objective(type="quality", quality={"metric": "acc", "min": 0.9, "max": 0.5}),
            "spec.objectives[0].quality.min",
        ),
        (objective(type="custom", custom={"goodQuery": "x"}), "spec.objectives[0].custom.totalQuery"),
        (objective(countClientErrorsAsBad="yes"), "spec.objectives[0].countClientErrorsAsBad"),
        (
            {"objectives": [{"name": "a", "type": "availability", "target": 99}] * 2},
            "spec.objectives[1].name",
        ),
        ({**MINIMAL, "window": "30 days"}, "spec.window"),
        (
            {**MINIMAL, "credits": [{"below": 99, "percent": 10}, {"below": 99.5, "percent": 20}]},
            "spec.credits[1].below",
        ),
        ({**MINIMAL, "credits": [{"below": 99, "percent": 110}]}, "spec.credits[0].percent"),
        ({**MINIMAL, "credits": [{"percent": 10}]}, "spec.credits[0].below"),
        (
            {
                **MINIMAL,
                "alerting": {
                    "burnRates": [{"severity": "sms", "factor": 2, "longWindow": "1h", "shortWindow": "5m"}]
                },
            },
            "spec.alerting.burnRates[0].severity",
        ),
        (
            {
                **MINIMAL,
                "alerting": {
                    "burnRates": [{"severity": "page", "factor": 0, "longWindow": "1h", "shortWindow": "5m"}]
                },
            },
            "spec.alerting.burnRates[0].factor",
        ),
        (
            {
                **MINIMAL,
                "alerting": {
                    "burnRates": [{"severity": "page", "factor": 2, "longWindow": "5m", "shortWindow": "1h"}]
                },
            },
            "spec.alerting.burnRates[0].shortWindow",
        ),
        (
            {**MINIMAL, "alerting": {"burnRates": [{"severity": "page", "factor": 2, "shortWindow": "5m"}]}},
            "spec.alerting.burnRates[0].longWindow",
        ),
        ({**MINIMAL, "alerting": {"labels": {"bad-label": "x"}}}, "spec.alerting.labels.bad-label"),
        ({**MINIMAL, "errorBudgetPolicy": "panic"}, "spec.errorBudgetPolicy"),
        (
            {**MINIMAL, "selector": {"matchExpressions": [{"key": "env", "operator": "In"}]}},
            "spec.selector.matchExpressions[0].values",
        ),
        (
            {
                **MINIMAL,
                "selector": {"matchExpressions": [{"key": "env", "operator": "Exists", "values": ["a"]}]},
            },
            "spec.selector.matchExpressions[0].values",
        ),
        (
            {**MINIMAL, "selector": {"matchExpressions": [{"key": "env", "operator": "Near"}]}},
            "spec.selector.matchExpressions[0].operator",
        ),
    ],
)
def test_spec_errors_name_the_field(spec: dict[str, Any], field_path: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_sla_policy(spec)
    assert info.value.field_path == field_path
    assert str(info.value).startswith(field_path + ": ")


@pytest.mark.parametrize(
    ("text", "seconds", "canonical"),
    [
        ("30s", 30, "30s"),
        ("5m", 300, "5m"),
        ("1h30m", 5400, "1h30m"),
        ("7d", 604800, "7d"),
        ("1w", 604800, "7d"),
        ("720h", 2592000, "30d"),
        ("1500ms", 1.5, "1s500ms"),
    ],
)
def test_durations_round_trip_to_canonical_form(text: str, seconds: float, canonical: str) -> None:
    assert parse_duration(text, positive=True) == seconds
    assert format_duration(parse_duration(text, positive=True)) == canonical


@pytest.mark.parametrize("text", ["", "5", "m5", "1.5h", "0s", "-1m", None])
def test_bad_durations_are_rejected(text: Any) -> None:
    with pytest.raises(SpecError):
        parse_duration(text, "spec.window", positive=True)
