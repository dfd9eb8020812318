"""The read cache of watched objects (reconcile/informer.py): whatever the order in which watch events,
our own writes' responses and relists reach it, once everything has arrived it holds exactly what the
API server holds, and it never brings back an object after seeing its deletion."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelserve.reconcile.informer import ObjectCache, parse_selector

NS = "team"
SEL = "app.kubernetes.io/managed-by=modelserve"
LABELS = {"app.kubernetes.io/managed-by": "modelserve"}
NAMES = ("a", "b", "c")


def obj(name: str, rv: int, ns: str = NS, labels: dict | None = None) -> dict:
    return {
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": ns,
            "resourceVersion": str(rv),
            "labels": dict(LABELS if labels is None else labels),
        },
        "spec": {"replicas": rv},
    }


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def cache_with(lister=None) -> ObjectCache:  # type: ignore[no-untyped-def]
    def no_list(*_a, **_k) -> Iterator[dict]:  # type: ignore[no-untyped-def]
        return iter(())

    return ObjectCache({"Deployment": SEL, "SLAPolicy": None}, lister or no_list, clock=Clock())


def held(cache: ObjectCache) -> dict[str, int]:
    return {
        o["metadata"]["name"]: int(o["metadata"]["resourceVersion"])
        for o in cache.list("Deployment", NS, SEL)
    }


# A history: each step creates/updates (True) or deletes (False) one name; resourceVersion = step + 1.
histories = st.lists(st.tuples(st.sampled_from(NAMES), st.booleans()), min_size=1, max_size=14)


def timeline(history: list[tuple[str, bool]]) -> list[tuple[str, str, int]]:
    """The watch stream of a history: (type, name, rv); a delete of an absent name is skipped."""
    live: set[str] = set()
    out = []
    for i, (name, put) in enumerate(history):
        rv = i + 1
        if put:
            out.append(("MODIFIED" if name in live else "ADDED", name, rv))
            live.add(name)
        elif name in live:
            out.append(("DELETED", name, rv))
            live.discard(name)
    return out


def truth_at(stream: list[tuple[str, str, int]], t: int) -> dict[str, int]:
    state: dict[str, int] = {}
    for kind, name, rv in stream[:t]:
        if kind == "DELETED":
            state.pop(name, None)
        else:
            state[name] = rv
    return state


@settings(max_examples=400, deadline=None)
@given(history=histories, data=st.data())
def test_any_interleaving_converges_to_the_servers_state(
    history: list[tuple[str, bool]], data: st.DataObject
) -> None:
    """Truth advances op by op; the watch delivers its events in order but late, and may lose some (a
    broken stream); our writes' responses arrive any time after the write; relists start, snapshot a later
    truth, and finish at arbitrary points. Once everything has arrived (and, after a loss, a relist), the
    cache equals the truth; it never again holds a copy older than a deletion it saw."""
    stream = timeline(history)
    cache = cache_with()
    assert held(cache) == {}  # the first read lists the namespace: empty, as the truth starts
    truth_time = delivered = 0
    writes_pending: list[int] = []  # stream indexes of our writes whose responses are not recorded yet
    relists: list[dict] = []  # {"started": bool, "snapshot": dict | None}
    deleted_seen: dict[str, int] = {}  # name -> rv of the latest deletion the cache has been told of

    def check_no_resurrection() -> None:
        for name, rv in held(cache).items():
            assert rv > deleted_seen.get(name, 0), (name, rv, deleted_seen)

    def finish(relist: dict) -> None:
        relist["feed"].extend(obj(n, rv) for n, rv in sorted(relist["snapshot"].items()))
        for _ in relist["gen"]:
            pass
        relists.remove(relist)

    dropped = False
    steps = 0
    while steps < 80:
        steps += 1
        actions = []
        if truth_time < len(stream):
            actions.append("advance")
        if delivered < truth_time:
            actions.extend(["deliver", "drop"])
        if writes_pending:
            actions.append("write")
        actions.append("relist")
        if any(r["snapshot"] is None for r in relists):
            actions.append("snapshot")
        if any(r["snapshot"] is not None for r in relists):
            actions.append("finish")
        if actions == ["relist"] and not relists and delivered == len(stream):
            break
        action = data.draw(st.sampled_from(actions))
        if action == "advance":
            if data.draw(st.booleans()) and stream[truth_time][0] != "DELETED":
                writes_pending.append(truth_time)
            truth_time += 1
        elif action == "deliver":
            kind, name, rv = stream[delivered]
            cache.observe("Deployment", kind, obj(name, rv))
            if kind == "DELETED":
                deleted_seen[name] = max(deleted_seen.get(name, 0), rv)
            delivered += 1
        elif action == "drop":  # the watch stream broke: kopf's re-list reports no deletion
            delivered += 1
            dropped = True
        elif action == "write":
            i = writes_pending.pop(data.draw(st.integers(0, len(writes_pending) - 1)))
            _, name, rv = stream[i]
            cache.record(obj(name, rv))
        elif action == "relist" and len(relists) < 2:
            feed: list[dict] = []
            # The list begins (the cache reads its clock now); its snapshot and items come later.
            relists.append(
                {"snapshot": None, "feed": feed, "gen": cache.relisted("Deployment", NS, _Feed(feed))}
            )
        elif action == "snapshot":
            relist = next(r for r in relists if r["snapshot"] is None)
            relist["snapshot"] = truth_at(stream, truth_time)
        elif action == "finish":
            relist = data.draw(st.sampled_from([r for r in relists if r["snapshot"] is not None]))
            finish(relist)
        check_no_resurrection()
    # Everything arrives: the rest of the stream, every pending relist.
    while truth_time < len(stream):
        truth_time += 1
    for relist in list(relists):
        if relist["snapshot"] is None:
            relist["snapshot"] = truth_at(stream, truth_time)
        finish(relist)
        check_no_resurrection()
    while delivered < len(stream):
        kind, name, rv = stream[delivered]
        cache.observe("Deployment", kind, obj(name, rv))
        if kind == "DELETED":
            deleted_seen[name] = rv
        delivered += 1
        check_no_resurrection()
    if dropped:  # only a relist repairs what a broken stream missed: the resync's
        relist = {"snapshot": truth_at(stream, len(stream)), "feed": [], "gen": None}
        relist["gen"] = cache.relisted("Deployment", NS, _Feed(relist["feed"]))
        relists.append(relist)
        finish(relist)
    assert held(cache) == truth_at(stream, len(stream))


class _Feed:
    """The items of a list, pushed when its snapshot has been taken."""

    def __init__(self, pending: list[dict]):
        self.pending = pending

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> dict:
        if self.pending:
            return self.pending.pop(0)
        raise StopIteration


def test_a_relist_drops_what_a_stalled_watch_missed() -> None:
    cache = cache_with()
    cache.observe("Deployment", "ADDED", obj("a", 1))
    cache.observe("Deployment", "ADDED", obj("b", 2))
    # b was deleted while the watch was down: no DELETED event; the relist does not hold it.
    list(cache.relisted("Deployment", NS, iter([obj("a", 1)])))
    assert held(cache) == {"a": 1}


def test_an_object_stored_during_a_relist_survives_its_sweep() -> None:
    cache = cache_with()
    gen = cache.relisted("Deployment", NS, iter([obj("a", 1)]))  # the list has begun
    cache.record(obj("b", 3))  # created (our write) after the list's snapshot
    list(gen)
    assert held(cache) == {"a": 1, "b": 3}


def test_a_late_copy_from_before_a_deletion_is_refused() -> None:
    cache = cache_with()
    cache.observe("Deployment", "ADDED", obj("a", 1))
    cache.observe("Deployment", "DELETED", obj("a", 2))
    cache.record(obj("a", 1))  # a write's response, recorded late
    assert held(cache) == {}
    cache.observe("Deployment", "ADDED", obj("a", 5))  # created again
    assert held(cache) == {"a": 5}


def test_the_deletion_of_an_older_incarnation_keeps_the_newer() -> None:
    cache = cache_with()
    list(cache.relisted("Deployment", NS, iter([obj("a", 6)])))
    cache.observe("Deployment", "DELETED", obj("a", 4))
    assert held(cache) == {"a": 6}


def test_the_first_read_of_a_namespace_lists_it_once_with_the_watch_selector() -> None:
    calls: list[tuple] = []

    def lister(kind: str, namespace: str, label_selector: str | None = None) -> Iterator[dict]:
        calls.append((kind, namespace, label_selector))
        yield {"metadata": {"name": "a", "resourceVersion": "3", "labels": {**LABELS, "x": "1"}}}
        yield {"metadata": {"name": "b", "resourceVersion": "4", "labels": dict(LABELS)}}

    cache = cache_with(lister)
    assert [o["metadata"]["name"] for o in cache.list("Deployment", NS, f"x=1,{SEL}")] == ["a"]
    assert len(cache.list("Deployment", NS, SEL)) == 2
    assert cache.get("Deployment", NS, "b")["metadata"]["namespace"] == NS  # type: ignore[index]
    assert calls == [("Deployment", NS, SEL)]
    assert len(cache.list("SLAPolicy", "other")) == 2 and calls[-1] == ("SLAPolicy", "other", None)


def test_reads_are_copies() -> None:
    cache = cache_with()
    assert cache.list("Deployment", NS, SEL) == []  # primed: the API server holds none
    cache.record(obj("a", 1))
    cache.list("Deployment", NS, SEL)[0]["spec"]["replicas"] = 99
    assert cache.get("Deployment", NS, "a")["spec"]["replicas"] == 1  # type: ignore[index]


def test_a_selector_wider_than_the_watch_is_refused() -> None:
    cache = cache_with()
    with pytest.raises(ValueError, match="labelled"):
        cache.list("Deployment", NS, "x=1")
    with pytest.raises(ValueError, match="key=value"):
        parse_selector("x!=1")
    assert parse_selector("a=b, c==d") == {"a": "b", "c": "d"}


def test_uncached_kinds_are_ignored() -> None:
    cache = cache_with()
    cache.observe("Pod", "ADDED", obj("p", 1))
    assert not cache.covers("Pod") and cache.size() == 0


def test_tombstones_are_pruned_after_their_time() -> None:
    clock = Clock()
    cache = ObjectCache({"Deployment": SEL}, lambda *a, **k: iter(()), clock=clock, tombstone_seconds=10)
    for i in itertools.count():
        if i >= 100:
            break
        cache.observe("Deployment", "DELETED", obj(f"d{i}", i + 1))
    assert len(cache._tombstones) < 100


INSTANCE = "app.kubernetes.io/instance"


@settings(max_examples=200, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["put", "delete", "relist"]),
            st.sampled_from((*NAMES, "d", "e")),
            st.sampled_from(["m1", "m2", "m3"]),
        ),
        max_size=30,
    )
)
def test_a_models_objects_come_from_the_index_as_a_scan_would_find_them(
    ops: list[tuple[str, str, str]],
) -> None:
    """The instance-label index (a model's objects without a scan of the namespace) answers exactly what
    filtering every stored object by the selector answers, through stores, relabels, deletions, relists."""
    cache = cache_with()
    assert cache.list("Deployment", NS, SEL) == []
    truth: dict[str, tuple[int, str]] = {}
    for rv, (op, name, owner) in enumerate(ops, start=1):
        if op == "put":
            truth[name] = (rv, owner)
            cache.observe("Deployment", "MODIFIED", obj(name, rv, labels={**LABELS, INSTANCE: owner}))
        elif op == "delete" and name in truth:
            del truth[name]
            cache.observe("Deployment", "DELETED", obj(name, rv))
        elif op == "relist":
            items = [obj(n, v, labels={**LABELS, INSTANCE: o}) for n, (v, o) in sorted(truth.items())]
            list(cache.relisted("Deployment", NS, iter(items)))
        everything = cache.list("Deployment", NS, SEL)
        for owner_ in ("m1", "m2", "m3"):
            indexed = cache.list("Deployment", NS, f"{INSTANCE}={owner_},{SEL}")
            scanned = [o for o in everything if o["metadata"]["labels"].get(INSTANCE) == owner_]
            assert sorted(o["metadata"]["name"] for o in indexed) == sorted(
                o["metadata"]["name"] for o in scanned
            )
            assert {o["metadata"]["name"] for o in indexed} == {
                n for n, (_, o) in truth.items() if o == owner_
            }


def test_an_older_list_finishing_late_does_not_bring_back_what_a_newer_list_removed() -> None:
    """Found by the interleaving property above: two relists overlap. The first snapshots b at rv 1; b
    is then deleted (rv 3), created again (rv 4) and deleted (rv 6) while the watch is down; a second
    list, begun later, finds no b and removes it; the first finishes last, with its copy of b at rv 1."""
    cache = cache_with()
    assert held(cache) == {}
    cache.observe("Deployment", "ADDED", obj("b", 1))
    early_feed: list[dict] = []
    early = cache.relisted("Deployment", NS, _Feed(early_feed))
    cache.observe("Deployment", "DELETED", obj("b", 3))
    cache.observe("Deployment", "ADDED", obj("b", 4))  # then deleted at rv 6: that event is lost
    for _ in cache.relisted("Deployment", NS, iter(())):
        pass
    assert held(cache) == {}
    early_feed.append(obj("b", 1))
    for _ in early:
        pass
    assert held(cache) == {}
    cache.observe("Deployment", "ADDED", obj("b", 9))  # a new b is stored as usual
    assert held(cache) == {"b": 9}
