"""SLAPolicy SLIs from each model's runtime's own metrics (slo/sources.py, slo/queries.py, slo/rules.py).

The custom runtime keeps the modelserve metric contract exactly; MLServer, Triton and vLLM models read
their runtime's mapping (the same one the canary gates use); a policy over several runtimes gets one
term per runtime. The promtool tests run the generated rules on series named as MLServer exports them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from modelserve.api.errors import SpecError
from modelserve.api.gates import GateSpec
from modelserve.reconcile import sla
from modelserve.reconcile.sla import SLAViews
from modelserve.runtimes import builtin_catalogue
from modelserve.runtimes.catalogue import load_catalogue
from modelserve.slo import parse_sla_policy, queries_for_status, render_rule_groups
from modelserve.slo.gates import rollout_gate_from_policy
from modelserve.slo.rules import PAGE_ALERT, dump_rule_file
from modelserve.slo.sources import (
    check_native_slis,
    model_runtime,
    models_by_source,
    native_latency_le,
    native_runtimes,
)

from tests.unit.test_sla_controller import FakeKube, FakeQuery, _ctx, model
from tests.unit.test_sla_controller import policy as sla_body

CATALOGUE = builtin_catalogue()
MLSERVER, TRITON, VLLM, CUSTOM = (CATALOGUE.runtimes[n] for n in ("mlserver", "triton", "vllm", "custom"))
NS, POLICY = "prod", "gold"


def policy(threshold_ms: float = 250, client_errors: bool = False) -> object:
    return parse_sla_policy(
        {
            "objectives": [
                {
                    "name": "availability",
                    "type": "availability",
                    "target": 99.9,
                    "countClientErrorsAsBad": client_errors,
                },
                {
                    "name": "fast",
                    "type": "latency",
                    "target": 99,
                    "latency": {"thresholdMilliseconds": threshold_ms},
                },
            ]
        }
    )


def md(name: str, **spec: object) -> dict:
    return {"metadata": {"name": name, "namespace": NS}, "spec": spec}


def exprs(groups: list[dict]) -> str:
    return "\n".join(r["expr"] for g in groups for r in g["rules"])


def test_models_resolve_to_their_runtime_and_custom_stays_on_the_contract() -> None:
    bodies = [
        md("iris", model={"format": "sklearn"}),
        md("chat", model={"format": "llm"}),
        md("legacy", model={"format": "sklearn"}, runtime={"image": "r/x:1"}),  # image only: custom
        md("odd", model={"format": "nope"}),  # no runtime serves it: its own reconcile says so
    ]
    assert model_runtime(CATALOGUE, bodies[2]) == CUSTOM
    runtimes = native_runtimes(CATALOGUE, bodies)
    assert runtimes == {"iris": MLSERVER, "chat": VLLM}
    groups = models_by_source(["iris", "chat", "legacy", "odd"], runtimes)
    assert [(r.name if r else None, ms) for r, ms in groups] == [
        (None, ["legacy", "odd"]),
        ("mlserver", ["iris"]),
        ("vllm", ["chat"]),
    ]


def test_custom_runtime_rules_are_exactly_the_contract() -> None:
    spec = policy(threshold_ms=300)
    contract = render_rule_groups(POLICY, NS, spec, ["a", "b"])
    assert render_rule_groups(POLICY, NS, spec, ["a", "b"], runtimes={"a": CUSTOM, "b": CUSTOM}) == contract
    assert "modelserve_requests_total" in exprs(contract)


def test_mlserver_model_reads_mlservers_own_metrics() -> None:
    text = exprs(render_rule_groups(POLICY, NS, policy(), ["iris"], runtimes={"iris": MLSERVER}))
    assert "modelserve_" not in text.replace("modelserve:", "")
    infer = 'path=~"/v2/models/[^/]+(/versions/[^/]+)?/infer"'
    assert f'rest_server_requests_total{{namespace="{NS}", model=~"iris",{infer}}}[5m]' in text
    assert f'{infer},status_code=~"5.."' in text
    assert (
        f'rest_server_request_duration_seconds_bucket{{namespace="{NS}", model=~"iris", le="0.25",{infer}}}'
        in text
    )
    assert 'rest_server_request_duration_seconds_bucket{namespace="prod", model=~"iris", le="+Inf",' in text
    with_4xx = exprs(
        render_rule_groups(POLICY, NS, policy(client_errors=True), ["iris"], runtimes={"iris": MLSERVER})
    )
    assert 'status_code=~"[45].."' in with_4xx


def test_mixed_policy_has_one_term_per_runtime() -> None:
    runtimes = {"iris": MLSERVER, "chat": VLLM}
    groups = render_rule_groups(
        POLICY, NS, policy(threshold_ms=500), ["iris", "chat", "legacy"], runtimes=runtimes
    )
    ratio = next(r for r in groups[0]["rules"] if r["record"] == "modelserve:sli_error_ratio:rate5m")
    expr = ratio["expr"]
    assert 'modelserve_requests_total{namespace="prod", model=~"legacy"}' in expr
    assert 'rest_server_requests_total{namespace="prod", model=~"iris",' in expr
    assert 'http_requests_total{namespace="prod", model=~"chat",' in expr
    assert expr.count("\nor\n") == 4  # bad and total: three terms each


def test_status_queries_read_the_runtime_of_the_model() -> None:
    queries = queries_for_status(policy(), NS, "iris", runtime=MLSERVER)
    total = queries["availability/1h/total"]
    assert total.startswith("sum (increase(rest_server_requests_total{") and "[1h]" in total
    assert 'le="0.25"' in queries["fast/slo/good"]
    assert queries_for_status(policy(), NS, "a", runtime=CUSTOM) == queries_for_status(policy(), NS, "a")


def test_triton_latency_threshold_in_milliseconds() -> None:
    text = exprs(
        render_rule_groups(POLICY, NS, policy(threshold_ms=500), ["resnet"], runtimes={"resnet": TRITON})
    )
    assert (
        'nv_inference_first_response_histogram_ms_bucket{namespace="prod", model=~"resnet", le=~"500|500.0"}'
        in text
    )


def test_threshold_off_the_runtimes_buckets_names_the_field() -> None:
    with pytest.raises(SpecError) as err:
        check_native_slis(policy(threshold_ms=300), {"iris": MLSERVER, "legacy": CUSTOM})
    assert err.value.field_path == "spec.objectives[1].latency.thresholdMilliseconds"
    assert "rest_server_request_duration_seconds" in str(err.value) and "250, 500" in str(err.value)
    assert "models iris run on mlserver" in str(err.value)
    check_native_slis(policy(threshold_ms=300), {"legacy": CUSTOM})  # the contract picks a bucket itself


def test_client_errors_on_a_runtime_that_cannot_tell_them_apart_names_the_field() -> None:
    with pytest.raises(SpecError) as err:
        check_native_slis(policy(threshold_ms=500, client_errors=True), {"resnet": TRITON})
    assert err.value.field_path == "spec.objectives[0].countClientErrorsAsBad"
    check_native_slis(policy(client_errors=True), {"iris": MLSERVER})


@given(
    runtime=st.sampled_from([MLSERVER, TRITON, VLLM]),
    threshold_ms=st.floats(min_value=0.5, max_value=10_000_000, allow_nan=False),
)
def test_a_threshold_is_accepted_exactly_when_it_is_a_bucket(runtime: object, threshold_ms: float) -> None:
    spec = policy(threshold_ms=threshold_ms)
    hist = runtime.metrics.latency  # type: ignore[attr-defined]
    boundaries_ms = [b * hist.unit_seconds * 1000 for b in hist.buckets]
    on_a_bucket = any(abs(b - threshold_ms) <= 1e-9 * max(1.0, threshold_ms) for b in boundaries_ms)
    try:
        le = native_latency_le(spec.objectives[1], runtime)  # type: ignore[arg-type]
    except SpecError:
        assert not on_a_bucket
    else:
        assert on_a_bucket and le in hist.buckets


@given(st.sampled_from(sorted(MLSERVER.metrics.latency.buckets)))  # type: ignore[union-attr]
def test_every_mlserver_bucket_is_a_valid_threshold(le: float) -> None:
    assert native_latency_le(policy(threshold_ms=le * 1000).objectives[1], MLSERVER) == le  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------- promtool
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool (Prometheus 2.x) is not installed")
INFER = "/v2/models/iris/infer"


def counter(per_minute: float, minutes: int) -> str:
    return f"0+{per_minute:g}x{minutes}"


def mixed_series(minutes: int, iris_error: float, legacy_error: float) -> list[dict[str, str]]:
    """MLServer's own series for `iris` (plus a failing health-check path that must not count) and
    contract series for `legacy`, 1000 requests/minute each; 2% of iris's inferences take 0.25-0.5s."""
    iris = f'namespace="{NS}", model="iris", revision="r1", region="eu"'
    legacy = f'namespace="{NS}", model="legacy", revision="r1", region="eu"'
    infer = f'{iris}, method="POST", path="{INFER}"'

    def one(series: str, per_minute: float) -> dict[str, str]:
        return {"series": series, "values": counter(per_minute, minutes)}

    ok = 1000 * (1 - iris_error)
    series = [
        one(f'rest_server_requests_total{{{infer}, status_code="200"}}', ok),
        one(f'rest_server_requests_total{{{infer}, status_code="500"}}', 1000 * iris_error),
        one(f'rest_server_requests_total{{{iris}, path="/v2/health/ready", status_code="500"}}', 5000),
        one(f'modelserve_requests_total{{{legacy}, code="200"}}', 1000 * (1 - legacy_error)),
        one(f'modelserve_requests_total{{{legacy}, code="500"}}', 1000 * legacy_error),
    ]
    for le, fraction in (("0.1", 0.98), ("0.25", 0.98), ("0.5", 1.0), ("+Inf", 1.0)):
        series.append(
            one(f'rest_server_request_duration_seconds_bucket{{{infer}, le="{le}"}}', ok * fraction)
        )
    return series


@needs_promtool
def test_promtool_mixed_policy_sli_budget_and_page(tmp_path: Path) -> None:
    budget = "modelserve:slo_error_budget_remaining:ratio"
    ratio5m = "modelserve:sli_error_ratio:rate5m"
    spec = policy(threshold_ms=250)
    groups = render_rule_groups(POLICY, NS, spec, ["iris", "legacy"], runtimes={"iris": MLSERVER})
    rules = tmp_path / "rules.yaml"
    rules.write_text(dump_rule_file(groups))
    check = subprocess.run(
        [PROMTOOL, "check", "rules", str(rules)], capture_output=True, text=True, timeout=120
    )
    assert check.returncode == 0, check.stdout + check.stderr

    def own(model: str, objective: str) -> str:
        return f'namespace="{NS}", sla_policy="{POLICY}", model="{model}", objective="{objective}"'

    def sample(expr: str, model: str, objective: str, slo_type: str, value: float, extra: str = "") -> dict:
        return {
            "expr": expr,
            "eval_time": "120m",
            "exp_samples": [
                {"labels": f'{{{own(model, objective)}, slo_type="{slo_type}"{extra}}}', "value": value}
            ],
        }

    tests = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {  # iris fails 5% of its inferences (50x the budget): it pages; legacy (0.05%) does not.
                "interval": "1m",
                "input_series": mixed_series(120, iris_error=0.05, legacy_error=0.0005),
                "promql_expr_test": [
                    sample(
                        f"round(modelserve:sli_error_ratio:rate5m{{{own('iris', 'availability')}}}, 0.0001)",
                        "iris",
                        "availability",
                        "availability",
                        0.05,
                    ),
                    sample(
                        f"round({ratio5m}{{{own('legacy', 'availability')}}}, 0.0001)",
                        "legacy",
                        "availability",
                        "availability",
                        0.0005,
                    ),
                    # 2% of the inferences took 0.25-0.5s: the latency SLI reads MLServer's histogram.
                    sample(
                        f"round(modelserve:sli_error_ratio:rate1h{{{own('iris', 'fast')}}}, 0.0001)",
                        "iris",
                        "fast",
                        "latency",
                        0.02,
                    ),
                    sample(
                        f"round({budget}{{{own('legacy', 'availability')}}}, 0.001)",
                        "legacy",
                        "availability",
                        "availability",
                        0.5,
                        ', slo_window="30d"',
                    ),
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "120m",
                        "alertname": PAGE_ALERT,
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "page",
                                    "long_window": lw,
                                    "short_window": sw,
                                    "sla_policy": POLICY,
                                    "objective": "availability",
                                    "slo_type": "availability",
                                    "namespace": NS,
                                    "model": "iris",
                                }
                            }
                            for lw, sw in (("1h", "5m"), ("6h", "30m"))
                        ],
                    }
                ],
            }
        ],
    }
    for group in groups:  # exact alert expectations: drop the templated texts
        for rule in group["rules"]:
            rule.pop("annotations", None)
    rules.write_text(dump_rule_file(groups))
    test_file = tmp_path / "test.yaml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run(
        [PROMTOOL, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_policy_gates_read_the_runtime_of_the_model() -> None:
    gates = rollout_gate_from_policy(policy(), MLSERVER)
    assert gates[0] == {"name": "slo-availability", "builtin": "errorRate", "max": 0.0144}
    latency = gates[1]["query"]
    assert (
        'rest_server_request_duration_seconds_bucket{namespace="{{namespace}}", model="{{model}}",' in latency
    )
    assert 'revision="{{revision}}", le="0.25",path=~' in latency
    for gate in gates:
        GateSpec.from_mapping(gate)
    with_4xx = rollout_gate_from_policy(policy(client_errors=True), MLSERVER)[0]["query"]
    assert 'status_code=~"[45].."' in with_4xx
    assert rollout_gate_from_policy(policy(threshold_ms=300), MLSERVER)[1:] == []  # InvalidSpec on the policy
    assert rollout_gate_from_policy(policy(), CUSTOM) == rollout_gate_from_policy(policy())


def test_reconcile_reads_mlserver_metrics_and_reports_an_invalid_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shell: the PrometheusRule and the status queries of an MLServer model read MLServer's
    series; a latency threshold off its buckets makes the policy InvalidSpec naming the field."""
    iris = model("iris")
    iris["spec"]["model"]["format"] = "sklearn"
    fake = FakeQuery({})
    seen: list[str] = []
    monkeypatch.setattr(fake, "instant", lambda promql, time=None: seen.append(promql))
    monkeypatch.setitem(sla._QUERY_CLIENTS, "http://prom", fake)
    kube = FakeKube([sla_body(selector={}), iris])
    sla.reconcile_sla_policy(_ctx(kube), "prod", "gold")
    rule = kube.objects[("PrometheusRule", "modelserve-sla-gold")]
    assert "rest_server_requests_total" in exprs(rule["spec"]["groups"])
    assert seen and all("rest_server_requests_total" in q for q in seen)

    body = sla_body(selector={})
    body["spec"]["objectives"].append(
        {"name": "fast", "type": "latency", "target": 99, "latency": {"thresholdMilliseconds": 300}}
    )
    kube = FakeKube([body, iris])
    assert sla.reconcile_sla_policy(_ctx(kube), "prod", "gold") == sla.DEFAULT_INTERVAL_SECONDS
    ready = next(
        c for c in kube.objects[("SLAPolicy", "gold")]["status"]["conditions"] if c["type"] == "Ready"
    )
    assert ready["status"] == "False" and ready["reason"] == "InvalidSpec"
    assert ready["message"].startswith(
        "spec.objectives[1].latency.thresholdMilliseconds: 300ms is not a bucket"
    )


def test_model_reconcile_gates_read_the_clusters_catalogue_not_the_builtin() -> None:
    """SLAViews (the ModelDeployment reconcile's SLA source) takes the live catalogue: a cluster whose
    ConfigMap gives MLServer other latency buckets gets gates on those buckets."""
    cluster = load_catalogue(
        "runtimes:\n  mlserver:\n    metrics:\n      latency:\n        buckets: [0.1, 0.3, 1.0]\n"
    )
    assert not cluster.errors
    body = {
        "metadata": {"name": POLICY, "namespace": NS},
        "spec": {
            "objectives": [
                {"name": "fast", "type": "latency", "target": 99, "latency": {"thresholdMilliseconds": 300}}
            ]
        },
    }

    class Kube:
        def list(self, kind: str, namespace: str | None) -> list[dict]:
            return [dict(body)]

    model = md(
        "iris",
        slaPolicyRef={"name": POLICY},
        model={"name": "iris", "format": "sklearn", "uri": "s3://m/iris"},
    )
    builtin_view = SLAViews(Kube()).view_for(model)  # type: ignore[arg-type]
    cluster_view = SLAViews(Kube(), lambda: cluster.catalogue).view_for(model)  # type: ignore[arg-type]
    assert builtin_view is not None and cluster_view is not None
    assert builtin_view.gates == ()  # 300 ms is no bucket of the built-in MLServer histogram
    assert len(cluster_view.gates) == 1 and 'le="0.3"' in cluster_view.gates[0]["query"]
