"""The operator process's heap: fewer malloc arenas, and freed memory handed back to the system.

A reconcile runs in a pool of threads (`--workers`) beside the API client's connection threads, kopf's
event loop and the resync. glibc gives each thread that allocates concurrently an arena of its own, up
to eight per core, and memory freed in an arena stays with the process: after a storm or a restart
(thousands of models reconciled at once) the RSS stays at its peak although the live heap is far
smaller. So at start-up the number of arenas is limited (`MODELSERVE_MALLOC_ARENAS`, default 2; 0
keeps glibc's default), and when the work queue empties after a burst (a storm, a restart) the free
memory is returned (`malloc_trim`; reconcile/queue.py `on_drained`), never at rest, where it would
only cost page faults. Both are no-ops where the C library is not glibc. Measured in
docs/benchmarks.md (Scale).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's mallopt parameter
DEFAULT_ARENAS = 2

_libc: ctypes.CDLL | None = None


def _glibc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c")
        if not name:
            return None
        try:
            lib = ctypes.CDLL(name)
            lib.mallopt  # noqa: B018  (glibc only)
            lib.malloc_trim  # noqa: B018
        except (OSError, AttributeError):
            return None
        _libc = lib
    return _libc


def arenas_from_environment() -> int:
    raw = os.environ.get("MODELSERVE_MALLOC_ARENAS", str(DEFAULT_ARENAS)).strip()
    try:
        value = int(raw)
    except ValueError:
        log.warning("MODELSERVE_MALLOC_ARENAS=%r is not a whole number: using %d", raw, DEFAULT_ARENAS)
        return DEFAULT_ARENAS
    return max(0, value)


def limit_arenas(arenas: int) -> bool:
    """Limit glibc's malloc arenas to `arenas` (before threads start); False when not applied."""
    libc = _glibc()
    if arenas <= 0 or libc is None:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))


def trim() -> bool:
    """Hand the free memory of the heap back to the system; False when nothing was or could be."""
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.malloc_trim(0))
