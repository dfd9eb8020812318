"""A small work queue: each key reconciled by one worker at a time, deduplicated, with delayed requeues.

Like controller-runtime's: events only say "look at this key again"; the reconcile reads the current
state itself, so missed or merged events cannot leave anything stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from modelserve.k8s.transport import ApiException
from modelserve.observability.metrics import QUEUE_DEPTH

log = logging.getLogger(__name__)
Key = tuple[str, str, str]  # (kind, namespace, name)


class WorkQueue:
    def __init__(
        self,
        reconcile: Callable[[Key], float | None],
        *,
        workers: int = 4,
        backoff: tuple[float, ...] = (1, 2, 5, 10, 30, 60),
        on_drained: Callable[[], object] | None = None,
        drained_after: int = 200,
    ):
        """`on_drained` runs (in the pool) when the queue empties after at least `drained_after`
        reconciles since it last ran: after a storm or a restart, not at rest (memory.trim)."""
        self._reconcile = reconcile
        self._on_drained = on_drained
        self._drained_after = drained_after
        self._since_drained = 0
        self._workers = workers
        self._backoff = backoff
        self._due: dict[Key, float] = {}
        self._running: set[Key] = set()
        self._dirty: set[Key] = set()
        self._failures: dict[Key, int] = {}
        self._first_time: set[Key] = set()  # models never reconciled to a status: served after the others
        # One heap per lane of (due, seq, key), with stale entries dropped when popped: picking the next
        # key costs O(log n), not a scan of every queued key (5,000 models queued at once).
        self._heaps: tuple[list[tuple[float, int, Key]], list[tuple[float, int, Key]]] = ([], [])
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile")
        self.known: set[Key] = set()

    def add(self, key: Key, after: float = 0.0, *, first_time: bool | None = None) -> None:
        """Reconcile `key` in `after` seconds (the earliest request wins). `first_time` (from the model's
        own watch event: True while it has no status yet) puts it in the second lane; None keeps its lane."""
        self.known.add(key)
        lane_changed = False
        if first_time is not None and first_time != (key in self._first_time):
            (self._first_time.add if first_time else self._first_time.discard)(key)
            lane_changed = True
        when = time.monotonic() + max(0.0, after)
        if key in self._running and after <= 0:
            self._dirty.add(key)
            return
        before = self._due.get(key)
        self._due[key] = min(before, when) if before is not None else when
        if before is None or self._due[key] != before or lane_changed:
            self._push(key)
        if key in self._running:
            return
        QUEUE_DEPTH.set(len(self._due))
        self._wake.set()

    def _push(self, key: Key) -> None:
        heapq.heappush(self._heaps[key in self._first_time], (self._due[key], next(self._seq), key))

    def forget(self, key: Key) -> None:
        self.known.discard(key)
        self._first_time.discard(key)
        self._due.pop(key, None)
        self._failures.pop(key, None)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker(i)) for i in range(self._workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _next(self) -> tuple[Key | None, float]:
        """The next key to reconcile, or None and how long until one is due. Two lanes: work on models
        that exist (a rollout step, a rollback) before first-time creations, so a storm of new models
        cannot hold up a rollback; earliest due first within a lane."""
        now = time.monotonic()
        earliest = 3600.0
        for lane, heap in enumerate(self._heaps):
            skipped: list[tuple[float, int, Key]] = []  # due but running: back in the heap after
            found: Key | None = None
            while heap:
                when, _, key = heap[0]
                if self._due.get(key) != when or (key in self._first_time) != bool(lane):
                    heapq.heappop(heap)  # stale: re-queued earlier, taken, forgotten or moved lane
                    continue
                if key in self._running:
                    skipped.append(heapq.heappop(heap))
                    continue
                if when <= now:
                    found = key
                else:
                    earliest = min(earliest, when - now)
                break
            for entry in skipped:
                heapq.heappush(heap, entry)
            if found is not None:
                return found, 0.0
        return None, earliest

    def _failed(self, key: Key) -> float:
        """Count a failure of `key`; the delay before its next attempt (backoff, capped at the last)."""
        attempts = self._failures.get(key, 0)
        self._failures[key] = attempts + 1
        return self._backoff[min(attempts, len(self._backoff) - 1)]

    async def _worker(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        while True:
            key, wait = self._next()
            if key is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=min(wait, 5.0))
                continue
            del self._due[key]
            QUEUE_DEPTH.set(len(self._due))
            self._running.add(key)
            try:
                requeue = await loop.run_in_executor(self._pool, self._reconcile, key)
                self._failures.pop(key, None)
            except ApiException as exc:  # the API server's answer says it all: one line, no traceback
                if exc.namespace_terminating:  # the namespace's deletion removes the object too
                    log.info("reconcile of %s/%s/%s: namespace is being deleted; not retrying", *key)
                    self._failures.pop(key, None)
                    requeue = None
                else:
                    requeue = self._failed(key)
                    log.warning("reconcile of %s/%s/%s failed: %s; retrying in %ss", *key, exc, requeue)
            except Exception:
                requeue = self._failed(key)
                log.exception("reconcile of %s/%s/%s failed; retrying in %ss", *key, requeue)
            finally:
                self._running.discard(key)
                self._since_drained += 1
            if key in self._dirty:
                self._dirty.discard(key)
                self.add(key)
            elif requeue is not None and key in self.known:
                self.add(key, requeue)
            if (
                self._on_drained is not None
                and self._since_drained >= self._drained_after
                and not self._running
                and not any(t <= time.monotonic() for t in self._due.values())
            ):
                self._since_drained = 0
                try:
                    await loop.run_in_executor(self._pool, self._on_drained)
                except Exception:  # housekeeping only
                    log.exception("work queue: on_drained failed")
