"""The traffic-router interface (Flagger-like) and the objects every router shares.

A router turns *desired weights* into the Kubernetes objects that make the data plane send that
share of traffic to each revision. It is pure: ``desired_objects`` returns manifests for server-side
apply (only the fields modelserve owns), ``read_weights`` reads the weights back from live objects,
``finalize`` says what to delete or release when the ModelDeployment goes away.

Ownership (one field manager, ``modelserve``, one producer per object, so applies never fight):
- routers own every *Service* that carries traffic -- the main Service ``<md>``, the per-revision
  Services ``<md>-<revision>`` (mesh routers) and the blue-green preview Service -- and the route
  objects (HTTPRoute / VirtualService);
- workload builders own Deployments, HPAs and PDBs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from modelserve.api.traffic import Traffic

REVISION_LABEL = "modelserve.io/revision"
SERVICE_NAME_MAX = 63
# Keep revision suffixes short so `<md>-<revision>` stays a DNS label (md names are at most 40 chars).
REVISION_SUFFIX_MAX = 22


@dataclass(frozen=True)
class Weights:
    """Traffic split in percent: ``stable + candidate == 100``; ``mirror_percent`` of requests are copied
    to the candidate (shadow), whose responses are discarded."""

    stable: int = 100
    candidate: int = 0
    mirror_percent: int = 0

    def __post_init__(self) -> None:
        for name in ("stable", "candidate", "mirror_percent"):
            value = getattr(self, name)
            if not 0 <= value <= 100:
                raise ValueError(f"weights.{name}: {value} must be within 0..100")
        if self.stable + self.candidate != 100:
            raise ValueError(f"weights: stable {self.stable} + candidate {self.candidate} must add up to 100")


ALL_STABLE = Weights(100, 0, 0)


@dataclass(frozen=True)
class RouteContext:
    """Everything a router needs to name and shape its objects for one ModelDeployment.

    ``owner_reference`` is the ModelDeployment's ownerReference dict (``None`` leaves it out);
    ``labels`` go on every object we create; ``selector_labels`` select all pods of this
    ModelDeployment (any revision); ``traffic`` is the parsed ``spec.traffic``.
    Service names for revisions come from ``revision_service_name`` unless given.
    """

    namespace: str
    name: str
    stable_revision: str
    candidate_revision: str | None = None
    owner_reference: Mapping[str, Any] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    selector_labels: Mapping[str, str] = field(default_factory=dict)
    revision_label_key: str = REVISION_LABEL
    service_port: int = 80
    target_port: int | str = 8080
    stable_service: str | None = None
    candidate_service: str | None = None
    preview_service: str | None = None
    traffic: Traffic = field(default_factory=Traffic)

    @property
    def stable_service_name(self) -> str:
        return self.stable_service or revision_service_name(self.name, self.stable_revision)

    @property
    def candidate_service_name(self) -> str | None:
        if self.candidate_revision is None:
            return None
        return self.candidate_service or revision_service_name(self.name, self.candidate_revision)

    def fqdn(self, service: str) -> str:
        return f"{service}.{self.namespace}.svc.cluster.local"


@dataclass(frozen=True)
class RouterCleanup:
    """What to do when the ModelDeployment is deleted.

    ``delete``: references (apiVersion, kind, namespace, name) of objects we own outright (the
    ownerReference garbage-collects them too; deleting is just faster). ``release``: bodies to
    server-side apply under our field manager to give up our fields in objects the user owns.
    """

    delete: tuple[dict[str, Any], ...] = ()
    release: tuple[dict[str, Any], ...] = ()


def revision_service_name(md_name: str, revision: str) -> str:
    """``<md>-<revision>`` cut to a DNS label: the per-revision Service routes point at."""
    return f"{md_name}-{revision[:REVISION_SUFFIX_MAX]}"[:SERVICE_NAME_MAX].rstrip("-")


def object_meta(
    ctx: RouteContext, name: str, *, owned: bool = True, extra_labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """metadata for an object we create: name, namespace, labels and (when owned) our ownerReference."""
    meta: dict[str, Any] = {"name": name, "namespace": ctx.namespace}
    labels = {**ctx.labels, **(extra_labels or {})}
    if labels:
        meta["labels"] = labels
    if owned and ctx.owner_reference is not None:
        meta["ownerReferences"] = [dict(ctx.owner_reference)]
    return meta


def service_manifest(ctx: RouteContext, name: str, revision: str | None) -> dict[str, Any]:
    """A ClusterIP Service on ``ctx.service_port`` selecting this ModelDeployment's pods, narrowed to
    ``revision`` when one is given."""
    selector = dict(ctx.selector_labels)
    extra: dict[str, str] = {}
    if revision is not None:
        selector[ctx.revision_label_key] = revision
        extra[ctx.revision_label_key] = revision
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(ctx, name, extra_labels=extra),
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [
                {"name": "http", "port": ctx.service_port, "targetPort": ctx.target_port, "protocol": "TCP"}
            ],
        },
    }


def serving_revision(ctx: RouteContext, weights: Weights) -> str | None:
    """The single revision that takes all traffic, or ``None`` while traffic is split between two."""
    if ctx.candidate_revision is None or weights.candidate == 0:
        return ctx.stable_revision
    if weights.stable == 0:
        return ctx.candidate_revision
    return None


def main_service(ctx: RouteContext, weights: Weights) -> dict[str, Any]:
    """The ``<md>`` Service clients call directly. It selects only the revision that takes all the
    traffic; while traffic is split it selects every revision, so direct (non-mesh) calls are shared by
    ready-pod ratio -- the replicas router's whole mechanism, a safe fallback for the mesh routers."""
    return service_manifest(ctx, ctx.name, serving_revision(ctx, weights))


def preview_services(ctx: RouteContext) -> list[dict[str, Any]]:
    """The blue-green preview Service (selects the candidate only), when there is a candidate to preview."""
    if ctx.preview_service is None or ctx.candidate_revision is None:
        return []
    return [service_manifest(ctx, ctx.preview_service, ctx.candidate_revision)]


def revision_services(ctx: RouteContext) -> list[dict[str, Any]]:
    """Per-revision Services ``<md>-<revision>`` for stable and (when present) candidate: the mesh
    routers' backends."""
    objects = [service_manifest(ctx, ctx.stable_service_name, ctx.stable_revision)]
    candidate_service = ctx.candidate_service_name
    if candidate_service is not None and ctx.candidate_revision is not None:
        objects.append(service_manifest(ctx, candidate_service, ctx.candidate_revision))
    return objects


def object_ref(obj: Mapping[str, Any]) -> dict[str, Any]:
    """apiVersion/kind/namespace/name of a manifest (for deletes)."""
    meta = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "namespace": meta.get("namespace"),
        "name": meta["name"],
    }


def find_object(live_objects: Sequence[Mapping[str, Any]], kind: str, name: str) -> Mapping[str, Any] | None:
    for obj in live_objects:
        if obj.get("kind") == kind and (obj.get("metadata") or {}).get("name") == name:
            return obj
    return None


def percent_weights(stable: float, candidate: float, mirror_percent: int) -> Weights | None:
    """Normalize raw backend weights (any scale) to percent; ``None`` when both are zero."""
    total = stable + candidate
    if total <= 0:
        return None
    candidate_percent = round(100 * candidate / total)
    return Weights(100 - candidate_percent, candidate_percent, mirror_percent)


class TrafficRouter(ABC):
    """One way of splitting traffic between the stable and the candidate revision."""

    name: ClassVar[str]
    #: True when weights are only approximated (by replica ratios), so status says so.
    approximate: ClassVar[bool] = False

    @abstractmethod
    def desired_objects(self, ctx: RouteContext, weights: Weights) -> list[dict[str, Any]]:
        """Manifests for server-side apply that realise ``weights`` (only the fields we own)."""

    @abstractmethod
    def read_weights(self, ctx: RouteContext, live_objects: Sequence[Mapping[str, Any]]) -> Weights | None:
        """The weights the live objects currently express, or ``None`` when they do not say."""

    @abstractmethod
    def finalize(self, ctx: RouteContext) -> RouterCleanup:
        """Objects to delete and user-owned objects to release when the ModelDeployment goes away."""


class MeshRouter(TrafficRouter):
    """A router whose weights live in one route object (HTTPRoute, VirtualService), in one of two modes:

    - owned route: an object named ``<md>`` that we own outright (built by ``owned_route_spec``);
    - user route (``user_route_name`` names it): the user's object keeps its metadata and
      everything else in its spec; we server-side apply only ``spec.<RULES_FIELD>``, an atomic list we
      own whole, and release it by applying an empty body when the ModelDeployment goes.

    Subclasses give the route's kind and apiVersion, the spec field that names a user route, the rules
    field, the owned route's other spec fields, and the rules for the weights.
    """

    KIND: ClassVar[str]
    API_VERSION: ClassVar[str]
    RULES_FIELD: ClassVar[str]

    @abstractmethod
    def user_route_name(self, ctx: RouteContext) -> str | None:
        """The user's route named in ``spec.traffic.<router>``, or None for a route we own."""

    @abstractmethod
    def owned_route_spec(self, ctx: RouteContext) -> dict[str, Any]:
        """The owned route's spec without its rules (parents, hosts, ...)."""

    @abstractmethod
    def rules(self, ctx: RouteContext, weights: Weights) -> list[dict[str, Any]]:
        """The value of ``spec.<RULES_FIELD>`` that realises ``weights``."""

    def route_name(self, ctx: RouteContext) -> str:
        return self.user_route_name(ctx) or ctx.name

    def user_owned(self, ctx: RouteContext) -> bool:
        return bool(self.user_route_name(ctx))

    def route(self, ctx: RouteContext, weights: Weights) -> dict[str, Any]:
        """The owned route, or the ``spec.<RULES_FIELD>`` patch of the user's route."""
        rules = self.rules(ctx, weights)
        if self.user_owned(ctx):
            return {
                "apiVersion": self.API_VERSION,
                "kind": self.KIND,
                "metadata": {"name": self.route_name(ctx), "namespace": ctx.namespace},
                "spec": {self.RULES_FIELD: rules},
            }
        return {
            "apiVersion": self.API_VERSION,
            "kind": self.KIND,
            "metadata": object_meta(ctx, self.route_name(ctx)),
            "spec": {**self.owned_route_spec(ctx), self.RULES_FIELD: rules},
        }

    def desired_objects(self, ctx: RouteContext, weights: Weights) -> list[dict[str, Any]]:
        return [
            *revision_services(ctx),
            main_service(ctx, weights),
            *preview_services(ctx),
            self.route(ctx, weights),
        ]

    def live_route(
        self, ctx: RouteContext, live_objects: Sequence[Mapping[str, Any]]
    ) -> Mapping[str, Any] | None:
        return find_object(live_objects, self.KIND, self.route_name(ctx))

    def finalize(self, ctx: RouteContext) -> RouterCleanup:
        services = [*revision_services(ctx), main_service(ctx, Weights()), *preview_services(ctx)]
        deletes = tuple(object_ref(o) for o in services)
        if self.user_owned(ctx):
            # Applying a body without spec gives up our ownership of the rules (and so removes them).
            release = {
                "apiVersion": self.API_VERSION,
                "kind": self.KIND,
                "metadata": {"name": self.route_name(ctx), "namespace": ctx.namespace},
            }
            return RouterCleanup(delete=deletes, release=(release,))
        route_ref = {
            "apiVersion": self.API_VERSION,
            "kind": self.KIND,
            "namespace": ctx.namespace,
            "name": self.route_name(ctx),
        }
        return RouterCleanup(delete=(*deletes, route_ref))
