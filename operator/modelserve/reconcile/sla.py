"""The SLAPolicy controller: an imperative shell around the pure SLO core (modelserve.slo).

One level-based reconcile of an SLAPolicy (``reconcile_sla_policy``):

1. parse the spec (a SpecError becomes ``Ready=False/InvalidSpec`` and one Warning Event);
2. find the ModelDeployments it governs (``slaPolicyRef`` wins, then selectors; ambiguities reported);
3. keep an owned ``PrometheusRule`` (server-side apply, owner reference to the policy, written only when
   it differs from the live one; deleted when no model is governed) — or ``RulesReady=False`` with
   ``PrometheusRuleCRDMissing`` when the prometheus-operator CRD is not installed;
4. query Prometheus for each governed model and compute its status; when Prometheus is not
   configured or does not answer, ``MetricsAvailable=False`` and the last numbers stay;
5. write the status only when it changed, post Events on transitions, export gauges;
6. come back after ``MODELSERVE_SLA_INTERVAL_SECONDS`` (30 s), because the numbers live in Prometheus.

:class:`SLAViews` is what the ModelDeployment reconcile asks (through ``Context.sla_views``): which
policy governs a model, whether a new rollout must wait (freeze), the objectives as canary gates and
the model's ``status.sla``.

The decisions are pure, in modelserve.slo: governance (slo/governance.py), the desired rule
(slo/rules.py), status, conditions and Events (slo/policy_status.py), the model view (slo/view.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from modelserve import GROUP, VERSION
from modelserve.api.conditions import parse_time
from modelserve.api.events import EventSpec
from modelserve.k8s.apply import stamp_intent, status_patch
from modelserve.k8s.client import KubeClient, NotFound
from modelserve.k8s.compare import is_subset
from modelserve.metrics_source import MetricsUnavailable, PrometheusQuery, UnexpectedResult
from modelserve.observability import metrics
from modelserve.reconcile.informer import ObjectCache
from modelserve.runtimes import Catalogue, RuntimeEntry, builtin_catalogue
from modelserve.slo import (
    ModelSLAStatus,
    SLAPolicySpec,
    SpecError,
    compute_model_status,
    measurements_from_results,
    parse_sla_policy,
    queries_for_status,
    render_prometheus_rule,
    window_elapsed_seconds,
)
from modelserve.slo.governance import governance_for
from modelserve.slo.model import KIND
from modelserve.slo.policy_status import (
    REASON_CRD_MISSING,
    REASON_NO_RULES_NEEDED,
    REASON_PROMETHEUS_NOT_CONFIGURED,
    REASON_PROMETHEUS_UNAVAILABLE,
    REASON_QUERIED,
    REASON_RULES_APPLIED,
    REASON_RULES_APPLY_FAILED,
    MetricsOutcome,
    RulesOutcome,
    assemble_status,
    condition_events,
    invalid_spec_status,
    transition_events,
)
from modelserve.slo.rules import desired_prometheus_rule
from modelserve.slo.sources import check_native_slis, native_runtimes
from modelserve.slo.view import SLAView, sla_view_from

log = logging.getLogger(__name__)

PROMETHEUS_RULE = "PrometheusRule"
INTERVAL_ENV = "MODELSERVE_SLA_INTERVAL_SECONDS"
DEFAULT_INTERVAL_SECONDS = 30.0


def sla_interval_seconds() -> float:
    """Seconds between two status computations of a policy (env MODELSERVE_SLA_INTERVAL_SECONDS)."""
    try:
        return max(1.0, float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL_SECONDS)))
    except ValueError:
        return DEFAULT_INTERVAL_SECONDS


def rule_up_to_date(desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> bool:
    """True when every field we set is already live (the API server adds its own; we ignore those)."""
    if live is None:
        return False
    return is_subset({k: v for k, v in desired.items() if k not in ("apiVersion", "kind")}, live)


class SLAViews:
    """The :class:`~modelserve.slo.view.SLAViewSource` of the ModelDeployment reconcile: the SLAPolicies
    of the model's namespace, from the cache of watched objects when there is one (else a list per view)."""

    def __init__(
        self,
        kube: KubeClient,
        catalogue: Callable[[], Catalogue] | None = None,
        cache: ObjectCache | None = None,
    ):
        self.kube = kube
        self.catalogue = catalogue  # the live runtime catalogue (the cluster's ConfigMap); None: built-in
        # The watched SLAPolicies (reconcile/informer.py): one list per namespace, then the watch's events.
        self.cache = cache if cache is not None and cache.covers(KIND) else None

    def view_for(self, md_body: Mapping[str, Any]) -> SLAView | None:
        namespace = (md_body.get("metadata") or {}).get("namespace") or ""
        policies = self.cache.list(KIND, namespace) if self.cache else self.kube.list(KIND, namespace)
        for p in policies:
            p.setdefault("metadata", {}).setdefault("namespace", namespace)
        return sla_view_from(md_body, policies, self.catalogue() if self.catalogue else None)


_QUERY_CLIENTS: dict[str, Any] = {}


def _query_client(url: str) -> Any:
    if url not in _QUERY_CLIENTS:
        _QUERY_CLIENTS[url] = PrometheusQuery(url)
    return _QUERY_CLIENTS[url]


def measure(
    ctx: Any,
    policy_body: Mapping[str, Any],
    spec: SLAPolicySpec,
    models: Mapping[str, Mapping[str, Any]],
    now: datetime,
    *,
    query_client: Any = None,
    runtimes: Mapping[str, RuntimeEntry] | None = None,
) -> MetricsOutcome:
    """Run the status queries of every governed model (`models`: name -> ModelDeployment body; their SLIs
    read the metrics of their `runtimes`, the contract when absent) and compute their statuses. The
    first MetricsUnavailable stops querying: the outcome then says why."""
    if not models:
        return MetricsOutcome(True, REASON_QUERIED, "no model to measure")
    if query_client is None:
        if not ctx.prometheus_url:
            return MetricsOutcome(
                False,
                REASON_PROMETHEUS_NOT_CONFIGURED,
                "the operator runs without --prometheus-url; status cannot be computed",
            )
        query_client = _query_client(ctx.prometheus_url)
    policy_meta = policy_body["metadata"]
    policy_created = parse_time(policy_meta.get("creationTimestamp"))
    statuses: dict[str, ModelSLAStatus] = {}
    problems: list[str] = []
    for model, md in sorted(models.items()):
        created = parse_time((md.get("metadata") or {}).get("creationTimestamp"))
        elapsed = window_elapsed_seconds(spec.window_seconds, now, policy_created, created)
        results: dict[str, float | None] = {}
        for key, promql in queries_for_status(
            spec,
            policy_meta["namespace"],
            model,
            elapsed_seconds=elapsed,
            runtime=(runtimes or {}).get(model),
        ).items():
            try:
                # One evaluation instant for every query: good and total over the same range.
                results[key] = query_client.instant(promql, now)
            except UnexpectedResult as exc:  # a user query of the wrong shape: that objective has no data
                results[key] = None
                problems.append(f"{model} {key}: {exc}")
            except MetricsUnavailable as exc:
                return MetricsOutcome(
                    False,
                    REASON_PROMETHEUS_UNAVAILABLE,
                    f"Prometheus at {ctx.prometheus_url or 'the configured URL'} did not"
                    f" answer: {str(exc)[:400]}; keeping the last status",
                )
        statuses[model] = compute_model_status(
            spec,
            measurements_from_results(spec, results),
            elapsed,
            now,
            model=model,
            policy=policy_meta["name"],
        )
    message = f"measured {len(statuses)} model(s)"
    if problems:
        message += "; unexpected results (treated as no data): " + "; ".join(problems[:3])
    return MetricsOutcome(True, REASON_QUERIED, message, statuses)


def sync_prometheus_rule(
    ctx: Any,
    policy_body: Mapping[str, Any],
    spec: SLAPolicySpec,
    models: Sequence[str],
    runtimes: Mapping[str, RuntimeEntry] | None = None,
) -> RulesOutcome:
    """Apply the owned PrometheusRule when it differs from the live one (delete it when no model is
    governed). Without the prometheus-operator CRD: not ready, reason PrometheusRuleCRDMissing."""
    meta = policy_body["metadata"]
    if not ctx.kube.kind_installed(PROMETHEUS_RULE):
        return RulesOutcome(
            False,
            REASON_CRD_MISSING,
            "the PrometheusRule CRD (monitoring.coreos.com/v1) is not installed; render the"
            " rules with `modelserve render -f` and load them into Prometheus yourself",
        )
    rule = desired_prometheus_rule(policy_body, spec, models, runtimes)
    desired = stamp_intent(rule) if rule is not None else None  # one no-change test for every owned object
    rule_name = render_prometheus_rule(meta["name"], meta["namespace"], spec, [])["metadata"]["name"]
    try:
        live = ctx.kube.get(PROMETHEUS_RULE, meta["namespace"], rule_name)
        if desired is None:
            owned = live is not None and any(
                r.get("uid") == meta.get("uid") for r in (live["metadata"].get("ownerReferences") or [])
            )
            if owned:
                ctx.kube.delete(PROMETHEUS_RULE, meta["namespace"], rule_name)
            return RulesOutcome(
                True, REASON_NO_RULES_NEEDED, "no model governed: no PrometheusRule", wrote=owned
            )
        if rule_up_to_date(desired, live):
            return RulesOutcome(True, REASON_RULES_APPLIED, f"PrometheusRule {rule_name} is up to date")
        ctx.kube.apply(desired)
    except Exception as exc:  # reported in status; the status computation goes on
        log.warning("PrometheusRule %s/%s: %s", meta["namespace"], rule_name, exc)
        return RulesOutcome(
            False, REASON_RULES_APPLY_FAILED, f"applying PrometheusRule {rule_name} failed: {str(exc)[:300]}"
        )
    return RulesOutcome(True, REASON_RULES_APPLIED, f"PrometheusRule {rule_name} is up to date", wrote=True)


# Gauge label sets exported per policy, so the series of models that left a policy are removed.
_EXPORTED: dict[tuple[str, str], set[tuple[str, str, str, str]]] = {}


def export_metrics(namespace: str, policy: str, outcome: MetricsOutcome, governed: Sequence[str]) -> None:
    """Set modelserve_slo_attainment_percent / _error_budget_remaining_percent per model and objective.
    Without fresh numbers the last values stay (as in the status); ungoverned models' series go."""
    exported = _EXPORTED.setdefault((namespace, policy), set())
    current: set[tuple[str, str, str, str]] = set()
    if outcome.available:
        for model, status in outcome.statuses.items():
            for o in status.objectives:
                labels = (namespace, model, policy, o.objective)
                current.add(labels)
                metrics.SLO_BUDGET.labels(*labels).set(o.budget_remaining_percent)
                if o.attainment_percent is not None:
                    metrics.SLO_ATTAINMENT.labels(*labels).set(o.attainment_percent)
                else:
                    _remove(metrics.SLO_ATTAINMENT, labels)
    else:
        current = {labels for labels in exported if labels[1] in governed}
    for labels in exported - current:
        _remove(metrics.SLO_ATTAINMENT, labels)
        _remove(metrics.SLO_BUDGET, labels)
    _EXPORTED[(namespace, policy)] = current


def forget_policy_metrics(namespace: str, policy: str) -> None:
    """Remove every gauge series of a deleted policy."""
    for labels in _EXPORTED.pop((namespace, policy), set()):
        _remove(metrics.SLO_ATTAINMENT, labels)
        _remove(metrics.SLO_BUDGET, labels)


def _remove(gauge: Any, labels: tuple[str, ...]) -> None:
    with contextlib.suppress(KeyError):
        gauge.remove(*labels)


def _post(ctx: Any, body: Mapping[str, Any], events: Sequence[EventSpec]) -> None:
    for ev in events:
        ctx.kube.post_event(body, ev.type, ev.reason, ev.message)


def _report_invalid(
    ctx: Any,
    body: Mapping[str, Any],
    generation: Any,
    old_status: Mapping[str, Any],
    error: SpecError,
    now: datetime,
) -> None:
    """Ready=False/InvalidSpec naming the field, and its Event; the spec's next change queues it again."""
    new_status = invalid_spec_status(generation, dict(old_status), error, now)
    patch = status_patch(dict(old_status), new_status)
    if patch:
        ctx.kube.patch_status(KIND, body["metadata"]["namespace"], body["metadata"]["name"], patch)
    _post(ctx, body, condition_events(dict(old_status), new_status))
    metrics.RECONCILES.labels(KIND, "invalid").inc()


def reconcile_sla_policy(ctx: Any, namespace: str, name: str) -> float | None:
    """One level-based reconcile of an SLAPolicy (see the module docstring). Returns seconds until the
    next one (the status comes from Prometheus, so it is recomputed periodically), None when gone or
    invalid (a spec change queues it again)."""
    started = time.monotonic()
    try:
        body = ctx.kube.get(KIND, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            forget_policy_metrics(namespace, name)
            return None  # the owner reference lets the garbage collector remove the PrometheusRule
        body.setdefault("apiVersion", f"{GROUP}/{VERSION}")
        body.setdefault("kind", KIND)
        body["metadata"].setdefault("namespace", namespace)
        now = ctx.clock()
        generation = body["metadata"].get("generation")
        old_status = dict(body.get("status") or {})
        try:
            spec = parse_sla_policy(body)
        except SpecError as exc:
            _report_invalid(ctx, body, generation, old_status, exc, now)
            return None

        model_bodies = ctx.kube.list("ModelDeployment", namespace)
        policy_bodies = ctx.kube.list(KIND, namespace)
        for b in (*model_bodies, *policy_bodies):
            b.setdefault("metadata", {}).setdefault("namespace", namespace)
        governance = governance_for(namespace, name, model_bodies, policy_bodies)
        by_name = {b["metadata"]["name"]: b for b in model_bodies}
        governed = {m: by_name[m] for m in governance.models}
        # Each model's SLIs read its runtime's own metrics; an objective one of them cannot measure (a
        # latency threshold off its histogram's buckets) makes the policy invalid, naming the field.
        catalogue = ctx.runtimes.current() if getattr(ctx, "runtimes", None) else builtin_catalogue()
        runtimes = native_runtimes(catalogue, governed.values())
        try:
            check_native_slis(spec, runtimes)
        except SpecError as exc:
            _report_invalid(ctx, body, generation, old_status, exc, now)
            return sla_interval_seconds()  # the governed models may change runtime: look again
        rules = sync_prometheus_rule(ctx, body, spec, governance.models, runtimes)
        outcome = measure(ctx, body, spec, governed, now, runtimes=runtimes)

        new_status = assemble_status(generation, old_status, governance, rules, outcome, now)
        patch = status_patch(old_status, new_status)
        if patch:
            ctx.kube.patch_status(KIND, namespace, name, patch)
        _post(
            ctx,
            body,
            condition_events(old_status, new_status) + transition_events(name, spec, old_status, new_status),
        )
        export_metrics(namespace, name, outcome, governance.models)
        metrics.RECONCILES.labels(KIND, "ok").inc()
        return sla_interval_seconds()
    except NotFound:
        return None  # deleted while we worked (e.g. its namespace is going away): nothing left to do
    except Exception:
        metrics.RECONCILES.labels(KIND, "error").inc()
        metrics.RECONCILE_ERRORS.labels(KIND).inc()
        raise
    finally:
        metrics.RECONCILE_DURATION.labels(KIND).observe(time.monotonic() - started)
