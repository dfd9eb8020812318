"""Releasing a user's route: which route a spec holds, when the finalizer comes and goes (pure), and the
shell that records, releases and reports (against a fake API)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from modelserve.api import constants as c
from modelserve.k8s.transport import ApiException
from modelserve.reconcile.finalize import RouteReleaseFailed, sync_route_hold
from modelserve.routers.user_routes import (
    RouteRef,
    hold_patch,
    holds_fields,
    plan_route_hold,
    release_body,
    user_route,
)

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
F = c.FINALIZER_ROUTE_RELEASE
A = c.ANNOTATION_USER_ROUTES
GW_ROUTE = RouteRef("HTTPRoute", "shop")
VS_ROUTE = RouteRef("VirtualService", "shop-vs")


def gateway(**router_spec: Any) -> dict:
    return {"traffic": {"router": "gatewayAPI", "gatewayAPI": router_spec}}


def istio(**router_spec: Any) -> dict:
    return {"traffic": {"router": "istio", "istio": router_spec}}


# --- which route a spec writes into ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (gateway(routeName="shop"), GW_ROUTE),
        (istio(virtualServiceName="shop-vs"), VS_ROUTE),
        (gateway(parentRefs=[{"name": "public"}]), None),  # an HTTPRoute we own: the GC removes it
        (istio(), None),
        ({"traffic": {"router": "replicas"}}, None),
        ({}, None),
        ({"traffic": {"router": "nginx"}}, None),  # unknown: the planner reports it, nothing is held
    ],
)
def test_user_route_is_what_the_router_would_release(spec, expected):
    assert user_route("ml", "iris", spec) == expected


def test_route_ref_round_trips_through_the_annotation():
    assert RouteRef.parse(str(GW_ROUTE)) == GW_ROUTE
    assert RouteRef.parse("garbage") is None
    assert RouteRef.parse("HTTPRoute/") is None


# --- the decision ---------------------------------------------------------------------------------------


def meta(routes: str | None = None, *, finalizers: tuple[str, ...] = (), deleting: bool = False) -> dict:
    m: dict[str, Any] = {
        "name": "iris",
        "namespace": "ml",
        "resourceVersion": "7",
        "finalizers": list(finalizers),
    }
    if routes is not None:
        m["annotations"] = {A: routes}
    if deleting:
        m["deletionTimestamp"] = "2026-12-03T12:00:00Z"
    return m


def test_a_plain_model_gets_no_finalizer_and_no_annotation():
    hold = plan_route_hold(meta(), None)
    assert hold.keep == () and hold.release == ()
    assert hold_patch(meta(), hold.keep) is None


def test_a_user_route_is_recorded_with_the_finalizer():
    hold = plan_route_hold(meta(), GW_ROUTE)
    assert hold.keep == (GW_ROUTE,) and hold.release == ()
    assert hold_patch(meta(), hold.keep) == {
        "metadata": {"finalizers": [F], "annotations": {A: "HTTPRoute/shop"}, "resourceVersion": "7"}
    }


def test_a_recorded_route_needs_no_write():
    held = meta("HTTPRoute/shop", finalizers=("other.io/x", F))
    hold = plan_route_hold(held, GW_ROUTE)
    assert hold.release == ()
    assert hold_patch(held, hold.keep) is None


def test_deleting_releases_the_route_then_drops_only_our_finalizer():
    deleting = meta("HTTPRoute/shop", finalizers=("other.io/x", F), deleting=True)
    hold = plan_route_hold(deleting, GW_ROUTE)
    assert hold.keep == () and hold.release == (GW_ROUTE,)
    assert hold_patch(deleting, ()) == {
        "metadata": {"finalizers": ["other.io/x"], "annotations": {A: None}, "resourceVersion": "7"}
    }


def test_moving_to_another_route_releases_the_old_one_after_recording_the_new():
    held = meta("HTTPRoute/shop", finalizers=(F,))
    hold = plan_route_hold(held, VS_ROUTE)
    assert hold.keep == (VS_ROUTE,) and hold.release == (GW_ROUTE,)
    # First both are recorded (before anything is written into the new one) ...
    assert hold_patch(held, (*hold.keep, *hold.release)) == {
        "metadata": {"annotations": {A: "HTTPRoute/shop,VirtualService/shop-vs"}, "resourceVersion": "7"}
    }
    # ... then, released, the old one goes.
    assert hold_patch(held, hold.keep)["metadata"]["annotations"] == {A: "VirtualService/shop-vs"}


def test_leaving_user_routes_releases_and_drops_the_finalizer():
    held = meta("HTTPRoute/shop", finalizers=(F,))
    hold = plan_route_hold(held, None)
    assert hold.release == (GW_ROUTE,)
    assert hold_patch(held, ())["metadata"]["finalizers"] == []


def test_a_finalizer_without_its_annotation_still_protects_the_spec_route():
    hold = plan_route_hold(meta(finalizers=(F,), deleting=True), GW_ROUTE)
    assert hold.release == (GW_ROUTE,)


def test_no_finalizer_is_added_to_an_object_being_deleted():
    # The API server refuses new finalizers then; a failed release stays named in the annotation.
    patch = hold_patch(meta(deleting=True), (GW_ROUTE,))
    assert patch == {"metadata": {"annotations": {A: "HTTPRoute/shop"}, "resourceVersion": "7"}}


def test_holds_fields_looks_for_our_apply_entry():
    def route(*entries: dict) -> dict:
        return {"metadata": {"managedFields": list(entries)}}

    ours = {"manager": "modelserve", "operation": "Apply", "fieldsV1": {"f:spec": {"f:rules": {}}}}
    assert holds_fields(route(ours))
    assert not holds_fields(route({**ours, "manager": "kubectl-client-side-apply", "operation": "Update"}))
    assert not holds_fields(route())


def test_release_body_is_empty_but_guarded_by_the_resource_version():
    assert release_body(VS_ROUTE, "ml", "42") == {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "shop-vs", "namespace": "ml", "resourceVersion": "42"},
    }


# --- the shell ------------------------------------------------------------------------------------------


class FakeKube:
    """ModelDeployment `iris` and the user's routes; records writes; `fail_apply` makes applies fail."""

    def __init__(self, md: dict, routes: list[dict]):
        self.objects = {(o["kind"], o["metadata"]["name"]): o for o in [md, *routes]}
        self.writes: list[tuple[str, str, Any]] = []
        self.events: list[tuple[str, str]] = []
        self.fail_apply: int | None = None

    def get(self, kind: str, namespace: str | None, name: str) -> dict | None:
        obj = self.objects.get((kind, name))
        return copy.deepcopy(obj) if obj else None

    def apply(self, obj: dict) -> dict:
        if self.fail_apply:
            raise ApiException(status=self.fail_apply, reason="Forbidden")
        self.writes.append(("apply", obj["kind"], obj))
        live = self.objects[(obj["kind"], obj["metadata"]["name"])]
        live["metadata"]["managedFields"] = []  # what an empty apply under our manager leaves
        live["spec"].pop("rules", None)
        return live

    def patch(self, kind: str, namespace: str, name: str, patch: dict) -> dict:
        self.writes.append(("patch", kind, patch))
        live = self.objects[(kind, name)]
        for key, value in patch["metadata"].items():
            if key == "annotations":
                annotations = live["metadata"].setdefault("annotations", {})
                annotations.update(value)
                live["metadata"]["annotations"] = {k: v for k, v in annotations.items() if v is not None}
            elif key != "resourceVersion":
                live["metadata"][key] = value
        return copy.deepcopy(live)

    def patch_status(self, kind: str, namespace: str, name: str, patch: dict) -> dict:
        self.writes.append(("status", kind, patch))
        self.objects[(kind, name)].setdefault("status", {}).update(patch)
        return self.objects[(kind, name)]

    def post_event(self, involved: dict, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason))


def model(spec: dict, **meta_kw: Any) -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": meta(**meta_kw),
        "spec": spec,
    }


def user_http_route(ours: bool = True) -> dict:
    fields = [{"manager": "modelserve", "operation": "Apply", "fieldsV1": {"f:spec": {"f:rules": {}}}}]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {
            "name": "shop",
            "namespace": "ml",
            "resourceVersion": "42",
            "managedFields": fields if ours else [],
        },
        "spec": {"parentRefs": [{"name": "public"}], "rules": [{"backendRefs": [{"name": "iris-s1"}]}]},
    }


def test_shell_records_a_user_route_once():
    kube = FakeKube(model(gateway(routeName="shop")), [user_http_route()])
    sync_route_hold(kube, kube.get("ModelDeployment", "ml", "iris"), NOW)
    assert [w[0] for w in kube.writes] == ["patch"]
    sync_route_hold(kube, kube.get("ModelDeployment", "ml", "iris"), NOW)
    assert len(kube.writes) == 1, "a recorded route needs no further write"


def test_shell_releases_on_delete_then_drops_the_finalizer():
    kube = FakeKube(
        model(gateway(routeName="shop"), routes="HTTPRoute/shop", finalizers=(F,), deleting=True),
        [user_http_route()],
    )
    sync_route_hold(kube, kube.get("ModelDeployment", "ml", "iris"), NOW)
    apply, patch = kube.writes
    assert apply[2]["metadata"] == {"name": "shop", "namespace": "ml", "resourceVersion": "42"}
    assert "spec" not in apply[2], "an empty apply gives up spec.rules"
    assert patch[2]["metadata"]["finalizers"] == []
    assert kube.events == [(c.EVENT_NORMAL, c.REASON_ROUTE_RELEASED)]


@pytest.mark.parametrize("route", [None, user_http_route(ours=False)], ids=["route-gone", "nothing-ours"])
def test_shell_only_drops_the_finalizer_when_there_is_nothing_to_release(route):
    kube = FakeKube(
        model(gateway(routeName="shop"), routes="HTTPRoute/shop", finalizers=(F,), deleting=True),
        [route] if route else [],
    )
    sync_route_hold(kube, kube.get("ModelDeployment", "ml", "iris"), NOW)
    assert [w[0] for w in kube.writes] == ["patch"]
    assert kube.events == []


def test_shell_keeps_the_finalizer_and_reports_when_the_release_fails():
    kube = FakeKube(
        model(gateway(routeName="shop"), routes="HTTPRoute/shop", finalizers=(F,), deleting=True),
        [user_http_route()],
    )
    kube.fail_apply = 403
    for _ in range(2):
        with pytest.raises(RouteReleaseFailed):
            sync_route_hold(kube, kube.get("ModelDeployment", "ml", "iris"), NOW)
    md = kube.get("ModelDeployment", "ml", "iris")
    assert md["metadata"]["finalizers"] == [F]
    degraded = next(x for x in md["status"]["conditions"] if x["type"] == c.COND_DEGRADED)
    assert (degraded["status"], degraded["reason"]) == ("True", c.REASON_ROUTE_RELEASE_FAILED)
    assert "HTTPRoute/shop" in degraded["message"]
    assert kube.events == [(c.EVENT_WARNING, c.REASON_ROUTE_RELEASE_FAILED)], "one Event, not one per retry"
    kube.fail_apply = None
    sync_route_hold(kube, kube.get("ModelDeployment", "ml", "iris"), NOW)
    assert kube.get("ModelDeployment", "ml", "iris")["metadata"]["finalizers"] == []


def test_shell_moving_away_from_a_user_route_releases_it_while_serving():
    kube = FakeKube(
        model(gateway(parentRefs=[{"name": "public"}]), routes="HTTPRoute/shop", finalizers=(F,)),
        [user_http_route()],
    )
    kube.fail_apply = 500
    sync_route_hold(kube, kube.get("ModelDeployment", "ml", "iris"), NOW)  # no raise: the model keeps serving
    assert kube.get("ModelDeployment", "ml", "iris")["metadata"]["annotations"] == {A: "HTTPRoute/shop"}
    kube.fail_apply = None
    sync_route_hold(kube, kube.get("ModelDeployment", "ml", "iris"), NOW)
    md = kube.get("ModelDeployment", "ml", "iris")
    assert md["metadata"]["finalizers"] == [] and A not in md["metadata"]["annotations"]
    assert "rules" not in kube.get("HTTPRoute", "ml", "shop")["spec"]
