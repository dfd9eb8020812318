"""`kubectl modelserve`: the pure views and patches on recorded objects, and main() on a fake cluster."""

from __future__ import annotations

import copy
import io
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from modelserve.cli import kubectl_plugin as plugin
from modelserve.cli import plugin_forecast as pf
from modelserve.cli import plugin_views as views
from modelserve.cli.plugin_patches import build_control_request, spec_notes
from modelserve.metrics_source import PrometheusQuery

NOW = datetime(2025, 3, 4, 12, 0, 0, tzinfo=UTC)
NOW_NS = 1741089600123456789

# A fraud-detector in the middle of a canary (recorded from a status the operator writes).
MD: dict[str, Any] = {
    "apiVersion": "modelserve.io/v1alpha1",
    "kind": "ModelDeployment",
    "metadata": {"name": "fraud", "namespace": "prod", "generation": 3, "annotations": {}},
    "spec": {
        "model": {"name": "fraud", "version": "1.1.0", "uri": "s3://m/fraud/1.1.0", "format": "sklearn"},
        "runtime": {"image": "srv:1"},
        "autoscaling": {
            "minReplicas": 2,
            "maxReplicas": 10,
            "target": {"metric": "requestsPerSecond", "averageValue": 50},
            "predictive": {"enabled": True, "history": "3d", "minHistory": "1d", "model": "seasonalNaive"},
        },
        "rollout": {
            "strategy": "canary",
            "canary": {"steps": [{"setWeight": 10}, {"analysis": {"duration": "5m"}}, {"setWeight": 50}]},
            "analysis": {"gates": [{"name": "error-rate", "builtin": "errorRate", "max": 0.01}]},
        },
        "placementRef": {"name": "eu-only"},
        "slaPolicyRef": {"name": "gold"},
    },
    "status": {
        "observedGeneration": 3,
        "phase": "Progressing",
        "message": "canary step 2/4",
        "stableRevision": "7d9f6c",
        "candidateRevision": "ab12ef",
        "canaryWeight": 10,
        "currentStepIndex": 1,
        "replicas": 5,
        "readyReplicas": 5,
        "desiredReplicas": 4,
        "url": "http://fraud.prod.svc.cluster.local",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "MinimumReplicasAvailable",
                "message": "4/4 ready",
                "lastTransitionTime": "2025-03-04T10:00:00Z",
            },
            {
                "type": "Progressing",
                "status": "True",
                "reason": "RollingOut",
                "message": "canary at 10%",
                "lastTransitionTime": "2025-03-04T11:55:00Z",
            },
        ],
        "rollout": {
            "strategy": "canary",
            "phase": "Canary",
            "startedAt": "2025-03-04T11:55:00Z",
            "stepStartedAt": "2025-03-04T11:58:00Z",
            "weightApproximate": True,
            "passed": 1,
            "failed": 0,
            "inconclusive": 1,
            "errors": 0,
            "consecutiveErrors": 0,
            "scaleDowns": [],
        },
        "analysisHistory": [
            {
                "time": "2025-03-04T11:57:00Z",
                "gate": "error-rate",
                "verdict": "Inconclusive",
                "value": 0.0166,
                "bound": "max 0.01",
                "baseline": 0.0046,
                "samples": 60,
                "message": "only 60 requests < 100",
            },
            {
                "time": "2025-03-04T11:59:00Z",
                "gate": "error-rate",
                "verdict": "Passed",
                "value": 0.008333,
                "bound": "max 0.01",
                "baseline": 0.0046,
                "samples": 240,
            },
        ],
        "sla": {"policy": "gold", "compliant": True, "errorBudgetRemainingPercent": 60.0, "frozen": False},
        "autoscaling": {
            "model": "holtWinters",
            "backtestError": 12.3,
            "backtestMetric": "sMAPE",
            "forecastPeak": 231.5,
            "forecastPeakTime": "2025-03-04T12:10:00Z",
            "burstAllowance": 3.3,
            "dispersion": 3.5,
            "floor": 6,
            "reason": "ForecastPeak: peak 231.5 in 10m",
            "lastFitTime": "2025-03-04T11:00:00Z",
            "historyPoints": 2016,
        },
        "placement": {
            "name": "eu-only",
            "jurisdiction": "EU",
            "regions": [
                {"name": "eu-central-1", "desired": 2, "ready": 2, "nodesAvailable": 2, "violations": 0},
                {
                    "name": "eu-west-1",
                    "desired": 2,
                    "ready": 1,
                    "nodesAvailable": 2,
                    "violations": 1,
                    "message": "1 pod outside",
                },
            ],
        },
    },
}


def deployment(revision: str, role: str, version: str, region: str, desired: int, ready: int) -> dict:
    return {
        "metadata": {
            "name": f"fraud-{revision}-{region}",
            "labels": {
                "app.kubernetes.io/instance": "fraud",
                "modelserve.io/revision": revision,
                "modelserve.io/role": role,
                "modelserve.io/region": region,
            },
        },
        "spec": {
            "replicas": desired,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "model-server",
                            "env": [
                                {"name": "MODEL_NAME", "value": "fraud"},
                                {"name": "MODEL_VERSION", "value": version},
                            ],
                        }
                    ]
                }
            },
        },
        "status": {"readyReplicas": ready},
    }


DEPLOYMENTS = [
    deployment("ab12ef", "candidate", "1.1.0", "eu-central-1", 1, 1),
    deployment("7d9f6c", "stable", "1.0.0", "eu-west-1", 2, 2),
    deployment("7d9f6c", "stable", "1.0.0", "eu-central-1", 2, 2),
]


# -- patches ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("command", "full", "annotations"),
    [
        ("promote", False, {"modelserve.io/promote": f"step@{NOW_NS}"}),
        ("promote", True, {"modelserve.io/promote": f"full@{NOW_NS}"}),
        ("abort", False, {"modelserve.io/abort": "true"}),
        ("pause", False, {"modelserve.io/paused": "true"}),
        ("resume", False, {"modelserve.io/paused": None, "modelserve.io/resume": str(NOW_NS)}),
        ("retry", False, {"modelserve.io/retry": str(NOW_NS), "modelserve.io/abort": None}),
    ],
)
def test_control_patches_are_exact(command: str, full: bool, annotations: dict) -> None:
    request = build_control_request(command, now_ns=NOW_NS, full=full)
    assert request.patch == {"metadata": {"annotations": annotations}}
    assert "spec" not in json.dumps(request.patch)


def test_one_shot_tokens_are_fresh_per_call() -> None:
    first = build_control_request("promote", now_ns=1, full=False).annotations["modelserve.io/promote"]
    second = build_control_request("promote", now_ns=2, full=False).annotations["modelserve.io/promote"]
    assert first != second


def test_the_operator_reads_the_plugins_annotations() -> None:
    """What the plugin writes parses, in the rollout machine's own parser, as the intended request."""
    from modelserve.api.rollout import Rollout
    from modelserve.rollout.spec import manual_control_from

    annotations = build_control_request("promote", now_ns=NOW_NS, full=True).annotations
    manual = manual_control_from(Rollout(), annotations, spec_revision="r1")
    assert manual.promote == "full"
    assert manual.promote_token == f"annotation:full@{NOW_NS}"
    resume = {k: v for k, v in build_control_request("resume", now_ns=5).annotations.items() if v is not None}
    assert manual_control_from(Rollout(), resume, spec_revision="r1").resume_token == "annotation:5"
    assert manual_control_from(
        Rollout(), build_control_request("pause", now_ns=5).annotations, spec_revision="r1"
    ).paused


def test_unknown_command_and_full_outside_promote_are_rejected() -> None:
    with pytest.raises(ValueError, match="command"):
        build_control_request("rollback", now_ns=1)
    with pytest.raises(ValueError, match="--full"):
        build_control_request("abort", now_ns=1, full=True)


def test_spec_notes_say_what_annotations_cannot_override() -> None:
    md = copy.deepcopy(MD)
    md["spec"]["rollout"]["paused"] = True
    notes = spec_notes(build_control_request("resume", now_ns=1), md)
    assert any("spec.rollout.paused is true" in n for n in notes)
    md = copy.deepcopy(MD)
    md["metadata"]["annotations"] = {"modelserve.io/paused": "true"}
    assert any(
        "waits until it is resumed" in n for n in spec_notes(build_control_request("promote", now_ns=1), md)
    )
    assert spec_notes(build_control_request("promote", now_ns=1), MD) == ()
    abort_notes = spec_notes(build_control_request("abort", now_ns=1), MD)
    assert any("abort the next rollout" in n for n in abort_notes)


# -- status ----------------------------------------------------------------------------------------
def test_status_view_reads_status_and_deployments() -> None:
    view = views.status_view(MD, DEPLOYMENTS, verdicts=1)
    assert view["phase"] == "Progressing"
    assert view["step"] == {"index": 2, "total": 4, "description": "analysis 5m"}
    assert view["verdicts"] == [MD["status"]["analysisHistory"][-1]]
    stable, candidate = view["revisions"]
    assert (stable["role"], stable["modelVersion"], stable["desired"], stable["ready"]) == (
        "stable",
        "1.0.0",
        4,
        4,
    )
    assert [r["region"] for r in stable["regions"]] == ["eu-central-1", "eu-west-1"]
    assert (candidate["role"], candidate["modelVersion"], candidate["desired"]) == ("candidate", "1.1.0", 1)


def test_format_status_text() -> None:
    text = views.format_status(views.status_view(MD, DEPLOYMENTS), NOW)
    assert "Phase:         Progressing" in text
    assert "Stable:        7d9f6c (model version 1.0.0)" in text
    assert "Candidate:     ab12ef (model version 1.1.0)" in text
    assert "Step:          2/4: analysis 5m" in text
    assert "Canary weight: 10% (approximate: replica ratio)" in text
    assert "started 5m ago; step started 2m ago; analyses passed 1 failed 0 inconclusive 1 errors 0" in text
    lines = text.splitlines()
    assert any(line.split()[:5] == ["stable", "7d9f6c", "1.0.0", "4", "4"] for line in lines)
    assert any(line.split()[:5] == ["candidate", "ab12ef", "1.1.0", "1", "1"] for line in lines)
    assert any(line.split()[:3] == ["Progressing", "True", "RollingOut"] for line in lines)
    assert any(line.split()[:4] == ["60s", "error-rate", "Passed", "0.008333"] for line in lines)
    assert "SLA:           policy gold, compliant yes, budget left 60%" in text
    assert "floor 6, model holtWinters (sMAPE 12.3%), peak 231.5 at 2025-03-04T12:10:00Z" in text
    assert "Placement:     eu-only (jurisdiction EU)" in text
    assert any(line.split()[:5] == ["eu-west-1", "2", "1", "2", "1"] for line in lines)


def test_weight_is_not_called_approximate_with_a_mesh_router() -> None:
    md = copy.deepcopy(MD)
    md["status"]["rollout"]["weightApproximate"] = False
    assert "Canary weight: 10%\n" in views.format_status(views.status_view(md, []), NOW)


def test_idle_resource_shows_no_analysis_counters() -> None:
    md = copy.deepcopy(MD)
    md["status"]["candidateRevision"] = None
    md["status"]["rollout"].update(
        passed=0, failed=0, inconclusive=0, errors=0, startedAt=None, stepStartedAt=None
    )
    text = views.format_status(views.status_view(md, []), NOW)
    assert "analyses" not in text and "Rollout:" not in text and "Step:" not in text


def test_status_of_a_fresh_resource_does_not_crash() -> None:
    md = {
        "metadata": {"name": "new", "namespace": "default"},
        "spec": {"model": {"name": "m", "version": "1"}},
    }
    text = views.format_status(views.status_view(md, []), NOW)
    assert "Phase:         Unknown" in text
    assert "Revisions:\n  <none>" in text
    assert "Step:" not in text


def test_implicit_final_analysis_step_is_shown() -> None:
    assert views.canary_steps(MD["spec"]) == [
        "setWeight 10",
        "analysis 5m",
        "setWeight 50",
        "analysis (implicit final gate)",
    ]
    no_gates = {"rollout": {"canary": {"steps": [{"setWeight": 10}, {"pause": {}}]}}}
    assert views.canary_steps(no_gates) == ["setWeight 10", "pause (until promoted)"]
    md = copy.deepcopy(MD)
    md["status"]["currentStepIndex"] = 4
    assert views.step_view(md) == {"index": 4, "total": 4, "description": "steps done: promoting"}


@given(st.integers(min_value=0, max_value=10**9))
def test_age_is_kubectl_like(seconds: int) -> None:
    when = datetime.fromtimestamp(NOW.timestamp() - seconds, UTC)
    text = views.age(when.isoformat(), NOW)
    assert text[-1] in "smhd" and int(text[:-1]) >= 0
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[text[-1]]
    assert int(text[:-1]) * unit <= seconds < (int(text[:-1]) + 1) * unit


# -- history ---------------------------------------------------------------------------------------
EVENTS = [
    {
        "type": "Normal",
        "reason": "WeightSet",
        "message": "weight 10",
        "lastTimestamp": "2025-03-04T11:56:00Z",
        "count": 1,
    },
    {
        "type": "Normal",
        "reason": "RolloutStarted",
        "message": "canary rollout of ab12ef started",
        "eventTime": "2025-03-04T11:55:00.000000Z",
    },
    {
        "type": "Warning",
        "reason": "RolloutPaused",
        "message": "flap",
        "firstTimestamp": "2025-03-04T11:58:00Z",
        "count": 3,
    },
]


def test_history_merges_verdicts_and_events_in_time_order() -> None:
    entries = views.history_view(MD, EVENTS)
    assert [(e["source"], e["reason"]) for e in entries] == [
        ("event", "RolloutStarted"),
        ("event", "WeightSet"),
        ("analysis", "error-rate"),
        ("event", "RolloutPaused"),
        ("analysis", "error-rate"),
    ]
    assert entries[0]["time"] == "2025-03-04T11:55:00Z"
    text = views.format_history(entries)
    assert "(x3)" in text
    assert "value 0.0166, bound max 0.01, stable 0.0046, n=60: only 60 requests < 100" in text
    assert views.format_history([]) == "No analysis history or events found.\n"


# -- SLA -------------------------------------------------------------------------------------------
POLICY = {
    "metadata": {"name": "gold", "namespace": "prod"},
    "spec": {
        "window": "30d",
        "errorBudgetPolicy": "freezeRollouts",
        "objectives": [
            {"name": "availability", "type": "availability", "target": 99.9},
            {"name": "latency", "type": "latency", "target": 99, "latency": {"thresholdMilliseconds": 250}},
            {"name": "accuracy", "type": "quality", "quality": {"metric": "model_accuracy", "min": 0.9}},
        ],
    },
    "status": {
        "compliant": False,
        "errorBudgetRemainingPercent": 0.0,
        "rulesReady": True,
        "models": [
            {
                "name": "fraud",
                "attainment": [
                    {"objective": "availability", "percent": 99.96, "target": 99.9, "compliant": True},
                    {"objective": "latency", "percent": 99.5, "target": 99, "compliant": True},
                ],
                "errorBudgetRemainingPercent": 60.0,
                "budgetTimeRemaining": "3d14h",
                "burnRates": [{"window": "5m", "rate": 29.412}, {"window": "1h", "rate": 5.0}],
                "compliant": True,
                "creditPercent": 0.0,
                "exhausted": False,
            },
            {
                "name": "churn",
                "attainment": [
                    {"objective": "availability", "percent": 98.5, "target": 99.9, "compliant": False}
                ],
                "errorBudgetRemainingPercent": 0.0,
                "budgetTimeRemaining": "0s",
                "burnRates": [],
                "compliant": False,
                "creditPercent": 25.0,
                "exhausted": True,
            },
        ],
    },
}


def test_sla_policies_report() -> None:
    text = views.format_sla_policies([views.sla_policy_view(POLICY)])
    assert "SLAPolicy gold: window 30d, compliant no, budget left 0% (worst model)" in text
    lines = text.splitlines()
    fraud = next(line for line in lines if line.split()[0] == "fraud")
    assert fraud.split()[1:4] == ["yes", "99.96%", "(availability)"]
    assert "3d14h" in fraud and "5m 29.41x, 1h 5x" in fraud
    churn = next(line for line in lines if line.split()[0] == "churn")
    assert churn.split()[1:] == ["no", "98.5%", "(availability)", "0%", "0s", "<none>", "25%", "yes"]
    assert views.format_sla_policies([]) == "No SLAPolicies found.\n"


def test_sla_model_report() -> None:
    view = views.sla_policy_view(POLICY, model="fraud")
    assert [m["name"] for m in view["models"]] == ["fraud"]
    text = views.format_sla_model("fraud", MD["status"]["sla"], view)
    lines = text.splitlines()
    assert any(line.split()[:4] == ["latency", "latency", "faster", "than"] for line in lines)
    accuracy = next(line for line in lines if line.split()[:1] == ["accuracy"])
    assert accuracy.split()[-4:] == ["99", "no", "data", "<none>"]
    assert "Exhausted in:  3d14h" in text
    assert "Credit:        0%" in text
    assert "No SLAPolicy governs" in views.format_sla_model("x", None, None)


# -- forecast --------------------------------------------------------------------------------------
def test_forecast_text_from_status() -> None:
    text = views.format_forecast(views.forecast_view(MD))
    assert "Forecaster:    holtWinters" in text
    assert "Backtest:      12.3% sMAPE (chosen model, held-out day)" in text
    assert "Forecast peak: 231.5 at 2025-03-04T12:10:00Z" in text
    assert "Floor:         6 (HPA minReplicas)" in text
    assert "Burst:         +3.3 allowance (dispersion 3.5)" in text
    assert "HPA:           2..10 replicas, requestsPerSecond 50" in text
    unmeasured = copy.deepcopy(MD)
    del unmeasured["status"]["autoscaling"]["dispersion"]
    assert "Burst:         no allowance (dispersion not measured)" in views.format_forecast(
        views.forecast_view(unmeasured)
    )
    no_forecast = copy.deepcopy(MD)
    no_forecast["status"]["autoscaling"] = {"reason": "InsufficientHistory: 3 of 48 hours", "floor": 2}
    text = views.format_forecast(views.forecast_view(no_forecast))
    assert "Forecast:      none: InsufficientHistory: 3 of 48 hours" in text
    assert "Floor:         2 (HPA minReplicas)" in text
    assert "<none>" not in text


def test_forecast_text_shows_the_tuning_and_observe_mode() -> None:
    md = copy.deepcopy(MD)
    md["status"]["autoscaling"]["mode"] = "observe"
    md["status"]["autoscaling"]["tuning"] = {
        "objective": "maxExtraCostPercent=10",
        "quantile": 0.75,
        "headroomPercent": 5,
        "holdAfterRaiseSeconds": 300,
        "met": True,
        "underProvisionedPercent": 0.4,
        "extraCostPercent": 8.2,
        "reactiveUnderProvisionedPercent": 1.9,
        "replayedFrom": "2025-03-01T12:00:00Z",
        "replayedTo": "2025-03-04T12:00:00Z",
        "reason": "least under-provisioned of 27 settings within maxExtraCostPercent=10",
    }
    text = views.format_forecast(views.forecast_view(md))
    assert "Floor:         6 (mode observe: reported only, the HPA is not changed)" in text
    assert "Objective:     maxExtraCostPercent=10: met" in text
    assert "Tuned:         quantile 0.75, headroom 5%, hold 300s" in text
    assert "Replayed:      0.4% under-provisioned (reactive 1.9%), 8.2% replica-hours vs reactive" in text
    md["status"]["autoscaling"] = {
        "reason": "InsufficientHistory: 3 of 48 hours",
        "tuning": {"objective": "maxUnderProvisionedPercent=1", "met": False, "reason": "not tuned yet"},
    }
    text = views.format_forecast(views.forecast_view(md))
    assert "Objective:     maxUnderProvisionedPercent=1: NOT met" in text
    assert "Tuning:        not tuned yet" in text


def test_forecast_without_prometheus_says_why_instead_of_none_everywhere() -> None:
    # What the predictive controller publishes when the operator has no --prometheus-url.
    md = copy.deepcopy(MD)
    md["status"]["autoscaling"] = {
        "reason": "PrometheusNotConfigured: the operator has no --prometheus-url; the HPA stays reactive",
        "floor": 2,
    }
    text = views.format_forecast(views.forecast_view(md))
    assert "Forecast:      none: PrometheusNotConfigured: the operator has no --prometheus-url" in text
    assert "<none>" not in text
    del md["status"]["autoscaling"]
    text = views.format_forecast(views.forecast_view(md))
    assert "none: the operator has not reported status.autoscaling yet" in text and "<none>" not in text
    md["spec"]["autoscaling"]["predictive"]["enabled"] = False
    assert "spec.autoscaling.predictive.enabled is not true" in views.format_forecast(views.forecast_view(md))


def test_demand_query_default_and_template() -> None:
    # The operator's own query (forecasting.demand), so the plot shows what the operator fits.
    assert pf.demand_query(MD) == 'sum(rate(modelserve_requests_total{namespace="prod",model="fraud"}[5m]))'
    md = copy.deepcopy(MD)
    md["spec"]["autoscaling"]["predictive"]["query"] = 'sum(rate(x{ns="{{namespace}}",m="{{ model }}"}[1m]))'
    assert pf.demand_query(md) == 'sum(rate(x{ns="prod",m="fraud"}[1m]))'


class RangeBackend:
    """A Prometheus backend for the operator's own client: records range queries, answers `result`."""

    def __init__(self, result: list[dict] | Exception):
        self.result = result
        self.calls: list[tuple[str, float, float, str]] = []

    def custom_query(self, query: str, params: dict | None = None, timeout: Any = None) -> Any:
        raise AssertionError("forecast asks for ranges only")

    def custom_query_range(
        self, query: str, start_time: Any, end_time: Any, step: str, params: Any = None, timeout: Any = None
    ) -> Any:
        self.calls.append((query, start_time.timestamp(), end_time.timestamp(), step))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_fetch_demand_sums_series_per_time_and_drops_nan() -> None:
    backend = RangeBackend(
        [
            {"metric": {"region": "a"}, "values": [[600, "1"], [900, "2"], [1200, "NaN"]]},
            {"metric": {"region": "b"}, "values": [[600, "3"]]},
        ]
    )
    client = PrometheusQuery("http://prom:9090", backend=backend)
    assert pf.fetch_demand("http://prom:9090", "q", 0, 1200, client=client) == ([600.0, 900.0], [4.0, 2.0])
    failing = PrometheusQuery("http://prom:9090", backend=RangeBackend(ConnectionError("refused")))
    with pytest.raises(pf.ForecastError, match="refused"):
        pf.fetch_demand("http://prom:9090", "q", 0, 1200, client=failing)


def test_forecast_plot_is_drawn(tmp_path: Path) -> None:
    step = 300
    start = 1_740_000_000 - (1_740_000_000 % 86400)
    times = [start + i * step for i in range(2 * 288)]
    values = [100 + 50 * math.sin(2 * math.pi * (t % 86400) / 86400) for t in times]
    settings = pf.forecast_settings(MD, "6h")
    picture = pf.fit_picture(times, values, settings, now=times[-1] + step)
    assert picture.model == "seasonalNaive"
    assert picture.forecast_times and picture.forecast_times[-1] >= times[-1] + 6 * 3600
    assert all(u >= p for u, p in zip(picture.forecast_upper, picture.forecast_point, strict=True))
    out = tmp_path / "forecast.png"
    pf.plot_picture(str(out), picture, title="prod/fraud", floor=6, floor_demand=pf.floor_capacity(MD, 6))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert pf.floor_capacity(MD, 6) == 300.0


def test_forecast_plot_uses_the_quantile_in_force() -> None:
    """The spec's quantile when set; else the one the self-tuning chose (status); else 0.75."""
    md = copy.deepcopy(MD)
    predictive = md["spec"]["autoscaling"]["predictive"]
    predictive.pop("quantile", None)
    assert pf.forecast_settings(md).quantile == 0.75
    md["status"]["autoscaling"]["tuning"] = {"objective": "maxExtraCostPercent=10", "quantile": 0.5}
    assert pf.forecast_settings(md).quantile == 0.5
    predictive["quantile"] = 0.9
    assert pf.forecast_settings(md).quantile == 0.9


def test_short_history_still_plots_the_history(tmp_path: Path) -> None:
    times = [1_740_000_000 + i * 300 for i in range(24)]
    picture = pf.fit_picture(times, [10.0] * 24, pf.forecast_settings(MD), now=times[-1])
    assert not picture.forecast_times and "insufficient history" in picture.message
    pf.plot_picture(str(tmp_path / "p.png"), picture, title="t", floor=2, floor_demand=None)
    assert (tmp_path / "p.png").exists()


# -- main() on a fake cluster ------------------------------------------------------------------------
class FakeCluster:
    """In-memory stand-in for plugin.Cluster: the same reads, and it records patches."""

    def __init__(self, objects: dict[str, list[dict]]):
        self.objects = objects
        self.patches: list[tuple[str, str, dict]] = []

    def get(self, kind: str, namespace: str | None, name: str) -> dict | None:
        return next((o for o in self.objects.get(kind, []) if o["metadata"]["name"] == name), None)

    def list_objects(
        self, kind: str, namespace: str | None = None, *, labels: str | None = None, fields: str | None = None
    ) -> list[dict]:
        items = self.objects.get(kind, [])
        if labels:
            key, value = labels.split("=")
            items = [o for o in items if (o["metadata"].get("labels") or {}).get(key) == value]
        return items

    model_deployment = plugin.Cluster.model_deployment
    owned = plugin.Cluster.owned

    def merge_patch_annotations(self, namespace: str, name: str, patch: dict) -> dict:
        self.patches.append((namespace, name, patch))
        return {}


def node(name: str, region: str | None) -> dict:
    labels = {"topology.kubernetes.io/region": region} if region else {}
    return {
        "metadata": {"name": name, "labels": labels},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def pod(name: str, node_name: str | None, region: str) -> dict:
    return {
        "metadata": {
            "name": name,
            "namespace": "prod",
            "labels": {"app.kubernetes.io/instance": "fraud", "modelserve.io/region": region},
        },
        "spec": {"nodeName": node_name} if node_name else {},
        "status": {"phase": "Running" if node_name else "Pending"},
    }


PLACEMENT = {
    "kind": "RegionPlacement",
    "metadata": {"name": "eu-only"},
    "spec": {
        "residency": {
            "jurisdiction": "EU",
            "allowedRegions": ["eu-central-1", "eu-west-1"],
            "deniedRegions": ["us-east-1"],
        },
        "regions": [{"name": "eu-central-1"}, {"name": "eu-west-1"}],
    },
}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    cluster = FakeCluster(
        {
            "ModelDeployment": [copy.deepcopy(MD)],
            "Deployment": copy.deepcopy(DEPLOYMENTS),
            "Event": copy.deepcopy(EVENTS),
            "SLAPolicy": [copy.deepcopy(POLICY)],
            "RegionPlacement": [PLACEMENT],
            "Node": [node("n1", "eu-central-1"), node("n2", "us-east-1")],
            "Pod": [
                pod("fraud-a", "n1", "eu-central-1"),
                pod("fraud-b", "n2", "eu-west-1"),
                pod("fraud-c", None, "eu-west-1"),
            ],
        }
    )
    monkeypatch.setattr(plugin, "Cluster", lambda kubeconfig, context: cluster)
    return cluster


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = plugin.main(list(argv), out=out)
    return code, out.getvalue()


def test_main_pause_patches_only_the_annotation(fake: FakeCluster) -> None:
    code, text = run("-n", "prod", "pause", "fraud")
    assert code == 0
    assert fake.patches == [
        ("prod", "fraud", {"metadata": {"annotations": {"modelserve.io/paused": "true"}}})
    ]
    assert text.startswith("modeldeployment.modelserve.io/fraud: pause requested")


def test_main_promote_full_json(fake: FakeCluster) -> None:
    code, text = run("promote", "fraud", "--full", "-n", "prod", "-o", "json")
    assert code == 0
    data = json.loads(text)
    assert data["patch"]["metadata"]["annotations"]["modelserve.io/promote"].startswith("full@")
    assert fake.patches[0][2] == data["patch"]


def test_main_status_json_and_yaml(fake: FakeCluster) -> None:
    code, text = run("status", "fraud", "-n", "prod", "-o", "json")
    assert code == 0 and json.loads(text)["phase"] == "Progressing"
    code, text = run("-o", "yaml", "-n", "prod", "status", "fraud")
    assert yaml.safe_load(text)["revisions"][0]["modelVersion"] == "1.0.0"


def test_main_residency_uses_the_placement_report(fake: FakeCluster) -> None:
    code, text = run("-n", "prod", "residency", "fraud")
    assert code == 0
    lines = text.splitlines()
    assert lines[0] == "fraud (placement eu-only, jurisdiction EU, allowed eu-central-1, eu-west-1)"
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert rows["fraud-a"][:3] == ["n1", "eu-central-1", "Compliant"]
    assert rows["fraud-b"][:4] == ["n2", "us-east-1", "Violation", "RegionDenied"]
    assert rows["fraud-c"][2] == "Pending"
    code, text = run("-n", "prod", "residency", "-o", "json")
    assert [p["pod"] for p in json.loads(text)[0]["pods"]] == ["fraud-a", "fraud-b", "fraud-c"]


def test_main_history_sla_forecast(fake: FakeCluster) -> None:
    code, text = run("-n", "prod", "history", "fraud")
    assert code == 0 and "RolloutStarted" in text and "error-rate" in text
    code, text = run("-n", "prod", "sla", "fraud")
    assert code == 0 and "Policy:        gold" in text
    code, text = run("-n", "prod", "sla")
    assert code == 0 and "SLAPolicy gold" in text
    code, text = run("-n", "prod", "forecast", "fraud")
    assert code == 0 and "Floor:         6" in text


def test_main_not_found_and_plot_without_prometheus(fake: FakeCluster, capsys: pytest.CaptureFixture) -> None:
    assert run("-n", "prod", "status", "nope")[0] == 1
    assert 'modeldeployments.modelserve.io "nope" not found' in capsys.readouterr().err
    assert run("-n", "prod", "forecast", "fraud", "--plot", "x.png", "--prometheus-url", "")[0] == 1
    assert "--prometheus-url" in capsys.readouterr().err
    assert fake.patches == []


def test_watch_refreshes_until_interrupted(fake: FakeCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(plugin.time, "sleep", sleep)
    code, text = run("-n", "prod", "status", "fraud", "--watch")
    assert code == 0
    assert sleeps == [2.0, 2.0]
    assert text.count("Phase:         Progressing") == 2


def test_fetch_demand_asks_prometheus_for_a_range_on_the_operators_grid() -> None:
    backend = RangeBackend([{"metric": {}, "values": [[1000, "5"], [1060, "7"]]}])
    client = PrometheusQuery("http://prom:9090/", backend=backend)
    times, values = pf.fetch_demand("http://prom:9090/", "sum(rate(x[5m]))", 0, 86400, client=client)
    assert (times, values) == ([1000.0, 1060.0], [5.0, 7.0])
    assert backend.calls == [("sum(rate(x[5m]))", 0.0, 86400.0, "300s")]  # forecasting.demand.STEP_SECONDS
    # A history longer than one range query may hold is fetched in several.
    backend.calls.clear()
    pf.fetch_demand("http://prom:9090/", "sum(rate(x[5m]))", 0, 60 * 86400, client=client)
    assert len(backend.calls) == 2


def test_main_forecast_plot(fake: FakeCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    start = 1_740_000_000 - (1_740_000_000 % 86400)
    times = [float(start + i * 300) for i in range(2 * 288)]
    values = [100 + 50 * math.sin(2 * math.pi * (t % 86400) / 86400) for t in times]
    queries: list[str] = []

    def fetch(url: str, query: str, begin: float, end: float) -> tuple[list[float], list[float]]:
        queries.append(query)
        assert end - begin == 3 * 86400  # spec.autoscaling.predictive.history
        return times, values

    monkeypatch.setattr(pf, "fetch_demand", fetch)
    monkeypatch.setattr(plugin.time, "time", lambda: times[-1] + 300)
    png = tmp_path / "fraud.png"
    code, text = run(
        "-n", "prod", "forecast", "fraud", "--prometheus-url", "http://prom:9090", "--plot", str(png)
    )
    assert code == 0, text
    assert queries == [pf.demand_query(MD)]
    assert "Refit here:    seasonalNaive" in text and f"Plot:          {png}" in text
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_namespace_from_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = {
        "current-context": "a",
        "contexts": [
            {"name": "a", "context": {"cluster": "c", "namespace": "ml"}},
            {"name": "b", "context": {"cluster": "c"}},
        ],
    }
    assert plugin.namespace_from_kubeconfig(config, None) == "ml"
    assert plugin.namespace_from_kubeconfig(config, "b") is None
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert plugin.default_namespace(str(path), None) == "ml"
    assert plugin.default_namespace(str(path), "b") == "default"


def test_an_unparsable_rollout_is_said_not_guessed() -> None:
    md = copy.deepcopy(MD)
    md["spec"]["rollout"]["canary"]["steps"] = [{"setWeight": 50}, {"setWeight": 10}]
    assert views.canary_steps(md["spec"]) == []
    notes = spec_notes(build_control_request("promote", now_ns=1), md)
    assert any("spec.rollout.canary.steps[1].setWeight" in n for n in notes)
    steps = {"rollout": {"canary": {"steps": [{"pause": {"duration": "90s"}}, {"analysis": {}}]}}}
    assert views.canary_steps(steps) == ["pause 1m30s", "analysis (one passing verdict)"]
