"""List-and-watch of the kinds the operator owns, feeding the read cache: a client-go reflector.

The owned Deployments, Services, HPAs and PDBs were watched through kopf. kopf hands every watch event
to a per-object asyncio worker; when events arrive faster than those workers drain (a restart lists
every owned object at once, a storm of new models brings several events per object), each waiting
event stays parsed in memory, and each worker keeps its slot for `idle_timeout` after its last event.
With 5,000 models that was 20,000 objects queued at once: most of the operator's peak RSS and a floor
under its restart time (docs/benchmarks.md, "Scale"). Our handlers did only two cheap things with an
event -- store the object and queue its ModelDeployment -- so one thread per kind (and per watched
namespace) now does them as each event arrives, holding one event at a time.

The loop, as client-go's reflector:

* list (a page at a time) and relist the cache from it -- what the list lacks is dropped, and each
  object whose resourceVersion differs from the stored one, or that was dropped, queues its owner;
* watch from the list's resourceVersion, with bookmarks, storing each event and queueing its owner
  (not for the echo of our own write: an event whose version the cache holds already, stored through
  from the apply's response, changes nothing the reconcile that wrote it has not planned with);
* when the API server ends the stream (its timeout), watch again from the last resourceVersion seen;
* when the resourceVersion has expired (410 Gone: as an HTTP status or as an ERROR event), list again;
* any other failure -- a broken connection, 429, 5xx, an API server or etcd restarting -- waits with
  exponential backoff and jitter (0.5 s doubling to 8 s, reset by a successful list or event), then
  watches again from the last resourceVersion (or lists, if none is known yet).
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from modelserve.k8s.client import KubeClient
from modelserve.k8s.transport import ApiException
from modelserve.reconcile.informer import ObjectCache, resource_version

log = logging.getLogger(__name__)

SHORT_WATCH_SECONDS = 1.0  # a watch that ends sooner with no event counts as a failure (client-go's too)
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0  # short: a watch is back within seconds of an outage's end
ChangeSink = Callable[[str, Mapping[str, str]], None]  # (namespace, labels) of a changed object


def backoff_seconds(failures: int, rng: Callable[[], float] = random.random) -> float:
    """How long to wait after `failures` consecutive failures: BACKOFF_BASE doubling up to BACKOFF_CAP,
    each wait drawn from its upper half (jitter, so replicas and kinds do not retry in step)."""
    if failures <= 0:
        return 0.0
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(failures - 1, 16))
    return ceiling * (0.5 + 0.5 * rng())


def expired(event: Mapping[str, Any]) -> bool:
    """Whether a watch ERROR event says the resourceVersion is too old (410 Gone, or 'Expired')."""
    status = event.get("object") or {}
    return status.get("code") == 410 or status.get("reason") in ("Expired", "Gone")


class LoopHandoff:
    """Calls from the watch threads to the event loop (the work queue lives there), in order, with one
    wake-up of the loop per batch: `call_soon_threadsafe` for every event wrote to the loop's self-pipe
    each time (a tenth of the operator's CPU in a storm of 1,000 models, several events a model)."""

    def __init__(self, call_soon_threadsafe: Callable[..., object]):
        self._call_soon_threadsafe = call_soon_threadsafe
        self._lock = threading.Lock()
        self._pending: list[tuple[Callable[..., object], tuple]] = []
        self.wakeups = 0

    def put(self, fn: Callable[..., object], *args: Any) -> None:
        with self._lock:
            self._pending.append((fn, args))
            if len(self._pending) > 1:
                return  # a drain is already scheduled and has not started yet
            self.wakeups += 1
        self._call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        """On the loop: run everything handed over so far."""
        with self._lock:
            batch, self._pending = self._pending, []
        for fn, args in batch:
            try:
                fn(*args)
            except Exception:  # one bad call must not drop the rest of the batch
                log.exception("handing a watch event over failed")


class WatchFailed(Exception):
    """The watch ended with an ERROR event other than an expired resourceVersion."""


class OwnedWatch:
    """One list-and-watch loop of `kind` in `namespace` (None: the whole cluster) with `selector`,
    storing into `cache` (None: nothing is stored, e.g. pods) and telling `on_change` the namespace and
    labels of each object that changed (the labels name its ModelDeployment). `namespaces` (kopf's
    patterns, e.g. "team-*") filters what a cluster-wide watch reports; empty: every namespace."""

    def __init__(
        self,
        kube: KubeClient,
        kind: str,
        namespace: str | None,
        selector: str | None,
        on_change: ChangeSink,
        *,
        cache: ObjectCache | None = None,
        namespaces: Iterable[str] = (),
        sleep: Callable[[float], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.kube, self.cache, self.kind = kube, cache, kind
        self.namespace, self.selector = namespace, selector
        self.on_change = on_change
        self.patterns = tuple(namespaces)
        self.stopped = threading.Event()
        self.synced = threading.Event()  # set once the first list is in the cache
        self._sleep = sleep or self.stopped.wait  # returns True when stopped
        self._clock = clock
        self.events = 0  # events of the current (or last) watch stream
        self._response: Any = None
        self._thread: threading.Thread | None = None
        self.resource_version: str | None = None
        self.failures = 0
        self.lists = 0  # how many times it listed (the first one, then after each 410 Gone)

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> OwnedWatch:
        where = self.namespace or "all namespaces"
        self._thread = threading.Thread(target=self.run, name=f"watch {self.kind} in {where}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        response = self._response
        if response is not None:  # wake the blocked read
            with contextlib.suppress(Exception):  # already closed
                response.close()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.step()

    # -- one round: list if needed, then watch until the stream ends or fails ---------------------

    def step(self) -> None:
        try:
            if self.resource_version is None:
                self.relist()
            self.watch()
        except ApiException as exc:
            if exc.status == 410:
                log.info("watch of %s: resourceVersion expired (410 Gone), listing again", self.kind)
                self.resource_version = None
                return
            self._failed(f"HTTP {exc.status} {exc.reason}")
        except WatchFailed as exc:
            self._failed(str(exc))
        except Exception as exc:  # a broken connection, a timeout, a malformed line
            if self.stopped.is_set():
                return
            self._failed(f"{type(exc).__name__}: {exc}")

    def _failed(self, reason: str) -> None:
        self.failures += 1
        wait = backoff_seconds(self.failures)
        log.warning("watch of %s failed (%s); retrying in %.1fs", self.kind, reason, wait)
        self._sleep(wait)

    def relist(self) -> None:
        meta: dict = {}
        items = self.kube.list_pages(self.kind, self.namespace, label_selector=self.selector, meta=meta)
        changes = self._changes(items)
        if self.cache is not None:
            changes = self.cache.relisted(self.kind, self.namespace, changes, self._report)
        for _ in changes:
            pass
        self.lists += 1
        self.failures = 0
        self.resource_version = str(meta.get("resourceVersion") or "") or None
        self.synced.set()
        if self.resource_version is None:  # a list without a version cannot be watched from: list again
            raise WatchFailed(f"list of {self.kind} returned no resourceVersion")

    def _changes(self, items: Iterable[dict]) -> Iterable[dict]:
        """The listed items, queueing the owner of each that is new or changed against the cache."""
        for item in items:
            meta = item.setdefault("metadata", {})
            if self.namespace is not None:
                meta.setdefault("namespace", self.namespace)
            stored = (
                self.cache.version(self.kind, meta.get("namespace") or "", meta.get("name") or "")
                if self.cache is not None
                else None
            )
            if stored is None or stored != resource_version(item):
                self._report(meta.get("namespace") or "", meta.get("labels") or {})
            yield item

    def watch(self) -> None:
        assert self.resource_version is not None
        started, self.events = self._clock(), 0
        events = self.kube.watch(
            self.kind,
            self.namespace,
            resource_version=self.resource_version,
            label_selector=self.selector,
            opened=self._opened,
        )
        try:
            for event in events:
                if self.stopped.is_set():
                    return
                self.handle(event)
                self.events += 1
        finally:
            self._response = None
        if self.events == 0 and self._clock() - started < SHORT_WATCH_SECONDS and not self.stopped.is_set():
            # A stream the server ends at once, again and again, would spin: back off as for a failure.
            raise WatchFailed("the watch ended at once with no event")

    def _opened(self, response: Any) -> None:
        self._response = response
        if self.stopped.is_set():
            self.stop()

    def handle(self, event: Mapping[str, Any]) -> None:
        """One watch event: store it and queue its owner; a bookmark only moves the resourceVersion."""
        kind_of_event = event.get("type")
        obj = event.get("object") or {}
        if kind_of_event == "ERROR":
            if expired(event):
                raise ApiException(status=410, reason=str(obj.get("message") or "Expired"))
            raise WatchFailed(f"ERROR event: {obj.get('message') or obj}")
        meta = obj.get("metadata") or {}
        if meta.get("resourceVersion"):
            self.resource_version = str(meta["resourceVersion"])
        self.failures = 0
        if kind_of_event == "BOOKMARK":
            return
        if self.namespace is not None:
            meta = obj.setdefault("metadata", {})
            meta.setdefault("namespace", self.namespace)
        namespace = meta.get("namespace") or ""
        if self.cache is not None:
            # The echo of our own write: the cache holds this very version already (the apply's response
            # is stored through, reconcile/shell.py), and the reconcile that wrote it has planned with it.
            version = resource_version(obj)
            stored = self.cache.version(self.kind, namespace, meta.get("name") or "")
            echo = kind_of_event != "DELETED" and version is not None and stored == version
            self.cache.observe(self.kind, kind_of_event, obj)
            if echo:
                return
        self._report(namespace, meta.get("labels") or {})

    def _report(self, namespace: str, labels: Mapping[str, str]) -> None:
        if not namespace:
            return
        if self.patterns and not any(fnmatch.fnmatchcase(namespace, p) for p in self.patterns):
            return
        self.on_change(namespace, labels)
