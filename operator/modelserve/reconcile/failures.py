"""Say what failed in a reconcile, in the user's terms: the spec field whose handling raised.

A failure the planner did not foresee (a bug, or an input the schema lets through that a core cannot
handle) must still reach the user as a condition and an Event naming the part of their spec involved,
not only as a traceback in the operator's log.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from modelserve.api import constants as c
from modelserve.api.conditions import Condition, find_condition, merge_conditions
from modelserve.k8s.apply import status_patch
from modelserve.reconcile.context import Context

log = logging.getLogger(__name__)

MAX_MESSAGE = 900

# The innermost frame of the operator's own code tells which part of the spec was being handled.
_FIELD_BY_MODULE = (
    ("modelserve.placement", "spec.placementRef"),
    ("modelserve.forecasting", "spec.autoscaling.predictive"),
    ("modelserve.analysis", "spec.rollout.analysis"),
    ("modelserve.rollout", "spec.rollout"),
    ("modelserve.routers", "spec.traffic"),
    ("modelserve.slo", "spec.slaPolicyRef"),
    ("modelserve.builders", "spec.runtime"),
    ("modelserve.reconcile.analysis_run", "spec.rollout.analysis"),
    ("modelserve.reconcile.sla", "spec.slaPolicyRef"),
    ("modelserve.reconcile.predictive", "spec.autoscaling.predictive"),
)


def failing_field(exc: BaseException) -> str | None:
    """The spec field path an exception came from: its own `field_path` (SpecError), else the field
    of the innermost operator module on its traceback; None when nothing points at the spec."""
    path = getattr(exc, "field_path", None)
    if isinstance(path, str) and path:
        return path
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        module = _module_of(frame.filename)
        for prefix, field in _FIELD_BY_MODULE:
            if module == prefix or module.startswith(prefix + "."):
                return field
    return None


def _module_of(filename: str) -> str:
    parts = filename.replace("\\", "/").removesuffix(".py").split("/")
    if "modelserve" not in parts:
        return ""
    return ".".join(parts[len(parts) - 1 - parts[::-1].index("modelserve") :])


def describe_failure(exc: BaseException, spec: Mapping[str, Any]) -> str:
    """One line for a condition and an Event: the field, what it refers to, the error, what happens next."""
    field = failing_field(exc)
    where = field or "the reconcile"
    if field == "spec.placementRef":
        name = (spec.get("placementRef") or {}).get("name")
        where = f"{field} (RegionPlacement {name!r})" if name else field
    elif field == "spec.slaPolicyRef":
        name = (spec.get("slaPolicyRef") or {}).get("name")
        where = f"{field} (SLAPolicy {name!r})" if name else field
    detail = str(exc) or type(exc).__name__
    if not isinstance(exc, ValueError) or getattr(exc, "field_path", None) is None:
        detail = f"{type(exc).__name__}: {detail}"
    message = f"reconcile failed at {where}: {detail}; retrying with backoff"
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


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
        try:
            body = ctx.kube.get(kind, namespace, name)
        except Exception:
            body = None
        if body is not None:
            body.setdefault("apiVersion", "modelserve.io/v1alpha1")
            body.setdefault("kind", kind)
            report_reconcile_error(ctx, body, exc, ctx.clock(), kind)
        raise
