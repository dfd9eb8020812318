"""Real inference traffic: OIP v2 ``POST /v2/models/<name>/infer`` requests at a steady rate, split the way
the operator's router splits them.

Every tick it reads the ModelDeployment's live split with the simulator's pure code
(``tests.simulator.snapshot.main_split``: the Service's ready pods for ``replicas``, route weights for
``gatewayAPI``/``istio``), allocates ``rps * tick`` whole requests over the (revision, region) groups, and
sends each one to a ready local pod of its group (round robin), spaced evenly over the tick. The split is
computed over the pods whose real readiness probe passed (``PodRunner.endpoints``), as kube-proxy routes
only to ready endpoints, whatever the pod's status says.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from tests.dataplane.runner import Endpoint
from tests.simulator.cluster import SnapshotReader
from tests.simulator.snapshot import main_split
from tests.simulator.split import Group, allocate_requests

log = logging.getLogger(__name__)
REQUEST_TIMEOUT = 10.0


def infer_request(rows: Sequence[Sequence[float]], name: str = "predict") -> dict[str, Any]:
    """An OIP v2 inference request body with one FP64 tensor of ``rows``."""
    return {
        "inputs": [
            {
                "name": name,
                "shape": [len(rows), len(rows[0]) if rows else 0],
                "datatype": "FP64",
                "data": [float(x) for row in rows for x in row],
            }
        ]
    }


def infer(port: int, model: str, body: dict[str, Any], timeout: float = REQUEST_TIMEOUT) -> tuple[int, Any]:
    """One request to ``127.0.0.1:port``: (HTTP status, decoded JSON body or text)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v2/models/{model}/infer",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@dataclass
class RevisionCounts:
    """Requests sent to one revision: by HTTP status (0: no answer), and their latencies."""

    by_status: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(self.by_status.values())

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.by_status.items() if 200 <= status < 300)


class InferenceTraffic:
    """``rps`` real requests per second to ModelDeployment ``name``'s ready local pods.

    ``endpoints`` is the runner's ``endpoints`` (ready pods); ``rows`` are the feature rows sent in turn
    (one per request); ``model_name`` is the name the server serves (``spec.model.name`` by default).
    """

    def __init__(
        self,
        reader: SnapshotReader,
        endpoints: Callable[[], dict[str, Endpoint]],
        namespace: str,
        name: str,
        rows: Sequence[Sequence[float]],
        *,
        rps: float = 20.0,
        model_name: str | None = None,
        tick_seconds: float = 1.0,
        workers: int = 8,
    ):
        self.reader = reader
        self.endpoints = endpoints
        self.namespace = namespace
        self.name = name
        self.rows = list(rows)
        self.rps = rps
        self.model_name = model_name
        self.tick_seconds = tick_seconds
        self.counts: dict[str, RevisionCounts] = {}
        self.unserved = 0.0  # requests whose backend had no ready pod
        self._carry: dict[Group, float] = {}
        self._rr: dict[Group, itertools.count[int]] = {}
        self._row = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=f"infer-{name}")
        self._thread: threading.Thread | None = None

    def start(self) -> InferenceTraffic:
        self._thread = threading.Thread(target=self._run, name=f"traffic-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> InferenceTraffic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def totals(self) -> dict[str, RevisionCounts]:
        with self._lock:
            return {
                rev: RevisionCounts(dict(c.by_status), list(c.latencies)) for rev, c in self.counts.items()
            }

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.tick(next_at)
            except Exception:  # keep sending through API hiccups
                log.exception("traffic tick failed")
            next_at += self.tick_seconds
            now = time.monotonic()
            if now - next_at > 5 * self.tick_seconds:
                next_at = now
            self._stop.wait(max(0.0, next_at - now))

    def tick(self, start: float | None = None) -> int:
        """Schedule one tick of requests (spaced over the tick from ``start``); returns how many."""
        snapshot = self.reader.read(self.namespace, self.name)
        model = self.model_name or ((snapshot.spec.get("model") or {}).get("name")) or self.name
        ready = self.endpoints()
        # Endpoints are the pods whose real probe passed (kube-proxy's view), whatever KWOK wrote.
        live = replace(snapshot, pods=[p for p in snapshot.pods if p["metadata"]["name"] in ready])
        split = main_split(live)
        counts, self._carry = allocate_requests(split.shares, self.rps * self.tick_seconds, self._carry)
        self.unserved += self.rps * self.tick_seconds * sum(split.unserved.values())
        jobs: list[Endpoint] = []
        for group, n in sorted(counts.items()):
            pods = self._pods(ready, group)
            turn = self._rr.setdefault(group, itertools.count())
            jobs += [pods[next(turn) % len(pods)] for _ in range(n)]
        start = time.monotonic() if start is None else start
        spacing = self.tick_seconds / max(1, len(jobs))
        for i, endpoint in enumerate(jobs):
            self._pool.submit(self._send, endpoint, model, start + i * spacing)
        return len(jobs)

    @staticmethod
    def _pods(ready: dict[str, Endpoint], group: Group) -> list[Endpoint]:
        revision, _region = group
        return sorted((e for e in ready.values() if e.revision == revision), key=lambda e: e.pod)

    def _send(self, endpoint: Endpoint, model: str, at: float) -> None:
        delay = at - time.monotonic()
        if delay > 0 and self._stop.wait(delay):
            return
        ready = self.endpoints()
        if endpoint.pod not in ready:
            # The pod left the endpoints since the tick: the connection goes to another one of its revision.
            others = sorted(
                (e for e in ready.values() if e.revision == endpoint.revision), key=lambda e: e.pod
            )
            if not others:
                with self._lock:
                    self.unserved += 1
                return
            endpoint = others[0]
        row = self.rows[next(self._row) % len(self.rows)]
        began = time.monotonic()
        try:
            status, _ = infer(endpoint.http_port, model, infer_request([row]))
        except OSError:
            status = 0
        elapsed = time.monotonic() - began
        with self._lock:
            counts = self.counts.setdefault(endpoint.revision, RevisionCounts())
            counts.by_status[status] = counts.by_status.get(status, 0) + 1
            counts.latencies.append(elapsed)
