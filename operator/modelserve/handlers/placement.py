"""kopf wiring for placement: RegionPlacements, the nodes they depend on, and the pods we own.

A node relabelled, cordoned or deleted, or a pod bound anywhere, queues the ModelDeployments that
use placements, so violations are found and repaired at once rather than at the next resync.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from modelserve import GROUP, VERSION
from modelserve.api import constants as c
from modelserve.reconcile import placement as _placement  # noqa: F401  (registers the reconciler)
from modelserve.reconcile.queue import WorkQueue

KIND = "RegionPlacement"


@kopf.on.event(GROUP, VERSION, "regionplacements")
async def on_region_placement(type: str, name: str, namespace: str, memo: kopf.Memo, **_: Any) -> None:
    if not hasattr(memo, "queue"):
        return
    if type == "DELETED":
        memo.queue.forget((KIND, namespace, name))
        return
    memo.queue.add((KIND, namespace, name))


def _queue_placed(memo: kopf.Memo, namespace: str | None = None) -> None:
    """Queue every known ModelDeployment and RegionPlacement (in `namespace` when given)."""
    if not hasattr(memo, "queue"):
        return
    for key in list(memo.queue.known):
        if key[0] in ("ModelDeployment", KIND) and (namespace is None or key[1] == namespace):
            memo.queue.add(key, after=0.5)


_NODES: dict[str, tuple] = {}  # node name -> what residency depends on, to ignore heartbeats


@kopf.on.event("", "v1", "nodes")
async def on_node(type: str, name: str, body: Any, memo: kopf.Memo, **_: Any) -> None:
    """Only changes that can move residency matter: labels, schedulability, readiness, existence."""
    if type == "DELETED":
        _NODES.pop(name, None)
        _queue_placed(memo)
        return
    digest = (
        tuple(sorted((body.get("metadata", {}).get("labels") or {}).items())),
        bool((body.get("spec") or {}).get("unschedulable")),
        tuple(
            sorted(
                str(t.get("key")) + str(t.get("effect")) for t in (body.get("spec") or {}).get("taints") or []
            )
        ),
        _ready(body),
    )
    if _NODES.get(name) != digest:
        _NODES[name] = digest
        _queue_placed(memo)


def _ready(node: dict) -> str | None:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return str(cond.get("status"))
    return None


def pod_changed(queue: WorkQueue, namespace: str, labels: Mapping[str, str]) -> None:
    """A pod we own changed (its list-and-watch, reconcile/watch.py; not a kopf handler: kopf would keep
    a worker and a memory for each of thousands of pods): look at its ModelDeployment again, and, for a
    pod placed by region, at the namespace's RegionPlacements. Runs on the event loop."""
    owner = labels.get(c.LABEL_INSTANCE)
    if not owner:
        return
    queue.add(("ModelDeployment", namespace, owner), after=0.5)
    if labels.get(c.LABEL_REGION):
        for key in list(queue.known):
            if key[0] == KIND and key[1] == namespace:
                queue.add(key, after=2.0)
