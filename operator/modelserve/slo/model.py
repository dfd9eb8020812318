"""Typed SLAPolicy spec, parsed once from the resource body with the defaults of api.md applied.

`parse_sla_policy` accepts either a whole SLAPolicy object (``{"apiVersion":…, "spec": {…}}``) or the
spec mapping itself, and raises :class:`SpecError` naming the field path for input the CRD schema
cannot reject on its own (or that slipped past it because the CRD was not installed yet).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelserve.api.cel import GO_SPACE
from modelserve.api.durations import parse_duration
from modelserve.api.errors import SpecError

KIND = "SLAPolicy"

# Objective types (api.md: spec.objectives[].type).
AVAILABILITY = "availability"
LATENCY = "latency"
QUALITY = "quality"
CUSTOM = "custom"
OBJECTIVE_TYPES = (AVAILABILITY, LATENCY, QUALITY, CUSTOM)

# Alert severities (spec.alerting.burnRates[].severity).
PAGE = "page"
TICKET = "ticket"
SEVERITIES = (PAGE, TICKET)

# spec.errorBudgetPolicy
FREEZE_ROLLOUTS = "freezeRollouts"
WARN = "warn"
ERROR_BUDGET_POLICIES = (FREEZE_ROLLOUTS, WARN)

SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")

DEFAULT_WINDOW = "30d"
# A quality objective's target is the percent of evaluation intervals in which the gauge met its
# bound; api.md makes `target` optional for quality, so this default applies when it is absent.
DEFAULT_QUALITY_TARGET_PERCENT = 99.0

_DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


# --------------------------------------------------------------------------------------------- durations
def format_duration(seconds: float) -> str:
    """Canonical Prometheus duration for `seconds` (``300 -> "5m"``, ``5400 -> "1h30m"``,
    ``2592000 -> "30d"``). Weeks are not used so that 30d stays ``30d`` in rule names."""
    millis = round(seconds * 1000)
    if millis <= 0:
        return "0s"
    out = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, millis = divmod(millis, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


# ----------------------------------------------------------------------------------------- dataclasses
@dataclass(frozen=True)
class LabelSelectorRequirement:
    key: str
    operator: str  # In | NotIn | Exists | DoesNotExist
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelSelector:
    """metav1.LabelSelector. An empty selector (``{}``) matches every model of the namespace; an absent
    one (``SLAPolicySpec.selector is None``) matches none, so such a policy only applies via slaPolicyRef."""

    match_labels: Mapping[str, str] = field(default_factory=dict)
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()


@dataclass(frozen=True)
class LatencySpec:
    threshold_milliseconds: float


@dataclass(frozen=True)
class QualitySpec:
    """Bound on a quality gauge. `metric` is a contract gauge name (``model_accuracy`` ->
    ``modelserve_model_accuracy``); `query` (optional) replaces the gauge selector with a PromQL template."""

    metric: str | None = None
    query: str | None = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class CustomSpec:
    good_query: str
    total_query: str


@dataclass(frozen=True)
class Objective:
    name: str
    type: str
    target_percent: float
    latency: LatencySpec | None = None
    quality: QualitySpec | None = None
    custom: CustomSpec | None = None
    count_client_errors_as_bad: bool = False

    @property
    def target_ratio(self) -> float:
        """The target as a fraction (99.9 -> 0.999)."""
        return self.target_percent / 100.0

    @property
    def error_budget_ratio(self) -> float:
        """Allowed bad fraction of events, 1 - target (99.9 -> 0.001), rounded to kill float noise."""
        return round(1.0 - self.target_percent / 100.0, 12)


@dataclass(frozen=True)
class CreditTier:
    below: float  # attainment percent under which this credit applies
    percent: float  # service credit, percent of the bill


@dataclass(frozen=True)
class BurnRateTier:
    severity: str
    factor: float
    long_window: str
    short_window: str

    @property
    def long_window_seconds(self) -> float:
        return parse_duration(self.long_window, positive=True)

    @property
    def short_window_seconds(self) -> float:
        return parse_duration(self.short_window, positive=True)


# SRE workbook, "Alerting on SLOs", table 5-8: 2% of a 30d budget in 1h, 5% in 6h, 10% in 3d.
DEFAULT_BURN_RATE_TIERS: tuple[BurnRateTier, ...] = (
    BurnRateTier(PAGE, 14.4, "1h", "5m"),
    BurnRateTier(PAGE, 6.0, "6h", "30m"),
    BurnRateTier(TICKET, 1.0, "3d", "6h"),
)


@dataclass(frozen=True)
class AlertingSpec:
    burn_rates: tuple[BurnRateTier, ...] = DEFAULT_BURN_RATE_TIERS
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SLAPolicySpec:
    objectives: tuple[Objective, ...]
    window: str = DEFAULT_WINDOW
    selector: LabelSelector | None = None
    credits: tuple[CreditTier, ...] = ()
    alerting: AlertingSpec = field(default_factory=AlertingSpec)
    error_budget_policy: str = WARN

    @property
    def window_seconds(self) -> float:
        return parse_duration(self.window, positive=True)

    @property
    def freezes_rollouts(self) -> bool:
        return self.error_budget_policy == FREEZE_ROLLOUTS

    def objective(self, name: str) -> Objective:
        for objective in self.objectives:
            if objective.name == name:
                return objective
        raise KeyError(name)

    def burn_windows(self) -> tuple[str, ...]:
        """Every distinct window used by the alert tiers (long and short), shortest first, canonical."""
        seconds = {t.long_window_seconds for t in self.alerting.burn_rates}
        seconds |= {t.short_window_seconds for t in self.alerting.burn_rates}
        return tuple(format_duration(s) for s in sorted(seconds))

    def all_windows(self) -> tuple[str, ...]:
        """Alert-tier windows plus the SLO window, shortest first, without duplicates."""
        seconds = {parse_duration(w, positive=True) for w in self.burn_windows()} | {self.window_seconds}
        return tuple(format_duration(s) for s in sorted(seconds))


# ------------------------------------------------------------------------------------------------ parse
def parse_sla_policy(body_or_spec: Mapping[str, Any]) -> SLAPolicySpec:
    """Parse an SLAPolicy object or its spec into an :class:`SLAPolicySpec` with defaults applied.

    Raises :class:`SpecError` (with a ``spec.…`` field path) for semantically bad input: missing
    objectives, targets outside (0, 100), latency objectives without a threshold, credits whose
    ``below`` is not strictly decreasing, malformed durations, unknown enum values, and so on.
    """
    if not isinstance(body_or_spec, Mapping):
        raise SpecError("spec", "must be a mapping")
    spec = body_or_spec
    if "objectives" not in body_or_spec and isinstance(body_or_spec.get("spec"), Mapping):
        spec = body_or_spec["spec"]
    path = "spec"

    # Canonical form, so that 720h and 30d give the same rule names.
    window_seconds = parse_duration(spec.get("window", DEFAULT_WINDOW), f"{path}.window", positive=True)
    window = format_duration(window_seconds)

    selector = parse_label_selector(spec.get("selector"), f"{path}.selector")
    objectives = _parse_objectives(spec.get("objectives"), f"{path}.objectives")
    credits = _parse_credits(spec.get("credits"), f"{path}.credits")
    alerting = _parse_alerting(spec.get("alerting"), f"{path}.alerting")

    policy = spec.get("errorBudgetPolicy", WARN)
    if policy not in ERROR_BUDGET_POLICIES:
        raise SpecError(f"{path}.errorBudgetPolicy", f"must be one of {', '.join(ERROR_BUDGET_POLICIES)}")

    return SLAPolicySpec(
        objectives=objectives,
        window=window,
        selector=selector,
        credits=credits,
        alerting=alerting,
        error_budget_policy=policy,
    )


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(path, "must be an object")
    return value


def _list(value: Any, path: str) -> Sequence[Any]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise SpecError(path, "must be a list")
    return value


def _number(value: Any, path: str) -> float:
    # bool is an int subclass; `true` is never a sensible number here.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(path, f"must be a number, got {value!r}")
    return float(value)


def _string_map(value: Any, path: str) -> dict[str, str]:
    result = {}
    for key, item in _mapping(value, path).items():
        if not isinstance(item, str):
            raise SpecError(f"{path}.{key}", "must be a string")
        result[str(key)] = item
    return result


def parse_label_selector(raw: Any, path: str) -> LabelSelector | None:
    if raw is None:
        return None
    raw = _mapping(raw, path)
    match_labels = _string_map(raw.get("matchLabels"), f"{path}.matchLabels")
    expressions = []
    for i, item in enumerate(_list(raw.get("matchExpressions"), f"{path}.matchExpressions")):
        item_path = f"{path}.matchExpressions[{i}]"
        item = _mapping(item, item_path)
        key, operator = item.get("key"), item.get("operator")
        if not isinstance(key, str) or not key:
            raise SpecError(f"{item_path}.key", "is required")
        if operator not in SELECTOR_OPERATORS:
            raise SpecError(f"{item_path}.operator", f"must be one of {', '.join(SELECTOR_OPERATORS)}")
        values = tuple(str(v) for v in _list(item.get("values"), f"{item_path}.values"))
        # Same rule as metav1.LabelSelectorRequirement validation.
        if operator in ("In", "NotIn") and not values:
            raise SpecError(f"{item_path}.values", f"must be non-empty for operator {operator}")
        if operator in ("Exists", "DoesNotExist") and values:
            raise SpecError(f"{item_path}.values", f"must be empty for operator {operator}")
        expressions.append(LabelSelectorRequirement(key, operator, values))
    return LabelSelector(match_labels, tuple(expressions))


def _parse_objectives(raw: Any, path: str) -> tuple[Objective, ...]:
    items = _list(raw, path)
    if not items:
        raise SpecError(path, "at least one objective is required")
    if len(items) > 16:
        raise SpecError(path, "at most 16 objectives are allowed")
    objectives: list[Objective] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        objective = _parse_objective(_mapping(item, f"{path}[{i}]"), f"{path}[{i}]")
        if objective.name in seen:
            raise SpecError(f"{path}[{i}].name", f"duplicate objective name {objective.name!r}")
        seen.add(objective.name)
        objectives.append(objective)
    return tuple(objectives)


def _parse_objective(raw: Mapping[str, Any], path: str) -> Objective:
    name = raw.get("name")
    if not isinstance(name, str) or not _DNS_LABEL_RE.match(name) or len(name) > 63:
        raise SpecError(f"{path}.name", f"must be a DNS-1123 label, got {name!r}")
    kind = raw.get("type")
    if kind not in OBJECTIVE_TYPES:
        raise SpecError(f"{path}.type", f"must be one of {', '.join(OBJECTIVE_TYPES)}")

    if "target" in raw and raw["target"] is not None:
        target = _number(raw["target"], f"{path}.target")
    elif kind == QUALITY:
        target = DEFAULT_QUALITY_TARGET_PERCENT
    else:
        raise SpecError(f"{path}.target", f"is required for {kind} objectives (percent, e.g. 99.9)")
    if not 0 < target < 100:
        raise SpecError(f"{path}.target", f"must be a percent strictly between 0 and 100, got {target:g}")

    latency = quality = custom = None
    if kind == LATENCY:
        lat = _mapping(raw.get("latency"), f"{path}.latency")
        if lat.get("thresholdMilliseconds") is None:
            raise SpecError(f"{path}.latency.thresholdMilliseconds", "is required for latency objectives")
        threshold = _number(lat["thresholdMilliseconds"], f"{path}.latency.thresholdMilliseconds")
        if threshold <= 0:
            raise SpecError(f"{path}.latency.thresholdMilliseconds", "must be greater than zero")
        latency = LatencySpec(threshold)
    elif kind == QUALITY:
        quality = _parse_quality(raw.get("quality"), f"{path}.quality")
    elif kind == CUSTOM:
        cus = _mapping(raw.get("custom"), f"{path}.custom")
        for key in ("goodQuery", "totalQuery"):
            if not isinstance(cus.get(key), str) or not cus[key].strip():
                raise SpecError(f"{path}.custom.{key}", "is required for custom objectives")
        custom = CustomSpec(cus["goodQuery"], cus["totalQuery"])

    client_errors = raw.get("countClientErrorsAsBad", False)
    if not isinstance(client_errors, bool):
        raise SpecError(f"{path}.countClientErrorsAsBad", "must be a boolean")
    return Objective(name, kind, target, latency, quality, custom, client_errors)


def _parse_quality(raw: Any, path: str) -> QualitySpec:
    if raw is None:
        raise SpecError(path, "is required for quality objectives")
    raw = _mapping(raw, path)
    metric, query = raw.get("metric"), raw.get("query")
    if metric is not None and (not isinstance(metric, str) or not _METRIC_NAME_RE.match(metric)):
        raise SpecError(f"{path}.metric", f"must be a Prometheus metric name, got {metric!r}")
    if query is not None and (not isinstance(query, str) or not query.strip(GO_SPACE)):
        raise SpecError(f"{path}.query", "must be a non-empty PromQL string")
    if metric is None and query is None:
        raise SpecError(f"{path}.metric", "one of metric or query is required (e.g. metric: model_accuracy)")
    low = _number(raw["min"], f"{path}.min") if raw.get("min") is not None else None
    high = _number(raw["max"], f"{path}.max") if raw.get("max") is not None else None
    if low is None and high is None:
        raise SpecError(path, "at least one of min or max is required")
    if low is not None and high is not None and low > high:
        raise SpecError(f"{path}.min", f"min ({low:g}) must not exceed max ({high:g})")
    return QualitySpec(metric, query, low, high)


def _parse_credits(raw: Any, path: str) -> tuple[CreditTier, ...]:
    items = _list(raw, path)
    if len(items) > 10:
        raise SpecError(path, "at most 10 credit tiers are allowed")
    tiers: list[CreditTier] = []
    for i, item in enumerate(items):
        item = _mapping(item, f"{path}[{i}]")
        for key in ("below", "percent"):
            if item.get(key) is None:
                raise SpecError(f"{path}[{i}].{key}", "is required")
        below = _number(item["below"], f"{path}[{i}].below")
        percent = _number(item["percent"], f"{path}[{i}].percent")
        if not 0 <= below <= 100:
            raise SpecError(f"{path}[{i}].below", "must be a percent between 0 and 100")
        if not 0 <= percent <= 100:
            raise SpecError(f"{path}[{i}].percent", "must be a percent between 0 and 100")
        if tiers and below >= tiers[-1].below:
            raise SpecError(
                f"{path}[{i}].below", f"must be strictly decreasing (previous is {tiers[-1].below:g})"
            )
        tiers.append(CreditTier(below, percent))
    return tuple(tiers)


def _parse_alerting(raw: Any, path: str) -> AlertingSpec:
    raw = _mapping(raw, path)
    labels = _string_map(raw.get("labels"), f"{path}.labels")
    for key in labels:
        if not _LABEL_NAME_RE.match(key):
            raise SpecError(f"{path}.labels.{key}", "is not a valid Prometheus label name")
    annotations = _string_map(raw.get("annotations"), f"{path}.annotations")
    if raw.get("burnRates") is None:
        return AlertingSpec(DEFAULT_BURN_RATE_TIERS, labels, annotations)
    items = _list(raw.get("burnRates"), f"{path}.burnRates")
    if len(items) > 8:
        raise SpecError(f"{path}.burnRates", "at most 8 burn-rate tiers are allowed")
    tiers = []
    for i, item in enumerate(items):
        p = f"{path}.burnRates[{i}]"
        item = _mapping(item, p)
        severity = item.get("severity")
        if severity not in SEVERITIES:
            raise SpecError(f"{p}.severity", f"must be one of {', '.join(SEVERITIES)}")
        if item.get("factor") is None:
            raise SpecError(f"{p}.factor", "is required")
        factor = _number(item["factor"], f"{p}.factor")
        if factor <= 0:
            raise SpecError(f"{p}.factor", "must be greater than zero")
        long_s = parse_duration(item.get("longWindow"), f"{p}.longWindow", positive=True)
        short_s = parse_duration(item.get("shortWindow"), f"{p}.shortWindow", positive=True)
        # The short window only exists to reset the alert quickly once the burn stops.
        if short_s >= long_s:
            raise SpecError(f"{p}.shortWindow", "must be shorter than longWindow")
        tiers.append(BurnRateTier(severity, factor, format_duration(long_s), format_duration(short_s)))
    return AlertingSpec(tuple(tiers), labels, annotations)
