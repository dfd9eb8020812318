"""KubeClient: the few API calls modelserve makes, over its own JSON transport (k8s/transport.py).

Writes go through server-side apply under the field manager `modelserve`, so the operator owns only
the fields it sets and GitOps tools never see drift in theirs. Every call counts in the operator's
metrics, so "a quiet reconcile writes nothing" can be observed.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from modelserve import FIELD_MANAGER
from modelserve.api.events import EventFilter, EventSpec
from modelserve.k8s.kubeconfig import Credentials, load_credentials
from modelserve.k8s.resources import resource_for
from modelserve.k8s.transport import ApiException, Transport

log = logging.getLogger(__name__)
CONNECTION_POOL = 32
# A list of a kind the API server does not serve (an optional CRD: HTTPRoute, VirtualService, PodMonitor,
# ScaledObject) answers 404; it is not asked again for this long, unless we apply one meanwhile.
ABSENT_KIND_SECONDS = 60.0
# Items per page of a relist (KubeClient.list_pages): a bounded response, however many objects exist.
LIST_PAGE = 500
# A watch's server-side timeout, and how much longer the client waits for a byte before it takes the
# connection for dead (kopf's own watches use the same 300 s; bookmarks arrive about every minute).
WATCH_SECONDS = 300
WATCH_GRACE_SECONDS = 30
# Events waiting to be posted by the operator's sender thread (client-go's broadcaster buffers 1,000).
EVENT_BUFFER = 1000


class NotFound(Exception):
    pass


def json_lines(chunks: Iterable[bytes | str]) -> Iterator[dict]:
    """The JSON documents of a newline-delimited stream (a watch), however its chunks split them."""
    buffer = bytearray()
    for chunk in chunks:
        buffer.extend(chunk.encode() if isinstance(chunk, str) else chunk)
        start = 0
        while (end := buffer.find(b"\n", start)) != -1:
            line = bytes(buffer[start:end]).strip()
            start = end + 1
            if line:
                yield json.loads(line)
        del buffer[:start]
    if bytes(buffer).strip():
        yield json.loads(bytes(buffer))


class KubeClient:
    def __init__(self, transport: Transport, *, on_request: Any = None):
        self.transport = transport
        self._on_request = on_request or (lambda verb, kind: None)
        self.instance = os.environ.get("HOSTNAME") or socket.gethostname()
        # Every Event of every controller goes through one filter: repeats and storms are dropped.
        self.event_filter = EventFilter()
        self._event_lock = threading.Lock()  # reconciles run in worker threads
        # kind -> when its list answered 404: every reconcile lists each owned kind, and four of them
        # are optional CRDs; without this, a cluster without them paid four requests per reconcile.
        self._absent: dict[str, float] = {}
        self.clock = time.monotonic
        self._outbox: queue.Queue[dict] | None = None  # set by send_events_async()

    def send_events_async(self, buffer: int = EVENT_BUFFER) -> None:
        """From now on, post Events from a sender thread, as client-go's event broadcaster does: a
        reconcile hands its Event over and goes on, instead of waiting for the POST (in a storm of new
        models, one request of every five). At most `buffer` Events wait; beyond that they are dropped
        (logged), as client-go drops them when its channel is full. `flush()` waits for the outbox."""
        if self._outbox is not None:
            return
        self._outbox = queue.Queue(maxsize=buffer)
        threading.Thread(target=self._send_events, name="event-sender", daemon=True).start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every handed-over Event has been posted (or `timeout`); True if it was."""
        if self._outbox is None:
            return True
        deadline = time.monotonic() + timeout
        while self._outbox.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self._outbox.unfinished_tasks

    def _send_events(self) -> None:
        assert self._outbox is not None
        while True:
            event = self._outbox.get()
            try:
                self._post(event)
            finally:
                self._outbox.task_done()

    @classmethod
    def from_environment(
        cls, kubeconfig: str | None = None, context: str | None = None, on_request: Any = None
    ) -> KubeClient:
        """In-cluster credentials when running in a pod, else the kubeconfig (KUBECONFIG or ~/.kube/config).
        One connection per reconcile worker (--workers) plus the resync, SLA and forecast loops' own
        calls: a pool of 32 covers the default 4 workers many times over, so no request waits for one."""
        return cls(Transport(cls.credentials(kubeconfig, context), CONNECTION_POOL), on_request=on_request)

    @staticmethod
    def credentials(kubeconfig: str | None = None, context: str | None = None) -> Credentials:
        return load_credentials(kubeconfig, context)

    # -- raw -----------------------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        kind: str = "",
    ) -> Any:
        self._on_request(method, kind)
        try:
            return self.transport.request(
                method, path, query=query or [], body=body, content_type=content_type
            )
        except ApiException as exc:
            if exc.status == 404:
                raise NotFound(f"{method} {path}: not found") from exc
            raise

    # -- reads ---------------------------------------------------------------------------------------
    def get(self, kind: str, namespace: str | None, name: str) -> dict | None:
        try:
            return self._call("GET", resource_for(kind).path(namespace, name), kind=kind)
        except NotFound:
            return None

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict]:
        absent_since = self._absent.get(kind)
        if absent_since is not None and self.clock() - absent_since < ABSENT_KIND_SECONDS:
            return []
        query: list[tuple[str, Any]] = []
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        try:
            result = self._call("GET", resource_for(kind).path(namespace), query=query, kind=kind)
        except NotFound:  # the kind is not installed (an optional CRD)
            self._absent[kind] = self.clock()
            return []
        self._absent.pop(kind, None)
        return list(result.get("items") or [])

    def list_pages(
        self,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        page: int = LIST_PAGE,
        meta: dict | None = None,
    ) -> Iterator[dict]:
        """The items of a list, fetched `page` at a time (limit/continue), so that a relist of thousands
        of objects never holds them all at once; a kind the API server does not serve yields nothing.
        `meta`, when given, receives the first page's list metadata: its resourceVersion is the
        snapshot every page belongs to, where a watch resumes (reconcile/watch.py)."""
        absent_since = self._absent.get(kind)
        if absent_since is not None and self.clock() - absent_since < ABSENT_KIND_SECONDS:
            return
        token = ""
        while True:
            query: list[tuple[str, Any]] = [("limit", page)]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if token:
                query.append(("continue", token))
            try:
                result = self._call("GET", resource_for(kind).path(namespace), query=query, kind=kind)
            except NotFound:
                self._absent[kind] = self.clock()
                return
            self._absent.pop(kind, None)
            items = result.get("items") or []
            if meta is not None and not token:
                meta.update(result.get("metadata") or {})
            token = (result.get("metadata") or {}).get("continue") or ""
            del result
            items.reverse()
            while items:  # handed out one by one, released as they go
                yield items.pop()
            if not token:
                return

    def watch(
        self,
        kind: str,
        namespace: str | None,
        *,
        resource_version: str,
        label_selector: str | None = None,
        timeout_seconds: int = WATCH_SECONDS,
        opened: Callable[[Any], None] | None = None,
    ) -> Iterator[dict]:
        """The watch events of `kind` after `resource_version`, one parsed event at a time, bookmarks
        included, until the API server ends the stream (`timeout_seconds`) or the connection fails
        (the exception propagates: ApiException for an HTTP error such as 410 Gone or 429, urllib3's
        for a broken connection). `opened` receives the response, so another thread can close it."""
        query: list[tuple[str, Any]] = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", timeout_seconds),
        ]
        if label_selector:
            query.append(("labelSelector", label_selector))
        self._on_request("WATCH", kind)
        response = self.transport.stream(
            resource_for(kind).path(namespace),
            query=query,
            # connect, then read: a stream silent past the server's own timeout is a dead connection
            timeout=(10, timeout_seconds + WATCH_GRACE_SECONDS),
        )
        if opened is not None:
            opened(response)
        try:
            yield from json_lines(response.stream(amt=None, decode_content=True))
        finally:
            response.close()
            response.release_conn()

    def kind_installed(self, kind: str) -> bool:
        res = resource_for(kind)
        path = f"/apis/{res.group}/{res.version}" if res.group else f"/api/{res.version}"
        try:
            found = self._call("GET", path, kind=kind)
        except (NotFound, ApiException):
            return False
        return any(r.get("name") == res.plural for r in found.get("resources") or [])

    # -- writes --------------------------------------------------------------------------------------
    def apply(self, obj: dict, *, field_manager: str = FIELD_MANAGER) -> dict:
        """Server-side apply `obj` (force: we are the controller of what we own)."""
        kind = obj["kind"]
        meta = obj["metadata"]
        path = resource_for(kind).path(meta.get("namespace"), meta["name"])
        applied = self._call(
            "PATCH",
            path,
            query=[("fieldManager", field_manager), ("force", "true")],
            body=obj,
            content_type="application/apply-patch+yaml",
            kind=kind,
        )
        self._absent.pop(kind, None)  # it is served now: list it again
        return applied

    def create(self, obj: dict) -> dict:
        """POST `obj`; fails with a 409 ApiException when it exists (a race is lost, not overwritten)."""
        kind, meta = obj["kind"], obj["metadata"]
        return self._call("POST", resource_for(kind).path(meta.get("namespace")), body=obj, kind=kind)

    def replace(self, obj: dict) -> dict:
        """PUT `obj` with the metadata.resourceVersion it was read at: a 409 ApiException when someone
        wrote it since (optimistic concurrency, as leader election needs)."""
        kind, meta = obj["kind"], obj["metadata"]
        return self._call(
            "PUT", resource_for(kind).path(meta.get("namespace"), meta["name"]), body=obj, kind=kind
        )

    def delete(self, kind: str, namespace: str | None, name: str, *, propagation: str = "Background") -> bool:
        try:
            self._call(
                "DELETE",
                resource_for(kind).path(namespace, name),
                body={"propagationPolicy": propagation},
                kind=kind,
            )
            return True
        except NotFound:
            return False

    def patch(self, kind: str, namespace: str | None, name: str, patch: dict) -> dict:
        """JSON merge patch of the object itself (keys set to None are removed); for the metadata we
        keep on resources we do not own, such as a finalizer."""
        return self._call(
            "PATCH",
            resource_for(kind).path(namespace, name),
            body=patch,
            content_type="application/merge-patch+json",
            kind=kind,
        )

    def patch_status(self, kind: str, namespace: str, name: str, status_patch: dict) -> dict:
        """JSON merge patch of the status subresource (keys set to None are removed)."""
        return self._call(
            "PATCH",
            resource_for(kind).path(namespace, name, "status"),
            body={"status": status_patch},
            content_type="application/merge-patch+json",
            kind=kind,
        )

    def evict(self, namespace: str, pod: str) -> None:
        body = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": pod, "namespace": namespace},
        }
        self._call("POST", resource_for("Pod").path(namespace, pod, "eviction"), body=body, kind="Pod")

    def post_event(self, involved: dict, type_: str, reason: str, message: str) -> None:
        """A core/v1 Event about `involved` (a resource body), as `kubectl describe` shows them; unless
        the event filter drops it (the same Event again within its window, or a storm on one object)."""
        meta = involved["metadata"]
        key = str(meta.get("uid") or f"{involved.get('kind')}/{meta.get('namespace')}/{meta['name']}")
        with self._event_lock:
            if not self.event_filter.admit(key, EventSpec(type_, reason, message), time.monotonic()):
                return
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta.get("namespace", "default")},
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"),
                "kind": involved.get("kind"),
                "name": meta["name"],
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": type_,
            "source": {"component": FIELD_MANAGER},
            "reportingComponent": FIELD_MANAGER,
            "reportingInstance": self.instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        if self._outbox is None:
            self._post(event)
            return
        try:
            self._outbox.put_nowait(event)
        except queue.Full:
            log.warning("event outbox full (%d): dropped %s/%s", self._outbox.maxsize, reason, meta["name"])

    def _post(self, event: dict) -> None:
        try:
            self._call(
                "POST", resource_for("Event").path(event["metadata"]["namespace"]), body=event, kind="Event"
            )
        except Exception as exc:  # an Event is best effort; never fail a reconcile on it
            log.warning(
                "could not post event %s/%s: %s", event["reason"], event["involvedObject"]["name"], exc
            )
