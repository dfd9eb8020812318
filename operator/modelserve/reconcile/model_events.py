"""What the ModelDeployments' own watch events save the reconcile from reading again.

A reconcile of a ModelDeployment GETs it (its status is the rollout's state, so it is read as stored,
not from a cache that may lag our own status writes). Creating a model cost about three such GETs: the
first reconcile, the one that writes its first status, and the one its watch event of that status write
(the echo) queued, which planned again and found nothing to do. In a storm of creations those GETs
were a quarter of the first reconciles' requests (docs/benchmarks.md, "Scale"). Two of them are not
needed:

* **First read.** A model that has no status yet (no `status.observedGeneration`: nobody has reconciled
  it) and that this process has not reconciled before is planned from its watch event's body, kept
  here (compressed) until its first reconcile takes it. What a stale body could get wrong is the
  status, and it has none; a newer spec arrives as a newer event and queues another reconcile, which
  reads the model as stored (every reconcile but the first does).
* **Own echo.** When a settled reconcile writes the model's status and, planning again from the stored
  result (the patch's response), finds nothing left to write (a fixed point: no object, no status, no
  Event, no wake-up), it records the resourceVersion the write produced. The watch event carrying
  exactly that version is our own write coming back: it queues nothing. Any other version (a user's
  change, a later write) is queued as always.

Thread-safe: the watch events arrive on kopf's event loop, the reconciles run in the work queue's
threads.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Mapping
from typing import Any

ModelKey = tuple[str, str]  # (namespace, name)


def first_time(body: Mapping[str, Any]) -> bool:
    """A model nobody has reconciled to a status yet."""
    return (body.get("status") or {}).get("observedGeneration") is None


class ModelEvents:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fresh: dict[ModelKey, bytes] = {}  # first-time bodies from watch events, not yet taken
        self._reconciled: set[ModelKey] = set()  # models this process has reconciled (read) at least once
        self._echo: dict[ModelKey, str] = {}  # the resourceVersion of our own confirmed status write

    def arrived(self, key: ModelKey, body: Mapping[str, Any]) -> bool:
        """A watch event (ADDED or MODIFIED) of the model: whether its key must be queued."""
        rv = str((body.get("metadata") or {}).get("resourceVersion") or "")
        with self._lock:
            expected = self._echo.pop(key, None)
            if rv and expected == rv:
                return False  # our own write of a plan already confirmed settled
            if key not in self._reconciled and first_time(body):
                self._fresh[key] = zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 1)
            else:
                self._fresh.pop(key, None)
        return True

    def take_first(self, key: ModelKey) -> dict | None:
        """For a reconcile about to read the model: the body of its watch event when this is its first
        reconcile in this process and it had no status; None: read it from the API server."""
        with self._lock:
            blob = self._fresh.pop(key, None)
            seen = key in self._reconciled
            self._reconciled.add(key)
        if blob is None or seen:
            return None
        body: dict = json.loads(zlib.decompress(blob))
        return body

    def expect_echo(self, key: ModelKey, resource_version: str | None) -> None:
        """Our status write produced `resource_version`, and planning from it changes nothing."""
        if resource_version:
            with self._lock:
                self._echo[key] = str(resource_version)

    def forget(self, key: ModelKey) -> None:
        """The model is gone."""
        with self._lock:
            self._fresh.pop(key, None)
            self._reconciled.discard(key)
            self._echo.pop(key, None)

    def pending(self) -> int:
        """First-time bodies held (a gauge of this store's size)."""
        with self._lock:
            return len(self._fresh)
