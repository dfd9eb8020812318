"""Prometheus recording and alerting rules for an SLAPolicy (multiwindow, multi-burn-rate).

`render_rule_groups` returns plain rule-file groups (loadable with ``rule_files`` and checkable with
``promtool``); `render_prometheus_rule` wraps the same groups in a ``monitoring.coreos.com/v1``
PrometheusRule. Every series carries ``{sla_policy, objective, slo_type, namespace, model}``, so one
dashboard query such as ``modelserve:slo_error_budget_remaining:ratio`` lists every model's SLO.
Names and formulas are documented in docs/sla.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import yaml

from modelserve import GROUP, VERSION
from modelserve.api import constants as c
from modelserve.runtimes import RuntimeEntry
from modelserve.slo.math import format_time_remaining
from modelserve.slo.model import (
    AVAILABILITY,
    CUSTOM,
    KIND,
    LATENCY,
    PAGE,
    QUALITY,
    BurnRateTier,
    Objective,
    SLAPolicySpec,
)
from modelserve.slo.queries import (
    DEFAULT_EVALUATION_INTERVAL,
    DEFAULT_LATENCY_BUCKETS_SECONDS,
    custom_event_queries,
    model_selector,
    objective_needs_per_model_rules,
    promql_number,
    quality_good_expr,
    union_error_ratio_expr,
)
from modelserve.slo.sources import models_by_source

# Recording rule names (level:metric:operations, as the Prometheus naming guide suggests).
ERROR_RATIO_RECORD = "modelserve:sli_error_ratio:rate{window}"  # bad/total over the window
QUALITY_GOOD_RECORD = "modelserve:sli_quality_good:bool"  # 1/0 per evaluation of a quality gauge
ATTAINMENT_RECORD = "modelserve:slo_attainment:ratio"  # good/total over the SLO window
TARGET_RECORD = "modelserve:slo_target:ratio"  # the objective's target as a ratio
BUDGET_REMAINING_RECORD = "modelserve:slo_error_budget_remaining:ratio"  # 1 - bad/allowed, may be < 0

PAGE_ALERT = "ModelServeSLOBurnRatePage"
TICKET_ALERT = "ModelServeSLOBurnRateTicket"

PROMETHEUS_RULE_API_VERSION = "monitoring.coreos.com/v1"
_NEEDS_MODELS = "a query using {{model}} is rendered per model and needs the model list"


def error_ratio_record(window: str) -> str:
    """``modelserve:sli_error_ratio:rate5m`` for window ``5m``."""
    return ERROR_RATIO_RECORD.format(window=window)


def alert_name(severity: str) -> str:
    return PAGE_ALERT if severity == PAGE else TICKET_ALERT


def group_names(policy_name: str, namespace: str) -> tuple[str, str]:
    """Names of the recording and alerting groups of one policy (unique per namespace/policy)."""
    base = f"modelserve-slo.{namespace}.{policy_name}"
    return f"{base}.sli", f"{base}.alerts"


def render_rule_groups(
    policy_name: str,
    namespace: str,
    spec: SLAPolicySpec,
    models: Sequence[str] | None = None,
    *,
    latency_buckets: Sequence[float] | None = DEFAULT_LATENCY_BUCKETS_SECONDS,
    evaluation_interval: str = DEFAULT_EVALUATION_INTERVAL,
    runtimes: Mapping[str, RuntimeEntry] | None = None,
) -> list[dict[str, Any]]:
    """Plain Prometheus rule groups for `spec`, for the ModelDeployments named in `models` (None: every
    model of the namespace; an empty list: no groups at all, nothing to watch). `runtimes` (model ->
    catalogue runtime, slo.sources.native_runtimes) makes availability and latency SLIs read each
    model's runtime's own metrics, one term per runtime; models not in it (and every model when
    `models` is None) read the modelserve metric contract.

    The first group records, for every objective and every window (alert-tier windows and the SLO
    window), ``modelserve:sli_error_ratio:rate<window>`` plus SLO-window attainment, target and budget
    remaining. The second holds one multiwindow alert per objective and burn-rate tier: it fires while
    the burn rate over both the long and the short window exceeds the tier's factor.
    `evaluation_interval` is the groups' interval and so the resolution of quality SLIs.
    """
    if models is not None and not models:
        return []
    sli_group, alert_group = group_names(policy_name, namespace)
    recording: list[dict[str, Any]] = []
    alerting: list[dict[str, Any]] = []
    for objective in spec.objectives:
        recording.extend(
            _objective_recording_rules(
                policy_name, namespace, spec, objective, models, latency_buckets, runtimes
            )
        )
        for tier in spec.alerting.burn_rates:
            alerting.append(_burn_rate_alert(policy_name, namespace, spec, objective, tier))
    groups = [{"name": sli_group, "interval": evaluation_interval, "rules": recording}]
    if alerting:
        groups.append({"name": alert_group, "interval": evaluation_interval, "rules": alerting})
    return groups


def render_prometheus_rule(
    policy_name: str,
    namespace: str,
    spec: SLAPolicySpec,
    models: Sequence[str] | None = None,
    *,
    labels: Mapping[str, str] | None = None,
    latency_buckets: Sequence[float] | None = DEFAULT_LATENCY_BUCKETS_SECONDS,
    evaluation_interval: str = DEFAULT_EVALUATION_INTERVAL,
    runtimes: Mapping[str, RuntimeEntry] | None = None,
) -> dict[str, Any]:
    """A ``monitoring.coreos.com/v1`` PrometheusRule named ``modelserve-sla-<policy>`` holding
    :func:`render_rule_groups`. `labels` are added to its metadata (e.g. the ``release`` label a
    Prometheus ruleSelector wants); the caller sets the owner reference."""
    meta_labels = {
        c.LABEL_MANAGED_BY: c.MANAGED_BY,
        c.LABEL_COMPONENT: "sla",
        "modelserve.io/sla-policy": policy_name,
        **(labels or {}),
    }
    return {
        "apiVersion": PROMETHEUS_RULE_API_VERSION,
        "kind": "PrometheusRule",
        "metadata": {"name": f"modelserve-sla-{policy_name}", "namespace": namespace, "labels": meta_labels},
        "spec": {
            "groups": render_rule_groups(
                policy_name,
                namespace,
                spec,
                models,
                latency_buckets=latency_buckets,
                evaluation_interval=evaluation_interval,
                runtimes=runtimes,
            )
        },
    }


def owner_reference(policy_body: Mapping[str, Any]) -> dict[str, Any]:
    """The owner reference that makes an SLAPolicy the controller of its PrometheusRule."""
    meta = policy_body["metadata"]
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def desired_prometheus_rule(
    policy_body: Mapping[str, Any],
    spec: SLAPolicySpec,
    models: Sequence[str],
    runtimes: Mapping[str, RuntimeEntry] | None = None,
) -> dict[str, Any] | None:
    """The PrometheusRule the policy owns for its governed `models` (their SLIs read the metrics of
    their `runtimes`, see render_rule_groups); None when it governs none (no rule then: there is
    nothing to record or alert on)."""
    if not models:
        return None
    meta = policy_body["metadata"]
    rule = render_prometheus_rule(meta["name"], meta["namespace"], spec, list(models), runtimes=runtimes)
    rule["metadata"]["ownerReferences"] = [owner_reference(policy_body)]
    return rule


# ------------------------------------------------------------------------------------ recording
def _series_labels(policy_name: str, objective: Objective) -> dict[str, str]:
    return {"sla_policy": policy_name, "objective": objective.name, "slo_type": objective.type}


def _own_series(policy_name: str, namespace: str, objective: Objective) -> str:
    """Matchers selecting this policy's recorded series for one objective."""
    return f'namespace="{namespace}", sla_policy="{policy_name}", objective="{objective.name}"'


# (expr for a window, extra static labels): one rendering of an objective's error ratio, aggregated or
# for one model.
_Rendering = tuple[Callable[[str], str], dict[str, str]]


def _objective_recording_rules(
    policy_name: str,
    namespace: str,
    spec: SLAPolicySpec,
    objective: Objective,
    models: Sequence[str] | None,
    latency_buckets: Sequence[float] | None,
    runtimes: Mapping[str, RuntimeEntry] | None,
) -> list[dict[str, Any]]:
    """One objective's recording rules: its SLI's inputs (quality), its error ratio over every window,
    then attainment, target and remaining budget over the SLO window."""
    labels = _series_labels(policy_name, objective)
    rules: list[dict[str, Any]] = []
    renderings: list[_Rendering] = []
    if objective.type in (AVAILABILITY, LATENCY):
        terms = _sli_terms(namespace, models, runtimes)
        renderings.append(
            (lambda w: union_error_ratio_expr(objective, terms, w, latency_buckets=latency_buckets), {})
        )
    elif objective.type == QUALITY:
        rules.extend(_quality_good_rules(namespace, objective, models, labels))
        own = _own_series(policy_name, namespace, objective)
        # A time-based SLI: the fraction of evaluations in the window in which the bound held.
        renderings.append((lambda w: f"1 - avg_over_time({QUALITY_GOOD_RECORD}{{{own}}}[{w}])", {}))
    elif objective.type == CUSTOM:
        renderings.extend(_custom_renderings(namespace, objective, models))
    for window in spec.all_windows():
        for expr_for, extra in renderings:
            rules.append(
                {
                    "record": error_ratio_record(window),
                    "expr": expr_for(window),
                    "labels": {**labels, **extra},
                }
            )
    rules.extend(_budget_rules(policy_name, namespace, spec, objective, labels))
    return rules


def _sli_terms(
    namespace: str, models: Sequence[str] | None, runtimes: Mapping[str, RuntimeEntry] | None
) -> list[tuple[RuntimeEntry | None, str]]:
    """(runtime, selector of its models) per runtime among `models`; the contract for all when None."""
    if models is None:
        return [(None, model_selector(namespace))]
    return [
        (runtime, model_selector(namespace, models=group))
        for runtime, group in models_by_source(models, runtimes)
    ]


def _quality_good_rules(
    namespace: str, objective: Objective, models: Sequence[str] | None, labels: dict[str, str]
) -> list[dict[str, Any]]:
    """Whether a quality objective's bound holds now: one series, or one per model when needed."""
    if not objective_needs_per_model_rules(objective):
        good = quality_good_expr(objective, namespace, models=models)
        return [{"record": QUALITY_GOOD_RECORD, "expr": good, "labels": dict(labels)}]
    if models is None:
        raise ValueError(f"objective {objective.name}: {_NEEDS_MODELS}")
    return [
        {
            "record": QUALITY_GOOD_RECORD,
            "expr": quality_good_expr(objective, namespace, model=m, grouping=()),
            "labels": {**labels, "namespace": namespace, "model": m},
        }
        for m in sorted(set(models))
    ]


def _custom_renderings(
    namespace: str, objective: Objective, models: Sequence[str] | None
) -> list[_Rendering]:
    """A custom objective's error ratio: aggregated, or one per model when needed."""
    if not objective_needs_per_model_rules(objective):
        return [(lambda w: _custom_ratio(objective, namespace, None, w, ("namespace", "model")), {})]
    if models is None:
        raise ValueError(f"objective {objective.name}: {_NEEDS_MODELS}")

    def for_model(model: str) -> Callable[[str], str]:
        return lambda w: _custom_ratio(objective, namespace, model, w, ())

    return [(for_model(m), {"namespace": namespace, "model": m}) for m in sorted(set(models))]


def _budget_rules(
    policy_name: str, namespace: str, spec: SLAPolicySpec, objective: Objective, labels: dict[str, str]
) -> list[dict[str, Any]]:
    """Attainment, target and remaining error budget over the SLO window, from the recorded ratio."""
    own = _own_series(policy_name, namespace, objective)
    slo_ratio = f"{error_ratio_record(spec.window)}{{{own}}}"
    budget = promql_number(objective.error_budget_ratio)
    window_labels = {**labels, "slo_window": spec.window}
    # count by (...) is 1 per model even when the ratio is NaN (no traffic), unlike `0 * ratio`.
    target = f"0 * count by (namespace, model) ({slo_ratio}) + {promql_number(objective.target_ratio)}"
    return [
        {"record": ATTAINMENT_RECORD, "expr": f"1 - {slo_ratio}", "labels": dict(window_labels)},
        {"record": TARGET_RECORD, "expr": target, "labels": dict(window_labels)},
        {
            "record": BUDGET_REMAINING_RECORD,
            "expr": f"1 - {slo_ratio} / {budget}",
            "labels": dict(window_labels),
        },
    ]


def _custom_ratio(
    objective: Objective, namespace: str, model: str | None, window: str, grouping: Sequence[str]
) -> str:
    q = custom_event_queries(objective, namespace, model, window, grouping)
    return f"1 - (\n{q.good}\n/\n{q.total}\n)"


# -------------------------------------------------------------------------------------- alerting
def _burn_rate_alert(
    policy_name: str, namespace: str, spec: SLAPolicySpec, objective: Objective, tier: BurnRateTier
) -> dict[str, Any]:
    own = _own_series(policy_name, namespace, objective)
    budget = promql_number(objective.error_budget_ratio)
    factor = promql_number(tier.factor)
    long_ratio = f"{error_ratio_record(tier.long_window)}{{{own}}}"
    short_ratio = f"{error_ratio_record(tier.short_window)}{{{own}}}"
    # Dividing by the budget makes $value the burn rate over the long window.
    expr = f"(\n  {long_ratio} / {budget} > {factor}\nand\n  {short_ratio} / {budget} > {factor}\n)"
    labels = {
        **spec.alerting.labels,
        # Also on the series; repeated so every rule is distinct even before evaluation (promtool lint).
        **_series_labels(policy_name, objective),
        "severity": tier.severity,
        "long_window": tier.long_window,
        "short_window": tier.short_window,
    }
    target = promql_number(objective.target_percent)
    annotations = {
        "summary": (
            f"{{{{ $labels.namespace }}}}/{{{{ $labels.model }}}}: {objective.name} error budget burning"
            f' {{{{ $value | printf "%.1f" }}}}x (SLAPolicy {policy_name})'
        ),
        "description": (
            f"Objective {objective.name} ({objective.type}, target {target}% over {spec.window}) of model"
            f" {{{{ $labels.model }}}} in namespace {{{{ $labels.namespace }}}} is burning its error budget"
            f' {{{{ $value | printf "%.1f" }}}}x faster than sustainable over the last {tier.long_window}'
            f" (and over {tier.short_window}); the threshold is {factor}x, at which the whole"
            f" {spec.window} budget lasts {format_time_remaining(spec.window_seconds / tier.factor)}."
        ),
        **spec.alerting.annotations,
    }
    return {"alert": alert_name(tier.severity), "expr": expr, "labels": labels, "annotations": annotations}


class _RuleFileDumper(yaml.SafeDumper):
    """Writes multi-line PromQL as literal blocks, so rule files stay readable; never uses anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_RuleFileDumper.add_representer(str, _represent_str)


def dump_rule_file(groups: list[dict[str, Any]]) -> str:
    """YAML text of a Prometheus rule file (``groups:``) for ``rule_files`` or ``promtool check rules``."""
    return yaml.dump({"groups": groups}, Dumper=_RuleFileDumper, sort_keys=False, width=4096)
