"""A read cache of the objects the operator watches, fed by kopf's watch events: an informer's store.

Without it every reconcile of a ModelDeployment listed each owned kind by label (and the SLA view listed
the namespace's SLAPolicies): about 20 reads a model while 1,000 models were created, each a LIST that
the API server answers by scanning every object of that kind in the namespace -- quadratic in N, and
most of the API server's CPU in the scale benchmark (docs/benchmarks.md, "Scale"). kopf already receives
every change to those objects through its watches (handlers/operator.py); this store keeps them, so a
reconcile reads them from memory.

The rules, for each object (kind, namespace, name):

* A watch event, the response of our own write (write-through) or an item of a list stores the object
  unless the stored one is newer (a larger resourceVersion: etcd's revision, an integer in every
  Kubernetes release; one that is not an integer always replaces). A DELETED event removes it and leaves
  a tombstone, so an older copy arriving later (a list begun before the deletion) cannot bring it back.
* The first read of a kind in a namespace lists it once (the watch's label selector, a page at a time):
  the store is then complete for that namespace, and the watch keeps it so.
* A relist (the resync's lists, reconcile/resync.py) repairs what a watch can miss -- a deletion while
  its stream was down, which kopf's re-list does not report: a stored object absent from a list begun
  after it was stored is removed, and leaves a tombstone as a deletion does (two lists of the same kind
  can overlap: one begun earlier and finishing later must not bring back what the later one removed).

Objects are kept as compressed JSON (a Deployment with its managedFields is about 4 KB as JSON, 15-20 KB
as Python objects, 0.8-1 KB compressed): 5,000 models' owned objects fit in about 20 MB. Each read
decodes a fresh copy, so a caller may change what it gets.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from modelserve.api import constants as c

# How long a deletion is remembered: longer than any list can take.
INSTANCE = c.LABEL_INSTANCE  # the label that names an owned object's ModelDeployment: indexed
TOMBSTONE_SECONDS = 600.0

Lister = Callable[..., Iterator[dict]]  # (kind, namespace, label_selector=...) -> items, a page at a time


def resource_version(obj: Mapping[str, Any]) -> int | None:
    """The object's resourceVersion as an integer; None when absent or not an integer."""
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or "")
    except (TypeError, ValueError):
        return None


def newer(candidate: int | None, stored: int | None) -> bool:
    """Whether a copy with resourceVersion `candidate` may replace one with `stored`."""
    return candidate is None or stored is None or candidate > stored


def parse_selector(selector: str | None) -> dict[str, str]:
    """An equality-based label selector ("a=b,c=d") as a dict; the only form the operator uses."""
    out: dict[str, str] = {}
    for part in (selector or "").split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or key.endswith("!"):
            raise ValueError(f"unsupported label selector {selector!r}: only key=value terms")
        out[key.strip()] = value.lstrip("=").strip()
    return out


@dataclass(slots=True)
class _Entry:
    rv: int | None
    stamp: float  # when it was stored (the cache's clock)
    labels: dict[str, str]
    blob: bytes
    head: Any = None  # a summary memoised by `heads` (it goes with this version of the object)

    def decode(self) -> dict:
        obj: dict = json.loads(zlib.decompress(self.blob))
        return obj


class ObjectCache:
    """The watched objects of some kinds, by namespace and name. Thread-safe: kopf's handlers record
    events while the work queue's threads read.

    `kinds` maps each cached kind to the label selector its watch uses (None: every object), which is
    also the selector of the namespace list that primes it; `lister` is `KubeClient.list_pages`."""

    def __init__(
        self,
        kinds: Mapping[str, str | None],
        lister: Lister,
        clock: Callable[[], float] = time.monotonic,
        tombstone_seconds: float = TOMBSTONE_SECONDS,
    ):
        self.kinds = dict(kinds)
        self.base = {kind: parse_selector(sel) for kind, sel in self.kinds.items()}
        self.lister = lister
        self.clock = clock
        self.tombstone_seconds = tombstone_seconds
        self._lock = threading.RLock()
        self._objects: dict[tuple[str, str], dict[str, _Entry]] = {}  # (kind, namespace) -> name -> entry
        # (kind, namespace, value of the instance label) -> names: a model's objects without a scan of
        # every object of the namespace (5,000 models: 20,000 label checks a reconcile, most of the
        # operator's CPU in the 5,000-model storm).
        self._by_instance: dict[tuple[str, str, str], set[str]] = {}
        self._tombstones: dict[tuple[str, str, str], tuple[int | None, float]] = {}
        self._primed: set[tuple[str, str | None]] = set()  # (kind, namespace); namespace None: all
        self._priming: dict[tuple[str, str], threading.Lock] = {}

    def covers(self, kind: str) -> bool:
        return kind in self.kinds

    # -- writes into the store ---------------------------------------------------------------------

    def observe(self, kind: str, event_type: str | None, obj: Mapping[str, Any]) -> None:
        """A watch event (type ADDED, MODIFIED, DELETED, or None for kopf's initial listing)."""
        if kind not in self.kinds:
            return
        if event_type == "DELETED":
            meta = obj.get("metadata") or {}
            self._remove(kind, meta.get("namespace") or "", meta.get("name") or "", resource_version(obj))
        else:
            self.record(obj, kind)

    def record(self, obj: Mapping[str, Any], kind: str | None = None) -> None:
        """Store `obj` (an event's object, a write's response, a list's item) unless ours is newer."""
        kind = kind or obj.get("kind") or ""
        if kind not in self.kinds:
            return
        meta = obj.get("metadata") or {}
        namespace, name = meta.get("namespace") or "", meta.get("name")
        if not name:
            return
        rv = resource_version(obj)
        with self._lock:
            self._store(kind, namespace, name, rv, obj, self.clock())

    def forget(self, kind: str, namespace: str, name: str) -> None:
        """We deleted the object: drop it now (its DELETED event follows)."""
        if kind in self.kinds:
            self._remove(kind, namespace, name, None)

    def relisted(
        self,
        kind: str,
        namespace: str | None,
        items: Iterable[Mapping[str, Any]],
        on_drop: Callable[[str, Mapping[str, str]], None] | None = None,
    ) -> Iterator[dict]:
        """Pass through the items of a complete list of `kind` (in `namespace`; None: every namespace,
        with the kind's watch selector), storing each; once the list is exhausted, remove the stored
        objects it did not hold that were stored before it began (this call: call it before the list
        request is made), telling `on_drop` the namespace and labels of each. Yields the items
        unchanged."""
        return self._relist(kind, namespace, items, self.clock(), on_drop)

    def _relist(
        self,
        kind: str,
        namespace: str | None,
        items: Iterable[Mapping[str, Any]],
        started: float,
        on_drop: Callable[[str, Mapping[str, str]], None] | None = None,
    ) -> Iterator[dict]:
        seen: set[tuple[str, str]] = set()
        for item in items:
            if kind in self.kinds:
                meta = item.get("metadata") or {}
                ns, name = meta.get("namespace") or namespace or "", meta.get("name")
                if name:
                    seen.add((ns, name))
                    with self._lock:
                        self._store(kind, ns, name, resource_version(item), item, started)
            yield dict(item)
        if kind not in self.kinds:
            return
        dropped: list[tuple[str, Mapping[str, str]]] = []
        with self._lock:
            for (k, ns), entries in list(self._objects.items()):
                if k != kind or (namespace is not None and ns != namespace):
                    continue
                for name in [n for n, e in entries.items() if (ns, n) not in seen and e.stamp < started]:
                    dropped.append((ns, entries[name].labels))
                    rv = entries[name].rv
                    self._drop(kind, ns, name)
                    # Gone as a deletion is: an older copy still on its way (a list begun before this
                    # one, finishing after it) must not bring it back.
                    self._bury(kind, ns, name, rv, self.clock())
            self._primed.add((kind, namespace))
        if on_drop is not None:
            for ns, labels in dropped:
                on_drop(ns, labels)

    def _store(
        self, kind: str, ns: str, name: str, rv: int | None, obj: Mapping[str, Any], stamp: float
    ) -> None:
        tomb = self._tombstones.get((kind, ns, name))
        if tomb is not None:
            if not newer(rv, tomb[0]) or (rv is None and tomb[0] is None and stamp <= tomb[1]):
                return  # a copy from before the deletion
            del self._tombstones[(kind, ns, name)]
        entries = self._objects.setdefault((kind, ns), {})
        current = entries.get(name)
        if current is not None and not newer(rv, current.rv):
            if rv == current.rv:
                current.stamp = max(current.stamp, stamp)  # seen again: still there
            return
        # Interned: the same few keys and values (the managed-by label, a model's name on each of its
        # objects, its revision) are then held once, not once per stored object.
        labels = {
            sys.intern(str(k)): sys.intern(v) if isinstance(v, str) else v
            for k, v in ((obj.get("metadata") or {}).get("labels") or {}).items()
        }
        blob = zlib.compress(json.dumps(obj, separators=(",", ":")).encode(), 1)
        if current is not None:
            self._drop(kind, ns, name)
        self._objects.setdefault((kind, ns), {})[name] = _Entry(rv, stamp, labels, blob)
        self._by_instance.setdefault((kind, ns, labels.get(INSTANCE, "")), set()).add(name)

    def _drop(self, kind: str, ns: str, name: str) -> None:
        """Remove a stored object and its index entry (the lock is held)."""
        entries = self._objects.get((kind, ns))
        entry = entries.pop(name, None) if entries is not None else None
        if entries is not None and not entries:
            del self._objects[(kind, ns)]
        if entry is not None:
            key = (kind, ns, entry.labels.get(INSTANCE, ""))
            names = self._by_instance.get(key)
            if names is not None:
                names.discard(name)
                if not names:
                    del self._by_instance[key]

    def _remove(self, kind: str, ns: str, name: str, rv: int | None) -> None:
        now = self.clock()
        with self._lock:
            entries = self._objects.get((kind, ns))
            current = entries.get(name) if entries is not None else None
            if current is not None and rv is not None and current.rv is not None and current.rv > rv:
                return  # the deletion of an older incarnation: what we hold was created after it
            self._drop(kind, ns, name)
            self._bury(
                kind, ns, name, rv if rv is not None else (current.rv if current is not None else None), now
            )

    def _bury(self, kind: str, ns: str, name: str, known: int | None, now: float) -> None:
        """Remember that the object is gone as of resourceVersion `known` (the lock is held): a copy no
        newer is not stored again."""
        tomb = self._tombstones.get((kind, ns, name))
        if tomb is not None and tomb[0] is not None and (known is None or tomb[0] > known):
            known = tomb[0]
        self._tombstones[(kind, ns, name)] = (known, now)
        self._prune_tombstones(now)

    def _prune_tombstones(self, now: float) -> None:
        if len(self._tombstones) < 64:
            return
        old = [k for k, (_, at) in self._tombstones.items() if now - at > self.tombstone_seconds]
        for k in old:
            del self._tombstones[k]

    # -- reads ---------------------------------------------------------------------------------------

    def primed(self, kind: str, namespace: str) -> bool:
        return (kind, namespace) in self._primed or (kind, None) in self._primed

    def complete(self, kind: str, namespace: str | None) -> bool:
        """Whether the store holds every object of `kind` in `namespace` (None: in every namespace)."""
        return (kind, None) in self._primed or (namespace is not None and (kind, namespace) in self._primed)

    def list(self, kind: str, namespace: str, label_selector: str | None = None) -> list[dict]:
        """The stored objects of `kind` in `namespace` matching the (equality) selector, as fresh copies;
        the first read of a kind in a namespace lists it from the API server."""
        wanted = parse_selector(label_selector)
        base = self.base[kind]
        if any(wanted.get(k) != v for k, v in base.items()):
            raise ValueError(f"{kind} is cached only for objects labelled {self.kinds[kind]}")
        self._prime(kind, namespace)
        with self._lock:
            stored = self._objects.get((kind, namespace)) or {}
            if INSTANCE in wanted:
                names = self._by_instance.get((kind, namespace, wanted[INSTANCE])) or ()
                entries = [stored[n] for n in names if n in stored]
            else:
                entries = list(stored.values())
        return [e.decode() for e in entries if all(e.labels.get(k) == v for k, v in wanted.items())]

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        self._prime(kind, namespace)
        with self._lock:
            entry = (self._objects.get((kind, namespace)) or {}).get(name)
        return entry.decode() if entry is not None else None

    def _prime(self, kind: str, namespace: str) -> None:
        if self.primed(kind, namespace):
            return
        with self._lock:
            gate = self._priming.setdefault((kind, namespace), threading.Lock())
        with gate:  # one list per namespace, whoever asks first; the others wait for it
            if self.primed(kind, namespace):
                return
            items = self.lister(kind, namespace, label_selector=self.kinds[kind])
            for _ in self.relisted(kind, namespace, (_with_namespace(i, namespace) for i in items)):
                pass

    def heads(
        self, kind: str, namespace: str | None, summarize: Callable[[str, dict], Any]
    ) -> tuple[Any, ...]:
        """`summarize(kind, object)` of every stored object of `kind` (in `namespace`; None: all), each
        computed once per stored version (the resync's digests: no list, no decoding at rest)."""
        with self._lock:
            entries = [
                e
                for (k, ns), stored in self._objects.items()
                if k == kind and (namespace is None or ns == namespace)
                for e in stored.values()
            ]
        for entry in entries:
            if entry.head is None:
                entry.head = summarize(kind, entry.decode())
        return tuple(e.head for e in entries)

    def version(self, kind: str, namespace: str, name: str) -> int | None:
        """The stored object's resourceVersion (None: not stored, or not an integer); no priming list."""
        with self._lock:
            entry = (self._objects.get((kind, namespace)) or {}).get(name)
        return entry.rv if entry is not None else None

    def size(self) -> int:
        with self._lock:
            return sum(len(e) for e in self._objects.values())


def _with_namespace(item: dict, namespace: str) -> dict:
    item.setdefault("metadata", {}).setdefault("namespace", namespace)
    return item
