"""kopf wiring of the SLAPolicy controller: watches that queue ("SLAPolicy", namespace, name).

* an SLAPolicy's spec changed (a new generation), appeared or went away;
* a ModelDeployment appeared, went away, or changed what selection looks at (labels,
  spec.slaPolicyRef): every policy of its namespace is queued, so a newly labelled model is picked up;
* an owned PrometheusRule changed or was deleted by hand: its owning policy is queued (drift repair).

Status-only updates are ignored on purpose: the policy's own status write (and the ModelDeployment
status it feeds) must not queue the policy again, or live traffic would make a tight reconcile loop.
The periodic recomputation comes from the reconcile's requeue interval instead.
"""

from __future__ import annotations

from typing import Any

import kopf

from modelserve import GROUP, VERSION
from modelserve.api import constants as c
from modelserve.reconcile import sla  # noqa: F401  (registers the SLAPolicy reconciler)
from modelserve.reconcile.sla import KIND, forget_policy_metrics

MONITORING_GROUP = "monitoring.coreos.com"
OWNED = {c.LABEL_MANAGED_BY: c.MANAGED_BY}
SLA_POLICY_LABEL = "modelserve.io/sla-policy"


def _seen(memo: Any, table: str) -> dict:
    """A per-operator dict in memo (kopf's Memo is a plain attribute bag)."""
    if not hasattr(memo, table):
        setattr(memo, table, {})
    return getattr(memo, table)


@kopf.on.event(GROUP, VERSION, "slapolicies")
async def queue_sla_policy(
    type: str, body: Any, name: str, namespace: str | None, memo: Any, **_: Any
) -> None:
    if not hasattr(memo, "queue") or not namespace:
        return
    key = (KIND, namespace, name)
    generations = _seen(memo, "sla_generations")
    policies = _seen(memo, "sla_policies_by_namespace")
    if type == "DELETED":
        memo.queue.forget(key)
        generations.pop(key, None)
        policies.get(namespace, set()).discard(key)
        forget_policy_metrics(namespace, name)
        return
    policies.setdefault(namespace, set()).add(key)
    meta = body.get("metadata", {})
    signature = (meta.get("uid"), meta.get("generation"), bool(meta.get("deletionTimestamp")))
    if generations.get(key) == signature and key in memo.queue.known:
        return  # a status write (ours): nothing the reconcile has not seen
    generations[key] = signature
    memo.queue.add(key)


def queue_policies_of_namespace(namespace: str, memo: Any) -> None:
    """Queue the SLAPolicies of `namespace` (kept by their watch: not a scan of every queued key, which
    cost O(models) for each new model of a storm)."""
    for key in sorted(_seen(memo, "sla_policies_by_namespace").get(namespace, ())):
        if key in memo.queue.known:
            memo.queue.add(key)


@kopf.on.event(GROUP, VERSION, "modeldeployments")
async def queue_policies_for_model(
    type: str, body: Any, name: str, namespace: str | None, memo: Any, **_: Any
) -> None:
    if not hasattr(memo, "queue") or not namespace:
        return
    models = _seen(memo, "sla_model_signatures")
    key = (namespace, name)
    if type == "DELETED":
        models.pop(key, None)
        queue_policies_of_namespace(namespace, memo)
        return
    meta = body.get("metadata", {})
    spec = body.get("spec") or {}
    signature = (
        meta.get("uid"),
        tuple(sorted((meta.get("labels") or {}).items())),
        (spec.get("slaPolicyRef") or {}).get("name"),
        bool(meta.get("deletionTimestamp")),
    )
    if models.get(key) == signature:
        return  # status or unrelated spec change: selection is unaffected
    models[key] = signature
    queue_policies_of_namespace(namespace, memo)


# No kopf watch on PrometheusRules: their CRD is optional and may be removed at any time, and kopf treats
# the 404 of a watch whose CRD has gone as fatal (the whole operator stopped: seen in the e2e suite when
# a test removed the CRD). Drift in a rule we own (edited or deleted by hand) is repaired by the
# SLAPolicy's reconcile at the next resync (`--resync-seconds`), which re-applies the rule.
