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

from modelserve.api import constants as c
from modelserve.planner.model_fetch import deployment_settled, pods_needed_if
from modelserve.planner.modeldeployment import Observed
from modelserve.routers.user_routes import user_route


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
        # KEDA's CRD appearing (engine auto/keda) and the Prometheus a trigger reads change the plan.
        observed.scaled_object_supported,
        observed.prometheus_url,
        observed.analysis is not None,
    ]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=repr).encode()).hexdigest()


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


# What the resync keeps of one owned object: (namespace, owning model, "kind/name/uid/resourceVersion",
# whether it is a Deployment that has not settled). Short strings: the read cache keeps one per object.
OwnedHead = tuple[str, str, str, bool]


def owned_head(kind: str, obj: Mapping[str, Any]) -> OwnedHead:
    """The resync's summary of an owned object of `kind` (a list's items carry no kind)."""
    meta = _meta(obj)
    owner = (meta.get("labels") or {}).get(c.LABEL_INSTANCE) or ""
    unsettled = kind == "Deployment" and not deployment_settled(obj)
    return (meta.get("namespace") or "", owner, f"{kind}/{meta.get('name')}/{_version(obj)}", unsettled)


def resync_digests(
    models: Iterable[Mapping[str, Any]],
    owned: Iterable[Mapping[str, Any]],
    sla_policies: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, str], str | None]:
    """`resync_digests_of_heads` with the owned objects whole (each with its kind)."""
    heads = (owned_head(str(obj.get("kind") or ""), obj) for obj in owned)
    return resync_digests_of_heads(models, heads, sla_policies)


def resync_digests_of_heads(
    models: Iterable[Mapping[str, Any]],
    owned: Iterable[OwnedHead],
    sla_policies: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, str], str | None]:
    """For the resync's relist: each ModelDeployment's (namespace, name) -> a digest of what the lists
    of our kinds show of its inputs -- its own resourceVersion, those of the objects labelled as its own
    (`owned`: every kind the operator owns, as listed by the managed-by label or kept in the read cache,
    each summarised by `owned_head`) and of its namespace's SLAPolicies -- or None when its plan also
    reads something these lists do not show (a placement's nodes, its pods, a user's route): such a
    model is reconciled at every resync.

    Two resyncs that give a model the same digest saw no change of these inputs in between, so a model
    whose last plan was settled (inputs_fingerprint) needs no reconcile: a change whose watch event was
    lost still changes a resourceVersion, and so the digest at the next resync."""
    by_owner: dict[tuple[str, str], list[str]] = {}
    unsettled: set[tuple[str, str]] = set()
    for namespace, owner_name, head, not_settled in owned:
        owner = (namespace, owner_name)
        by_owner.setdefault(owner, []).append(head)
        if not_settled:
            unsettled.add(owner)
    policies: dict[str, list[str]] = {}
    for policy in sla_policies:
        policies.setdefault(_meta(policy).get("namespace") or "", []).append(_version(policy))
    digests: dict[tuple[str, str], str | None] = {}
    for md in models:
        meta, spec = _meta(md), md.get("spec") or {}
        key = (meta.get("namespace") or "", meta.get("name") or "")
        placement = bool((spec.get("placementRef") or {}).get("name"))
        if (
            placement
            or user_route(key[0], key[1], spec) is not None
            or pods_needed_if(key not in unsettled, placement, md.get("status") or {})
        ):
            digests[key] = None
            continue
        parts = [_version(md), sorted(by_owner.get(key, [])), sorted(policies.get(key[0], []))]
        digests[key] = hashlib.sha256(json.dumps(parts).encode()).hexdigest()
    return digests
