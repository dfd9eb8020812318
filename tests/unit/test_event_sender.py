"""Events posted from a sender thread (k8s/client.py `send_events_async`): a reconcile hands its Event over
and goes on; every handed-over Event is posted, in order; beyond the buffer they are dropped, never
blocking a reconcile; a failed POST is logged, never raised."""

from __future__ import annotations

import threading
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from modelserve.k8s.client import KubeClient


class Api:
    def __init__(self, gate: threading.Event | None = None, fail: bool = False) -> None:
        self.posted: list[str] = []
        self.gate = gate
        self.fail = fail

    def request(self, method: str, path: str, body: Any = None, **_: Any) -> Any:
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail:
            raise RuntimeError("the API server is away")
        self.posted.append(body["reason"])
        return {}


def model(name: str) -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": "ml", "uid": f"uid-{name}"},
    }


@settings(max_examples=30, deadline=None)
@given(reasons=st.lists(st.sampled_from(["Created", "Ready", "RolledBack", "Promoted"]), max_size=20))
def test_every_handed_over_event_is_posted_in_order(reasons: list[str]) -> None:
    api = Api()
    kube = KubeClient(api)  # type: ignore[arg-type]
    kube.send_events_async()
    for i, reason in enumerate(reasons):  # distinct objects: the storm filter admits each
        kube.post_event(model(f"m{i}"), "Normal", reason, f"{reason} {i}")
    assert kube.flush(10)
    assert api.posted == reasons


def test_a_full_outbox_drops_instead_of_blocking() -> None:
    gate = threading.Event()
    api = Api(gate)
    kube = KubeClient(api)  # type: ignore[arg-type]
    kube.send_events_async(buffer=3)
    for i in range(10):  # the sender holds one, three wait, the rest are dropped at once
        kube.post_event(model(f"m{i}"), "Normal", "Created", str(i))
    gate.set()
    assert kube.flush(10)
    assert 3 <= len(api.posted) <= 4


def test_a_failed_post_is_logged_not_raised() -> None:
    kube = KubeClient(Api(fail=True))  # type: ignore[arg-type]
    kube.post_event(model("a"), "Warning", "Degraded", "x")  # synchronous: no exception
    kube.send_events_async()
    kube.post_event(model("b"), "Warning", "Degraded", "x")
    assert kube.flush(10)


def test_synchronous_by_default() -> None:
    api = Api()
    kube = KubeClient(api)  # type: ignore[arg-type]
    kube.post_event(model("a"), "Normal", "Created", "x")
    assert api.posted == ["Created"] and kube.flush(0)
