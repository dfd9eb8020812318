"""The metric contract between model servers and the analysis, presets, and PromQL builders.

Pure: functions here only build strings. Model servers export (``model`` is the ModelDeployment name,
``revision`` the rollout revision of the pods that served the request)::

    modelserve_requests_total{namespace, model, revision, region, code}            counter
    modelserve_request_duration_seconds_bucket{namespace, model, revision, region, le}  histogram
      (+ _sum, _count)
    modelserve_model_accuracy{namespace, model, revision}                           gauge
    modelserve_prediction_confidence{namespace, model, revision}                    gauge (mean)
    modelserve_drift_score{namespace, model, revision}                              gauge

An error is a request whose ``code`` is a 5xx status or ``timeout`` (504 is a 5xx already).
Builtin gates are turned into queries that return COUNTS over a window (``increase``), so the judge can
run exact tests on counts instead of comparing two noisy rates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelserve.runtimes import Histogram, RuntimeEntry, Series, builtin_catalogue

if TYPE_CHECKING:  # pragma: no cover - typing only, avoids an import cycle with judge.py
    from modelserve.analysis.judge import GateSpec

# --- names of the contract ---------------------------------------------------------------------
REQUESTS_TOTAL = "modelserve_requests_total"
REQUEST_DURATION_BUCKET = "modelserve_request_duration_seconds_bucket"
REQUEST_DURATION_SUM = "modelserve_request_duration_seconds_sum"
REQUEST_DURATION_COUNT = "modelserve_request_duration_seconds_count"
MODEL_ACCURACY = "modelserve_model_accuracy"
PREDICTION_CONFIDENCE = "modelserve_prediction_confidence"
DRIFT_SCORE = "modelserve_drift_score"

#: Codes counted as errors by the modelserve preset (regex on the ``code`` label).
ERROR_CODE_REGEX = "5..|timeout"

BUILTIN_ERROR_RATE = "errorRate"
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
#: Which histogram of the preset a latency gate reads (MetricPreset field).
HISTOGRAM_OF_GATE: dict[str, str] = {
    **{g: "latency" for g in LATENCY_QUANTILES if g.startswith("latency")},
    "ttftP95": "ttft",
    "ttftP99": "ttft",
    "tpotP95": "tpot",
    "tpotP99": "tpot",
}
QUALITY_GAUGES: dict[str, str] = {
    "accuracy": MODEL_ACCURACY,
    "confidence": PREDICTION_CONFIDENCE,
    "drift": DRIFT_SCORE,
}
BUILTINS: frozenset[str] = frozenset({BUILTIN_ERROR_RATE, *LATENCY_QUANTILES, *QUALITY_GAUGES})

KIND_RATE = "rate"
KIND_HISTOGRAM = "histogram"
KIND_VALUE = "value"


def gate_kind(gate: GateSpec) -> str:
    """``rate`` (errorRate), ``histogram`` (latency percentiles) or ``value`` (gauges, custom query)."""
    if gate.builtin == BUILTIN_ERROR_RATE:
        return KIND_RATE
    if gate.builtin in LATENCY_QUANTILES:
        return KIND_HISTOGRAM
    return KIND_VALUE


# --- durations -----------------------------------------------------------------------------------
def format_duration(seconds: float) -> str:
    """Seconds -> a PromQL range duration (``90`` -> ``"1m30s"``; at least ``1s``)."""
    total = max(1, round(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def analysis_window_seconds(
    step_started_at: float, now: float, interval_seconds: float, max_window_seconds: float = 3600.0
) -> float:
    """Window an analysis should query: everything since the current traffic weight took effect.

    Cumulative windows let evidence build up at low traffic (1 req/s gives 60 samples per minute,
    600 after ten); the window never drops below one interval and is capped (default 1h) so old data
    cannot dominate for ever.
    """
    elapsed = max(0.0, now - step_started_at)
    return max(float(interval_seconds), min(elapsed, float(max_window_seconds)))


# --- presets --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetricPreset:
    """How to find one revision's traffic in Prometheus.

    ``selector`` is a label-matcher template with ``{namespace}``, ``{model}`` and ``{revision}``
    (Python format fields). ``requests`` / ``errors`` are counter series (summed; their extra matchers
    are added to the selector); ``latency``, ``ttft`` and ``tpot`` histograms (``unit_seconds`` converts
    their ``le`` into seconds); None when the metrics do not export one.
    """

    name: str
    selector: str
    requests: Series
    errors: Series
    latency: Histogram | None = None
    ttft: Histogram | None = None
    tpot: Histogram | None = None

    @property
    def latency_unit_seconds(self) -> float:
        return self.latency.unit_seconds if self.latency else 1.0


#: The selector of every runtime's series: the target labels the scrape gives (runtimes.scrape).
TARGET_SELECTOR = 'namespace="{namespace}",model="{model}",revision="{revision}"'


def preset_for_runtime(entry: RuntimeEntry) -> MetricPreset:
    """The preset of a catalogue runtime: its own metric names, selected by the scrape's target labels
    (the custom runtime's is the modelserve metric contract)."""
    if entry.metrics is None:
        return PRESETS["modelserve"]
    m = entry.metrics
    name = "modelserve" if entry.is_custom else entry.name
    return MetricPreset(name, TARGET_SELECTOR, m.requests, m.errors, m.latency, m.ttft, m.tpot)


def preset_supports(preset: MetricPreset, builtin: str) -> bool:
    """Whether `preset` has the metrics the builtin gate reads (LLM gates need ttft / tpot)."""
    source = HISTOGRAM_OF_GATE.get(builtin)
    return source is None or getattr(preset, source) is not None


_BUILTIN_RUNTIMES = builtin_catalogue().runtimes
PRESETS: dict[str, MetricPreset] = {
    "modelserve": MetricPreset(
        name="modelserve",
        selector=TARGET_SELECTOR,
        requests=Series((REQUESTS_TOTAL,)),
        errors=Series((REQUESTS_TOTAL,), f'code=~"{ERROR_CODE_REGEX}"'),
        latency=Histogram(REQUEST_DURATION_BUCKET.removesuffix("_bucket"), unit_seconds=1.0),
    ),
    # Istio standard metrics: a revision is the Deployment "<model>-<revision>" (destination_workload).
    # Only the server-side (destination) reporter is counted, otherwise requests count twice.
    "istio": MetricPreset(
        name="istio",
        selector='reporter="destination",destination_workload_namespace="{namespace}",'
        'destination_workload="{model}-{revision}"',
        requests=Series(("istio_requests_total",)),
        errors=Series(("istio_requests_total",), 'response_code=~"5.."'),
        latency=Histogram("istio_request_duration_milliseconds", unit_seconds=0.001),
    ),
}
# The built-in runtimes' presets, by runtime name (mlserver, triton, vllm).
PRESETS.update(
    {n: preset_for_runtime(e) for n, e in sorted(_BUILTIN_RUNTIMES.items()) if not e.is_custom and e.metrics}
)


def get_preset(name: str) -> MetricPreset:
    """The preset named ``name``; ValueError naming the field if unknown."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"spec.rollout.analysis.metricPreset: unknown preset {name!r} (known: {', '.join(PRESETS)})"
        ) from None


def series_selector(series: Series | Histogram, sel: str) -> str:
    """``metric{sel,matchers}`` of one counter series or histogram (``_bucket``) of a preset."""
    return series.promql(sel)


@dataclass(frozen=True)
class QueryTarget:
    """Which model and revisions an analysis is about."""

    namespace: str
    model: str
    revision: str
    stable_revision: str | None = None

    def for_revision(self, revision: str) -> QueryTarget:
        return QueryTarget(self.namespace, self.model, revision, self.stable_revision)


def _escape(value: str) -> str:
    # Label values go inside double quotes in PromQL.
    return value.replace("\\", "\\\\").replace('"', '\\"')


def selector(preset: MetricPreset, target: QueryTarget, revision: str) -> str:
    """Label matchers (without braces) selecting ``revision`` of ``target`` under ``preset``."""
    return preset.selector.format(
        namespace=_escape(target.namespace), model=_escape(target.model), revision=_escape(revision)
    )


# --- custom PromQL templates ------------------------------------------------------------------------
PLACEHOLDERS: tuple[str, ...] = ("namespace", "model", "revision", "stableRevision", "interval")
_PLACEHOLDER_RE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


class TemplateError(ValueError):
    """A gate's query template is invalid (message names the gate and the field path)."""


def template_placeholders(template: str) -> list[str]:
    """Names of all ``{{placeholder}}`` occurrences in ``template``, in order."""
    return [m.group(1) for m in _PLACEHOLDER_RE.finditer(template)]


def validate_query_template(template: str, gate_name: str) -> None:
    """Raise TemplateError naming the gate if ``template`` uses an unknown placeholder."""
    unknown = sorted({p for p in template_placeholders(template) if p not in PLACEHOLDERS})
    if unknown:
        raise TemplateError(
            f"spec.rollout.analysis.gates[{gate_name}].query: unknown placeholder(s) "
            f"{', '.join('{{' + u + '}}' for u in unknown)} (known: "
            f"{', '.join('{{' + p + '}}' for p in PLACEHOLDERS)})"
        )


def render_query(template: str, gate_name: str, values: Mapping[str, str]) -> str:
    """Replace ``{{namespace}} {{model}} {{revision}} {{stableRevision}} {{interval}}`` in ``template``.

    Simple textual replacement (no expressions); unknown placeholders raise TemplateError naming the
    gate; a known placeholder without a value (e.g. no stable revision yet) raises as well.
    """
    validate_query_template(template, gate_name)

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = values.get(name)
        if value is None:
            raise TemplateError(
                f"spec.rollout.analysis.gates[{gate_name}].query: no value for {{{{{name}}}}} here"
            )
        return value

    return _PLACEHOLDER_RE.sub(substitute, template)


def template_values(target: QueryTarget, revision: str, window_seconds: float) -> dict[str, str]:
    """Placeholder values for measuring ``revision`` of ``target`` over a window."""
    values = {
        "namespace": target.namespace,
        "model": target.model,
        "revision": revision,
        "interval": format_duration(window_seconds),
    }
    if target.stable_revision:
        values["stableRevision"] = target.stable_revision
    return values


# --- builtin gate queries -----------------------------------------------------------------------------
@dataclass(frozen=True)
class GateQueries:
    """The PromQL a provider runs for one gate and one revision over one window.

    rate:      ``total`` and ``errors`` (scalars: request counts; an empty ``errors`` result means 0), and
               when asked for, the same per interval (``total_per_interval`` / ``errors_per_interval``:
               subqueries returning one count per interval, for the dispersion of the counts).
    histogram: ``buckets`` (one series per ``le``: increase of the cumulative bucket counters).
    value:     ``value`` (one series) and ``total`` (request count backing it, for minSampleSize).
    """

    kind: str
    total: str
    errors: str | None = None
    total_per_interval: str | None = None
    errors_per_interval: str | None = None
    buckets: str | None = None
    value: str | None = None
    latency_unit_seconds: float = 1.0


#: The stable revision's per-interval counts reach back at least this many intervals (before the
#: canary's window if need be): its errors come from the same traffic as the candidate's, and a
#: dispersion estimated on 30 intervals is usable from the first analysis on.
DISPERSION_LOOKBACK_INTERVALS = 30


def gate_queries(
    gate: GateSpec,
    preset: MetricPreset | str,
    target: QueryTarget,
    revision: str,
    window_seconds: float,
    interval_seconds: float | None = None,
) -> GateQueries:
    """PromQL for ``gate`` measuring ``revision`` (candidate or stable) over ``window_seconds``.

    Call it once with ``target.revision`` (candidate) and once with ``target.stable_revision`` (baseline)
    over the same window; the judge compares the two. With ``interval_seconds``, rate gates also get
    per-interval subqueries (over the window; for the stable revision over at least
    DISPERSION_LOOKBACK_INTERVALS intervals). Raises TemplateError / ValueError on bad specs.
    """
    if isinstance(preset, str):
        preset = get_preset(preset)
    window = format_duration(window_seconds)
    sel = selector(preset, target, revision)
    requests = series_selector(preset.requests, sel)
    total = f"sum(increase({requests}[{window}]))"
    kind = gate_kind(gate)
    if gate.query:
        value = render_query(gate.query, gate.name, template_values(target, revision, window_seconds))
        return GateQueries(kind=KIND_VALUE, total=total, value=value)
    if gate.builtin not in BUILTINS:
        raise ValueError(
            f"spec.rollout.analysis.gates[{gate.name}].builtin: unknown builtin {gate.builtin!r}"
        )
    if kind == KIND_RATE:
        errors_sel = series_selector(preset.errors, sel)
        errors = f"sum(increase({errors_sel}[{window}]))"
        if not interval_seconds:
            return GateQueries(kind=KIND_RATE, total=total, errors=errors)
        step = format_duration(interval_seconds)
        lookback_seconds = window_seconds
        if revision == target.stable_revision and revision != target.revision:
            lookback_seconds = max(window_seconds, DISPERSION_LOOKBACK_INTERVALS * interval_seconds)
        lookback = format_duration(lookback_seconds)
        return GateQueries(
            kind=KIND_RATE,
            total=total,
            errors=errors,
            total_per_interval=f"sum(increase({requests}[{step}]))[{lookback}:{step}]",
            errors_per_interval=f"sum(increase({errors_sel}[{step}]))[{lookback}:{step}]",
        )
    if kind == KIND_HISTOGRAM:
        histogram = getattr(preset, HISTOGRAM_OF_GATE[gate.builtin or ""])
        if histogram is None:
            raise ValueError(
                f"spec.rollout.analysis.gates[{gate.name}].builtin: {gate.builtin} needs a runtime that "
                f"exports it; the metric preset {preset.name!r} has none (LLM gates need the vllm runtime)"
            )
        buckets = f"sum by (le) (increase({series_selector(histogram, sel)}[{window}]))"
        return GateQueries(
            kind=KIND_HISTOGRAM,
            total=total,
            buckets=buckets,
            latency_unit_seconds=histogram.unit_seconds,
        )
    # Quality gauges are always read from the modelserve contract: the model server exports them
    # whatever the mesh, so the istio preset only changes traffic metrics.
    gauge = QUALITY_GAUGES[gate.builtin or ""]
    gauge_sel = PRESETS["modelserve"].selector.format(
        namespace=_escape(target.namespace), model=_escape(target.model), revision=_escape(revision)
    )
    value = f"avg(avg_over_time({gauge}{{{gauge_sel}}}[{window}]))"
    return GateQueries(kind=KIND_VALUE, total=total, value=value)
