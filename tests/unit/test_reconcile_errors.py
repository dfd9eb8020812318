"""No exception in planning is silent: a failure injected into a core becomes Ready=False / Degraded with
reason ReconcileError naming the field, one Warning Event (not one per retry), and a raise for the
queue's backoff; the next good reconcile clears it."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from modelserve.api.errors import describe_failure, failing_field
from modelserve.placement import division
from modelserve.reconcile.context import Context
from modelserve.reconcile.failures import reconcile_reporting_errors
from modelserve.reconcile.queue import WorkQueue
from modelserve.reconcile.shell import reconcile_model_deployment

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)


class FakeKube:
    def __init__(self, *objects: dict):
        self.objects = {(o["kind"], o["metadata"]["name"]): copy.deepcopy(o) for o in objects}
        self.events: list[tuple[str, str, str]] = []
        self.status_patches: list[dict] = []

    def get(self, kind: str, namespace: str | None, name: str) -> dict | None:
        obj = self.objects.get((kind, name))
        return copy.deepcopy(obj) if obj else None

    def list(self, kind: str, namespace: str | None = None, label_selector: str | None = None) -> list[dict]:
        return [copy.deepcopy(o) for (k, _), o in self.objects.items() if k == kind]

    def list_pages(
        self, kind: str, namespace: str | None = None, label_selector: str | None = None
    ) -> Iterator[dict]:
        yield from self.list(kind, namespace, label_selector)

    def apply(self, obj: dict) -> dict:
        self.objects[(obj["kind"], obj["metadata"]["name"])] = copy.deepcopy(obj)
        return obj

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self.objects.pop((kind, name), None)

    def patch(self, kind: str, namespace: str, name: str, patch: dict) -> dict:
        raise AssertionError("a plain model's metadata is never patched")

    def patch_status(self, kind: str, namespace: str, name: str, patch: dict) -> dict:
        self.status_patches.append(patch)
        status = self.objects[(kind, name)].setdefault("status", {})
        for key, value in patch.items():
            if value is None:
                status.pop(key, None)
            else:
                status[key] = value
        return self.objects[(kind, name)]

    def post_event(self, involved: dict, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


def model() -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "geo", "namespace": "ml", "uid": "u-1", "generation": 3},
        "spec": {
            "model": {"name": "geo", "version": "1", "uri": "s3://m/geo/1", "format": "sklearn"},
            "runtime": {"image": "srv:1"},
            "replicas": 2,
            "placementRef": {"name": "eu-only"},
        },
    }


PLACEMENT = {
    "kind": "RegionPlacement",
    "metadata": {"name": "eu-only", "namespace": "ml"},
    "spec": {"residency": {"allowedRegions": ["eu-central-1"]}, "regions": [{"name": "eu-central-1"}]},
}
NODE = {
    "kind": "Node",
    "metadata": {"name": "n1", "labels": {"topology.kubernetes.io/region": "eu-central-1"}},
    "spec": {},
    "status": {"conditions": [{"type": "Ready", "status": "True"}]},
}


def condition(kube: FakeKube, type_: str) -> dict:
    status = kube.objects[("ModelDeployment", "geo")].get("status") or {}
    return next(c for c in status.get("conditions") or [] if c["type"] == type_)


def test_an_injected_planner_failure_is_reported_once_and_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    kube = FakeKube(model(), PLACEMENT, NODE)
    ctx = Context(kube=kube, clock=lambda: NOW)  # type: ignore[arg-type]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("injected: cannot divide")

    monkeypatch.setattr(division, "_apportion", broken)
    for _ in range(3):  # the first try and two retries
        with pytest.raises(ValueError, match="injected"):
            reconcile_model_deployment(ctx, "ml", "geo")
    ready, degraded = condition(kube, "Ready"), condition(kube, "Degraded")
    assert (ready["status"], ready["reason"]) == ("False", "ReconcileError")
    assert (degraded["status"], degraded["reason"]) == ("True", "ReconcileError")
    assert "spec.placementRef (RegionPlacement 'eu-only')" in degraded["message"]
    assert "ValueError: injected: cannot divide" in degraded["message"]
    assert [e[:2] for e in kube.events] == [("Warning", "ReconcileError")]  # one, not one per retry
    assert len(kube.status_patches) == 1  # the retries had nothing new to say
    assert not [k for k in kube.objects if k[0] == "Deployment"]

    monkeypatch.undo()  # fixed (a new operator version, or the input changed): it recovers
    reconcile_model_deployment(ctx, "ml", "geo")
    assert condition(kube, "Degraded")["status"] == "False"
    assert condition(kube, "Ready")["reason"] != "ReconcileError"
    assert [k for k in kube.objects if k[0] == "Deployment"]


def test_a_failure_reading_the_cluster_is_reported_too(monkeypatch: pytest.MonkeyPatch) -> None:
    kube = FakeKube(model(), PLACEMENT, NODE)

    def list_fails(*args: Any, **kwargs: Any) -> list[dict]:
        raise ConnectionError("connection reset by peer")

    monkeypatch.setattr(kube, "list", list_fails)
    ctx = Context(kube=kube, clock=lambda: NOW)  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        reconcile_model_deployment(ctx, "ml", "geo")
    message = condition(kube, "Degraded")["message"]
    assert message.startswith("reconcile failed at the reconcile: ConnectionError: connection reset")
    assert kube.events and kube.events[0][1] == "ReconcileError"


def test_the_queue_backs_off_after_each_failure() -> None:
    # A failing key comes back after the backoff's delays, growing, never in a hot loop.
    calls: list[float] = []

    def failing(key: Any) -> float | None:
        calls.append(time.monotonic())
        raise ValueError("always fails")

    async def run() -> None:
        queue = WorkQueue(failing, workers=1, backoff=(0.05, 0.2))
        queue.start()
        queue.add(("ModelDeployment", "ml", "geo"))
        deadline = time.monotonic() + 10
        while len(calls) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await queue.stop()

    asyncio.run(run())
    assert len(calls) >= 3
    assert calls[1] - calls[0] >= 0.05 and calls[2] - calls[1] >= 0.2


def test_failing_field_prefers_the_errors_own_field_path() -> None:
    from modelserve.api.modeldeployment import SpecError

    error = SpecError("spec.autoscaling.maxReplicas", "too small")
    assert failing_field(error) == "spec.autoscaling.maxReplicas"
    assert failing_field(RuntimeError("x")) is None
    message = describe_failure(SpecError("spec.traffic.istio.host", "bad"), {})
    assert message == (
        "reconcile failed at spec.traffic.istio.host: spec.traffic.istio.host: bad; retrying with backoff"
    )
    assert len(describe_failure(RuntimeError("x" * 5000), {})) <= 900


def test_other_kinds_report_their_failures_the_same_way() -> None:
    policy = {"kind": "SLAPolicy", "metadata": {"name": "gold", "namespace": "ml", "generation": 1}}
    kube = FakeKube(policy)
    ctx = Context(kube=kube, clock=lambda: NOW)  # type: ignore[arg-type]

    def broken(ctx: Any, namespace: str, name: str) -> float | None:
        raise KeyError("objectives")

    for _ in range(2):
        with pytest.raises(KeyError):
            reconcile_reporting_errors(ctx, "SLAPolicy", "ml", "gold", broken)
    conditions = {c["type"]: c for c in kube.objects[("SLAPolicy", "gold")]["status"]["conditions"]}
    assert conditions["Ready"]["reason"] == "ReconcileError"
    assert "KeyError" in conditions["Ready"]["message"]
    assert [e[1] for e in kube.events] == ["ReconcileError"]


class PatchingKube(FakeKube):
    def patch(self, kind: str, namespace: str, name: str, patch: dict) -> dict:
        meta = self.objects[(kind, name)]["metadata"]
        for key, value in patch.get("metadata", {}).items():
            if key == "annotations":
                meta.setdefault("annotations", {}).update(value)
            elif key != "resourceVersion":
                meta[key] = value
        return copy.deepcopy(self.objects[(kind, name)])


def test_the_shell_never_creates_a_missing_user_route() -> None:
    body = model()
    del body["spec"]["placementRef"]
    body["spec"]["traffic"] = {"router": "gatewayAPI", "gatewayAPI": {"routeName": "shop"}}
    kube = PatchingKube(body)
    ctx = Context(kube=kube, clock=lambda: NOW)  # type: ignore[arg-type]
    reconcile_model_deployment(ctx, "ml", "geo")
    assert ("HTTPRoute", "shop") not in kube.objects
    assert [k for k in kube.objects if k[0] == "Deployment"]
    refs = condition(kube, "ReferencesResolved")
    assert (refs["status"], refs["reason"]) == ("False", "RouteNotFound")


class CountingKube(PatchingKube):
    def __init__(self, *objects: dict):
        super().__init__(*objects)
        self.gets: list[tuple[str, str]] = []

    def get(self, kind: str, namespace: str | None, name: str) -> dict | None:
        self.gets.append((kind, name))
        return super().get(kind, namespace, name)


def test_an_existing_user_route_is_read_once_per_reconcile_and_written_into() -> None:
    body = model()
    del body["spec"]["placementRef"]
    body["spec"]["traffic"] = {"router": "gatewayAPI", "gatewayAPI": {"routeName": "shop"}}
    shop = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "shop", "namespace": "ml"},
        "spec": {"parentRefs": [{"name": "public"}]},
    }
    kube = CountingKube(body, shop)
    ctx = Context(kube=kube, clock=lambda: NOW)  # type: ignore[arg-type]
    reconcile_model_deployment(ctx, "ml", "geo")
    assert kube.gets.count(("HTTPRoute", "shop")) == 1
    rules = kube.objects[("HTTPRoute", "shop")]["spec"]["rules"]
    assert rules[0]["backendRefs"][0]["weight"] == 100
    refs = condition(kube, "ReferencesResolved")
    assert refs["status"] == "True"
    # Nothing changed: the next reconcile reads the route once again and writes nothing into it.
    kube.gets.clear()
    before = copy.deepcopy(kube.objects[("HTTPRoute", "shop")])
    reconcile_model_deployment(ctx, "ml", "geo")
    assert kube.gets.count(("HTTPRoute", "shop")) == 1
    assert kube.objects[("HTTPRoute", "shop")] == before


def terminating() -> Any:
    """The NamespaceLifecycle admission plugin's answer to a create in a namespace being deleted."""
    import json

    from modelserve.k8s.transport import ApiException

    body = {
        "kind": "Status",
        "status": "Failure",
        "message": 'deployments.apps "geo-x" is forbidden: unable to create new content in namespace ml '
        "because it is being terminated",
        "reason": "Forbidden",
        "details": {
            "name": "geo-x",
            "kind": "deployments",
            "causes": [{"reason": "NamespaceTerminating", "type": "NamespaceTerminating", "message": "x"}],
        },
        "code": 403,
    }
    return ApiException(403, "Forbidden", json.dumps(body))


def test_an_api_exception_reads_its_causes() -> None:
    from modelserve.k8s.transport import ApiException

    assert terminating().namespace_terminating
    assert terminating().cause_types == {"NamespaceTerminating"}
    plain_forbidden = ApiException(403, "Forbidden", '{"message": "no", "details": {"causes": []}}')
    assert not plain_forbidden.namespace_terminating
    for body in (None, "", "not json", "[1]", '{"details": null}', '{"details": {"causes": [1, {}]}}'):
        assert ApiException(403, "Forbidden", body).cause_types == set()


def test_a_namespace_being_deleted_is_neither_reported_nor_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    # The model goes with its namespace: no ApplyFailed condition or Event (an Event cannot be created
    # there anyway), no traceback, no retry loop until the namespace is gone.
    kube = FakeKube(model(), PLACEMENT, NODE)

    def refused(obj: dict) -> dict:
        raise terminating()

    monkeypatch.setattr(kube, "apply", refused)
    ctx = Context(kube=kube, clock=lambda: NOW)  # type: ignore[arg-type]
    with pytest.raises(Exception, match="being terminated"):
        reconcile_model_deployment(ctx, "ml", "geo")
    assert kube.status_patches == [] and kube.events == []

    calls: list[Any] = []

    def failing(key: Any) -> float | None:
        calls.append(key)
        raise terminating()

    async def run() -> WorkQueue:
        queue = WorkQueue(failing, workers=1, backoff=(0.01,))
        queue.start()
        key = ("ModelDeployment", "ml", "geo")
        queue.add(key)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await queue.stop()
        return queue

    queue = asyncio.run(run())
    assert len(calls) == 1 and not queue._due and not queue._failures

    policy = {"kind": "SLAPolicy", "metadata": {"name": "gold", "namespace": "ml", "generation": 1}}
    kube = FakeKube(policy)
    ctx = Context(kube=kube, clock=lambda: NOW)  # type: ignore[arg-type]

    def broken(ctx: Any, namespace: str, name: str) -> float | None:
        raise terminating()

    with pytest.raises(Exception, match="being terminated"):
        reconcile_reporting_errors(ctx, "SLAPolicy", "ml", "gold", broken)
    assert "status" not in kube.objects[("SLAPolicy", "gold")] and kube.events == []
