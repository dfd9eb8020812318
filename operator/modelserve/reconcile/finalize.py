"""The shell around ``routers.user_routes``: record the user route we write into, give it back on delete.

See ``routers.user_routes`` for why; this module only reads, patches and applies.
"""

from __future__ import annotations

import logging
from datetime import datetime

from modelserve.api import constants as c
from modelserve.api.conditions import Condition, merge_conditions
from modelserve.k8s.client import KubeClient
from modelserve.routers.user_routes import (
    RouteRef,
    hold_patch,
    holds_fields,
    plan_route_hold,
    release_body,
    user_route,
)

log = logging.getLogger(__name__)


class RouteReleaseFailed(Exception):
    """A user route could not be released; the finalizer stays and the work queue retries."""


def sync_route_hold(kube: KubeClient, body: dict, now: datetime) -> dict:
    """Before anything is applied: record the user route the spec writes into (finalizer + annotation),
    and release the recorded routes it no longer writes into -- all of them once the ModelDeployment is
    being deleted, after which our finalizer goes and the API server removes the object.

    A release that fails keeps its route recorded and posts a Warning Event; while deleting it also sets
    ``Degraded=True`` / ``RouteReleaseFailed`` and raises, so the work queue retries with backoff and the
    finalizer holds the object until the route is free. A route that is gone needs no release.
    Returns the model's metadata as last written (its own when nothing was).
    """
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    hold = plan_route_hold(meta, user_route(namespace, name, body.get("spec") or {}))
    # Recorded before the first write into the route, so a crash can never leave it unrecorded.
    meta = _patch(kube, namespace, name, meta, hold_patch(meta, (*hold.keep, *hold.release)))
    failed: list[RouteRef] = []
    for ref in hold.release:
        try:
            if release_route(kube, namespace, ref):
                kube.post_event(
                    body,
                    c.EVENT_NORMAL,
                    c.REASON_ROUTE_RELEASED,
                    f"{ref}: modelserve's rules removed, the route is the user's again",
                )
        except Exception as exc:
            failed.append(ref)
            message = f"releasing {ref} failed, will retry: {getattr(exc, 'reason', '') or exc}"[:500]
            log.warning("%s/%s: %s", namespace, name, message)
            # While deleting, the Event comes with the condition's transition, not with every retry.
            if not meta.get("deletionTimestamp") or _report_stuck(kube, body, message, now):
                kube.post_event(body, c.EVENT_WARNING, c.REASON_ROUTE_RELEASE_FAILED, message)
    meta = _patch(kube, namespace, name, meta, hold_patch(meta, (*hold.keep, *failed)))
    if failed and meta.get("deletionTimestamp"):
        raise RouteReleaseFailed(f"{namespace}/{name}: {', '.join(map(str, failed))} not released yet")
    return meta


def release_route(kube: KubeClient, namespace: str, ref: RouteRef) -> bool:
    """Give up every field modelserve owns in the user's route; True when that took a write (False when
    the route, or its kind, is gone, or we own nothing in it any more)."""
    live = kube.get(ref.kind, namespace, ref.name)
    if live is None or not holds_fields(live):
        return False
    kube.apply(release_body(ref, namespace, live["metadata"].get("resourceVersion")))
    return True


def _patch(kube: KubeClient, namespace: str, name: str, meta: dict, patch: dict | None) -> dict:
    if patch is None:
        return meta
    return kube.patch("ModelDeployment", namespace, name, patch)["metadata"]


def _report_stuck(kube: KubeClient, body: dict, message: str, now: datetime) -> bool:
    """Degraded=True / RouteReleaseFailed in status; True when that changed the conditions."""
    status = body.get("status") or {}
    conditions = merge_conditions(
        status.get("conditions"),
        [Condition(c.COND_DEGRADED, True, c.REASON_ROUTE_RELEASE_FAILED, message)],
        now,
        body["metadata"].get("generation"),
    )
    if conditions == status.get("conditions"):
        return False
    kube.patch_status(
        "ModelDeployment", body["metadata"]["namespace"], body["metadata"]["name"], {"conditions": conditions}
    )
    return True
