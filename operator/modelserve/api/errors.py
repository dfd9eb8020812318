"""The one error type for a spec the API server accepted but the operator cannot use, and how any
failure is said in the user's terms: the spec field whose handling raised."""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from typing import Any


class SpecError(ValueError):
    """A problem in a spec, naming the field path and the fix (e.g. ``spec.objectives[1].target``), so
    the message can go into a status condition and an Event as it is."""

    def __init__(self, field_path: str, message: str):
        super().__init__(f"{field_path}: {message}")
        self.field_path = field_path
        self.message = message


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


def object_field(body: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    """``body[key]`` when it is an object, ``{}`` when unset; SpecError naming ``path.key`` otherwise."""
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(f"{path}.{key}", "must be an object")
    return value


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
