"""What the ModelDeployments' own watch events save the reconcile from reading again.

A reconcile of a ModelDeployment GETs it (its status is the rollout's state, so it is read as stored,
not from a cache that may lag our own status writes). Creating a model cost about three such GETs: the
first reconcile, the ones its Deployment's progress queued while its first status was held back
(planner/settle.py), and the one the watch event of its status write (the echo) queued, which planned
again and found nothing to do. In a storm of creations those GETs were a quarter of the requests of the
first reconciles (docs/benchmarks.md, "Scale"). None of them is needed:

* **A new model is read from its events.** While a model has no status (no `status.observedGeneration`:
  nobody has reconciled it to a status yet), the body of its latest watch event is held here
  (compressed) and its reconciles plan from it. What a stale copy could get wrong is the status, and
  it has none; a change by anyone else arrives as a newer event and replaces the copy (then queues a
  reconcile). Our own writes to the model end it: a status write, a finalizer, an error report. After
  one, only an event at least as new as that write (by resourceVersion, etcd's revision) is held again,
  and once the model has a status none is: every reconcile reads it as stored.
* **Own echo.** When a settled reconcile writes the model's status and, planning again from the stored
  result (the patch's response), finds nothing left to write (a fixed point: no object, no status, no
  Event, no wake-up), it records the resourceVersion the write produced. The watch event carrying
  exactly that version is our own write coming back: it queues nothing. Any other version (a user's
  change, a later write) is queued as always.

Thread-safe: the watch events arrive on kopf's event loop, the reconciles run in the work queue's
threads (one at a time per model).
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Mapping
from typing import Any

from modelserve.reconcile.informer import newer, resource_version

ModelKey = tuple[str, str]  # (namespace, name)
UNKNOWN = -1  # our write's resulting version is not known: hold no copy again


def first_time(body: Mapping[str, Any]) -> bool:
    """A model nobody has reconciled to a status yet."""
    return (body.get("status") or {}).get("observedGeneration") is None


class ModelEvents:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # The latest watch event's body of each model without a status: (its resourceVersion, JSON).
        self._held: dict[ModelKey, tuple[int | None, bytes]] = {}
        # The resourceVersion our last write to each model produced (UNKNOWN: not known).
        self._wrote: dict[ModelKey, int] = {}
        self._echo: dict[ModelKey, str] = {}  # the resourceVersion of our own confirmed status write

    def arrived(self, key: ModelKey, body: Mapping[str, Any]) -> bool:
        """A watch event (ADDED or MODIFIED) of the model: whether its key must be queued."""
        version = str((body.get("metadata") or {}).get("resourceVersion") or "")
        rv = resource_version(body)
        with self._lock:
            expected = self._echo.pop(key, None)
            if version and expected == version:
                return False  # our own write of a plan already confirmed settled
            held = self._held.get(key)
            if first_time(body) and self._may_hold(key, rv) and (held is None or newer(rv, held[0])):
                self._held[key] = (rv, zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 1))
            elif not first_time(body):
                self._held.pop(key, None)
        return True

    def _may_hold(self, key: ModelKey, rv: int | None) -> bool:
        wrote = self._wrote.get(key)
        return wrote is None or (wrote != UNKNOWN and rv is not None and rv >= wrote)

    def read(self, key: ModelKey) -> dict | None:
        """The model as its latest watch event showed it while it has no status (a fresh copy each
        time); None: read it from the API server."""
        with self._lock:
            held = self._held.get(key)
        if held is None:
            return None
        body: dict = json.loads(zlib.decompress(held[1]))
        return body

    def wrote(self, key: ModelKey, resource_version: str | None = None) -> None:
        """We wrote to the model (status, metadata), producing `resource_version` (None: not known)."""
        try:
            rv = int(resource_version) if resource_version else UNKNOWN
        except ValueError:
            rv = UNKNOWN
        with self._lock:
            self._held.pop(key, None)
            self._wrote[key] = rv

    def expect_echo(self, key: ModelKey, resource_version: str | None) -> None:
        """Our status write produced `resource_version`, and planning from it changes nothing."""
        if resource_version:
            with self._lock:
                self._echo[key] = str(resource_version)

    def forget(self, key: ModelKey) -> None:
        """The model is gone."""
        with self._lock:
            self._held.pop(key, None)
            self._wrote.pop(key, None)
            self._echo.pop(key, None)

    def held(self) -> int:
        """Copies held (the size of this store)."""
        with self._lock:
            return len(self._held)
