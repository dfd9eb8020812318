"""Which keys a resync reconciles: like an informer's resync, only what changed since the last one.

Queueing every ModelDeployment at every resync cost each one a reconcile's reads (a GET and a LIST per
owned kind) even when its plan was skipped (planner/inputs.py): with 1,000 idle models, several
thousand requests and 8-10 CPU-seconds a minute. Instead the resync lists our kinds once -- the
ModelDeployments, every owned kind by the managed-by label, the SLAPolicies -- and reconciles a
model only when its digest of those lists (`resync_digests_of_heads`) differs from the previous
resync's, when its last plan was not settled (it waits on the clock, or failed), or when its plan reads
what the lists do not show (placement, pods, a user's route). Every other key (RegionPlacements,
SLAPolicies) is reconciled as before. If a list fails, every key is.

The owned kinds the read cache holds (kept current by the watches, reconcile/watch.py) are read from
it, a few strings per object memoised per version, instead of listed: with 5,000 models, listing
20,000 owned objects every minute was most of the rest's CPU. Every RELIST_EVERY-th resync lists them
from the API server all the same, which also relists the cache (a check on the watches).
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable, Iterator, Mapping

from modelserve.api import constants as c
from modelserve.k8s.client import KubeClient
from modelserve.planner.inputs import OwnedHead, owned_head, resync_digests_of_heads
from modelserve.planner.modeldeployment import OWNED_KINDS
from modelserve.reconcile.informer import ObjectCache
from modelserve.reconcile.queue import Key

log = logging.getLogger(__name__)

MD = "ModelDeployment"
# With the read cache, the owned objects are read from it (the watches keep it current: reconcile/watch.py)
# and listed from the API server only at every RELIST_EVERY-th resync, as a check on the watches.
RELIST_EVERY = 10


def list_scopes(namespaces: Iterable[str]) -> list[str | None]:
    """The namespaces to list in: each named one, or the whole cluster (None) when none is named or a
    pattern such as "team-*" is (its matches are filtered by the caller)."""
    names = list(namespaces)
    if not names or any(ch in n for n in names for ch in "*?["):
        return [None]
    return list(names)


class ResyncFilter:
    """Remembers each model's digest at the last resync; `due(keys)` keeps the keys worth reconciling."""

    def __init__(
        self,
        kube: KubeClient,
        namespaces: Iterable[str],
        planned: Mapping[tuple[str, str], str],
        cache: ObjectCache | None = None,
        seen: Mapping[tuple[str, str], str] | None = None,
    ):
        self.kube = kube
        self.namespaces = list(namespaces)
        self.scopes = list_scopes(self.namespaces)
        self.planned = planned  # the reconcile's settled plans (Context.planned)
        self.last: dict[tuple[str, str], str | None] = {}
        # The read cache: these lists are its relists too (a deletion its watch missed is dropped).
        self.cache = cache
        # The digests the reconciles recorded (Context.resync_seen): a model settled since the last
        # resync on exactly what this one lists needs no reconcile either.
        self.seen: Mapping[tuple[str, str], str] = seen if seen is not None else {}
        self.rounds = 0

    def _list(self, kind: str, label_selector: str | None = None) -> Iterator[dict]:
        """The objects of `kind`, a page at a time: the digests keep a few strings of each, so thousands
        of Deployments are never held at once (the peak memory of a relist stays flat as N grows)."""
        for scope in self.scopes:
            items: Iterator[dict] = self.kube.list_pages(kind, scope, label_selector=label_selector)
            if self.cache is not None and self.cache.covers(kind):
                items = self.cache.relisted(kind, scope, items)
            for item in items:
                item.setdefault("kind", kind)  # a list's items carry no kind
                item.setdefault("metadata", {}).setdefault("namespace", scope)
                yield item

    def _owned(self, relist: bool) -> Iterator[OwnedHead]:
        """Every owned object's head: from the read cache where it holds the kind for the scope (and
        this is not a relist round), else from a list (which relists the cache)."""
        ours = f"{c.LABEL_MANAGED_BY}={c.MANAGED_BY}"
        for kind in OWNED_KINDS:
            cache = self.cache
            if cache is not None and not relist and all(cache.complete(kind, s) for s in self.scopes):
                for scope in self.scopes:
                    yield from cache.heads(kind, scope, owned_head)
                continue
            for obj in self._list(kind, ours):
                yield owned_head(kind, obj)

    def watched(self, namespace: str) -> bool:
        """Whether the operator watches `namespace` (a cluster-wide list also shows the others)."""
        return not self.namespaces or any(fnmatch.fnmatchcase(namespace, n) for n in self.namespaces)

    def due(self, keys: Iterable[Key]) -> set[Key]:
        """Of `keys` and of the ModelDeployments that exist (listed here, once, a page at a time: a
        creation whose watch event never arrived is found), those worth reconciling."""
        keys = set(keys)
        self.rounds += 1
        try:
            # The models are listed last, a page at a time; owned objects stream.
            owned = self._owned(relist=self.rounds % RELIST_EVERY == 1)
            policies = list(self._list("SLAPolicy"))
            models = (m for m in self._list(MD) if self.watched(m["metadata"].get("namespace") or ""))
            digests = resync_digests_of_heads(models, owned, policies)
        except Exception as exc:  # the relist is an optimisation: without it, reconcile everything
            log.warning("resync: listing failed, reconciling every key: %s", exc)
            self.last = {}
            return keys
        keys.update((MD, ns, name) for ns, name in digests if name)
        due = {k for k in keys if k[0] != MD or not unchanged(k, digests, self.last, self.planned, self.seen)}
        self.last = digests
        return due


def unchanged(
    key: Key,
    digests: Mapping[tuple[str, str], str | None],
    last: Mapping[tuple[str, str], str | None],
    planned: Mapping[tuple[str, str], str],
    seen: Mapping[tuple[str, str], str] | None = None,
) -> bool:
    """Whether a ModelDeployment needs no reconcile at this resync: its last plan is settled and its
    digest is known, not None, and what the previous resync saw or what its last settled reconcile
    that wrote nothing saw (`seen`)."""
    model = (key[1], key[2])
    digest = digests.get(model)
    return (
        model in planned
        and digest is not None
        and (last.get(model) == digest or (seen or {}).get(model) == digest)
    )
