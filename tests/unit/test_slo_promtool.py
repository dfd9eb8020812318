"""The generated SLO rules load in a real Prometheus rule engine: `promtool check rules` accepts them and
`promtool test rules` proves the multiwindow burn-rate alerts fire (and stay quiet) as designed.

Series are scraped every minute at 1000 requests/minute; the policy is 99.9% availability (budget 0.1%)
with the default tiers (page 14.4x 1h/5m, page 6x 6h/30m, ticket 1x 3d/6h). rate() over a range longer
than a series uses the samples that exist, so the 3d ticket window needs only hours of data: the whole
file evaluates ~7h of rule time and runs in a couple of seconds.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from modelserve.slo import parse_sla_policy, render_rule_groups
from modelserve.slo.rules import PAGE_ALERT, TICKET_ALERT, dump_rule_file

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool (Prometheus 2.x) is not installed")

NS, MODEL, POLICY = "prod", "fraud", "gold"
REQUESTS_PER_MINUTE = 1000
ACCURACY_SERIES = f'modelserve_model_accuracy{{namespace="{NS}", model="{MODEL}", revision="r1"}}'

SPEC = parse_sla_policy(
    {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "SLAPolicy",
        "metadata": {"name": POLICY, "namespace": NS},
        "spec": {
            "objectives": [
                {"name": "availability", "type": "availability", "target": 99.9},
                {
                    "name": "accuracy",
                    "type": "quality",
                    "target": 90,
                    "quality": {"metric": "model_accuracy", "min": 0.9},
                },
            ],
            "alerting": {
                "labels": {"team": "ml"},
                # Static text keeps the expectations exact; {{ $labels.model }} proves templating works.
                "annotations": {
                    "summary": "SLO burn on {{ $labels.model }}",
                    "runbook_url": "https://runbooks/slo",
                },
            },
        },
    }
)


def counter(segments: list[tuple[float, int]]) -> str:
    """promtool series notation for a counter growing by `per_minute` for `minutes`, segment by segment."""
    parts, value = [], 0.0
    for i, (per_minute, minutes) in enumerate(segments):
        if i == 0:
            parts.append(f"0+{per_minute:g}x{minutes}")
            value = per_minute * minutes
        else:
            start = value + per_minute
            parts.append(f"{start:g}+{per_minute:g}x{minutes - 1}")
            value = start + per_minute * (minutes - 1)
    return " ".join(parts)


def requests(error_segments: list[tuple[float, int]]) -> list[dict[str, str]]:
    """Good (code 200) and bad (code 500) counters for error fractions per segment."""
    labels = f'namespace="{NS}", model="{MODEL}", revision="r1", region="eu"'
    good = [(REQUESTS_PER_MINUTE * (1 - f), m) for f, m in error_segments]
    bad = [(REQUESTS_PER_MINUTE * f, m) for f, m in error_segments]
    return [
        {"series": f'modelserve_requests_total{{{labels}, code="200"}}', "values": counter(good)},
        {"series": f'modelserve_requests_total{{{labels}, code="500"}}', "values": counter(bad)},
    ]


def alert(severity: str, long_window: str, short_window: str) -> dict[str, object]:
    return {
        "exp_labels": {
            "severity": severity,
            "long_window": long_window,
            "short_window": short_window,
            "team": "ml",
            "sla_policy": POLICY,
            "objective": "availability",
            "slo_type": "availability",
            "namespace": NS,
            "model": MODEL,
        },
        "exp_annotations": {"summary": f"SLO burn on {MODEL}", "runbook_url": "https://runbooks/slo"},
    }


def expect(eval_time: str, alertname: str, *alerts: dict[str, object]) -> dict[str, object]:
    return {"eval_time": eval_time, "alertname": alertname, "exp_alerts": list(alerts)}


PAGE_1H = ("page", "1h", "5m")
PAGE_6H = ("page", "6h", "30m")
TICKET_3D = ("ticket", "3d", "6h")


@pytest.fixture(scope="module")
def rule_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    groups = render_rule_groups(POLICY, NS, SPEC, [MODEL])
    # The default description carries the burn rate ($value, a float); drop it here so that the alert
    # expectations can be exact; test_slo_rules.py covers the default text.
    for group in groups:
        for rule in group["rules"]:
            if "alert" in rule:
                del rule["annotations"]["description"]
    path = tmp_path_factory.mktemp("slo") / "rules.yaml"
    path.write_text(dump_rule_file(groups))
    return path


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120, check=False)


def test_promtool_check_rules_accepts_generated_rules(rule_file: Path) -> None:
    result = run_promtool("check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_check_rules_accepts_every_objective_type(tmp_path: Path) -> None:
    per_model = 'namespace="{{namespace}}", model="{{model}}"'
    spec = parse_sla_policy(
        {
            "objectives": [
                {"name": "avail", "type": "availability", "target": 99.5, "countClientErrorsAsBad": True},
                {"name": "fast", "type": "latency", "target": 99, "latency": {"thresholdMilliseconds": 300}},
                {"name": "drift", "type": "quality", "quality": {"metric": "drift_score", "max": 0.2}},
                {
                    "name": "conf",
                    "type": "quality",
                    "quality": {"query": "modelserve_prediction_confidence{" + per_model + "}", "min": 0.6},
                },
                {
                    "name": "biz",
                    "type": "custom",
                    "target": 98,
                    "custom": {
                        "goodQuery": "sum(rate(biz_good_total{" + per_model + "}[{{window}}]))",
                        "totalQuery": "sum(rate(biz_total{" + per_model + "}[{{window}}]))",
                    },
                },
                {
                    "name": "biz2",
                    "type": "custom",
                    "target": 98,
                    "custom": {
                        "goodQuery": 'rate(biz_good_total{namespace="{{namespace}}"}[{{window}}])',
                        "totalQuery": 'rate(biz_total{namespace="{{namespace}}"}[{{window}}])',
                    },
                },
            ],
            "window": "28d",
        }
    )
    path = tmp_path / "rules.yaml"
    path.write_text(dump_rule_file(render_rule_groups("all-types", NS, spec, ["fraud", "churn"])))
    result = run_promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_burn_rate_alerts(rule_file: Path, tmp_path: Path) -> None:
    own = f'namespace="{NS}", sla_policy="{POLICY}", model="{MODEL}"'
    availability = f'{own}, objective="availability"'
    tests = [
        {  # Fast burn: 6h healthy (0.05% errors), then 5% errors (50x the budget rate).
            "name": "fast burn pages",
            "interval": "1m",
            "input_series": requests([(0.0005, 360), (0.05, 60)]),
            "alert_rule_test": [
                # 10 minutes in: the 1h error ratio is 0.875% = 8.75x < 14.4x; nothing pages yet.
                expect("370m", PAGE_ALERT),
                # 20 minutes in: 1h ratio 1.7% = 17x and 5m ratio 5% = 50x, both > 14.4x -> the 1h tier
                # pages; the 6h ratio is 0.325% = 3.25x < 6x, so the slower page tier does not.
                expect("380m", PAGE_ALERT, alert(*PAGE_1H)),
                # 60 minutes in: 6h ratio 0.875% = 8.75x and 30m ratio 50x -> both page tiers fire.
                expect("420m", PAGE_ALERT, alert(*PAGE_1H), alert(*PAGE_6H)),
                expect("420m", TICKET_ALERT, alert(*TICKET_3D)),
            ],
            "promql_expr_test": [
                {
                    "expr": f"round(modelserve:sli_error_ratio:rate5m{{{availability}}}, 0.0001)",
                    "eval_time": "380m",
                    "exp_samples": [
                        {
                            "labels": f'{{{own}, objective="availability", slo_type="availability"}}',
                            "value": 0.05,
                        }
                    ],
                },
            ],
        },
        {  # Healthy: 0.05% errors = 0.5x the budget rate; no alert of any severity, ever.
            "name": "healthy stays quiet",
            "interval": "1m",
            "input_series": requests([(0.0005, 180)]),
            "alert_rule_test": [
                expect(t, name) for t in ("30m", "90m", "180m") for name in (PAGE_ALERT, TICKET_ALERT)
            ],
            "promql_expr_test": [
                # Budget remaining over the SLO window: 1 - 0.0005/0.001 = 50%.
                {
                    "expr": f"round(modelserve:slo_error_budget_remaining:ratio{{{availability}}}, 0.001)",
                    "eval_time": "180m",
                    "exp_samples": [
                        {
                            "labels": f'{{{own}, objective="availability", slo_type="availability", '
                            'slo_window="30d"}',
                            "value": 0.5,
                        }
                    ],
                },
                {
                    "expr": f"modelserve:slo_target:ratio{{{availability}}}",
                    "eval_time": "180m",
                    "exp_samples": [
                        {
                            "labels": f'modelserve:slo_target:ratio{{{own}, objective="availability", '
                            'slo_type="availability", slo_window="30d"}',
                            "value": 0.999,
                        }
                    ],
                },
            ],
        },
        {  # Slow burn: 0.3% errors from the start = 3x: a ticket (> 1x over 3d and 6h), never a page.
            "name": "slow burn tickets",
            "interval": "1m",
            "input_series": requests([(0.003, 420)]),
            "alert_rule_test": [
                expect("400m", TICKET_ALERT, alert(*TICKET_3D)),
                expect("400m", PAGE_ALERT),
            ],
        },
        {  # Quality: accuracy 0.95 for 30 minutes, then 0.85 (< min 0.9): half the last hour was bad.
            "name": "quality is a time-based SLI",
            "interval": "1m",
            "input_series": [
                {
                    "series": ACCURACY_SERIES,
                    "values": "0.95x29 0.85x30",
                },
            ],
            "promql_expr_test": [
                {
                    "expr": f'round(modelserve:sli_error_ratio:rate1h{{{own}, objective="accuracy"}}, 0.1)',
                    "eval_time": "60m",
                    "exp_samples": [
                        {"labels": f'{{{own}, objective="accuracy", slo_type="quality"}}', "value": 0.5}
                    ],
                },
            ],
        },
    ]
    test_file = tmp_path / "slo_test.yaml"
    test_file.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(rule_file)],
                "evaluation_interval": "1m",
                "tests": tests,
            },
            sort_keys=False,
            width=4096,
        )
    )
    result = run_promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
