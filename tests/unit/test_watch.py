"""The owned kinds' list-and-watch (reconcile/watch.py): whatever the API server does between two
steps -- changes, compaction (410 Gone, as a status or as an ERROR event), 429s, broken connections,
streams ended early -- once a step runs undisturbed the cache holds exactly what the server holds,
and every object changed since its last report has queued its owner again."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from modelserve.api import constants as c
from modelserve.k8s.client import json_lines
from modelserve.k8s.transport import ApiException
from modelserve.reconcile.informer import ObjectCache
from modelserve.reconcile.watch import BACKOFF_CAP, OwnedWatch, backoff_seconds, expired

SELECTOR = f"{c.LABEL_MANAGED_BY}={c.MANAGED_BY}"
NAMES = ["a", "b", "c", "d"]


class Server:
    """One kind in one namespace: objects, an event log with compaction, and scripted failures."""

    def __init__(self) -> None:
        self.rv = 100
        self.objects: dict[str, dict] = {}
        self.log: list[tuple[int, str, dict]] = []
        self.compacted = 100  # a watch from an older resourceVersion is answered 410
        self.failure: str | None = None  # the next request's failure
        self.calls: list[str] = []

    def change(self, op: str, name: str) -> None:
        self.rv += 1
        labels = {c.LABEL_MANAGED_BY: c.MANAGED_BY, c.LABEL_INSTANCE: name}
        if op == "delete":
            obj = self.objects.pop(name, None)
            if obj is None:
                return
            gone = json.loads(json.dumps(obj))
            gone["metadata"]["resourceVersion"] = str(self.rv)
            self.log.append((self.rv, "DELETED", gone))
            return
        kind = "MODIFIED" if name in self.objects else "ADDED"
        obj = {
            "metadata": {"name": name, "namespace": "ml", "resourceVersion": str(self.rv), "labels": labels},
            "spec": {"generation": self.rv},
        }
        self.objects[name] = obj
        self.log.append((self.rv, kind, json.loads(json.dumps(obj))))

    def compact(self) -> None:
        self.compacted = self.rv
        self.log = []

    def _fail(self, where: str) -> None:
        failure, self.failure = self.failure, None
        if failure == "429":
            raise ApiException(status=429, reason="Too Many Requests")
        if failure == "500":
            raise ApiException(status=500, reason="Internal Server Error")
        if failure == "reset" and where == "list":
            raise ConnectionResetError("connection reset by peer")
        if failure is not None and where == "watch-open":
            self.failure = failure  # a mid-stream failure: after the first event

    # -- the KubeClient surface the watch uses ---------------------------------------------------------

    def list_pages(
        self, kind: str, namespace: str | None, label_selector: str | None = None, meta: Any = None
    ) -> Iterator[dict]:
        self.calls.append("list")
        self._fail("list")
        if meta is not None:
            meta["resourceVersion"] = str(self.rv)
        items = [json.loads(json.dumps(o)) for o in self.objects.values()]
        for item in items:
            item["metadata"].pop("namespace", None)  # a namespaced list's items may omit it
        return iter(items)

    def watch(self, kind: str, namespace: str | None, *, resource_version: str, **_: Any) -> Iterator[dict]:
        self.calls.append("watch")
        self._fail("watch-open")
        start = int(resource_version)
        if start < self.compacted:
            if self.failure is None and start % 2:
                raise ApiException(status=410, reason="Gone")
            yield {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}
            return
        sent = 0
        for rv, kind_of_event, obj in list(self.log):
            if rv <= start:
                continue
            yield {"type": kind_of_event, "object": json.loads(json.dumps(obj))}
            sent += 1
            if self.failure == "reset":
                self.failure = None
                raise ConnectionResetError("stream broken mid-way")
        yield {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": str(self.rv)}}}


ops = st.one_of(
    st.tuples(st.sampled_from(["create", "update", "delete"]), st.sampled_from(NAMES)),
    st.tuples(st.just("compact"), st.just("")),
    st.tuples(st.just("fail"), st.sampled_from(["429", "500", "reset"])),
    st.tuples(st.just("step"), st.just("")),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(ops, max_size=40))
def test_the_cache_converges_on_the_server_and_every_change_queues_its_owner(script: list) -> None:
    server = Server()
    cache = ObjectCache({"Deployment": SELECTOR}, server.list_pages)
    clock = itertools.count()
    reported: dict[str, int] = {}
    changed: dict[str, int] = {}

    def on_change(namespace: str, labels: Any) -> None:
        assert namespace == "ml"
        reported[labels[c.LABEL_INSTANCE]] = next(clock)

    watch = OwnedWatch(
        server,  # type: ignore[arg-type]
        "Deployment",
        "ml",
        SELECTOR,
        on_change,
        cache=cache,
        sleep=lambda _: False,
    )
    born: dict[str, int] = {}
    known_at_deletion: dict[str, bool] = {}  # whether the watch had reported it before it was deleted
    for op, arg in script:
        if op in ("create", "update", "delete"):
            if op != "delete" and arg not in server.objects:
                born[arg] = next(clock)
            if op != "delete" or arg in server.objects:
                changed[arg] = next(clock)
            if op == "delete" and arg in server.objects:  # did the watch report this incarnation?
                known_at_deletion[arg] = reported.get(arg, -1) > born[arg]
            server.change(op, arg)
        elif op == "compact":
            server.compact()
        elif op == "fail":
            server.failure = arg
        else:
            watch.step()
    server.failure = None
    for _ in range(3):  # an expired version costs one step (410), the list and watch the next
        watch.step()
    listed = cache.list("Deployment", "ml", SELECTOR)
    stored = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in listed}
    assert stored == {n: o["metadata"]["resourceVersion"] for n, o in server.objects.items()}
    for name, when in changed.items():
        if name not in server.objects and not known_at_deletion.get(name):
            continue  # created and deleted unseen: its owner has nothing to learn
        assert reported.get(name, -1) > when, f"{name} changed at {when}, last reported {reported.get(name)}"
    assert watch.synced.is_set()


def deployment_watch(server: Server, waits: list[float], **options: Any) -> OwnedWatch:
    """A Deployment watch of `server` that records its backoff waits instead of sleeping."""

    def sleep(seconds: float) -> bool:
        waits.append(seconds)
        return False

    return OwnedWatch(
        server,  # type: ignore[arg-type]
        "Deployment",
        "ml",
        SELECTOR,
        lambda ns, labels: None,
        sleep=sleep,
        **options,
    )


def test_an_expired_version_lists_again_and_a_failure_backs_off() -> None:
    server = Server()
    waits: list[float] = []
    watch = deployment_watch(server, waits, cache=ObjectCache({"Deployment": SELECTOR}, server.list_pages))
    watch.step()
    assert server.calls == ["list", "watch"] and watch.lists == 1
    server.change("create", "a")
    server.compact()
    server.change("update", "a")
    watch.step()  # 410: no wait, no backoff
    watch.step()
    assert watch.lists == 2 and waits == []
    server.failure = "429"
    watch.step()
    server.failure = "500"
    watch.step()
    assert len(waits) == 2 and watch.failures == 2
    watch.step()  # a good stream resets the backoff
    assert watch.failures == 0


def test_a_stopped_watch_does_nothing_more() -> None:
    server = Server()
    watch = OwnedWatch(server, "Pod", None, SELECTOR, lambda ns, labels: None)  # type: ignore[arg-type]
    watch.stop()
    watch.run()
    assert server.calls == []


def test_a_cluster_wide_watch_reports_only_the_watched_namespaces() -> None:
    seen: list[str] = []
    watch = OwnedWatch(
        Server(),  # type: ignore[arg-type]
        "Pod",
        None,
        SELECTOR,
        lambda ns, labels: seen.append(ns),
        namespaces=("team-*",),
    )
    for ns in ("team-a", "other", "team-b"):
        watch.handle({"type": "ADDED", "object": {"metadata": {"name": "p", "namespace": ns, "labels": {}}}})
    assert seen == ["team-a", "team-b"]


@given(st.lists(st.dictionaries(st.text(max_size=5), st.integers()), max_size=6), st.data())
def test_json_lines_survive_any_chunking(docs: list[dict], data: st.DataObject) -> None:
    stream = "".join(json.dumps(d) + "\n" for d in docs).encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert list(json_lines(chunks)) == docs


@given(st.integers(0, 100), st.floats(0, 1))
def test_backoff_doubles_to_its_cap_with_jitter(failures: int, draw: float) -> None:
    wait = backoff_seconds(failures, lambda: draw)
    if failures == 0:
        assert wait == 0
    else:
        ceiling = min(BACKOFF_CAP, 0.5 * 2 ** (failures - 1))
        assert ceiling / 2 <= wait <= ceiling


def test_expired_recognises_the_api_servers_error_events() -> None:
    assert expired({"type": "ERROR", "object": {"code": 410, "reason": "Expired"}})
    assert expired({"type": "ERROR", "object": {"reason": "Gone"}})
    assert not expired({"type": "ERROR", "object": {"code": 500, "reason": "InternalError"}})


def test_an_unplaced_model_reads_its_pods_from_the_cache_and_a_placed_one_from_the_api() -> None:
    """A storm of new models listed each one's pods while its Deployment was not settled: a LIST the API
    server answers by scanning every pod of the namespace. The watched pods are in the read cache; a
    placed model (it evicts by what it sees) still reads them as stored."""
    from modelserve.handlers.operator import CACHED_KINDS
    from modelserve.reconcile import shell
    from modelserve.reconcile.context import Context

    from tests.unit.test_reconcile_errors import FakeKube
    from tests.unit.test_write_economy import new_model

    body = new_model()
    body["status"] = {"conditions": [{"type": c.COND_MODEL_FETCH_FAILED, "status": "True"}]}
    labels = {c.LABEL_MANAGED_BY: c.MANAGED_BY, c.LABEL_INSTANCE: body["metadata"]["name"]}
    pod = {"kind": "Pod", "metadata": {"name": "eco-0", "namespace": "ml", "labels": labels}}
    kube = FakeKube(body, pod)
    listed: list[str] = []
    plain_list = kube.list

    def counting_list(kind: str, namespace: str | None = None, label_selector: str | None = None) -> list:
        listed.append(kind)
        return plain_list(kind, namespace, label_selector)

    kube.list = counting_list  # type: ignore[method-assign]
    cache = ObjectCache(CACHED_KINDS, kube.list_pages)
    for _ in cache.relisted("Pod", None, iter([pod])):  # primed, as the pod watch's first list does
        pass
    ctx = Context(kube=kube, cache=cache)  # type: ignore[arg-type]
    observed, _ = shell.observe(ctx, body)
    assert [p["metadata"]["name"] for p in observed.pods] == ["eco-0"] and "Pod" not in listed
    body["spec"]["placementRef"] = {"name": "eu"}
    observed, _ = shell.observe(ctx, body)
    assert "Pod" in listed


def test_a_watch_the_server_ends_at_once_backs_off_instead_of_spinning() -> None:
    server = Server()
    server.watch = lambda *a, **k: iter(())  # type: ignore[method-assign]
    waits: list[float] = []
    watch = deployment_watch(server, waits, clock=lambda: 0.0)
    for _ in range(4):
        watch.step()
    assert len(waits) == 4 and watch.failures == 4 and server.calls == ["list"]


def test_the_echo_of_our_own_write_queues_nothing_but_a_later_change_does() -> None:
    cache = ObjectCache({"Deployment": SELECTOR}, lambda *a, **k: iter(()))
    seen: list[str] = []
    watch = OwnedWatch(
        Server(),  # type: ignore[arg-type]
        "Deployment",
        "ml",
        SELECTOR,
        lambda ns, labels: seen.append(labels[c.LABEL_INSTANCE]),
        cache=cache,
    )
    labels = {c.LABEL_MANAGED_BY: c.MANAGED_BY, c.LABEL_INSTANCE: "eco"}
    applied = {"kind": "Deployment", "metadata": {"name": "eco", "namespace": "ml", "resourceVersion": "7"}}
    applied["metadata"]["labels"] = labels
    cache.record(applied)  # the apply's response, stored through
    watch.handle({"type": "ADDED", "object": json.loads(json.dumps(applied))})
    assert seen == []
    later = json.loads(json.dumps(applied))
    later["metadata"]["resourceVersion"] = "8"
    watch.handle({"type": "MODIFIED", "object": later})
    watch.handle({"type": "DELETED", "object": later})
    assert seen == ["eco", "eco"]


# -- the hand-over from the watch threads to the event loop -----------------------------------------------
@given(st.lists(st.lists(st.integers(0, 99), max_size=30), min_size=1, max_size=4))
def test_the_handoff_delivers_every_call_in_order_with_one_wakeup_per_batch(
    per_thread: list[list[int]],
) -> None:
    import asyncio
    import threading

    from modelserve.reconcile.watch import LoopHandoff

    got: list[tuple[int, int]] = []

    async def main() -> LoopHandoff:
        loop = asyncio.get_running_loop()
        handoff = LoopHandoff(loop.call_soon_threadsafe)

        def produce(t: int, items: list[int]) -> None:
            for item in items:
                handoff.put(got.append, (t, item))

        threads = [threading.Thread(target=produce, args=(t, items)) for t, items in enumerate(per_thread)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        for _ in range(100):  # let the scheduled drains run
            await asyncio.sleep(0)
        return handoff

    handoff = asyncio.run(main())
    assert sorted(got) == sorted((t, i) for t, items in enumerate(per_thread) for i in items)
    for t, items in enumerate(per_thread):  # each thread's calls arrive in its order
        assert [i for tt, i in got if tt == t] == items
    total = sum(map(len, per_thread))
    assert handoff.wakeups <= total and (total == 0 or handoff.wakeups >= 1)


def test_a_failing_call_does_not_drop_the_rest_of_its_batch() -> None:
    from modelserve.reconcile.watch import LoopHandoff

    scheduled: list = []
    handoff = LoopHandoff(lambda fn: scheduled.append(fn))
    got: list[int] = []
    handoff.put(got.append, 1)
    handoff.put(lambda: 1 / 0)
    handoff.put(got.append, 2)
    assert len(scheduled) == 1 and handoff.wakeups == 1  # one wake-up for the three
    scheduled[0]()
    assert got == [1, 2]
    handoff.put(got.append, 3)  # the next batch wakes the loop again
    assert len(scheduled) == 2
    scheduled[1]()
    assert got == [1, 2, 3]
