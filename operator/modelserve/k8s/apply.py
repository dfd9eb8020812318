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
