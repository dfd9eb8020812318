"""A resync reconciles only the models whose inputs changed since the last one (reconcile/resync.py,
planner/inputs.py `resync_digests`): an idle model costs no reads at rest, and a change whose watch
event was lost is still reconciled at the next resync."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from modelserve.api import constants as c
from modelserve.planner.inputs import resync_digests
from modelserve.reconcile.resync import ResyncFilter, list_scopes

from tests.unit.test_cheap_rest import settled

KEY = ("ModelDeployment", "ml", "eco")
OTHER = ("SLAPolicy", "ml", "gold")


def _filter(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, ResyncFilter]:
    kube, ctx, _, _ = settled(monkeypatch)
    for (kind, _), obj in kube.objects.items():
        if kind == "Deployment":  # settled: no pod list needed (planner/model_fetch.pods_needed)
            obj["status"]["updatedReplicas"] = obj["status"]["replicas"]
    return kube, ResyncFilter(kube, (), ctx.planned)


def test_an_idle_model_is_reconciled_at_the_first_resync_only(monkeypatch: pytest.MonkeyPatch) -> None:
    _, relist = _filter(monkeypatch)
    assert relist.due({KEY, OTHER}) == {KEY, OTHER}  # nothing known yet
    for _ in range(10):
        assert relist.due({KEY, OTHER}) == {OTHER}  # other kinds are reconciled as before


@pytest.mark.parametrize(
    "change",
    [
        lambda kube: kube.objects[("ModelDeployment", "eco")]["spec"].update(replicas=2),
        lambda kube: next(o for (k, _), o in kube.objects.items() if k == "Deployment")["metadata"].update(
            annotations={"edited-by": "someone"}
        ),
        lambda kube: kube.objects.pop(next(k for k in kube.objects if k[0] == "Service")),
        lambda kube: kube.objects.__setitem__(
            ("SLAPolicy", "gold"), {"kind": "SLAPolicy", "metadata": {"name": "gold", "namespace": "ml"}}
        ),
    ],
    ids=["spec", "deployment-edited", "service-deleted", "sla-policy-created"],
)
def test_a_change_whose_watch_event_was_lost_is_reconciled_at_the_next_resync(
    monkeypatch: pytest.MonkeyPatch, change: Any
) -> None:
    kube, relist = _filter(monkeypatch)
    relist.due({KEY})
    assert relist.due({KEY}) == set()
    change(kube)
    assert relist.due({KEY}) == {KEY}
    assert relist.due({KEY}) == set()  # the change is seen once (its reconcile plans it)


def test_a_model_whose_plan_is_not_settled_is_always_reconciled(monkeypatch: pytest.MonkeyPatch) -> None:
    _, relist = _filter(monkeypatch)
    relist.due({KEY})
    relist.planned.pop(("ml", "eco"))  # type: ignore[attr-defined]
    assert relist.due({KEY}) == {KEY}
    assert relist.due({KEY}) == {KEY}


def test_a_placed_model_is_always_reconciled(monkeypatch: pytest.MonkeyPatch) -> None:
    kube, relist = _filter(monkeypatch)
    kube.objects[("ModelDeployment", "eco")]["spec"]["placementRef"] = {"name": "eu"}
    relist.due({KEY})
    assert relist.due({KEY}) == {KEY}  # its nodes and pods are not in the lists


def test_a_failing_list_reconciles_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    kube, relist = _filter(monkeypatch)
    relist.due({KEY})
    relist.due({KEY})

    def fails(*args: Any, **kwargs: Any) -> list[dict]:
        raise ConnectionError("connection reset by peer")

    monkeypatch.setattr(kube, "list", fails)
    assert relist.due({KEY, OTHER}) == {KEY, OTHER}


def test_list_scopes() -> None:
    assert list_scopes(()) == [None]
    assert list_scopes(("a", "b")) == ["a", "b"]
    assert list_scopes(("a", "team-*")) == [None]


def _owned(name: str, owner: str, rv: int, kind: str = "Service") -> dict:
    labels = {c.LABEL_INSTANCE: owner, c.LABEL_MANAGED_BY: c.MANAGED_BY}
    meta = {"name": name, "namespace": "ml", "labels": labels, "resourceVersion": str(rv)}
    return {"kind": kind, "metadata": meta}


def _md(name: str, rv: int) -> dict:
    return {"metadata": {"name": name, "namespace": "ml", "resourceVersion": str(rv)}, "spec": {}}


@given(
    models=st.lists(st.sampled_from("abcde"), min_size=1, max_size=5, unique=True),
    objects=st.lists(st.tuples(st.sampled_from("abcde"), st.integers(1, 50)), max_size=12),
    pick=st.integers(0, 100),
)
def test_a_version_change_changes_its_owners_digest_only(models: list[str], objects: list, pick: int) -> None:
    mds = [_md(m, 1) for m in models]
    owned = [_owned(f"{o}-{i}", o, rv) for i, (o, rv) in enumerate(objects)]
    before = resync_digests(mds, owned, [])
    assert set(before) == {("ml", m) for m in models}
    if owned:
        changed = copy.deepcopy(owned)
        target = changed[pick % len(changed)]
        target["metadata"]["resourceVersion"] += "0"
        after = resync_digests(mds, changed, [])
        owner = ("ml", target["metadata"]["labels"][c.LABEL_INSTANCE])
        for key in before:
            assert (after[key] != before[key]) == (key == owner)
    bumped = [_md(m, 2) if i == pick % len(models) else _md(m, 1) for i, m in enumerate(models)]
    after = resync_digests(bumped, owned, [])
    assert [k for k in before if after[k] != before[k]] == [("ml", models[pick % len(models)])]


def test_a_model_settled_since_the_last_resync_is_not_reconciled_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a storm every model's digest differs from the previous resync's; a model whose last
    reconcile settled on what the resync lists (and wrote nothing) is not reconciled for it (with the
    read cache, reconcile/shell.py `_record_resync_digest`). A change after that reconcile still is."""
    from datetime import timedelta

    from modelserve.handlers.operator import CACHED_KINDS
    from modelserve.reconcile import shell
    from modelserve.reconcile.context import Context
    from modelserve.reconcile.informer import ObjectCache

    from tests.unit.test_cheap_rest import NOW
    from tests.unit.test_reconcile_errors import FakeKube
    from tests.unit.test_write_economy import make_ready, new_model

    kube = FakeKube(new_model())
    cache = ObjectCache(CACHED_KINDS, kube.list_pages)
    clock = [NOW + timedelta(seconds=1)]
    ctx = Context(kube=kube, clock=lambda: clock[0], cache=cache)  # type: ignore[arg-type]

    def watch_events() -> None:  # what kopf's watches would deliver
        for (kind, _), obj in kube.objects.items():
            cache.observe(kind, "MODIFIED", {**copy.deepcopy(obj), "kind": kind})

    shell.reconcile_model_deployment(ctx, "ml", "eco")
    make_ready(kube)
    for (kind, _), obj in kube.objects.items():
        if kind == "Deployment":  # settled: no pod list needed (planner/model_fetch.pods_needed)
            obj["status"]["updatedReplicas"] = obj["status"]["replicas"]
    for _ in range(3):
        watch_events()
        clock[0] += timedelta(seconds=5)
        shell.reconcile_model_deployment(ctx, "ml", "eco")
    assert ("ml", "eco") in ctx.planned and ("ml", "eco") in ctx.resync_seen
    relist = ResyncFilter(kube, (), ctx.planned, cache, ctx.resync_seen)  # type: ignore[arg-type]
    assert relist.due({KEY, OTHER}) == {OTHER}  # the first resync: nothing new since the settled reconcile
    kube.objects[("ModelDeployment", "eco")]["spec"].update(replicas=2)  # a change whose event was lost
    assert relist.due({KEY}) == {KEY}


def test_with_the_read_cache_the_owned_kinds_are_listed_only_every_tenth_resync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The watches keep the cache current (reconcile/watch.py): a resync reads the owned objects' heads
    from it, and lists them from the API server only at every RELIST_EVERY-th round. A change the cache
    receives between two lists still makes its model due."""
    from modelserve.handlers.operator import CACHED_KINDS
    from modelserve.reconcile.informer import ObjectCache
    from modelserve.reconcile.resync import RELIST_EVERY

    kube, ctx, _, _ = settled(monkeypatch)
    for (kind, _), obj in kube.objects.items():
        if kind == "Deployment":  # settled: no pod list needed (planner/model_fetch.pods_needed)
            obj["status"]["updatedReplicas"] = obj["status"]["replicas"]
    listed: list[str] = []
    plain = kube.list_pages

    def list_pages(kind: str, namespace: str | None = None, label_selector: str | None = None) -> Any:
        listed.append(kind)
        return plain(kind, namespace, label_selector)

    kube.list_pages = list_pages
    cache = ObjectCache(CACHED_KINDS, kube.list_pages)
    relist = ResyncFilter(kube, (), ctx.planned, cache)
    for _ in range(3 * RELIST_EVERY + 1):
        listed.clear()
        due = relist.due({KEY})
        owned_listed = "Deployment" in listed
        assert owned_listed == (relist.rounds % RELIST_EVERY == 1), relist.rounds
        assert "ModelDeployment" in listed
        assert due == ({KEY} if relist.rounds == 1 else set()), (relist.rounds, listed)
    deployment = next(o for (k, _), o in kube.objects.items() if k == "Deployment")
    edited = copy.deepcopy(deployment)
    edited["metadata"]["resourceVersion"] = "999"
    cache.observe("Deployment", "MODIFIED", {**edited, "kind": "Deployment"})  # a watch event
    listed.clear()
    assert relist.due({KEY}) == {KEY} and "Deployment" not in listed


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(1, 9), st.booleans()),
        max_size=12,
        unique_by=lambda t: (t[0], t[1]),
    )
)
def test_the_cached_heads_give_the_listed_digests(objects: list[tuple[str, int, bool]]) -> None:
    """Whether the owned objects come from a list or from the cache, a model's digest is the same."""
    from modelserve.planner.inputs import owned_head, resync_digests_of_heads
    from modelserve.reconcile.informer import ObjectCache

    selector = f"{c.LABEL_MANAGED_BY}={c.MANAGED_BY}"
    owned = []
    for owner, n, ready in objects:
        labels = {c.LABEL_MANAGED_BY: c.MANAGED_BY, c.LABEL_INSTANCE: owner}
        owned.append(
            {
                "kind": "Deployment",
                "metadata": {
                    "name": f"{owner}-{n}",
                    "namespace": "ml",
                    "uid": f"u-{owner}-{n}",
                    "resourceVersion": str(n * 10),
                    "labels": labels,
                },
                "spec": {"replicas": 1},
                "status": {k: int(ready) for k in ("replicas", "updatedReplicas", "availableReplicas")},
            }
        )
    models = [
        {"metadata": {"name": m, "namespace": "ml", "uid": m, "resourceVersion": "1"}, "spec": {}}
        for m in ("a", "b", "c")
    ]
    cache = ObjectCache({"Deployment": selector}, lambda *a, **k: iter(()))
    for obj in owned:
        cache.record(obj)
    listed = resync_digests(models, owned, [])
    assert listed == resync_digests_of_heads(models, cache.heads("Deployment", None, owned_head), [])


class _CountingLists:
    """A kube whose lists are counted by (method, kind), over the ModelDeployments of two namespaces."""

    def __init__(self, models: dict[str, list[str]]):
        self.models = models
        self.calls: list[tuple[str, str]] = []

    def _items(self, kind: str, namespace: str | None) -> list[dict]:
        if kind != "ModelDeployment":
            return []
        return [
            {"metadata": {"name": n, "namespace": ns, "resourceVersion": "1"}, "spec": {}}
            for ns, names in self.models.items()
            if namespace in (None, ns)
            for n in names
        ]

    def list(self, kind: str, namespace: str | None = None, label_selector: str | None = None) -> list[dict]:
        self.calls.append(("list", kind))
        return self._items(kind, namespace)

    def list_pages(
        self, kind: str, namespace: str | None = None, label_selector: str | None = None, **_: Any
    ):
        self.calls.append(("list_pages", kind))
        yield from self._items(kind, namespace)


@given(
    st.dictionaries(
        st.sampled_from(["team-a", "team-b", "other"]),
        st.lists(st.sampled_from("xyz"), unique=True),
        max_size=3,
    ),
    st.sampled_from([(), ("team-a",), ("team-*",), ("team-a", "other")]),
)
def test_the_resync_lists_the_models_once_a_page_at_a_time_and_finds_every_watched_one(
    models: dict[str, list[str]], namespaces: tuple[str, ...]
) -> None:
    """Every model that exists in a watched namespace is due (none settled yet), also when no watch event
    ever queued it; none outside; and the ModelDeployments are listed once per resync and scope, paged."""
    kube = _CountingLists(models)
    relist = ResyncFilter(kube, namespaces, {})  # type: ignore[arg-type]
    due = relist.due(set())
    watched = [
        ns
        for ns in models
        if not namespaces or any(ns == n or (n.endswith("*") and ns.startswith(n[:-1])) for n in namespaces)
    ]
    assert due == {("ModelDeployment", ns, n) for ns in watched for n in models[ns]}
    assert kube.calls.count(("list_pages", "ModelDeployment")) == len(list_scopes(namespaces))
    assert ("list", "ModelDeployment") not in kube.calls
