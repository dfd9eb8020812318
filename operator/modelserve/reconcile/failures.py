"""Report a failed reconcile where the user looks: a condition and one Event naming the part of their
spec involved (api/errors.py `describe_failure`), not only a traceback in the operator's log. A
failure the planner did not foresee (a bug, or an input the schema lets through that a core cannot
handle) included."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from modelserve.api import constants as c
from modelserve.api.conditions import Condition, find_condition, merge_conditions
from modelserve.api.errors import describe_failure
from modelserve.k8s.apply import status_patch
from modelserve.k8s.transport import ApiException
from modelserve.reconcile.context import Context

log = logging.getLogger(__name__)


def report_reconcile_error(
    ctx: Context, body: dict, exc: Exception, now: datetime, kind: str = "ModelDeployment"
) -> None:
    """Put a failure to read or plan into status (Ready=False and Degraded=True, reason ReconcileError,
    a message naming the field) and post one Warning Event: only when the failure is new, so the
    queue's retries with backoff do not repeat it. Reporting must not hide the original error.
    Serves every kind we reconcile (`body` is the resource as last read)."""
    meta = body["metadata"]
    old = body.get("status") or {}
    message = describe_failure(exc, body.get("spec") or {})
    before = find_condition(old.get("conditions"), c.COND_DEGRADED) or {}
    repeated = before.get("reason") == c.REASON_RECONCILE_ERROR and before.get("message") == message
    conditions = merge_conditions(
        old.get("conditions"),
        [
            Condition(c.COND_READY, False, c.REASON_RECONCILE_ERROR, message),
            Condition(c.COND_DEGRADED, True, c.REASON_RECONCILE_ERROR, message),
        ],
        now,
        meta.get("generation"),
    )
    try:
        patch = status_patch(old, {**old, "conditions": conditions})
        if patch:
            ctx.kube.patch_status(kind, meta["namespace"], meta["name"], patch)
        if not repeated:
            ctx.kube.post_event(body, c.EVENT_WARNING, c.REASON_RECONCILE_ERROR, message)
    except Exception:  # the API may be what failed; the queue retries either way
        log.warning("could not report the reconcile error of %s/%s", meta["namespace"], meta["name"])


def reconcile_reporting_errors(
    ctx: Context, kind: str, namespace: str, name: str, reconcile: Callable[[Any, str, str], float | None]
) -> float | None:
    """Run another kind's reconcile (SLAPolicy, RegionPlacement); an exception it raises is reported
    like a ModelDeployment's (condition + one Event) before the queue backs off."""
    try:
        return reconcile(ctx, namespace, name)
    except Exception as exc:
        if isinstance(exc, ApiException) and exc.namespace_terminating:
            raise  # the namespace's deletion takes the object too: nothing to report (queue.py)
        try:
            body = ctx.kube.get(kind, namespace, name)
        except Exception:
            body = None
        if body is not None:
            body.setdefault("apiVersion", "modelserve.io/v1alpha1")
            body.setdefault("kind", kind)
            report_reconcile_error(ctx, body, exc, ctx.clock(), kind)
        raise
