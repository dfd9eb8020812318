"""Which function reconciles which kind: one entry per controller, dispatched by the work queue.

A reconciler takes (ctx, namespace, name) and returns seconds until it should run again, or None.
Modules register themselves on import (modelserve.handlers imports them all).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Reconciler = Callable[[Any, str, str], float | None]
RECONCILERS: dict[str, Reconciler] = {}


def reconciler(kind: str) -> Callable[[Reconciler], Reconciler]:
    def register(fn: Reconciler) -> Reconciler:
        RECONCILERS[kind] = fn
        return fn

    return register
