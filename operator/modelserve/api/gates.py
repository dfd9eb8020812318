"""``spec.rollout.analysis``: the quality gates and the analysis settings, typed, with the API's defaults.

The API's vocabulary for gates lives here too -- the builtin gate names and the placeholders a custom
query may use -- because the parser checks them; the metric contract that turns a gate into PromQL
(``analysis.contract``) and the judge (``analysis.judge``) both read these specs. Metric preset names are
checked where the presets live (``analysis.contract.get_preset``, when the analysis runs).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelserve.api.durations import parse_duration
from modelserve.api.errors import SpecError

ANALYSIS_PATH = "spec.rollout.analysis"
GATES_PATH = f"{ANALYSIS_PATH}.gates"

# --- builtin gates ----------------------------------------------------------------------------------
BUILTIN_ERROR_RATE = "errorRate"
#: Latency builtins and the quantile each reads from the request-duration histogram.
#: Builtin gates on a latency histogram, by the quantile they measure. The LLM ones (time to first
#: token, time per output token) read the runtime's own histograms and get the same treatment.
LATENCY_QUANTILES: dict[str, float] = {
    "latencyP50": 0.50,
    "latencyP90": 0.90,
    "latencyP95": 0.95,
    "latencyP99": 0.99,
    "ttftP95": 0.95,
    "ttftP99": 0.99,
    "tpotP95": 0.95,
    "tpotP99": 0.99,
}
#: Builtins that read a model-quality gauge (analysis.contract.QUALITY_GAUGES names the gauge).
QUALITY_BUILTINS: tuple[str, ...] = ("accuracy", "confidence", "drift")
BUILTINS: frozenset[str] = frozenset({BUILTIN_ERROR_RATE, *LATENCY_QUANTILES, *QUALITY_BUILTINS})

#: What a gate measures: a ratio of counts (errorRate), a histogram (latency percentiles) or a value
#: (quality gauges and custom queries).
KIND_RATE = "rate"
KIND_HISTOGRAM = "histogram"
KIND_VALUE = "value"

ON_ROLLBACK = "rollback"
ON_PAUSE = "pause"
#: Defaults of gates[].confidence and gates[].passConfidence. Promoting a bad model is the worst outcome,
#: so passing needs the strongest evidence. A rollback needs failureLimit (2) failed analyses; only the
#: one that acts (the failureLimit-th) is tested at ``confidence``: the ones before it are warnings that
#: need only lean towards a breach (analysis.judge.WARNING_ALPHA). Strict on the acting look and lenient
#: before it is what separates a 2.5% canary from a 0.9% one against a 1% bound within two minutes at
#: 10 req/s: the first minute's 600 requests cannot, the first two minutes' 1,200 can. A relative bound
#: compares two small counts whose bursts carry from one look to the next, so it is tested at a higher
#: level. All measured in benchmarks/canary_judge.py (docs/benchmarks.md).
DEFAULT_FAIL_CONFIDENCE = 0.9825
DEFAULT_RELATIVE_FAIL_CONFIDENCE = 0.99
DEFAULT_PASS_CONFIDENCE = 0.996
DEFAULT_METRIC_PRESET = "modelserve"

# --- custom query templates ---------------------------------------------------------------------------
PLACEHOLDERS: tuple[str, ...] = ("namespace", "model", "revision", "stableRevision", "interval")
PLACEHOLDER_RE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


class TemplateError(SpecError):
    """A gate's query template is invalid (the field path names the gate)."""


def query_path(gate_name: str) -> str:
    """The field path of a gate's query, ``spec.rollout.analysis.gates[<name>].query``."""
    return f"{GATES_PATH}[{gate_name}].query"


def template_placeholders(template: str) -> list[str]:
    """Names of all ``{{placeholder}}`` occurrences in ``template``, in order."""
    return [m.group(1) for m in PLACEHOLDER_RE.finditer(template)]


def validate_query_template(template: str, gate_name: str) -> None:
    """Raise TemplateError naming the gate if ``template`` uses an unknown placeholder."""
    unknown = sorted({p for p in template_placeholders(template) if p not in PLACEHOLDERS})
    if unknown:
        raise TemplateError(
            query_path(gate_name),
            f"unknown placeholder(s) {', '.join('{{' + u + '}}' for u in unknown)} (known: "
            f"{', '.join('{{' + p + '}}' for p in PLACEHOLDERS)})",
        )


# --- specs --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GateSpec:
    """One quality gate (``spec.rollout.analysis.gates[]``); exactly one of builtin/query."""

    name: str
    builtin: str | None = None
    query: str | None = None
    min: float | None = None
    max: float | None = None
    max_milliseconds: float | None = None
    max_relative_to_stable: float | None = None
    statistical: bool = True
    #: Failing side: the chance that a candidate sitting exactly on its bound gets the Failed analysis
    #: that acts (the failureLimit-th) at some look of a step is <= 1 - confidence; the ones before it
    #: are warnings (analysis.judge.WARNING_ALPHA). None: the default of the bound's kind.
    confidence: float | None = None
    #: Passing side: a candidate sitting exactly on its bound passes with probability <= 1 - this.
    pass_confidence: float = DEFAULT_PASS_CONFIDENCE

    @property
    def kind(self) -> str:
        """``rate`` (errorRate), ``histogram`` (latency percentiles) or ``value`` (gauges, custom query)."""
        if self.builtin == BUILTIN_ERROR_RATE:
            return KIND_RATE
        if self.builtin in LATENCY_QUANTILES:
            return KIND_HISTOGRAM
        return KIND_VALUE

    def fail_confidence(self, relative: bool) -> float:
        """The failing side's confidence for an absolute or a relative bound of this gate."""
        if self.confidence is not None:
            return self.confidence
        return DEFAULT_RELATIVE_FAIL_CONFIDENCE if relative else DEFAULT_FAIL_CONFIDENCE

    def validate(self) -> None:
        """Raise SpecError naming the field path when the gate breaks the API's rules."""
        path = f"{GATES_PATH}[{self.name}]"
        if (self.builtin is None) == (self.query is None):
            raise SpecError(path, "exactly one of builtin or query must be set")
        if self.builtin is not None and self.builtin not in BUILTINS:
            raise SpecError(
                f"{path}.builtin", f"unknown builtin {self.builtin!r} (known: {sorted(BUILTINS)})"
            )
        if self.query is not None:
            validate_query_template(self.query, self.name)
        if all(b is None for b in (self.min, self.max, self.max_milliseconds, self.max_relative_to_stable)):
            raise SpecError(path, "set at least one of min, max, maxMilliseconds, maxRelativeToStable")
        if self.max_milliseconds is not None and self.builtin not in LATENCY_QUANTILES:
            raise SpecError(f"{path}.maxMilliseconds", "only latency builtins (latencyP50..P99) have one")
        if self.max_relative_to_stable is not None and self.max_relative_to_stable <= 0:
            raise SpecError(f"{path}.maxRelativeToStable", "must be > 0")
        if self.confidence is not None and not 0.5 <= self.confidence <= 0.9999:
            raise SpecError(f"{path}.confidence", "must be within 0.5..0.9999")
        if not 0.5 <= self.pass_confidence <= 0.9999:
            raise SpecError(f"{path}.passConfidence", "must be within 0.5..0.9999")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> GateSpec:
        """Build from the CRD's camelCase dict and validate."""

        def num(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        gate = cls(
            name=str(data.get("name", "")),
            builtin=data.get("builtin"),
            query=data.get("query"),
            min=num("min"),
            max=num("max"),
            max_milliseconds=num("maxMilliseconds"),
            max_relative_to_stable=num("maxRelativeToStable"),
            statistical=bool(data.get("statistical", True)),
            confidence=None if data.get("confidence") is None else float(data["confidence"]),
            pass_confidence=float(data.get("passConfidence", DEFAULT_PASS_CONFIDENCE)),
        )
        gate.validate()
        return gate


@dataclass(frozen=True)
class AnalysisSpec:
    """``spec.rollout.analysis`` with the API's defaults; durations in seconds."""

    interval_seconds: float = 60.0
    failure_limit: int = 2
    inconclusive_limit: int = 5
    consecutive_error_limit: int = 4
    min_sample_size: int = 100
    on_failure: str = ON_ROLLBACK
    on_inconclusive: str = ON_PAUSE
    on_error: str = ON_PAUSE
    #: ``maxDuration``: how long a step whose evidence is still inconclusive may run, extended by its own
    #: duration at a time, before onInconclusive applies (None: three times the step, judge.py).
    max_duration_seconds: float | None = None
    metric_preset: str = DEFAULT_METRIC_PRESET
    #: ``provider.address``: this rollout's own Prometheus (None: the operator's --prometheus-url).
    provider_address: str | None = None
    gates: tuple[GateSpec, ...] = ()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> AnalysisSpec:
        """Build from the CRD's camelCase dict (``spec.rollout.analysis``), applying defaults.

        Raises SpecError naming the field."""
        data = data or {}
        path = ANALYSIS_PATH
        for key in ("onFailure", "onInconclusive", "onError"):
            if key in data and data[key] not in (ON_ROLLBACK, ON_PAUSE):
                raise SpecError(
                    f"{path}.{key}", f"must be one of {(ON_ROLLBACK, ON_PAUSE)}, got {data[key]!r}"
                )
        gates = tuple(GateSpec.from_mapping(g) for g in data.get("gates") or ())
        names = [g.name for g in gates]
        if len(set(names)) != len(names):
            raise SpecError(f"{path}.gates", f"gate names must be unique, got {names}")
        provider = data.get("provider") or {}
        return cls(
            interval_seconds=parse_duration(data.get("interval", "1m"), f"{path}.interval"),
            failure_limit=int(data.get("failureLimit", 2)),
            inconclusive_limit=int(data.get("inconclusiveLimit", 5)),
            consecutive_error_limit=int(data.get("consecutiveErrorLimit", 4)),
            min_sample_size=int(data.get("minSampleSize", 100)),
            on_failure=data.get("onFailure", ON_ROLLBACK),
            on_inconclusive=data.get("onInconclusive", ON_PAUSE),
            on_error=data.get("onError", ON_PAUSE),
            max_duration_seconds=(
                None
                if data.get("maxDuration") is None
                else parse_duration(data["maxDuration"], f"{path}.maxDuration")
            ),
            metric_preset=str(data.get("metricPreset") or DEFAULT_METRIC_PRESET),
            provider_address=provider.get("address") or None,
            gates=gates,
        )
