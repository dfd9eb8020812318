"""The ModelDeployments' own watch events (reconcile/model_events.py, issue 18): a first-time model's first
reconcile plans from its event, with no GET; the echo of a status write that settled the model queues
nothing; and neither can hide a change: a skipped echo is exactly a state that plans to no write."""

from __future__ import annotations

import asyncio
import copy
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelserve.handlers.operator import on_model_deployment
from modelserve.reconcile import shell
from modelserve.reconcile.context import Context
from modelserve.reconcile.model_events import ModelEvents

from tests.fuzz.strategies import resources
from tests.unit.test_reconcile_errors import FakeKube
from tests.unit.test_write_economy import NOW, make_ready, new_model

KEY = ("ml", "eco")
SKIPPED: list[int] = []  # examples of the property whose echo was skipped (it must not be vacuous)


class VersionedKube(FakeKube):
    """FakeKube with resourceVersions (one counter, as etcd's revision) and a count of GETs."""

    def __init__(self, *objects: dict):
        super().__init__(*objects)
        self.revision = 1
        self.gets = 0
        for obj in self.objects.values():
            self._bump(obj)

    def _bump(self, obj: dict) -> None:
        self.revision += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.revision)

    def get(self, kind: str, namespace: str | None, name: str) -> dict | None:
        if kind == "ModelDeployment":
            self.gets += 1
        return super().get(kind, namespace, name)

    def apply(self, obj: dict) -> dict:
        super().apply(obj)
        stored = self.objects[(obj["kind"], obj["metadata"]["name"])]
        self._bump(stored)
        return copy.deepcopy(stored)

    def patch_status(self, kind: str, namespace: str, name: str, patch: dict) -> dict:
        super().patch_status(kind, namespace, name, patch)
        stored = self.objects[(kind, name)]
        self._bump(stored)
        return copy.deepcopy(stored)

    def model(self) -> dict:
        return copy.deepcopy(self.objects[("ModelDeployment", "eco")])

    def writes(self) -> tuple[int, int, dict]:
        versions = {k: o["metadata"].get("resourceVersion") for k, o in self.objects.items()}
        return len(self.status_patches), len(self.events), versions


def test_a_new_model_is_planned_from_its_events_until_its_status_is_written() -> None:
    kube = VersionedKube(new_model())
    clock = [NOW + timedelta(seconds=1)]
    ctx = Context(kube=kube, clock=lambda: clock[0])  # type: ignore[arg-type]
    assert ctx.model_events.arrived(KEY, kube.model())
    shell.reconcile_model_deployment(ctx, "ml", "eco")
    assert any(kind == "Deployment" for kind, _ in kube.objects)  # planned and applied from the event
    shell.reconcile_model_deployment(ctx, "ml", "eco")  # the Deployment progressing: still settling
    assert kube.gets == 0 and not kube.status_patches
    make_ready(kube)
    shell.reconcile_model_deployment(ctx, "ml", "eco")
    assert len(kube.status_patches) == 1 and kube.gets == 0
    # From now on it is read as stored, also when an older event (from before our write) comes late.
    assert ctx.model_events.arrived(
        KEY, new_model() | {"metadata": {**new_model()["metadata"], "resourceVersion": "2"}}
    )
    assert ctx.model_events.read(KEY) is None
    clock[0] += timedelta(seconds=60)
    shell.reconcile_model_deployment(ctx, "ml", "eco")
    assert kube.gets == 1


def test_a_users_change_to_a_new_model_replaces_the_copy() -> None:
    kube = VersionedKube(new_model())
    ctx = Context(kube=kube, clock=lambda: NOW + timedelta(seconds=1))  # type: ignore[arg-type]
    ctx.model_events.arrived(KEY, kube.model())
    shell.reconcile_model_deployment(ctx, "ml", "eco")
    changed = kube.model()
    changed["spec"]["replicas"] = 3
    changed["metadata"]["generation"] = 2
    kube.objects[("ModelDeployment", "eco")] = copy.deepcopy(changed)
    kube._bump(kube.objects[("ModelDeployment", "eco")])
    ctx.model_events.arrived(KEY, kube.model())
    stale = copy.deepcopy(changed)
    stale["metadata"]["resourceVersion"] = "1"  # an older event delivered late is not kept over it
    ctx.model_events.arrived(KEY, stale)
    assert ctx.model_events.read(KEY) == kube.model()
    shell.reconcile_model_deployment(ctx, "ml", "eco")
    deployment = next(o for (k, _), o in kube.objects.items() if k == "Deployment")
    assert deployment["spec"]["replicas"] == 3 and kube.gets == 0


def test_a_model_with_a_status_is_always_read_as_stored() -> None:
    body = new_model()
    body["status"] = {"observedGeneration": 1, "phase": "Ready"}
    kube = VersionedKube(body)
    ctx = Context(kube=kube, clock=lambda: NOW)  # type: ignore[arg-type]
    ctx.model_events.arrived(KEY, kube.model())
    shell.reconcile_model_deployment(ctx, "ml", "eco")
    assert kube.gets == 1


def settle(kube: VersionedKube, ctx: Context) -> None:
    """What the watches drive for a new model: its event, the first reconcile, the Deployment becoming
    available, the reconcile that writes the first status."""
    ctx.model_events.arrived(KEY, kube.model())
    shell.reconcile_model_deployment(ctx, "ml", "eco")
    make_ready(kube)
    shell.reconcile_model_deployment(ctx, "ml", "eco")


def test_the_echo_of_the_status_write_that_settled_a_model_is_not_queued() -> None:
    kube = VersionedKube(new_model())
    clock = [NOW + timedelta(seconds=1)]
    ctx = Context(kube=kube, clock=lambda: clock[0])  # type: ignore[arg-type]
    settle(kube, ctx)
    assert len(kube.status_patches) == 1 and len(kube.events) == 1
    echo = kube.model()
    assert not ctx.model_events.arrived(KEY, echo)  # our own write: nothing to queue
    assert ctx.model_events.arrived(KEY, echo)  # the same version again (a relist): queued, once skipped
    # And had it been reconciled: the same fingerprint, nothing planned or written.
    before = kube.writes()
    assert shell.reconcile_model_deployment(ctx, "ml", "eco") is None
    assert kube.writes() == before
    # A user's change after our write is queued.
    changed = kube.model()
    changed["metadata"]["resourceVersion"] = str(kube.revision + 1)
    ctx.model_events.expect_echo(KEY, echo["metadata"]["resourceVersion"])
    assert ctx.model_events.arrived(KEY, changed)


def test_a_status_write_that_does_not_settle_the_model_leaves_its_echo_queued() -> None:
    """The server stores a status the plan does not agree with (here: a field the plan removes comes
    back): planning from the stored result would write again, so its echo must be reconciled."""

    class StubbornKube(VersionedKube):
        def patch_status(self, kind: str, namespace: str, name: str, patch: dict) -> dict:
            stored = super().patch_status(kind, namespace, name, patch)
            self.objects[(kind, name)]["status"]["phase"] = "Stale"
            return {**stored, "status": {**stored["status"], "phase": "Stale"}}

    kube = StubbornKube(new_model())
    ctx = Context(kube=kube, clock=lambda: NOW + timedelta(seconds=1))  # type: ignore[arg-type]
    settle(kube, ctx)
    assert kube.status_patches
    assert ctx.model_events.arrived(KEY, kube.model())  # the echo is reconciled when it comes


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(resources("ModelDeployment"))
def test_a_skipped_echo_is_a_state_that_plans_to_no_write(doc: dict) -> None:
    """For any model the schema allows: when the reconcile records its status write's echo as settled,
    reconciling that stored state afresh (no fingerprint, a new process) writes nothing at all."""
    doc = copy.deepcopy(doc)
    doc["metadata"] = {**(doc.get("metadata") or {}), "name": "eco", "namespace": "ml", "uid": "u-1"}
    doc["metadata"].update(generation=1, creationTimestamp="2026-12-03T11:59:00Z")
    kube = VersionedKube(doc)
    clock = [NOW + timedelta(seconds=1)]
    ctx = Context(kube=kube, clock=lambda: clock[0])  # type: ignore[arg-type]
    try:
        settle(kube, ctx)
        for _ in range(3):  # each status write's echo arrives; one not skipped is reconciled
            if not ctx.model_events.arrived(KEY, kube.model()):
                break
            clock[0] += timedelta(seconds=30)
            shell.reconcile_model_deployment(ctx, "ml", "eco")
            make_ready(kube)
        else:
            return  # never confirmed settled: every echo was reconciled as any event
    except Exception:  # a spec the planner refuses is reported; nothing more to check
        return
    SKIPPED.append(1)
    before = kube.writes()
    fresh = Context(kube=kube, clock=lambda: clock[0])  # type: ignore[arg-type]
    shell.reconcile_model_deployment(fresh, "ml", "eco")
    assert kube.writes() == before


# -- the store on its own: a reference model over any sequence of events and writes -------------------------
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("event"), st.booleans(), st.integers(1, 8)),
        st.tuples(st.just("read"), st.just(False), st.just(0)),
        st.tuples(st.just("wrote"), st.booleans(), st.integers(1, 8)),  # (version known, version)
        st.tuples(st.just("echo"), st.just(False), st.integers(1, 8)),
        st.tuples(st.just("forget"), st.just(False), st.just(0)),
    ),
    max_size=40,
)


def body_of(first: bool, rv: int) -> dict:
    status: dict[str, Any] = {} if first else {"observedGeneration": 1}
    return {"metadata": {"name": "eco", "namespace": "ml", "resourceVersion": str(rv)}, "status": status}


@given(OPS)
def test_the_store_matches_its_reference_model(ops: list[tuple[str, bool, int]]) -> None:
    """A copy is read only while the model has no status, and it is the latest first-time event's, never
    older than our own last write (nor held at all after a write whose version is unknown)."""
    events = ModelEvents()
    held: int | None = None  # the version of the copy held
    floor: int | None = None  # our last write's version; -1 unknown
    echo = None
    for op, flag, rv in ops:
        if op == "event":
            queued = events.arrived(KEY, body_of(flag, rv))
            skip = echo == str(rv)
            echo = None
            assert queued == (not skip)
            if skip:
                pass
            elif not flag:
                held = None
            elif (floor is None or (floor != -1 and rv >= floor)) and (held is None or rv > held):
                held = rv
        elif op == "read":
            assert events.read(KEY) == (None if held is None else body_of(True, held))
        elif op == "wrote":
            events.wrote(KEY, str(rv) if flag else None)
            floor, held = (rv if flag else -1), None
        elif op == "echo":
            events.expect_echo(KEY, str(rv))
            echo = str(rv)
        else:
            events.forget(KEY)
            held, floor, echo = None, None, None
        assert events.held() == (held is not None)


def test_the_watch_handler_skips_the_echo_and_forgets_a_deleted_model() -> None:
    added: list[tuple] = []
    queue = SimpleNamespace(
        add=lambda key, **kw: added.append(key), forget=lambda key: added.append(("-", key))
    )
    ctx = SimpleNamespace(model_events=ModelEvents())
    memo = SimpleNamespace(ctx=ctx, queue=queue)

    def deliver(type_: str, body: dict) -> None:
        event = {"type": type_, "object": body}
        asyncio.run(
            on_model_deployment(event=event, type=type_, name="eco", namespace="ml", body=body, memo=memo)
        )

    deliver("ADDED", body_of(True, 2))
    assert added == [("ModelDeployment", "ml", "eco")]
    assert ctx.model_events.read(KEY) == body_of(True, 2)
    ctx.model_events.expect_echo(KEY, "5")
    deliver("MODIFIED", body_of(False, 5))
    assert len(added) == 1
    deliver("MODIFIED", body_of(False, 6))
    assert len(added) == 2
    deliver("DELETED", body_of(False, 6))
    assert added[-1] == ("-", ("ModelDeployment", "ml", "eco"))
    deliver("ADDED", body_of(True, 9))  # the same name created again: a first read again
    assert ctx.model_events.read(KEY) == body_of(True, 9)


def test_the_property_above_checked_skipped_echoes() -> None:
    """Runs after it (file order): some generated models did settle with their echo skipped."""
    if not SKIPPED:
        test_a_skipped_echo_is_a_state_that_plans_to_no_write()
    assert SKIPPED


def test_pending_writes_agrees_with_what_apply_plan_writes() -> None:
    """The confirmation's check (shell.pending_writes) and apply_plan share their comparison: for a
    settled model, a drifted object and a deleted one, it says 'writes' exactly when apply_plan writes."""
    from modelserve.planner.modeldeployment import plan_model_deployment

    kube = VersionedKube(new_model())
    ctx = Context(kube=kube, clock=lambda: NOW + timedelta(seconds=1))  # type: ignore[arg-type]
    settle(kube, ctx)

    def drift(k: VersionedKube) -> None:
        next(o for (kind, _), o in k.objects.items() if kind == "Deployment")["spec"]["replicas"] = 7

    def drop(k: VersionedKube) -> None:
        del k.objects[next(key for key in k.objects if key[0] == "Service")]

    results: list[bool] = []
    for change in (lambda k: None, drift, drop):
        change(kube)
        body = kube.model()
        observed, owned = shell.observe(ctx, body)
        plan = plan_model_deployment(body, observed, NOW + timedelta(seconds=1))
        pending = shell.pending_writes(plan, owned, observed.user_route)
        assert pending == (shell.apply_plan(ctx, body, plan, owned, observed.user_route) > 0)
        results.append(pending)
    assert results == [False, True, True]  # each case as expected, not only in agreement
    assert not shell.pending_writes(plan, shell.observe(ctx, kube.model())[1])
