"""The e2e data plane's traffic (tests/dataplane/traffic.py): requests follow the operator's split, and only
pods whose real readiness probe passed receive any."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.dataplane.runner import Endpoint
from tests.dataplane.traffic import InferenceTraffic
from tests.simulator.snapshot import ModelSnapshot


class _Predict(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert self.path == "/v2/models/iris/infer" and body["inputs"][0]["shape"] == [1, 4]
        out = json.dumps({"outputs": [{"name": "predict", "data": [0]}]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Predict)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def _pod(name: str, revision: str) -> dict:
    labels = {"app.kubernetes.io/instance": "iris", "modelserve.io/revision": revision}
    return {
        "metadata": {"name": name, "labels": labels},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


class _Reader:
    """Two revisions behind the main Service (the replicas router), each with one Kubernetes-ready pod."""

    def read(self, namespace: str, name: str) -> ModelSnapshot:
        service = {"metadata": {"name": "iris"}, "spec": {"selector": {"app.kubernetes.io/instance": "iris"}}}
        return ModelSnapshot(
            namespace,
            name,
            {
                "spec": {"model": {"name": "iris"}},
                "status": {"stableRevision": "a", "candidateRevision": "b"},
            },
            services=[service],
            pods=[_pod("iris-a", "a"), _pod("iris-b", "b")],
        )


def _wait_sent(traffic: InferenceTraffic, total: int) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        totals = traffic.totals()
        if sum(c.sent for c in totals.values()) >= total:
            return totals
        time.sleep(0.05)
    raise AssertionError(f"fewer than {total} requests answered: {traffic.totals()}")


def test_requests_split_by_ready_pods_and_answered(server: int) -> None:
    endpoints = {"iris-a": Endpoint("iris-a", "a", server), "iris-b": Endpoint("iris-b", "b", server)}
    traffic = InferenceTraffic(_Reader(), lambda: endpoints, "ns", "iris", [(5.1, 3.5, 1.4, 0.2)], rps=20)
    try:
        assert traffic.tick(time.monotonic() - 1) == 20
        totals = _wait_sent(traffic, 20)
    finally:
        traffic.stop()
    assert {rev: (c.sent, c.ok) for rev, c in totals.items()} == {"a": (10, 10), "b": (10, 10)}


def test_a_pod_whose_probe_has_not_passed_gets_nothing(server: int) -> None:
    """Kubernetes says both pods are ready (KWOK's doing); the local probe passed only for ``a``."""
    endpoints = {"iris-a": Endpoint("iris-a", "a", server)}
    traffic = InferenceTraffic(_Reader(), lambda: endpoints, "ns", "iris", [(5.1, 3.5, 1.4, 0.2)], rps=20)
    try:
        assert traffic.tick(time.monotonic() - 1) == 20
        totals = _wait_sent(traffic, 20)
    finally:
        traffic.stop()
    assert set(totals) == {"a"} and totals["a"].ok == 20
