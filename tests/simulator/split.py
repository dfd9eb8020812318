"""Pure traffic-split reading: live object bodies in, the share of requests each pod group gets out.

The simulator plays the data plane. Whatever the operator wrote -- a Service selector (``replicas``),
an HTTPRoute (``gatewayAPI``) or a VirtualService (``istio``) -- is turned into a ``TrafficSplit``:
the fraction of requests served by each ``(revision, region)`` group of ready pods, the fraction
*copied* to a revision by a mirror, and the fraction that reached a backend without ready pods.

Deliberately independent of ``modelserve.routers.*.read_weights``: the e2e tests use this as an
oracle for what the routers wrote, so it reads the objects the way a gateway would (backendRef names
-> Services -> their selectors -> ready pods), not the way the operator thinks about them.
No I/O here; ``tests.simulator.cluster`` fetches the bodies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

REVISION_LABEL = "modelserve.io/revision"
REGION_POD_LABEL = "modelserve.io/region"
REGION_NODE_LABEL = "topology.kubernetes.io/region"
INSTANCE_LABEL = "app.kubernetes.io/instance"
NO_REGION = "local"
# Gateway API: a backendRef without weight counts 1.
DEFAULT_BACKEND_WEIGHT = 1

Group = tuple[str, str]  # (revision, region)


@dataclass(frozen=True)
class TrafficSplit:
    """Where a request goes.

    ``shares``: fraction of requests served by each (revision, region); with ``unserved`` it sums to 1,
    and both are empty when nothing routes anywhere. ``mirrors``: fraction of requests additionally
    *copied* to each (revision, region) (responses discarded). ``unserved``: fraction of requests routed
    to a backend (Service name) that has no ready pod -- the operator broke "scale before weight" when
    this is non-zero.
    ``source`` names what was read (``service/<name>``, ``httproute/<name>``, ``virtualservice/<name>``).
    """

    shares: Mapping[Group, float] = field(default_factory=dict)
    mirrors: Mapping[Group, float] = field(default_factory=dict)
    unserved: Mapping[str, float] = field(default_factory=dict)
    source: str = ""

    def revision_percent(self) -> dict[str, float]:
        """Served share by revision in percent (regions summed)."""
        return _by_revision(self.shares, scale=100.0)

    def mirror_percent(self) -> dict[str, float]:
        """Mirrored share by revision in percent of all requests."""
        return _by_revision(self.mirrors, scale=100.0)


EMPTY_SPLIT = TrafficSplit()


def _by_revision(groups: Mapping[Group, float], scale: float) -> dict[str, float]:
    out: dict[str, float] = {}
    for (revision, _region), share in groups.items():
        out[revision] = out.get(revision, 0.0) + share * scale
    return {rev: round(value, 6) for rev, value in sorted(out.items())}


# -- pods -------------------------------------------------------------------------------------------


def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    """Ready (condition Ready=True), Running and not being deleted: an endpoint kube-proxy would use."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    if meta.get("deletionTimestamp") or status.get("phase") != "Running":
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())


def pod_region(pod: Mapping[str, Any], node_regions: Mapping[str, str]) -> str:
    """The pod's region: its ``modelserve.io/region`` label, else its node's region label, else ``local``."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    if labels.get(REGION_POD_LABEL):
        return str(labels[REGION_POD_LABEL])
    node = (pod.get("spec") or {}).get("nodeName")
    return node_regions.get(node or "", NO_REGION)


def node_regions(nodes: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Node name -> region label (nodes without one are left out)."""
    out = {}
    for node in nodes:
        meta = node.get("metadata") or {}
        region = (meta.get("labels") or {}).get(REGION_NODE_LABEL)
        if region:
            out[meta.get("name", "")] = region
    return out


def selects(selector: Mapping[str, str] | None, pod: Mapping[str, Any]) -> bool:
    """A Service selector (equality map) matches the pod's labels; an empty selector matches nothing
    (a Service without selector has no automatic endpoints)."""
    if not selector:
        return False
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def ready_groups(
    selector: Mapping[str, str] | None, pods: Sequence[Mapping[str, Any]], regions: Mapping[str, str]
) -> dict[Group, int]:
    """Ready pods a selector picks, counted by (revision, region). Pods without a revision label are
    not ours and are ignored."""
    counts: dict[Group, int] = {}
    for pod in pods:
        if not selects(selector, pod) or not pod_is_ready(pod):
            continue
        revision = ((pod.get("metadata") or {}).get("labels") or {}).get(REVISION_LABEL)
        if not revision:
            continue
        key = (revision, pod_region(pod, regions))
        counts[key] = counts.get(key, 0) + 1
    return counts


def known_groups(pods: Sequence[Mapping[str, Any]], regions: Mapping[str, str]) -> set[Group]:
    """Every (revision, region) among the pods, ready or not: the simulator creates their metric series
    at zero before traffic arrives, so ``increase()`` sees the first requests."""
    out = set()
    for pod in pods:
        revision = ((pod.get("metadata") or {}).get("labels") or {}).get(REVISION_LABEL)
        if revision and not (pod.get("metadata") or {}).get("deletionTimestamp"):
            out.add((revision, pod_region(pod, regions)))
    return out


def ready_pod_names(pods: Sequence[Mapping[str, Any]], regions: Mapping[str, str]) -> dict[Group, list[str]]:
    """The ready pods' names of each (revision, region) group, sorted (per-pod metrics)."""
    out: dict[Group, list[str]] = {}
    for pod in pods:
        revision = ((pod.get("metadata") or {}).get("labels") or {}).get(REVISION_LABEL)
        if revision and pod_is_ready(pod):
            out.setdefault((revision, pod_region(pod, regions)), []).append(pod["metadata"]["name"])
    return {group: sorted(names) for group, names in out.items()}


# -- backends -> split --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """A Service that receives ``weight`` (any scale) of the requests."""

    service: str
    weight: float


def spread(
    backends: Sequence[Backend],
    services: Mapping[str, Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    regions: Mapping[str, str],
) -> tuple[dict[Group, float], dict[str, float]]:
    """Split requests over weighted backend Services, then over each Service's ready pods evenly
    (kube-proxy / the mesh load-balances per endpoint). Returns (shares, unserved) normalised by the
    total weight; a backend whose Service is missing or has no ready pod is unserved."""
    total = sum(b.weight for b in backends if b.weight > 0)
    shares: dict[Group, float] = {}
    unserved: dict[str, float] = {}
    if total <= 0:
        return shares, unserved
    for backend in backends:
        if backend.weight <= 0:
            continue
        fraction = backend.weight / total
        service = services.get(backend.service)
        groups = ready_groups(((service or {}).get("spec") or {}).get("selector"), pods, regions)
        endpoints = sum(groups.values())
        if endpoints == 0:
            unserved[backend.service] = unserved.get(backend.service, 0.0) + fraction
            continue
        for group, count in groups.items():
            shares[group] = shares.get(group, 0.0) + fraction * count / endpoints
    return shares, unserved


def _mirror_groups(
    service: str,
    percent: float,
    services: Mapping[str, Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    regions: Mapping[str, str],
) -> dict[Group, float]:
    if percent <= 0:
        return {}
    shares, _ = spread([Backend(service, 1.0)], services, pods, regions)
    return {group: share * percent / 100.0 for group, share in shares.items()}


def split_from_service(
    service_name: str,
    services: Mapping[str, Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    regions: Mapping[str, str],
) -> TrafficSplit:
    """``replicas`` router (and direct calls): everything goes to one Service, shared by its ready pods --
    so the candidate's share is its ready-pod ratio while the Service selects both revisions."""
    shares, unserved = spread([Backend(service_name, 1.0)], services, pods, regions)
    return TrafficSplit(shares=shares, unserved=unserved, source=f"service/{service_name}")


def http_route_backends(
    route: Mapping[str, Any], service_names: Iterable[str]
) -> tuple[list[Backend], list[tuple[str, float]]] | None:
    """The first rule of an HTTPRoute that sends traffic to one of ``service_names``: its weighted
    backends and its RequestMirror filters as (service, percent). ``None`` when no rule does."""
    ours = set(service_names)
    namespace = (route.get("metadata") or {}).get("namespace")
    for rule in (route.get("spec") or {}).get("rules") or ():
        backends = []
        for ref in rule.get("backendRefs") or ():
            if (ref.get("kind") or "Service") != "Service" or (ref.get("group") or "") != "":
                continue
            if ref.get("namespace") and ref.get("namespace") != namespace:
                continue
            weight = ref.get("weight")
            backends.append(Backend(ref["name"], float(DEFAULT_BACKEND_WEIGHT if weight is None else weight)))
        if not any(b.service in ours for b in backends):
            continue
        mirrors = []
        for flt in rule.get("filters") or ():
            if flt.get("type") != "RequestMirror":
                continue
            mirror = flt.get("requestMirror") or {}
            target = (mirror.get("backendRef") or {}).get("name")
            if not target:
                continue
            if mirror.get("percent") is not None:
                percent = float(mirror["percent"])
            elif mirror.get("fraction"):
                fraction = mirror["fraction"]
                denominator = float(fraction.get("denominator") or 100)
                percent = 100.0 * float(fraction.get("numerator", 0)) / denominator
            else:
                percent = 100.0
            mirrors.append((target, percent))
        return backends, mirrors
    return None


def split_from_http_routes(
    routes: Sequence[Mapping[str, Any]],
    services: Mapping[str, Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    regions: Mapping[str, str],
) -> TrafficSplit | None:
    """``gatewayAPI`` router: backendRef weights -> Services -> ready pods; RequestMirror filters copy
    ``percent`` of the requests to their backend. The first route (by name) with a rule pointing at one of
    ``services`` wins; ``None`` when there is none (the caller falls back to the main Service)."""
    for route in sorted(routes, key=lambda r: (r.get("metadata") or {}).get("name", "")):
        found = http_route_backends(route, services)
        if found is None:
            continue
        backends, mirror_specs = found
        shares, unserved = spread(backends, services, pods, regions)
        mirrors: dict[Group, float] = {}
        for service, percent in mirror_specs:
            for group, share in _mirror_groups(service, percent, services, pods, regions).items():
                mirrors[group] = mirrors.get(group, 0.0) + share
        name = (route.get("metadata") or {}).get("name")
        return TrafficSplit(shares=shares, mirrors=mirrors, unserved=unserved, source=f"httproute/{name}")
    return None


def service_for_host(host: str | None, namespace: str) -> str | None:
    """Istio destination host -> Service name in ``namespace``: ``svc``, ``svc.ns``, ``svc.ns.svc...``.
    ``None`` for another namespace."""
    if not host:
        return None
    parts = host.split(".")
    if len(parts) >= 2 and parts[1] != namespace:
        return None
    return parts[0]


def virtual_service_backends(
    vs: Mapping[str, Any], namespace: str, service_names: Iterable[str]
) -> tuple[list[Backend], list[tuple[str, float]]] | None:
    """The first ``http`` route of a VirtualService whose destinations include one of ``service_names``:
    (weighted backends, [(mirror service, percent)]). Istio: a lone destination without weight takes
    everything; ``mirrorPercentage`` absent means 100 % (legacy ``mirrorPercent`` is read too)."""
    ours = set(service_names)
    for http in (vs.get("spec") or {}).get("http") or ():
        destinations = http.get("route") or ()
        backends = []
        for dest in destinations:
            service = service_for_host((dest.get("destination") or {}).get("host"), namespace)
            if service is None:
                continue
            weight = dest.get("weight")
            if weight is None:
                weight = 100 if len(destinations) == 1 else 0
            backends.append(Backend(service, float(weight)))
        if not any(b.service in ours for b in backends):
            continue
        mirrors = []
        mirror_service = service_for_host((http.get("mirror") or {}).get("host"), namespace)
        if mirror_service:
            if http.get("mirrorPercentage") is not None:
                percent = float((http["mirrorPercentage"] or {}).get("value", 0.0))
            elif http.get("mirrorPercent") is not None:
                percent = float(http["mirrorPercent"])
            else:
                percent = 100.0
            mirrors.append((mirror_service, percent))
        return backends, mirrors
    return None


def split_from_virtual_services(
    virtual_services: Sequence[Mapping[str, Any]],
    namespace: str,
    services: Mapping[str, Mapping[str, Any]],
    pods: Sequence[Mapping[str, Any]],
    regions: Mapping[str, str],
) -> TrafficSplit | None:
    """``istio`` router: route destination weights -> Services -> ready pods; ``mirror`` +
    ``mirrorPercentage`` copies requests. ``None`` when no VirtualService routes to our Services."""
    for vs in sorted(virtual_services, key=lambda v: (v.get("metadata") or {}).get("name", "")):
        found = virtual_service_backends(vs, namespace, services)
        if found is None:
            continue
        backends, mirror_specs = found
        shares, unserved = spread(backends, services, pods, regions)
        mirrors: dict[Group, float] = {}
        for service, percent in mirror_specs:
            for group, share in _mirror_groups(service, percent, services, pods, regions).items():
                mirrors[group] = mirrors.get(group, 0.0) + share
        name = (vs.get("metadata") or {}).get("name")
        return TrafficSplit(
            shares=shares, mirrors=mirrors, unserved=unserved, source=f"virtualservice/{name}"
        )
    return None


# -- requests -----------------------------------------------------------------------------------------


def allocate_requests(
    shares: Mapping[Group, float], total: float, carry: Mapping[Group, float] | None = None
) -> tuple[dict[Group, int], dict[Group, float]]:
    """Whole requests per group for one tick: ``total * share`` plus what earlier ticks left over.

    Deterministic and exact in the long run (a group with 0.3 requests per tick gets one every ~3
    ticks), so low-weight canaries see their true share without sampling noise. Returns (counts, new
    carry); groups that left the split drop their carry.
    """
    counts: dict[Group, int] = {}
    new_carry: dict[Group, float] = {}
    previous = carry or {}
    for group, share in shares.items():
        if share <= 0:
            continue
        due = total * share + previous.get(group, 0.0)
        whole = int(due + 1e-9)
        counts[group] = whole
        new_carry[group] = due - whole
    return counts, new_carry


def service_map(services: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Service name -> body."""
    return {(s.get("metadata") or {}).get("name", ""): s for s in services}
