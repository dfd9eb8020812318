"""kopf wiring: watch our resources and the objects we own, and queue reconciles.

Level-based: every watch event only queues its ModelDeployment's key; the reconcile reads the
current state itself. No kopf change-detection handlers, timers or daemons are used, so kopf never
writes progress, diff-base annotations or finalizers into a user's resource. (kopf's on.delete would
put its finalizer on every ModelDeployment; the reconcile instead adds `modelserve.io/route-release`
only to one that writes into a user-owned route, and removes it once that route is released -- see
routers/user_routes.py. A deletion therefore arrives here as an update with a deletionTimestamp.)
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import kopf

from modelserve import GROUP, VERSION
from modelserve.api import constants as c
from modelserve.handlers.placement import pod_changed
from modelserve.k8s.client import LIST_PAGE, KubeClient
from modelserve.observability import memory, metrics
from modelserve.reconcile.context import Context
from modelserve.reconcile.failures import reconcile_reporting_errors
from modelserve.reconcile.informer import ObjectCache
from modelserve.reconcile.placement import reconcile_region_placement
from modelserve.reconcile.predictive import PredictiveController
from modelserve.reconcile.queue import Key, WorkQueue
from modelserve.reconcile.resync import ResyncFilter, list_scopes
from modelserve.reconcile.runtimes import REFRESH_SECONDS, RuntimeCatalogueSource
from modelserve.reconcile.shell import reconcile_model_deployment
from modelserve.reconcile.sla import SLAViews, reconcile_sla_policy
from modelserve.reconcile.watch import LoopHandoff, OwnedWatch

log = logging.getLogger("modelserve")

MD = "ModelDeployment"
_OWNED_SELECTOR = f"{c.LABEL_MANAGED_BY}={c.MANAGED_BY}"
# The kinds we own and watch with our own list-and-watch (reconcile/watch.py), not kopf's: thousands of
# objects, each event only stored and its owner queued. Their events fill the read cache.
OWNED_WATCHED: dict[str, str | None] = {
    "Deployment": _OWNED_SELECTOR,
    "Service": _OWNED_SELECTOR,
    "HorizontalPodAutoscaler": _OWNED_SELECTOR,
    "PodDisruptionBudget": _OWNED_SELECTOR,
}
# The kinds whose watch events also fill the read cache, with their watch's label selector: the owned
# kinds above and the SLAPolicies (watched by kopf, handlers/sla.py). Not the ModelDeployment: its
# status holds the rollout's state (the step, the analysis counters), which a reconcile must read as
# stored, so each reconcile GETs it. Optional CRDs are not watched at all. Our pods are watched (for
# placement, handlers/placement.py) and cached: an unplaced model reads its pods from the cache.
CACHED_KINDS: dict[str, str | None] = {**OWNED_WATCHED, "Pod": _OWNED_SELECTOR, "SLAPolicy": None}
Reconciler = Callable[[Context, str, str], float | None]
# The reconcile of every other kind the work queue serves (the ModelDeployment's is separate: it
# reports its own failures stage by stage).
RECONCILERS: dict[str, Reconciler] = {
    "RegionPlacement": reconcile_region_placement,
    "SLAPolicy": reconcile_sla_policy,
}


class RuntimeOptions:
    """Set by the CLI before kopf starts (kopf handlers cannot take arguments)."""

    kubeconfig: str | None = None
    prometheus_url: str | None = None
    resync_seconds: float = 60.0
    workers: int = 4
    peering: str = "modelserve"
    namespaces: tuple[str, ...] = ()  # empty: cluster-wide (kopf's patterns, e.g. "team-*", allowed)


OPTIONS = RuntimeOptions()
KOPF_WORKER_LIMIT = 256
KOPF_IDLE_TIMEOUT = 0.5


def configure_settings(settings: kopf.OperatorSettings) -> None:
    """kopf settings: peering for safe upgrades, status-based storage, no implicit Event posting."""
    settings.peering.name = OPTIONS.peering
    settings.peering.mandatory = False
    # Even if a future handler needs kopf's bookkeeping, keep it in status, never in annotations:
    # a large spec can then never overflow the 256 KiB annotation limit.
    settings.persistence.progress_storage = kopf.StatusProgressStorage(field="status.kopf.progress")
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(field="status.kopf.diffbase")
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.posting.enabled = False  # we post our own Events, on transitions only
    # The initial listing (at start, and after every 410 Gone) a page at a time, as our relist does: one
    # response with 5,000 Deployments is tens of MB held at once.
    settings.watching.chunk_size = LIST_PAGE
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60
    # kopf runs one asyncio worker per object with pending watch events; ours only queue a key, so a
    # bound keeps thousands of objects from being thousands of tasks. A worker keeps its slot until no
    # event has come for `idle_timeout` (kopf's default 5 s): with 64 slots that passed only ~13
    # objects' events a second, and a storm of 1,000 models (4,000 objects, several events each) waited
    # on kopf, not on the API server. Our handlers return at once, so a worker may leave at once.
    settings.queueing.worker_limit = KOPF_WORKER_LIMIT
    settings.queueing.idle_timeout = KOPF_IDLE_TIMEOUT


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Create the clients, the work queue and the controllers, and keep them in kopf's `memo`.

    What runs: the work queue (every kind's reconcile), the resync loop, and the predictive
    autoscaler's forecast cycle. The ModelDeployment reconcile reads the forecast's floors through
    `ctx.floors` and the governing SLA through `ctx.sla_views`.
    """
    configure_settings(settings)
    kube = KubeClient.from_environment(OPTIONS.kubeconfig, on_request=metrics.count_request)
    kube.send_events_async()  # a reconcile does not wait for its Events' POSTs (k8s/client.py)

    def reconcile(key: Key) -> float | None:
        kind, namespace, name = key
        if kind == MD:
            return reconcile_model_deployment(ctx, namespace, name)
        handler = RECONCILERS.get(kind)
        return reconcile_reporting_errors(ctx, kind, namespace, name, handler) if handler else None

    # After a burst (a storm of creations, a restart) the freed heap goes back to the system (memory.py).
    queue = WorkQueue(reconcile, workers=OPTIONS.workers, on_drained=memory.trim)
    predictive = PredictiveController(kube, queue, prometheus_url=OPTIONS.prometheus_url)
    runtimes = RuntimeCatalogueSource.from_environment(kube)
    try:
        runtimes.refresh()
    except Exception as exc:  # the built-in catalogue applies until the ConfigMap can be read
        log.warning("runtime catalogue ConfigMap not read: %s", exc)
    # The objects our watches see, kept for the reconciles to read (reconcile/informer.py).
    cache = ObjectCache(CACHED_KINDS, kube.list_pages)
    ctx = Context(
        kube=kube,
        prometheus_url=OPTIONS.prometheus_url,
        floors=predictive,
        sla_views=SLAViews(kube, runtimes.current, cache),
        runtimes=runtimes,
        cache=cache,
    )
    memo.cache = cache
    queue.start()
    memo.queue = queue
    memo.ctx = ctx
    memo.predictive = predictive
    memo.watches = start_owned_watches(kube, cache, queue)
    relist = ResyncFilter(kube, OPTIONS.namespaces, ctx.planned, cache, ctx.resync_seen)
    memo.resync = asyncio.create_task(_resync(queue, kube, relist))
    memo.runtimes = asyncio.create_task(_follow_runtimes(queue, runtimes))
    memo.forecast = predictive.start()


def start_owned_watches(kube: KubeClient, cache: ObjectCache, queue: WorkQueue) -> list[OwnedWatch]:
    """A list-and-watch thread per owned kind (and pods) per watched scope (reconcile/watch.py). Each
    changed object queues its ModelDeployment; the queue is the event loop's, so the threads hand their
    keys over in batches (LoopHandoff: one wake-up of the loop per batch)."""
    handoff = LoopHandoff(asyncio.get_running_loop().call_soon_threadsafe)

    def owned(namespace: str, labels: Mapping[str, str]) -> None:
        owner = labels.get(c.LABEL_INSTANCE)
        if owner:
            handoff.put(queue.add, (MD, namespace, owner))

    def pod(namespace: str, labels: Mapping[str, str]) -> None:
        handoff.put(pod_changed, queue, namespace, dict(labels))

    scopes, patterns = list_scopes(OPTIONS.namespaces), OPTIONS.namespaces
    watches = [
        OwnedWatch(kube, kind, scope, selector, owned, cache=cache, namespaces=patterns)
        for kind, selector in OWNED_WATCHED.items()
        for scope in scopes
    ]
    for scope in scopes:
        watches.append(OwnedWatch(kube, "Pod", scope, _OWNED_SELECTOR, pod, cache=cache, namespaces=patterns))
    return [w.start() for w in watches]


def listed_keys(
    list_fn: Callable[[str, str | None], Iterable[dict]], kinds: Sequence[str], namespaces: Sequence[str]
) -> set[Key]:
    """Every object of our own `kinds` that exists, as queue keys: one list per kind (and per namespace
    when the operator watches named namespaces; patterns such as "team-*" are matched on a
    cluster-wide list). A kind whose list fails is skipped (logged); the next resync tries again."""
    exact = [n for n in namespaces if not any(ch in n for ch in "*?[")]
    patterns = [n for n in namespaces if n not in exact]
    scopes: list[str | None] = [None] if not namespaces or patterns else list(exact)
    keys: set[Key] = set()
    for kind in kinds:
        for scope in scopes:
            try:
                keys.update(_keys_of(kind, list_fn(kind, scope), scope, namespaces))
            except Exception as exc:  # advisory: the watch streams remain the primary source
                log.warning("resync: listing %s failed: %s", kind, exc)
    return keys


def _keys_of(kind: str, items: Iterable[dict], scope: str | None, namespaces: Sequence[str]) -> set[Key]:
    keys: set[Key] = set()
    for item in items:  # a page at a time: a failure on a later page drops the whole kind's keys
        meta = item.get("metadata") or {}
        ns, name = meta.get("namespace") or scope or "", meta.get("name")
        outside = namespaces and scope is None and not any(fnmatch.fnmatchcase(ns, n) for n in namespaces)
        if not name or outside:
            continue
        keys.add((kind, ns, name))
    return keys


async def _resync(queue: WorkQueue, kube: KubeClient, relist: ResyncFilter) -> None:
    """Level-based safety net, like an informer's relist: now and then reconcile every known key
    again (drift we missed) and every object of our kinds that exists (a creation whose watch event
    never arrived, e.g. while a watch stream was stalled: kopf restarts a silent stream only after
    settings.watching.client_timeout). Of the ModelDeployments, only those whose inputs changed since the
    last resync, or whose plan is not settled, are reconciled (reconcile/resync.py)."""
    # The ModelDeployments are listed by the filter (once, a page at a time), with their digests.
    kinds = tuple(sorted(RECONCILERS))
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(OPTIONS.resync_seconds)
        listed = await loop.run_in_executor(None, listed_keys, kube.list_pages, kinds, OPTIONS.namespaces)
        due = await loop.run_in_executor(None, relist.due, set(queue.known) | listed)
        for key in sorted(due):
            queue.add(key)


async def _follow_runtimes(queue: WorkQueue, runtimes: RuntimeCatalogueSource) -> None:
    """Re-read the runtime catalogue ConfigMap now and then; when it (or the PodMonitor kind's presence)
    changed, reconcile every model (one GET of one ConfigMap: no cluster-wide ConfigMap watch)."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(REFRESH_SECONDS)
        monitors = (runtimes.pod_monitor_supported, runtimes.scaled_object_supported)
        try:
            changed = await loop.run_in_executor(None, runtimes.refresh)
        except Exception as exc:  # keep the catalogue in force; try again
            log.warning("runtime catalogue ConfigMap not read: %s", exc)
            continue
        if changed or monitors != (runtimes.pod_monitor_supported, runtimes.scaled_object_supported):
            log.info("runtime catalogue changed: reconciling every ModelDeployment")
            for key in sorted(queue.known):
                if key[0] == MD:
                    queue.add(key)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    if getattr(memo, "forecast", None):
        memo.forecast.cancel()
    if getattr(memo, "resync", None):
        memo.resync.cancel()
    if getattr(memo, "runtimes", None):
        memo.runtimes.cancel()
    for watch in getattr(memo, "watches", None) or ():
        watch.stop()
    if getattr(memo, "queue", None):
        await memo.queue.stop()
    if getattr(memo, "ctx", None):  # the last Events go out before the process ends
        await asyncio.get_running_loop().run_in_executor(None, memo.ctx.kube.flush, 5.0)


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    """The same credentials as our own client: in-cluster, or the kubeconfig given on the command line."""
    creds = KubeClient.credentials(OPTIONS.kubeconfig)
    token = creds.current_token()
    return kopf.ConnectionInfo(
        server=creds.server,
        ca_path=creds.ca_path,
        insecure=creds.insecure or None,
        username=creds.username,
        password=creds.password,
        scheme="Bearer" if token else None,
        token=token,
        certificate_path=creds.cert_path,
        private_key_path=creds.key_path,
        default_namespace=creds.namespace,
    )


@kopf.on.event(GROUP, VERSION, "modeldeployments")
async def on_model_deployment(
    event: Any, type: str, name: str, namespace: str, body: Any, memo: kopf.Memo, **_: Any
) -> None:
    key = (MD, namespace, name)
    events = memo.ctx.model_events if hasattr(memo, "ctx") else None
    if type == "DELETED":
        if events is not None:
            events.forget((namespace, name))
        memo.queue.forget(key)
        return
    raw = event.get("object") if isinstance(event, dict) else None
    if events is not None and isinstance(raw, dict) and not events.arrived((namespace, name), raw):
        return  # the echo of our own status write, its plan already settled (reconcile/model_events.py)
    # A model without a status yet is a first-time creation: the queue's second lane (queue.py).
    memo.queue.add(key, first_time=(body.get("status") or {}).get("observedGeneration") is None)


def _remember(kind: str, event: Any, memo: kopf.Memo) -> None:
    """Keep the event's object in the read cache (before its owner is queued: the reconcile reads it)."""
    cache = getattr(memo, "cache", None)
    obj = event.get("object") if isinstance(event, dict) else None
    if cache is not None and isinstance(obj, dict):
        cache.observe(kind, event.get("type"), obj)


def _queue_namespace(namespace: str, memo: kopf.Memo) -> None:
    """A RegionPlacement or SLAPolicy changed: look again at the ModelDeployments next to it."""
    if not hasattr(memo, "queue"):
        return
    for key in list(memo.queue.known):
        if key[0] == MD and key[1] == namespace:
            memo.queue.add(key)


@kopf.on.event(GROUP, VERSION, "regionplacements")
async def on_region_placement(namespace: str, memo: kopf.Memo, **_: Any) -> None:
    _queue_namespace(namespace, memo)


@kopf.on.event(GROUP, VERSION, "slapolicies")
async def on_sla_policy(event: Any, namespace: str, memo: kopf.Memo, **_: Any) -> None:
    _remember("SLAPolicy", event, memo)
    _queue_namespace(namespace, memo)
