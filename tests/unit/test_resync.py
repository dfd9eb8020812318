"""The resync's relist: every object of our kinds becomes a queue key, so a creation whose watch
event never arrived is still reconciled (at the next resync)."""

from __future__ import annotations

from modelserve.handlers.operator import listed_keys
from modelserve.reconcile.resync import ResyncFilter

OBJECTS = {
    "ModelDeployment": [("team-a", "iris"), ("team-b", "fraud"), ("other", "x")],
    "SLAPolicy": [("team-a", "gold")],
}


def fake_list(calls: list):
    def list_fn(kind: str, namespace: str | None) -> list[dict]:
        calls.append((kind, namespace))
        if kind == "RegionPlacement":
            raise RuntimeError("the server is currently unable to handle the request")
        return [
            {"metadata": {"namespace": ns, "name": name}}
            for ns, name in OBJECTS.get(kind, [])
            if namespace is None or ns == namespace
        ]

    return list_fn


KINDS = ("ModelDeployment", "RegionPlacement", "SLAPolicy")


def test_cluster_wide_lists_every_object_and_skips_a_failing_kind() -> None:
    calls: list = []
    keys = listed_keys(fake_list(calls), KINDS, ())
    assert keys == {
        ("ModelDeployment", "team-a", "iris"),
        ("ModelDeployment", "team-b", "fraud"),
        ("ModelDeployment", "other", "x"),
        ("SLAPolicy", "team-a", "gold"),
    }
    assert calls == [(k, None) for k in KINDS]


def test_named_namespaces_are_listed_one_by_one() -> None:
    calls: list = []
    keys = listed_keys(fake_list(calls), ("ModelDeployment",), ("team-a", "team-b"))
    assert keys == {("ModelDeployment", "team-a", "iris"), ("ModelDeployment", "team-b", "fraud")}
    assert calls == [("ModelDeployment", "team-a"), ("ModelDeployment", "team-b")]


def test_namespace_patterns_filter_a_cluster_wide_list() -> None:
    calls: list = []
    keys = listed_keys(fake_list(calls), ("ModelDeployment", "SLAPolicy"), ("team-*",))
    assert keys == {
        ("ModelDeployment", "team-a", "iris"),
        ("ModelDeployment", "team-b", "fraud"),
        ("SLAPolicy", "team-a", "gold"),
    }
    assert calls == [("ModelDeployment", None), ("SLAPolicy", None)]


def test_resync_queues_known_and_listed_keys_off_the_event_loop() -> None:
    import asyncio
    import threading

    import modelserve.reconcile.placement
    import modelserve.reconcile.sla  # noqa: F401  (register their kinds' reconcilers)
    from modelserve.handlers import operator as handlers

    class Queue:
        def __init__(self) -> None:
            self.known = {("ModelDeployment", "team-a", "gone-from-watch")}
            self.added: list = []

        def add(self, key) -> None:
            self.added.append(key)

    class Kube:
        def __init__(self) -> None:
            self.threads: set = set()

        def list(
            self, kind: str, namespace: str | None = None, label_selector: str | None = None
        ) -> list[dict]:
            self.threads.add(threading.current_thread().name)
            return fake_list([])(kind, namespace)

        def list_pages(
            self, kind: str, namespace: str | None = None, label_selector: str | None = None
        ) -> list[dict]:
            return self.list(kind, namespace, label_selector)

    queue, kube = Queue(), Kube()

    async def run() -> None:
        relist = ResyncFilter(kube, (), {})  # type: ignore[arg-type]  (no settled plan: every key is due)
        task = asyncio.create_task(handlers._resync(queue, kube, relist))  # type: ignore[arg-type]
        try:
            for _ in range(200):
                await asyncio.sleep(0.01)
                if queue.added:
                    break
        finally:
            task.cancel()

    saved = handlers.OPTIONS.resync_seconds, handlers.OPTIONS.namespaces
    handlers.OPTIONS.resync_seconds, handlers.OPTIONS.namespaces = 0.01, ()
    try:
        asyncio.run(run())
    finally:
        handlers.OPTIONS.resync_seconds, handlers.OPTIONS.namespaces = saved
    first_round = set(queue.added)
    # The key only the queue knew, and every listed object (a creation whose event was missed).
    assert ("ModelDeployment", "team-a", "gone-from-watch") in first_round
    assert {("ModelDeployment", "team-b", "fraud"), ("SLAPolicy", "team-a", "gold")} <= first_round
    assert threading.main_thread().name not in kube.threads  # the lists ran in an executor
