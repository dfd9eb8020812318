"""Leader election for operator replicas: campaign for a Lease, keep renewing it, and stop acting the
moment it cannot be renewed (the decisions are in k8s/lease.py; this is the I/O around them).

How the CLI uses it (`modelserve run --leader-elect`): a replica campaigns before kopf starts, so a
standby watches nothing and writes nothing but its Lease reads; its liveness endpoint answers meanwhile
(`StandbyHealth`). Once leader, a thread renews every retry period; if a renewal has not succeeded
within the renew deadline, or another holder is seen, the process exits at once (as client-go's users
do) and its pod restarts as a candidate. On a clean stop the Lease is released, so the standby takes
over without waiting out the lease.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from modelserve.k8s.client import KubeClient
from modelserve.k8s.lease import LeaseRecord as Record
from modelserve.k8s.lease import LeaseTiming, Observation, decide, observe, released, still_leading
from modelserve.k8s.transport import ApiException

log = logging.getLogger("modelserve.leader")


def default_identity() -> str:
    """The pod's name (or host name) and a random suffix, like client-go's: two processes on one host
    (or a restarted one) are never taken for each other."""
    return f"{os.environ.get('HOSTNAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


class LeaseElector:
    """One candidate for the Lease `namespace/name`."""

    def __init__(
        self,
        kube: KubeClient,
        namespace: str,
        name: str,
        identity: str,
        timing: LeaseTiming | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ):
        self.kube, self.namespace, self.name, self.identity = kube, namespace, name, identity
        self.timing = timing or LeaseTiming()
        self.clock, self.wall = clock, wall
        self.observed: Observation | None = None
        self._resource_version: str | None = None
        self.last_renewed = float("-inf")

    def _body(self, record: Record) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if self._resource_version:
            meta["resourceVersion"] = self._resource_version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": record.spec(),
        }

    def try_acquire_or_renew(self) -> bool:
        """One round: read the Lease, decide, write. True when this candidate holds it afterwards."""
        lease = self.kube.get("Lease", self.namespace, self.name)
        now = self.clock()
        if lease is None:
            self.observed, self._resource_version = None, None
        else:
            self.observed = observe(self.observed, Record.from_lease(lease), now)
            self._resource_version = lease["metadata"].get("resourceVersion")
        decision = decide(self.identity, self.observed, now, self.wall(), self.timing)
        if decision.record is None:
            return False
        try:
            written = (self.kube.create if decision.action == "create" else self.kube.replace)(
                self._body(decision.record)
            )
        except ApiException as exc:
            if exc.status == 409:  # someone else wrote first: read again next round
                return False
            raise
        self._resource_version = written["metadata"].get("resourceVersion")
        self.observed = Observation(decision.record, now)
        self.last_renewed = now
        if decision.action != "renew":
            log.info("leader election: %s acquired lease %s/%s", self.identity, self.namespace, self.name)
        return True

    def _round(self) -> bool:
        try:
            return self.try_acquire_or_renew()
        except Exception as exc:  # the API server is away: the deadline decides, not one error
            log.warning(
                "leader election: lease %s/%s not read or written: %s", self.namespace, self.name, exc
            )
            return False

    def campaign(self, stop: threading.Event | None = None) -> bool:
        """Block until this candidate holds the Lease (True), or `stop` is set (False)."""
        stop = stop or threading.Event()
        holder = None
        while not stop.is_set():
            if self._round():
                return True
            current = self.observed.record.holder if self.observed else None
            if current != holder:
                holder = current
                log.info("leader election: standing by, lease held by %s", holder or "nobody")
            stop.wait(self.timing.retry_period)
        return False

    def keep_leading(self, on_lost: Callable[[str], None]) -> threading.Event:
        """Renew every retry period; call `on_lost(reason)` once when leadership is lost: not renewed
        within the renew deadline, or another holder seen. The deadline is watched by a thread of its
        own, so a renewal request that hangs (up to the client's timeout) cannot stretch it. Returns the
        event that is set once leadership is lost."""
        lost = threading.Event()
        once = threading.Lock()

        def lose(reason: str) -> None:
            with once:
                if lost.is_set():
                    return
                lost.set()
            on_lost(reason)

        def renew() -> None:
            while not lost.wait(self.timing.retry_period):
                renewed = self._round()
                holder = self.observed.record.holder if self.observed else ""
                if not renewed and holder and holder != self.identity:
                    lose(f"lease {self.namespace}/{self.name} is now held by {holder}")

        def watch_deadline() -> None:
            while not lost.wait(min(0.5, self.timing.retry_period / 4)):
                if not still_leading(self.last_renewed, self.clock(), self.timing):
                    deadline = self.timing.renew_deadline
                    lose(f"lease {self.namespace}/{self.name} not renewed within {deadline:g}s")

        threading.Thread(target=renew, name="lease-renewal", daemon=True).start()
        threading.Thread(target=watch_deadline, name="lease-deadline", daemon=True).start()
        return lost

    def release(self) -> None:
        """Give the Lease up (a clean stop), if still ours."""
        try:
            lease = self.kube.get("Lease", self.namespace, self.name)
            if lease is None or Record.from_lease(lease).holder != self.identity:
                return
            self._resource_version = lease["metadata"].get("resourceVersion")
            self.kube.replace(self._body(released(Record.from_lease(lease), self.wall())))
            log.info("leader election: released lease %s/%s", self.namespace, self.name)
        except Exception as exc:  # the standby then waits the lease out
            log.warning("leader election: lease %s/%s not released: %s", self.namespace, self.name, exc)


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"standby": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:  # probes every few seconds: not worth a log line
        pass


class StandbyHealth:
    """The liveness endpoint of a replica standing by (kopf serves it once this one leads)."""

    def __init__(self, port: int):
        self.server = ThreadingHTTPServer(("0.0.0.0", port), _Healthy)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="standby-health", daemon=True)

    def __enter__(self) -> StandbyHealth:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
