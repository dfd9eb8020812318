"""A small work queue: each key reconciled by one worker at a time, deduplicated, with delayed requeues.

Like controller-runtime's: events only say "look at this key again"; the reconcile reads the current
state itself, so missed or merged events cannot leave anything stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

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
    ):
        self._reconcile = reconcile
        self._workers = workers
        self._backoff = backoff
        self._due: dict[Key, float] = {}
        self._running: set[Key] = set()
        self._dirty: set[Key] = set()
        self._failures: dict[Key, int] = {}
        self._first_time: set[Key] = set()  # models never reconciled to a status: served after the others
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile")
        self.known: set[Key] = set()

    def add(self, key: Key, after: float = 0.0, *, first_time: bool | None = None) -> None:
        """Reconcile `key` in `after` seconds (the earliest request wins). `first_time` (from the model's
        own watch event: True while it has no status yet) puts it in the second lane; None keeps its lane."""
        self.known.add(key)
        if first_time is not None:
            (self._first_time.add if first_time else self._first_time.discard)(key)
        when = time.monotonic() + max(0.0, after)
        if key in self._running:
            if after <= 0:
                self._dirty.add(key)
            else:
                self._due[key] = min(self._due.get(key, when), when)
            return
        self._due[key] = min(self._due.get(key, when), when)
        QUEUE_DEPTH.set(len(self._due))
        self._wake.set()

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
        now = time.monotonic()
        ready = [(t, k) for k, t in self._due.items() if k not in self._running]
        if not ready:
            return None, 3600.0
        # Two lanes: work on models that exist (a rollout step, a rollback) before first-time creations,
        # so a storm of new models cannot hold up a rollback; earliest due first within a lane.
        due = [(k in self._first_time, t, k) for t, k in ready if t <= now]
        if due:
            return min(due)[2], 0.0
        when, _ = min(ready)
        return None, when - now

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
            except Exception:
                attempts = self._failures.get(key, 0)
                self._failures[key] = attempts + 1
                requeue = self._backoff[min(attempts, len(self._backoff) - 1)]
                log.exception("reconcile of %s/%s/%s failed; retrying in %ss", *key, requeue)
            finally:
                self._running.discard(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self.add(key)
            elif requeue is not None and key in self.known:
                self.add(key, requeue)
