"""Which user-owned routes a ModelDeployment holds fields in, and when its finalizer comes and goes.

With ``spec.traffic.gatewayAPI.routeName`` or ``spec.traffic.istio.virtualServiceName`` modelserve writes
its rule into a route the user owns (``spec.rules`` / ``spec.http``). Owner references cannot clean that
up -- the route is not ours, and deleting it would take the user's hosts and parents with it -- so such a
ModelDeployment carries the finalizer ``modelserve.io/route-release`` and names the routes it holds in
the annotation ``modelserve.io/user-routes``, both written *before* our first write into the route. When
it is deleted, or its spec moves to another route, the shell (``reconcile/finalize.py``) gives our fields
back with the router's ``finalize().release`` body and only then drops the name -- and with the last
one the finalizer. A ModelDeployment without a user route never gets either: plain models stay exactly
as the user (or GitOps) wrote them.

Pure: metadata and spec in, decisions and merge patches out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from modelserve import FIELD_MANAGER
from modelserve.api import constants as c
from modelserve.api.traffic import parse_traffic
from modelserve.k8s.resources import resource_for
from modelserve.routers import RouteContext, router_for


@dataclass(frozen=True, order=True)
class RouteRef:
    """A user-owned route by kind and name (the namespace is the ModelDeployment's)."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"

    @classmethod
    def parse(cls, text: str) -> RouteRef | None:
        """``HTTPRoute/<name>`` back into a RouteRef; ``None`` for anything else."""
        kind, sep, name = text.strip().partition("/")
        return cls(kind, name) if sep and kind and name else None


@dataclass(frozen=True)
class RouteHold:
    """``keep``: the route the spec writes into now; ``release``: recorded routes to give back."""

    keep: tuple[RouteRef, ...]
    release: tuple[RouteRef, ...]


def user_route(namespace: str, name: str, spec: Mapping[str, Any]) -> RouteRef | None:
    """The user-owned route ``spec.traffic`` writes into -- what the router's ``finalize`` would release
    -- or ``None`` (an owned route, the replicas router, an unknown router or an invalid ``spec.traffic``).

    Takes the spec as written, not the parsed one: a route must be released even when the rest of the
    spec no longer parses."""
    try:
        traffic = parse_traffic(spec.get("traffic"))
        router = router_for(traffic.router)
    except ValueError:
        return None
    ctx = RouteContext(namespace=namespace, name=name, stable_revision="", traffic=traffic)
    for body in router.finalize(ctx).release:
        return RouteRef(body["kind"], body["metadata"]["name"])
    return None


def held_routes(metadata: Mapping[str, Any]) -> tuple[RouteRef, ...]:
    """The routes the annotation ``modelserve.io/user-routes`` names, sorted, without duplicates."""
    text = (metadata.get("annotations") or {}).get(c.ANNOTATION_USER_ROUTES) or ""
    return tuple(sorted({ref for part in text.split(",") if (ref := RouteRef.parse(part)) is not None}))


def plan_route_hold(metadata: Mapping[str, Any], wanted: RouteRef | None) -> RouteHold:
    """Keep ``wanted`` (unless the ModelDeployment is being deleted); release every other held route.

    A finalizer whose annotation was removed by hand still protects the route the spec names.
    """
    held = held_routes(metadata)
    if not held and wanted is not None and c.FINALIZER_ROUTE_RELEASE in (metadata.get("finalizers") or ()):
        held = (wanted,)
    keep = () if wanted is None or metadata.get("deletionTimestamp") else (wanted,)
    return RouteHold(keep=keep, release=tuple(ref for ref in held if ref not in keep))


def hold_patch(metadata: Mapping[str, Any], routes: Iterable[RouteRef]) -> dict[str, Any] | None:
    """The JSON merge patch after which ``metadata`` holds exactly ``routes``: the annotation names them
    and our finalizer is there while there is any; ``None`` when that is already so.

    It carries ``resourceVersion``, so a finalizer list someone else changed meanwhile makes the patch
    fail (409, retried) instead of being overwritten. The API server accepts no new finalizer on an
    object being deleted, so none is added then.
    """
    refs = sorted(set(routes))
    finalizers = list(metadata.get("finalizers") or [])
    has_finalizer = c.FINALIZER_ROUTE_RELEASE in finalizers
    patch: dict[str, Any] = {}
    if refs and not has_finalizer and not metadata.get("deletionTimestamp"):
        patch["finalizers"] = [*finalizers, c.FINALIZER_ROUTE_RELEASE]
    elif not refs and has_finalizer:
        patch["finalizers"] = [f for f in finalizers if f != c.FINALIZER_ROUTE_RELEASE]
    text = ",".join(str(ref) for ref in refs) or None
    if (metadata.get("annotations") or {}).get(c.ANNOTATION_USER_ROUTES) != text:
        patch["annotations"] = {c.ANNOTATION_USER_ROUTES: text}
    if not patch:
        return None
    if metadata.get("resourceVersion"):
        patch["resourceVersion"] = metadata["resourceVersion"]
    return {"metadata": patch}


def holds_fields(route: Mapping[str, Any], manager: str = FIELD_MANAGER) -> bool:
    """Whether ``manager`` still owns fields of the live ``route`` through server-side apply."""
    return any(
        entry.get("manager") == manager and entry.get("operation") == "Apply" and entry.get("fieldsV1")
        for entry in (route.get("metadata") or {}).get("managedFields") or ()
    )


def release_body(ref: RouteRef, namespace: str, resource_version: str | None) -> dict[str, Any]:
    """What to server-side apply under our field manager to give up every field we own in the route --
    the router's ``finalize().release`` body; the resourceVersion makes it fail rather than create the
    route should it be deleted meanwhile."""
    meta: dict[str, Any] = {"name": ref.name, "namespace": namespace}
    if resource_version:
        meta["resourceVersion"] = resource_version
    return {"apiVersion": resource_for(ref.kind).api_version, "kind": ref.kind, "metadata": meta}
