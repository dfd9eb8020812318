"""The ModelDeployment planner, builders, revision hashing and status logic (pure, no cluster)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from modelserve.api.conditions import Condition, merge_conditions
from modelserve.api.durations import format_duration, parse_duration
from modelserve.api.modeldeployment import SpecError, parse_model_deployment, revision_hash
from modelserve.api.revisions import encode, spec_for_revision
from modelserve.cli.render import render
from modelserve.forecasting.cycle import PredictiveFloor
from modelserve.k8s.apply import merge_patch
from modelserve.k8s.compare import is_subset, parse_quantity
from modelserve.planner.modeldeployment import Observed, plan_model_deployment
from modelserve.slo.view import SLAView

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def md(**spec_extra: object) -> dict:
    spec: dict = {
        "model": {"name": "iris", "version": "1", "uri": "s3://m/iris/1", "format": "sklearn"},
        "runtime": {"image": "srv:1", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}},
        "replicas": 2,
    }
    spec.update(spec_extra)
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "iris", "namespace": "ml", "uid": "u-1", "generation": 1},
        "spec": spec,
    }


def by_kind(objects: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for o in objects:
        out.setdefault(o["kind"], []).append(o)
    return out


def live(dep: dict, ready: int) -> dict:
    dep = copy.deepcopy(dep)
    dep["status"] = {"replicas": dep["spec"].get("replicas", 1), "readyReplicas": ready}
    return dep


def test_first_plan_builds_owned_objects_with_labels_env_and_owner() -> None:
    plan = plan_model_deployment(md(), Observed(), NOW)
    kinds = by_kind(plan.desired)
    assert set(kinds) == {"Deployment", "Service", "PodDisruptionBudget"}
    dep = kinds["Deployment"][0]
    rev = plan.status["stableRevision"]
    assert dep["metadata"]["name"] == f"iris-{rev}"
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "modelserve"
    assert labels["modelserve.io/revision"] == rev and labels["modelserve.io/model"] == "iris"
    env = {e["name"]: e["value"] for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env == {
        "MODEL_NAME": "iris",
        "MODEL_VERSION": "1",
        "MODEL_URI": "s3://m/iris/1",
        "MODEL_FORMAT": "sklearn",
    }
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    for obj in plan.desired:
        assert obj["metadata"]["ownerReferences"][0]["uid"] == "u-1"
        assert obj["metadata"]["ownerReferences"][0]["controller"] is True
    assert plan.status["phase"] == "Pending" and plan.status["observedGeneration"] == 1
    assert plan.status["url"] == "http://iris.ml.svc.cluster.local"


def test_ready_when_stable_replicas_are_ready_and_no_events_when_nothing_changes() -> None:
    first = plan_model_deployment(md(), Observed(), NOW)
    dep = by_kind(first.desired)["Deployment"][0]
    body = md()
    body["status"] = first.status
    observed = Observed(deployments={dep["metadata"]["name"]: live(dep, 2)})
    second = plan_model_deployment(body, observed, NOW + timedelta(seconds=5))
    assert second.status["phase"] == "Ready"
    ready = next(c for c in second.status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ready["reason"] == "MinimumReplicasAvailable"
    assert [e.reason for e in second.events] == ["Ready"]
    # Level-based: a few reconciles settle the status, then it is a fixed point (no writes, no events).
    status = second.status
    for i in range(3):
        body["status"] = status
        status = plan_model_deployment(body, observed, NOW + timedelta(seconds=60 + i)).status
    body["status"] = status
    again = plan_model_deployment(body, observed, NOW + timedelta(seconds=120))
    assert again.status == status
    assert again.events == []


def test_autoscaling_builds_hpa_and_leaves_replicas_to_it() -> None:
    body = md(autoscaling={"minReplicas": 2, "maxReplicas": 8, "target": {"metric": "cpuUtilization"}})
    plan = plan_model_deployment(body, Observed(), NOW)
    hpa = by_kind(plan.desired)["HorizontalPodAutoscaler"][0]
    assert hpa["spec"]["minReplicas"] == 2 and hpa["spec"]["maxReplicas"] == 8
    dep = by_kind(plan.desired)["Deployment"][0]
    assert hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    scaled = live(dep, 5)
    scaled["spec"]["replicas"] = 5  # the HPA scaled up
    body["status"] = plan.status
    again = plan_model_deployment(body, Observed(deployments={dep["metadata"]["name"]: scaled}), NOW)
    # Never fights the HPA: the field the HPA writes is not in what the operator applies.
    assert "replicas" not in by_kind(again.desired)["Deployment"][0]["spec"]


def test_predictive_floor_becomes_hpa_min_within_user_bounds() -> None:
    body = md(autoscaling={"minReplicas": 2, "maxReplicas": 6})
    plan = plan_model_deployment(body, Observed(predictive={None: PredictiveFloor(9, {"floor": 9})}), NOW)
    assert by_kind(plan.desired)["HorizontalPodAutoscaler"][0]["spec"]["minReplicas"] == 6  # max wins
    plan = plan_model_deployment(body, Observed(predictive={None: PredictiveFloor(4, {"floor": 4})}), NOW)
    assert by_kind(plan.desired)["HorizontalPodAutoscaler"][0]["spec"]["minReplicas"] == 4
    assert plan.status["autoscaling"] == {"floor": 4}
    plan = plan_model_deployment(
        body, Observed(predictive={None: PredictiveFloor(None, {"reason": "short"})}), NOW
    )
    assert by_kind(plan.desired)["HorizontalPodAutoscaler"][0]["spec"]["minReplicas"] == 2


def test_missing_placement_creates_no_workload_and_reports() -> None:
    plan = plan_model_deployment(md(placementRef={"name": "eu"}), Observed(placement_missing=True), NOW)
    assert "Deployment" not in by_kind(plan.desired)
    assert "Deployment" in plan.keep_kinds  # what already runs keeps running
    refs = next(c for c in plan.status["conditions"] if c["type"] == "ReferencesResolved")
    assert refs["status"] == "False" and refs["reason"] == "PlacementNotFound"
    assert "spec.placementRef.name" in refs["message"]
    assert any(e.type == "Warning" and e.reason == "PlacementNotFound" for e in plan.events)
    assert plan.requeue_after == 30.0


def test_missing_sla_policy_keeps_serving() -> None:
    plan = plan_model_deployment(md(slaPolicyRef={"name": "gold"}), Observed(sla_policy_missing=True), NOW)
    assert "Deployment" in by_kind(plan.desired)
    refs = next(c for c in plan.status["conditions"] if c["type"] == "ReferencesResolved")
    assert refs["reason"] == "SLAPolicyNotFound"


def test_invalid_spec_degrades_without_deleting() -> None:
    body = md()
    body["spec"]["model"].pop("uri")
    plan = plan_model_deployment(body, Observed(), NOW)
    assert plan.desired == [] and plan.status["phase"] == "Degraded"
    assert "spec.model.uri" in plan.status["message"]
    assert set(plan.keep_kinds) >= {"Deployment", "Service"}


def test_placement_splits_by_region_with_required_affinity() -> None:
    placement = {
        "metadata": {"name": "g"},
        "spec": {
            "residency": {"allowedRegions": ["a", "b"]},
            "regions": [{"name": "a", "weight": 3}, {"name": "b", "weight": 1}],
        },
    }
    nodes = [
        {
            "metadata": {"name": f"n-{r}", "labels": {"topology.kubernetes.io/region": r}},
            "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
        for r in ("a", "b")
    ]
    plan = plan_model_deployment(
        md(replicas=4, placementRef={"name": "g"}), Observed(placement=placement, nodes=nodes), NOW
    )
    deps = {d["metadata"]["labels"]["modelserve.io/region"]: d for d in by_kind(plan.desired)["Deployment"]}
    assert {r: d["spec"]["replicas"] for r, d in deps.items()} == {"a": 3, "b": 1}
    term = deps["a"]["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    assert term["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"][
        0
    ] == {"key": "topology.kubernetes.io/region", "operator": "In", "values": ["a"]}
    assert [r["name"] for r in plan.status["placement"]["regions"]] == ["a", "b"]


def test_frozen_sla_blocks_a_new_rollout() -> None:
    first = plan_model_deployment(md(), Observed(), NOW)
    dep = by_kind(first.desired)["Deployment"][0]
    body = md()
    body["spec"]["model"]["version"] = "2"
    body["status"] = first.status
    view = SLAView(policy="gold", frozen=True, freeze_reason="error budget exhausted")
    plan = plan_model_deployment(
        body, Observed(deployments={dep["metadata"]["name"]: live(dep, 2)}, sla=view), NOW
    )
    assert plan.status["phase"] == "Frozen"
    assert not plan.status.get("candidateRevision")
    assert [d["metadata"]["name"] for d in by_kind(plan.desired)["Deployment"]] == [dep["metadata"]["name"]]


def test_version_change_starts_a_candidate_next_to_stable() -> None:
    first = plan_model_deployment(md(), Observed(), NOW)
    dep = by_kind(first.desired)["Deployment"][0]
    body = md(rollout={"strategy": "canary", "canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}})
    body["spec"]["model"]["version"] = "2"
    body["status"] = first.status
    plan = plan_model_deployment(body, Observed(deployments={dep["metadata"]["name"]: live(dep, 2)}), NOW)
    names = {d["metadata"]["name"]: d for d in by_kind(plan.desired)["Deployment"]}
    assert dep["metadata"]["name"] in names  # the stable revision keeps serving, rebuilt as it was
    stable = names[dep["metadata"]["name"]]
    env = {e["name"]: e["value"] for e in stable["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MODEL_VERSION"] == "1"
    assert (
        plan.status["candidateRevision"] and plan.status["candidateRevision"] != plan.status["stableRevision"]
    )
    assert plan.status["phase"] == "Progressing"


def test_revision_hash_covers_what_defines_a_revision_only() -> None:
    base = parse_model_deployment(md()["spec"])
    same = parse_model_deployment(md(replicas=7, rollout={"strategy": "blueGreen"})["spec"])
    assert revision_hash(base) == revision_hash(same)
    for path, value in [
        (("model", "version"), "2"),
        (("model", "uri"), "s3://x"),
        (("runtime", "image"), "srv:2"),
    ]:
        spec = md()["spec"]
        spec[path[0]][path[1]] = value
        assert revision_hash(parse_model_deployment(spec)) != revision_hash(base)
    rebuilt = spec_for_revision(parse_model_deployment(md(replicas=3)["spec"]), encode(base))
    assert rebuilt is not None and revision_hash(rebuilt) == revision_hash(base)


def test_spec_errors_name_the_field() -> None:
    with pytest.raises(SpecError, match=r"spec\.autoscaling\.maxReplicas"):
        parse_model_deployment(md(autoscaling={"minReplicas": 5, "maxReplicas": 2})["spec"])
    with pytest.raises(SpecError, match=r"spec\.autoscaling\.target\.averageValue"):
        parse_model_deployment(
            md(autoscaling={"maxReplicas": 2, "target": {"metric": "concurrency"}})["spec"]
        )


def test_durations() -> None:
    assert (
        parse_duration("1h30m") == 5400 and parse_duration("250ms") == 0.25 and parse_duration("7d") == 604800
    )
    with pytest.raises(ValueError, match=r"spec\.x"):
        parse_duration("5 minutes", "spec.x")
    assert format_duration(90) == "1m30s"


def test_conditions_keep_transition_time_until_status_changes() -> None:
    first = merge_conditions(None, [Condition("Ready", False, "R", "m")], NOW, 1)
    later = NOW + timedelta(minutes=5)
    same = merge_conditions(first, [Condition("Ready", False, "R2", "m2")], later, 2)
    assert same[0]["lastTransitionTime"] == first[0]["lastTransitionTime"] and same[0]["reason"] == "R2"
    flipped = merge_conditions(same, [Condition("Ready", True, "R", "m")], later, 2)
    assert flipped[0]["lastTransitionTime"] == "2026-11-23T12:05:00Z"


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("1000m", "1", True),
        ("0.5", "500m", True),
        ("1Gi", "1073741824", True),
        ("128Mi", "128M", False),
        ("25%", "25%", True),
        (80, "80", True),
    ],
)
def test_quantities_compare_by_value(a: object, b: object, equal: bool) -> None:
    assert is_subset({"x": a}, {"x": b, "extra": 1}) is equal


def test_hex_strings_that_look_like_huge_exponents_are_not_quantities() -> None:
    # A hash such as "7e912345678" parses as 7 x 10^912345678: Decimal overflows. Found live: a
    # reconcile failed over and over on such a value; it must compare as a plain string.
    assert parse_quantity("7e912345678") is None
    assert not is_subset({"hash": "7e912345678"}, {"hash": "8e912345678"})
    assert is_subset({"hash": "7e912345678"}, {"hash": "7e912345678"})
    assert parse_quantity("1e3") == 1000


def test_subset_ignores_server_defaults_but_not_changes() -> None:
    desired = {"spec": {"ports": [{"port": 80}], "selector": {"a": "1"}}}
    assert is_subset(
        desired,
        {
            "spec": {
                "ports": [{"port": 80, "protocol": "TCP"}],
                "selector": {"a": "1"},
                "clusterIP": "10.0.0.1",
            }
        },
    )
    assert not is_subset(desired, {"spec": {"ports": [{"port": 81}], "selector": {"a": "1"}}})
    assert not is_subset(desired, {"spec": {"ports": [{"port": 80}, {"port": 81}], "selector": {"a": "1"}}})


@given(
    st.dictionaries(st.sampled_from("abcd"), st.integers(0, 3) | st.none(), max_size=4),
    st.dictionaries(st.sampled_from("abcd"), st.integers(0, 3), max_size=4),
)
def test_merge_patch_turns_old_into_new(old: dict, new: dict) -> None:
    patch = merge_patch(old, new)
    result = dict(old)
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = v
    assert result == new
    assert merge_patch(new, new) == {}


def test_quantity_parse() -> None:
    assert parse_quantity("2Ki") == 2048 and parse_quantity("bogus") is None and parse_quantity(True) is None


def test_render_without_a_cluster() -> None:
    docs = [
        md(placementRef={"name": "g"}),
        {
            "kind": "RegionPlacement",
            "metadata": {"name": "g"},
            "spec": {"residency": {"allowedRegions": ["a"]}, "regions": [{"name": "a"}]},
        },
    ]
    objects = render(docs, namespace="ml")
    kinds = sorted({o["kind"] for o in objects})
    assert "Deployment" in kinds and "Service" in kinds
    assert all(o["metadata"]["namespace"] == "ml" for o in objects)


def test_pending_pods_are_reported_with_the_schedulers_reason() -> None:
    placement = {
        "metadata": {"name": "g"},
        "spec": {"residency": {"allowedRegions": ["a"]}, "regions": [{"name": "a"}]},
    }
    pod = {
        "metadata": {"name": "p-1", "labels": {}},
        "spec": {},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/6 nodes are available: 6 node(s) didn't match Pod's node affinity.",
                }
            ],
        },
    }
    plan = plan_model_deployment(
        md(placementRef={"name": "g"}), Observed(placement=placement, nodes=[], pods=[pod]), NOW
    )
    ready = next(c for c in plan.status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "PodsPending"
    assert "1 pod(s) Pending: 0/6 nodes are available" in ready["message"]


def test_autoscaled_region_left_empty_by_the_weights_starts_at_one_pod() -> None:
    # min 1 over two equal regions divides to 1 + 0; an HPA never scales a Deployment at 0, so the
    # empty region would be dead to live load and to its predictive floor.
    placement = {
        "metadata": {"name": "g"},
        "spec": {
            "residency": {"allowedRegions": ["a", "b", "c"]},
            "regions": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
        },
    }
    nodes = [
        {
            "metadata": {"name": f"n-{r}", "labels": {"topology.kubernetes.io/region": r}},
            "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
        for r in ("a", "b")  # region c has no node
    ]
    body = md(placementRef={"name": "g"}, autoscaling={"minReplicas": 1, "maxReplicas": 9})
    floors = {"a": PredictiveFloor(1, {"floor": 1}), "b": PredictiveFloor(3, {"floor": 3})}
    plan = plan_model_deployment(body, Observed(placement=placement, nodes=nodes, predictive=floors), NOW)
    deps = {d["metadata"]["labels"]["modelserve.io/region"]: d for d in by_kind(plan.desired)["Deployment"]}
    assert {r: d["spec"]["replicas"] for r, d in deps.items() if r != "c"} == {"a": 1, "b": 1}
    assert deps.get("c") is None or deps["c"]["spec"]["replicas"] == 0  # no node: nothing Pending there
    desired = {r["name"]: r["desired"] for r in plan.status["placement"]["regions"]}
    assert desired == {"a": 1, "b": 1, "c": 0}  # status says what the Deployments run
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in by_kind(plan.desired)["HorizontalPodAutoscaler"]}
    assert hpas[deps["b"]["metadata"]["name"]]["spec"]["minReplicas"] == 3
    # Without autoscaling the weights alone decide: one replica, one region.
    fixed = plan_model_deployment(
        md(replicas=1, placementRef={"name": "g"}), Observed(placement=placement, nodes=nodes), NOW
    )
    counts = sorted(d["spec"]["replicas"] for d in by_kind(fixed.desired)["Deployment"])
    assert counts in ([0, 1], [0, 0, 1], [1])
