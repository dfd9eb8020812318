"""What a ModelDeployment's plan depends on, as one fingerprint, so an unchanged model is not
planned again.

A resync (every `--resync-seconds`) and every watch event of a neighbour queue a model; most of the
time nothing it depends on has changed. The plan is a function of the resource (its resourceVersion
changes with its spec, metadata and status, and so with its generation), the objects it owns and the
ones it reads (each by resourceVersion: Deployments, Services, PDB, HPAs, pods, nodes, the
RegionPlacement, the SLAPolicy, the user's route), what other controllers hand it (the SLA view, the
forecast floors, the runtime catalogue) and the clock. The clock matters only while a plan asks to be
woken (`requeue_after`: a pause, an analysis interval, a new model settling): such a model is always
planned. Otherwise the same fingerprint gives the same plan, which writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from modelserve.planner.modeldeployment import Observed


def _version(obj: Mapping[str, Any] | None) -> str:
    """An object's identity and version: uid/resourceVersion, or a hash of its content without one."""
    if obj is None:
        return "-"
    meta = obj.get("metadata") or {}
    if meta.get("resourceVersion"):
        return f"{meta.get('uid', meta.get('name'))}/{meta['resourceVersion']}"
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=repr).encode()).hexdigest()[:16]


def _versions(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    return sorted(_version(o) for o in objects)


def inputs_fingerprint(
    body: Mapping[str, Any], observed: Observed, owned: Mapping[str, Mapping[str, Any]]
) -> str:
    """A digest of everything the planner reads for `body`; equal digests, equal plans (unless the
    previous plan asked to be woken by the clock)."""
    meta = body.get("metadata") or {}
    parts: list[Any] = [
        _version(body),
        meta.get("generation"),
        {kind: _versions(objs.values()) for kind, objs in sorted(owned.items())},
        _version(observed.placement),
        observed.placement_missing,
        _versions(observed.nodes or []),
        _versions(observed.pods),
        _version(observed.sla_policy),
        observed.sla_policy_missing,
        _version(observed.user_route),
        observed.user_route_missing,
        repr(observed.sla),
        repr(sorted(observed.predictive.items(), key=lambda kv: str(kv[0]))),
        # The catalogue source replaces its Catalogue object when the ConfigMap changes.
        id(observed.runtimes),
        observed.pod_monitor_supported,
        observed.analysis is not None,
    ]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=repr).encode()).hexdigest()
