"""One transition, one Event: the exact Events of each transition a ModelDeployment goes through, in
the user's words (no "phase None -> Pending")."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from modelserve.planner.modeldeployment import Observed, Plan, plan_model_deployment
from modelserve.slo.view import SLAView

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
REASON = "SLAPolicy gold: availability budget exhausted"


def md(**spec_extra: object) -> dict:
    spec: dict = {
        "model": {"name": "iris", "version": "1", "uri": "s3://m/iris/1", "format": "sklearn"},
        "runtime": {"image": "srv:1"},
        "replicas": 2,
    }
    spec.update(spec_extra)
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "iris", "namespace": "ml", "uid": "u-1", "generation": 1},
        "spec": spec,
    }


def deployments(plan: Plan, ready: int) -> dict[str, dict]:
    out = {}
    for obj in plan.desired:
        if obj["kind"] == "Deployment":
            dep = copy.deepcopy(obj)
            dep["status"] = {"replicas": dep["spec"]["replicas"], "readyReplicas": ready}
            out[dep["metadata"]["name"]] = dep
    return out


def events(plan: Plan) -> list[tuple[str, str, str]]:
    return [(e.type, e.reason, e.message) for e in plan.events]


def settle(body: dict, observed: Observed, at: datetime) -> tuple[dict, Plan]:
    """Plan until the status is a fixed point (a level-based reconcile converges in a few steps)."""
    plan = plan_model_deployment(body, observed, at)
    for i in range(5):
        body = {**body, "status": plan.status}
        plan = plan_model_deployment(body, observed, at + timedelta(seconds=i + 1))
    assert plan.events == []
    return body, plan


def test_create_then_ready_then_quiet() -> None:
    first = plan_model_deployment(md(), Observed(), NOW)
    revision = first.status["stableRevision"]
    assert events(first) == [("Normal", "Deployed", f"revision {revision} deployed")]
    body = {**md(), "status": first.status}
    observed = Observed(deployments=deployments(first, 2))
    ready = plan_model_deployment(body, observed, NOW + timedelta(seconds=5))
    assert events(ready) == [("Normal", "Ready", "Pending -> Ready: 2/2 replicas ready")]
    body = {**md(), "status": ready.status}
    settle(body, Observed(deployments=deployments(first, 2)), NOW + timedelta(seconds=10))


def test_a_freeze_posts_exactly_one_event() -> None:
    first = plan_model_deployment(md(), Observed(), NOW)
    observed = Observed(deployments=deployments(first, 2))
    body, _ = settle({**md(), "status": first.status}, observed, NOW)
    changed = copy.deepcopy(body)
    changed["spec"]["model"]["version"] = "2"
    changed["metadata"]["generation"] = 2
    frozen = Observed(
        deployments=observed.deployments,
        sla=SLAView(policy="gold", frozen=True, freeze_reason=REASON),
    )
    plan = plan_model_deployment(changed, frozen, NOW + timedelta(minutes=1))
    assert plan.status["phase"] == "Frozen"
    assert [(t, r) for t, r, _ in events(plan)] == [("Warning", "RolloutFrozen")]
    assert REASON in plan.events[0].message
    again = plan_model_deployment({**changed, "status": plan.status}, frozen, NOW + timedelta(minutes=2))
    assert again.events == []  # still frozen: no new transition, no Event


def test_an_invalid_spec_on_a_ready_model_is_one_warning_naming_the_field() -> None:
    first = plan_model_deployment(md(), Observed(), NOW)
    observed = Observed(deployments=deployments(first, 2))
    body, _ = settle({**md(), "status": first.status}, observed, NOW)
    broken = copy.deepcopy(body)
    broken["spec"]["model"]["uri"] = ""
    plan = plan_model_deployment(broken, observed, NOW + timedelta(minutes=1))
    assert [(t, r) for t, r, _ in events(plan)] == [("Warning", "Degraded")]
    assert plan.events[0].message.startswith("Ready -> Degraded: spec.model.uri")


def test_a_new_model_with_an_invalid_spec_does_not_say_none() -> None:
    body = md()
    body["spec"]["model"]["uri"] = ""
    plan = plan_model_deployment(body, Observed(), NOW)
    ((kind, reason, message),) = events(plan)
    assert (kind, reason) == ("Warning", "Degraded")
    assert message.startswith("Degraded: spec.model.uri") and "None" not in message


def test_a_missing_placement_is_one_warning_and_its_return_one_normal() -> None:
    first = plan_model_deployment(md(), Observed(), NOW)
    observed = Observed(deployments=deployments(first, 2))
    body, _ = settle({**md(), "status": first.status}, observed, NOW)
    body["spec"]["placementRef"] = {"name": "eu-only"}
    missing = Observed(deployments=observed.deployments, placement_missing=True)
    plan = plan_model_deployment(body, missing, NOW + timedelta(minutes=1))
    assert events(plan) == [
        ("Warning", "PlacementNotFound", "RegionPlacement 'eu-only' (spec.placementRef.name) not found")
    ]
    placement = {
        "metadata": {"name": "eu-only"},
        "spec": {"residency": {"allowedRegions": ["eu-central-1"]}, "regions": [{"name": "eu-central-1"}]},
    }
    back = plan_model_deployment(
        {**body, "status": plan.status},
        Observed(deployments=observed.deployments, placement=placement, nodes=[]),
        NOW + timedelta(minutes=2),
    )
    assert [(t, r) for t, r, _ in events(back)] == [("Normal", "Resolved")]


def test_a_missing_user_route_is_reported_not_created() -> None:
    # The route a user named is theirs: if it does not exist, the model keeps serving through its
    # Service and says so; it never creates a route of its own under the user's name.
    body = md(traffic={"router": "gatewayAPI", "gatewayAPI": {"routeName": "shop"}})
    first = plan_model_deployment(body, Observed(user_route_missing="HTTPRoute/shop"), NOW)
    assert not [o for o in first.desired if o["kind"] == "HTTPRoute"]
    assert [o for o in first.desired if o["kind"] == "Deployment"]
    refs = next(x for x in first.status["conditions"] if x["type"] == "ReferencesResolved")
    assert (refs["status"], refs["reason"]) == ("False", "RouteNotFound")
    assert "HTTPRoute 'shop' (spec.traffic.gatewayAPI.routeName) not found" in refs["message"]
    assert ("Warning", "RouteNotFound") in [(t, r) for t, r, _ in events(first)]
    assert first.requeue_after is not None and first.requeue_after <= 30
    # Once the user creates it, modelserve writes its rules into it.
    later = plan_model_deployment({**body, "status": first.status}, Observed(), NOW + timedelta(minutes=1))
    assert [o["metadata"]["name"] for o in later.desired if o["kind"] == "HTTPRoute"] == ["shop"]
    assert [(t, r) for t, r, _ in events(later)][-1] == ("Normal", "Resolved")
