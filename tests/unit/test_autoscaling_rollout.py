"""Autoscaling through a rollout: per-revision HPA bounds, the model's size, and who owns spec.replicas."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import yaml
from hypothesis import given
from hypothesis import strategies as st
from modelserve.builders.workloads import METRIC_FOR_TARGET
from modelserve.forecasting.cycle import PredictiveFloor
from modelserve.k8s.apply import HANDOVER_FIELD_MANAGER, owns_field, replicas_handover
from modelserve.placement.bounds import regional_bounds
from modelserve.placement.model import RegionShare
from modelserve.planner.modeldeployment import Observed, plan_model_deployment
from modelserve.rollout.scaling import model_replicas, split_bounds
from modelserve.routers.replicas import candidate_share
from modelserve.runtimes import builtin_catalogue
from modelserve.runtimes.adapter_rules import REQUESTS_PER_SECOND, adapter_rules
from modelserve.runtimes.scrape import pod_monitor_relabelings

from tests.simulator.behaviour import Outcomes
from tests.simulator.metrics import SimulatorMetrics

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


@st.composite
def bounds_and_weight(draw: st.DrawFn) -> tuple[int, int, int, int]:
    high = draw(st.integers(1, 200))
    low = draw(st.integers(0, high))
    weight = draw(st.integers(0, 100))
    need = draw(st.integers(0, high))
    return low, high, weight, need


@given(bounds_and_weight())
def test_split_bounds_are_valid_hpa_bounds_that_keep_scale_before_weight(
    args: tuple[int, int, int, int],
) -> None:
    low, high, weight, need = args
    stable, candidate = split_bounds(low, high, weight, need)
    for b in (stable, candidate):
        assert 1 <= b.min_replicas <= b.max_replicas
    assert candidate.min_replicas >= need  # the machine's Ready count before the weight moves
    # The minima never add up to less than the user's minimum (or the predictive floor).
    assert stable.min_replicas + candidate.min_replicas >= low


@given(bounds_and_weight())
def test_split_maxima_add_up_to_the_users_maximum_at_a_settled_weight(
    args: tuple[int, int, int, int],
) -> None:
    low, high, weight, need = args
    settled = min(need, candidate_share(high, weight))  # not pre-scaled ahead of the next weight
    stable, candidate = split_bounds(low, high, weight, settled)
    total = stable.max_replicas + candidate.max_replicas
    if high >= 2 and 0 < weight < 100 and high * weight / 100 <= high - 1:
        assert total == high
    else:  # one pod each is the least two serving revisions can run on
        assert total <= max(high, 2) + 1
    # Above the user's minimum only by what the candidate must run for its share, and one pod each.
    assert stable.min_replicas + candidate.min_replicas <= max(low, 1) + max(settled, 1)


@given(bounds_and_weight(), st.lists(st.integers(1, 5), min_size=1, max_size=4))
def test_regional_and_per_revision_bounds_add_within_the_users(
    args: tuple[int, int, int, int], weights: list[int]
) -> None:
    low, high, weight, need = args
    regions = [RegionShare(name=f"r{i}", weight=w) for i, w in enumerate(weights)]
    settled = min(need, candidate_share(high, weight))
    total_max = total_min = 0
    for b in split_bounds(low, high, weight, settled):
        regional = regional_bounds(b.min_replicas, b.max_replicas, regions)
        assert sum(r.max_replicas for r in regional.values()) >= b.min_replicas
        assert sum(r.min_replicas for r in regional.values() if r.serves) >= b.min_replicas
        for r in regional.values():
            assert r.min_replicas <= r.max_replicas
        total_max += sum(r.max_replicas for r in regional.values())
        total_min += sum(r.min_replicas for r in regional.values() if r.serves)
    assert total_min >= low
    if high >= 2 * len(regions) and 0 < weight < 100 and high * weight / 100 <= high - len(regions):
        assert total_max <= high + len(regions)  # a region that may serve keeps one pod per revision


@given(st.integers(1, 500), st.integers(0, 99))
def test_model_size_from_the_stables_share_covers_the_whole(total: int, weight: int) -> None:
    stable = -(-total * (100 - weight) // 100)  # what the stable's HPA runs for its share
    size = model_replicas(stable, 10_000, weight)
    assert total <= size <= total + -(-100 // (100 - weight))
    assert model_replicas(stable, 7, 100) == 7  # at weight 100 the candidate is the whole


def test_split_examples() -> None:
    stable, candidate = split_bounds(2, 10, 25, 3)
    assert (stable.min_replicas, stable.max_replicas) == (2, 7)
    assert (candidate.min_replicas, candidate.max_replicas) == (3, 3)
    # Before the first weight the candidate is pinned at what the first step needs.
    stable, candidate = split_bounds(4, 10, 0, 2)
    assert (stable.min_replicas, stable.max_replicas, candidate.min_replicas, candidate.max_replicas) == (
        4,
        10,
        2,
        2,
    )


# -- the planner through a rollout ----------------------------------------------------------------------


def md(version: str = "1") -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "iris", "namespace": "ml", "uid": "u-1", "generation": 1},
        "spec": {
            "model": {
                "name": "iris",
                "version": version,
                "uri": f"s3://m/iris/{version}",
                "format": "sklearn",
            },
            "runtime": {"image": "srv:1"},
            "autoscaling": {"minReplicas": 2, "maxReplicas": 10, "target": {"averageValue": 5}},
            "rollout": {"strategy": "canary", "canary": {"steps": [{"setWeight": 25}, {"pause": {}}]}},
        },
    }


def kinds(plan: object, kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in plan.desired if o["kind"] == kind}  # type: ignore[attr-defined]


def running(dep: dict, replicas: int) -> dict:
    """A live Deployment: what the HPA (or our plan) scaled it to, all Ready."""
    dep = copy.deepcopy(dep)
    dep["spec"]["replicas"] = replicas
    dep["status"] = {"replicas": replicas, "readyReplicas": replicas}
    return dep


def test_each_revision_scales_with_its_share_and_the_operator_never_owns_hpa_replicas() -> None:
    first = plan_model_deployment(md(), Observed(), NOW)
    (stable_name,) = kinds(first, "Deployment")
    assert kinds(first, "Deployment")[stable_name]["spec"]["replicas"] == 2  # created at the minimum
    hpa = kinds(first, "HorizontalPodAutoscaler")["iris"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    # The HPA scaled the stable to 8; a new version starts a canary.
    live = {stable_name: running(kinds(first, "Deployment")[stable_name], 8)}
    body = md("2")
    body["status"] = first.status
    start = plan_model_deployment(body, Observed(deployments=live), NOW)
    deps = kinds(start, "Deployment")
    candidate_name = next(n for n in deps if n != stable_name)
    assert "replicas" not in deps[stable_name]["spec"]  # the stable's HPA keeps it
    assert deps[candidate_name]["spec"]["replicas"] == 2  # created at 25 % of 8, before any weight
    hpas = kinds(start, "HorizontalPodAutoscaler")
    assert hpas["iris"]["spec"]["scaleTargetRef"]["name"] == stable_name
    assert hpas[candidate_name]["spec"]["scaleTargetRef"]["name"] == candidate_name
    assert (hpas[candidate_name]["spec"]["minReplicas"], hpas[candidate_name]["spec"]["maxReplicas"]) == (
        2,
        2,
    )
    assert start.status["rollout"].get("canaryWeight", 0) == 0 if "rollout" in start.status else True

    # Its two pods are Ready: the weight moves to 25 %, and the bounds split by it.
    live[candidate_name] = running(deps[candidate_name], 2)
    body["status"] = start.status
    step = plan_model_deployment(body, Observed(deployments=live), NOW + timedelta(seconds=5))
    assert step.status["canaryWeight"] == 25
    hpas = kinds(step, "HorizontalPodAutoscaler")
    assert (hpas["iris"]["spec"]["minReplicas"], hpas["iris"]["spec"]["maxReplicas"]) == (2, 7)
    assert hpas[candidate_name]["spec"]["maxReplicas"] == 3
    assert hpas[candidate_name]["spec"]["minReplicas"] >= 2
    deps = kinds(step, "Deployment")
    assert "replicas" not in deps[stable_name]["spec"] and "replicas" not in deps[candidate_name]["spec"]

    # Demand doubles: both HPAs scale up (the stable to 7 for its 75 %, the candidate to 3).
    live[stable_name] = running(live[stable_name], 7)
    live[candidate_name] = running(live[candidate_name], 3)
    body["status"] = step.status
    surge = plan_model_deployment(body, Observed(deployments=live), NOW + timedelta(seconds=10))
    assert surge.status["canaryWeight"] == 25
    deps = kinds(surge, "Deployment")
    assert all("replicas" not in d["spec"] for d in deps.values())  # no write reverses the HPAs
    # The model is now 7 / 75 % = 10 replicas; the candidate's minimum follows its share of it.
    assert kinds(surge, "HorizontalPodAutoscaler")[candidate_name]["spec"]["minReplicas"] == 3

    # Promotion: the candidate is scaled to the whole model before it takes all traffic ...
    body["spec"]["rollout"]["promote"] = "full"
    body["metadata"]["annotations"] = {"modelserve.io/promote": "full"}
    body["status"] = surge.status
    promoting = plan_model_deployment(body, Observed(deployments=live), NOW + timedelta(seconds=15))
    cand_hpa = kinds(promoting, "HorizontalPodAutoscaler")[candidate_name]
    assert cand_hpa["spec"]["minReplicas"] == 10 and cand_hpa["spec"]["maxReplicas"] == 10
    # ... and once its pods are Ready it is stable with the stable's HPA and the user's bounds, keeping
    # the replicas it reached; the previous stable is the operator's again (kept, then removed).
    live[candidate_name] = running(live[candidate_name], 10)
    body["status"] = promoting.status
    done = plan_model_deployment(body, Observed(deployments=live), NOW + timedelta(seconds=20))
    assert done.status["stableRevision"] != promoting.status["stableRevision"]
    hpas = kinds(done, "HorizontalPodAutoscaler")
    assert set(hpas) == {"iris"}
    assert hpas["iris"]["spec"]["scaleTargetRef"]["name"] == candidate_name
    assert (hpas["iris"]["spec"]["minReplicas"], hpas["iris"]["spec"]["maxReplicas"]) == (2, 10)
    deps = kinds(done, "Deployment")
    assert "replicas" not in deps[candidate_name]["spec"]
    assert deps[stable_name]["spec"]["replicas"] == 7  # scale-down delay: the operator holds it


def test_a_rollback_gives_the_stable_its_full_bounds_at_once() -> None:
    first = plan_model_deployment(md(), Observed(), NOW)
    (stable_name,) = kinds(first, "Deployment")
    live = {stable_name: running(kinds(first, "Deployment")[stable_name], 8)}
    body = md("2")
    body["status"] = first.status
    start = plan_model_deployment(body, Observed(deployments=live), NOW)
    candidate_name = next(n for n in kinds(start, "Deployment") if n != stable_name)
    live[candidate_name] = running(kinds(start, "Deployment")[candidate_name], 2)
    body["status"] = start.status
    step = plan_model_deployment(body, Observed(deployments=live), NOW + timedelta(seconds=5))
    assert kinds(step, "HorizontalPodAutoscaler")["iris"]["spec"]["maxReplicas"] == 7
    body["spec"]["rollout"]["abort"] = True
    body["status"] = step.status
    aborted = plan_model_deployment(body, Observed(deployments=live), NOW + timedelta(seconds=10))
    assert aborted.status["phase"] == "RolledBack"
    hpas = kinds(aborted, "HorizontalPodAutoscaler")
    assert set(hpas) == {"iris"}
    assert (hpas["iris"]["spec"]["minReplicas"], hpas["iris"]["spec"]["maxReplicas"]) == (2, 10)
    assert "replicas" not in kinds(aborted, "Deployment")[stable_name]["spec"]


# -- handing spec.replicas to the HPA ----------------------------------------------------------------


def managed(manager: str, operation: str = "Apply", replicas: bool = True) -> dict:
    spec: dict = {"f:selector": {}}
    if replicas:
        spec["f:replicas"] = {}
    return {"manager": manager, "operation": operation, "fieldsV1": {"f:spec": spec}}


def deployment(*entries: dict, replicas: int = 4) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "iris-abc", "namespace": "ml", "managedFields": list(entries)},
        "spec": {"replicas": replicas},
    }


def test_handover_keeps_the_live_count_while_the_operator_still_owns_replicas() -> None:
    desired = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "iris-abc", "namespace": "ml"},
        "spec": {},
    }
    live = deployment(managed("modelserve"))
    assert owns_field(live, "modelserve", ("spec", "replicas"))
    handover = replicas_handover(desired, live, "modelserve")
    assert handover == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "iris-abc", "namespace": "ml"},
        "spec": {"replicas": 4},
    }
    assert HANDOVER_FIELD_MANAGER != "modelserve"
    # The HPA wrote the field (an Update through /scale takes it from every applier): nothing to do.
    hpa_owned = deployment(
        managed("modelserve", replicas=False), managed("kube-controller-manager", "Update")
    )
    assert replicas_handover(desired, hpa_owned, "modelserve") is None
    # The operator still sets the field, or the object is not a Deployment: nothing to do.
    assert replicas_handover({**desired, "spec": {"replicas": 2}}, live, "modelserve") is None
    assert replicas_handover({**desired, "kind": "Service"}, live, "modelserve") is None
    assert replicas_handover(desired, None, "modelserve") is None


# -- the metrics path -------------------------------------------------------------------------------


def test_the_charts_adapter_rules_are_the_catalogues() -> None:
    values = yaml.safe_load((REPO / "charts" / "modelserve" / "values.yaml").read_text())
    assert values["prometheusAdapter"]["rules"]["custom"] == adapter_rules(builtin_catalogue())
    (rule,) = adapter_rules(builtin_catalogue())
    assert rule["name"]["as"] == REQUESTS_PER_SECOND == METRIC_FOR_TARGET["requestsPerSecond"]
    for counter in (
        "modelserve_requests_total",
        "nv_inference_request_success",
        "rest_server_requests_total",
    ):
        assert counter in rule["seriesQuery"] and counter in rule["metricsQuery"]
    # Per pod: the adapter maps the `pod` and `namespace` labels the scrape relabelling gives.
    assert {r["targetLabel"] for r in pod_monitor_relabelings()} >= {"namespace", "pod"}


def test_the_simulator_counts_requests_per_ready_pod() -> None:
    metrics = SimulatorMetrics(per_pod=True)
    metrics.record(
        "ns", "m", "r1", "local", Outcomes(n=10, errors=1, latencies_seconds=np.zeros(10)), ["a", "b", "c"]
    )
    counts = {
        (s.labels["pod"], s.labels["code"]): s.value
        for fam in metrics.registry.collect()
        if fam.name == "modelserve_requests"
        for s in fam.samples
        if s.name.endswith("_total")
    }
    assert counts == {
        ("a", "200"): 3,
        ("b", "200"): 3,
        ("c", "200"): 3,
        ("a", "500"): 1,
        ("b", "500"): 0,
        ("c", "500"): 0,
    }


def test_benchmark_a_canary_during_a_ramp_keeps_up_and_promotes() -> None:
    import importlib.util
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        "bench_rollout", REPO / "benchmarks" / "rollout_autoscaling.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_rollout"] = bench  # dataclasses look their module up
    spec.loader.exec_module(bench)
    setup = bench.Setup(capacity_per_replica=1.0, startup_seconds=60)
    demand = np.concatenate([np.full(30, 5.0), np.linspace(5, 40, 30), np.full(90, 40.0)])  # req/s a minute
    steps = bench.default_steps(5)
    base, _ = bench.replay(demand, setup, None, steps, 100)
    rolled, promoted = bench.replay(demand, setup, 20, steps, 100)
    frozen, _ = bench.replay(demand, setup, 20, steps, 100, frozen=True)
    assert promoted is not None and 15 <= promoted <= 60
    assert rolled.sum() <= base.sum() * 1.1 + 0.5  # the HPAs keep following the ramp through the rollout
    assert frozen.sum() > rolled.sum()  # frozen replicas (before) do not


# -- KEDA ------------------------------------------------------------------------------------------


def test_keda_engine_writes_a_scaled_object_per_revision_with_the_floor_as_minimum() -> None:
    body = md()
    body["spec"]["autoscaling"]["minReplicas"] = 2
    body["spec"]["autoscaling"]["target"]["metric"] = "requestsPerSecond"
    observed = Observed(
        scaled_object_supported=True,
        prometheus_url="http://prometheus.monitoring.svc:9090",
        predictive={None: PredictiveFloor(4, {"floor": 4})},
    )
    plan = plan_model_deployment(body, observed, NOW)  # engine: auto, and KEDA is installed
    assert "HorizontalPodAutoscaler" not in {o["kind"] for o in plan.desired}
    (so,) = kinds(plan, "ScaledObject").values()
    dep = next(iter(kinds(plan, "Deployment")))
    assert so["metadata"]["name"] == "iris" and so["spec"]["scaleTargetRef"]["name"] == dep
    assert (so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]) == (4, 10)  # the predictive floor
    (trigger,) = so["spec"]["triggers"]
    rev = plan.status["stableRevision"]
    assert trigger == {
        "type": "prometheus",
        "metricType": "AverageValue",
        "metadata": {
            "serverAddress": "http://prometheus.monitoring.svc:9090",
            "query": (
                f'sum(rate(modelserve_requests_total{{namespace="ml",model="iris",revision="{rev}"}}[1m]))'
            ),
            "threshold": "5",
        },
    }
    # During a canary each revision gets its own ScaledObject, split like the HPAs.
    live = {dep: running(kinds(plan, "Deployment")[dep], 8)}
    nxt = md("2")
    nxt["status"] = plan.status
    start = plan_model_deployment(
        nxt, Observed(deployments=live, scaled_object_supported=True, prometheus_url="http://p"), NOW
    )
    assert len(kinds(start, "ScaledObject")) == 2
    # engine: hpa keeps the HPA even with KEDA installed.
    body["spec"]["autoscaling"]["engine"] = "hpa"
    assert "HorizontalPodAutoscaler" in {
        o["kind"] for o in plan_model_deployment(body, observed, NOW).desired
    }


def test_keda_engine_without_keda_names_the_field() -> None:
    body = md()
    body["spec"]["autoscaling"]["engine"] = "keda"
    plan = plan_model_deployment(body, Observed(prometheus_url="http://p"), NOW)
    assert plan.status["phase"] == "Degraded" and "spec.autoscaling.engine" in plan.status["message"]
    assert plan.desired == []  # nothing owned is touched until the spec or the cluster is fixed
    body["spec"]["autoscaling"]["engine"] = "kubeless"
    bad = plan_model_deployment(body, Observed(), NOW)
    assert "spec.autoscaling.engine" in bad.status["message"]
