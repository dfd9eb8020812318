"""What the reconcile shells write and how: our intent stamped on owned objects, and merge patches of
status that carry only what changed. Pure helpers, shared by every shell."""

from __future__ import annotations

import hashlib
import json

from modelserve.api import constants as c


def stamp_intent(obj: dict) -> dict:
    """`obj` with the annotation `modelserve.io/applied` = a hash of everything else we want in it.

    The subset comparison below cannot see a key we stopped setting (a selector entry, a label);
    the hash can: when our intent changes, the live annotation differs and we apply again.
    """
    body = {k: v for k, v in obj.items() if k != "status"}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
    meta = dict(obj["metadata"])
    meta["annotations"] = {**(meta.get("annotations") or {}), c.ANNOTATION_APPLIED: digest}
    return {**obj, "metadata": meta}


def merge_patch(old: dict, new: dict) -> dict:
    """The JSON merge patch that turns `old` into `new` (recursively; lists are replaced whole).
    Keys no longer present are removed; kopf's own bookkeeping under `kopf` is left alone."""
    patch: dict = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            sub = merge_patch(before, value)
            if sub:
                patch[key] = sub
        elif before != value:
            patch[key] = value
    for key in old:
        if key not in new and key != "kopf":
            patch[key] = None
    return patch


def status_patch(old: dict, new: dict) -> dict | None:
    return merge_patch(old, new) or None


# The field manager that holds a Deployment's spec.replicas for the moment it passes from the operator
# to an HPA (below). It applies only the live value, once, so it never changes a replica count.
HANDOVER_FIELD_MANAGER = "modelserve-handover"


def owns_field(live: dict, manager: str, path: tuple[str, ...]) -> bool:
    """Whether `manager` holds the field at `path` of `live` through server-side apply (managedFields)."""
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") != manager or entry.get("operation") != "Apply":
            continue
        fields = entry.get("fieldsV1") or {}
        for key in path:
            fields = fields.get(f"f:{key}") if isinstance(fields, dict) else None
            if fields is None:
                break
        else:
            return True
    return False


def replicas_handover(desired: dict, live: dict | None, manager: str) -> dict | None:
    """The apply that must precede `desired` when it stops setting a Deployment's spec.replicas.

    Server-side apply removes a field its last applier leaves out, and a Deployment without
    `spec.replicas` is defaulted to 1: a Deployment the operator created (or scaled itself) and then
    hands to an HPA would drop to one pod before the HPA's first write. So while `manager` still owns
    the field, the live value is first applied under HANDOVER_FIELD_MANAGER (the handover Kubernetes
    documents for HPAs); the HPA's next write takes the field from it. None: nothing to hand over."""
    if desired.get("kind") != "Deployment" or live is None or "replicas" in (desired.get("spec") or {}):
        return None
    replicas = (live.get("spec") or {}).get("replicas")
    if replicas is None or not owns_field(live, manager, ("spec", "replicas")):
        return None
    meta = desired["metadata"]
    return {
        "apiVersion": desired["apiVersion"],
        "kind": "Deployment",
        "metadata": {"name": meta["name"], "namespace": meta.get("namespace")},
        "spec": {"replicas": replicas},
    }
