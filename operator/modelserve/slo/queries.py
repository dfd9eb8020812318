"""PromQL for the SLIs of an SLAPolicy: from each model's runtime's own metrics (the catalogue's metric
mapping, see slo/sources.py), or from the modelserve metric contract for the custom runtime.

Metric contract (shared with the canary judge):
  * ``modelserve_requests_total{namespace, model, revision, region, code}`` — code is the HTTP status or
    ``timeout``; 5xx and timeouts are bad, 4xx are good unless ``countClientErrorsAsBad``.
  * ``modelserve_request_duration_seconds_bucket{namespace, model, revision, region, le}``.
  * gauges ``modelserve_model_accuracy``, ``modelserve_prediction_confidence``, ``modelserve_drift_score``
    ``{namespace, model, revision}``.

Two consumers: :mod:`modelserve.slo.rules` (ratios of ``rate()`` aggregated ``by (namespace, model)``
for many models at once) and the operator's status computation (:func:`queries_for_status`: one model,
``increase()`` counts that :func:`measurements_from_results` turns into :class:`Measurement`).
Counter resets are handled by ``rate()``/``increase()`` themselves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from modelserve.api.durations import parse_duration
from modelserve.runtimes import RuntimeEntry
from modelserve.slo.model import (
    AVAILABILITY,
    CUSTOM,
    LATENCY,
    QUALITY,
    Objective,
    SLAPolicySpec,
    format_duration,
)
from modelserve.slo.sources import native_latency_le, native_runtime

REQUESTS_TOTAL = "modelserve_requests_total"
DURATION_BUCKET = "modelserve_request_duration_seconds_bucket"
GAUGE_PREFIX = "modelserve_"

BAD_CODES_REGEX = "5..|timeout"
BAD_CODES_WITH_CLIENT_ERRORS_REGEX = "[45]..|timeout"

# Buckets the model server is expected to expose (the prometheus_client defaults). Latency thresholds
# that are not one of these use the largest boundary below them; see choose_latency_bucket.
DEFAULT_LATENCY_BUCKETS_SECONDS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)

# Resolution of quality SLIs: one good/bad verdict per evaluation interval.
DEFAULT_EVALUATION_INTERVAL = "1m"

# Window label used in status query keys for the (possibly partial) SLO window.
SLO_WINDOW_KEY = "slo"

_MODEL_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


# ------------------------------------------------------------------------------------------ helpers
@dataclass(frozen=True)
class LatencyBucket:
    """The histogram bucket a latency objective uses: `le_seconds`, whether it equals the threshold,
    and a note for the status when it does not."""

    le_seconds: float
    exact: bool
    note: str = ""


def choose_latency_bucket(
    threshold_milliseconds: float, buckets: Sequence[float] | None = DEFAULT_LATENCY_BUCKETS_SECONDS
) -> LatencyBucket:
    """Pick the bucket for a latency threshold: the boundary equal to it, else the largest ``le`` below
    it (conservative: requests between that boundary and the threshold count as slow). When the
    threshold is below every boundary, the smallest boundary is used and the note says so (optimistic).
    ``buckets=None`` trusts that the threshold is a boundary."""
    threshold = threshold_milliseconds / 1000.0
    if not buckets:
        return LatencyBucket(threshold, True)
    finite = sorted(b for b in buckets if b != float("inf"))
    for boundary in finite:
        if abs(boundary - threshold) <= 1e-9 * max(1.0, threshold):
            return LatencyBucket(boundary, True)
    below = [b for b in finite if b < threshold]
    if below:
        le = below[-1]
        return LatencyBucket(
            le,
            False,
            f"threshold {threshold_milliseconds:g}ms is not a histogram bucket boundary; using"
            f" le={promql_number(le)} (largest boundary below it), so requests between"
            f" {promql_number(le * 1000)}ms and the threshold count as slow",
        )
    le = finite[0]
    return LatencyBucket(
        le,
        False,
        f"threshold {threshold_milliseconds:g}ms is below the smallest histogram bucket; using"
        f" le={promql_number(le)} (smallest boundary), which may overstate latency attainment",
    )


def promql_number(value: float) -> str:
    """Short, stable decimal for PromQL and label values (0.1 -> '0.1', 1.0 -> '1', 14.4 -> '14.4')."""
    return format(round(value, 12), ".12g")


def le_matcher(le_seconds: float) -> str:
    """Matcher for the ``le`` label. Integral boundaries are written "1" by Go clients and "1.0" by
    Python's prometheus_client (and Prometheus 3 normalises to the latter), so both are matched."""
    text = promql_number(le_seconds)
    if le_seconds == int(le_seconds) and "e" not in text:
        return f'le=~"{text}|{text}.0"'
    return f'le="{text}"'


def gauge_metric_name(metric: str) -> str:
    """``model_accuracy`` -> ``modelserve_model_accuracy``; a name already prefixed is kept."""
    return metric if metric.startswith(GAUGE_PREFIX) else GAUGE_PREFIX + metric


def render_template(query: str, namespace: str, model: str | None = None, window: str | None = None) -> str:
    """Substitute ``{{namespace}}``, ``{{model}}`` and ``{{window}}`` (with or without inner spaces)."""
    values = {"namespace": namespace, "model": model, "window": window}
    for key, value in values.items():
        if value is not None:
            query = re.sub(r"\{\{\s*" + key + r"\s*\}\}", value, query)
    return query


def is_model_templated(query: str) -> bool:
    """True when a user query needs rendering once per model (it mentions ``{{model}}``)."""
    return re.search(r"\{\{\s*model\s*\}\}", query) is not None


def objective_needs_per_model_rules(objective: Objective) -> bool:
    """Custom objectives and quality objectives with a user query are rendered per model when their
    templates mention ``{{model}}``; everything else aggregates ``by (namespace, model)``."""
    if objective.type == CUSTOM and objective.custom is not None:
        custom = objective.custom
        return is_model_templated(custom.good_query) or is_model_templated(custom.total_query)
    if objective.type == QUALITY and objective.quality is not None and objective.quality.query:
        return is_model_templated(objective.quality.query)
    return False


def model_selector(
    namespace: str, model: str | None = None, models: Sequence[str] | None = None, revision: str | None = None
) -> str:
    """Label matchers (without braces) for one model, a set of models, or every model of a namespace."""
    parts = [f'namespace="{namespace}"']
    if model is not None:
        parts.append(f'model="{_checked_model(model)}"')
    elif models is not None:
        parts.append(f'model=~"{"|".join(_checked_model(m) for m in sorted(set(models)))}"')
    if revision is not None:
        parts.append(f'revision="{revision}"')
    return ", ".join(parts)


def _checked_model(name: str) -> str:
    # ModelDeployment names are DNS labels, which never need regex or string escaping.
    if not _MODEL_NAME_RE.match(name):
        raise ValueError(f"model name {name!r} is not a DNS-1123 label")
    return name


def bad_codes_regex(objective: Objective) -> str:
    """Regex on ``code`` for bad requests: 5xx and timeouts, plus 4xx with countClientErrorsAsBad."""
    return BAD_CODES_WITH_CLIENT_ERRORS_REGEX if objective.count_client_errors_as_bad else BAD_CODES_REGEX


def _by(grouping: Sequence[str]) -> str:
    return f" by ({', '.join(grouping)})" if grouping else ""


# -------------------------------------------------------------------- good / total event expressions
@dataclass(frozen=True)
class EventQueries:
    """PromQL for the good and total events of an objective over one window (a rate or an increase)."""

    good: str
    total: str


def event_queries(
    objective: Objective,
    selector: str,
    window: str,
    *,
    func: str = "rate",
    grouping: Sequence[str] = ("namespace", "model"),
    latency_buckets: Sequence[float] | None = DEFAULT_LATENCY_BUCKETS_SECONDS,
    runtime: RuntimeEntry | None = None,
) -> EventQueries:
    """Good/total for an availability or latency objective. `func` is ``rate`` (rules: ratios) or
    ``increase`` (status: event counts); `grouping` is the ``sum by`` label list. `runtime`: read its own
    metrics (its mapping); None or the custom runtime: the metric contract."""
    by = _by(grouping)
    native = native_runtime(runtime)
    if native is not None:
        return _native_event_queries(objective, native, selector, window, func, by)
    if objective.type == AVAILABILITY:
        codes = bad_codes_regex(objective)
        total = f"sum{by} ({func}({REQUESTS_TOTAL}{{{selector}}}[{window}]))"
        bad = f'sum{by} ({func}({REQUESTS_TOTAL}{{{selector}, code=~"{codes}"}}[{window}]))'
        # `or 0 * total`: with no bad series at all the difference would otherwise be empty.
        return EventQueries(good=f"{total} - ({bad} or 0 * {total})", total=total)
    if objective.type == LATENCY:
        assert objective.latency is not None
        bucket = choose_latency_bucket(objective.latency.threshold_milliseconds, latency_buckets)
        good = f"sum{by} ({func}({DURATION_BUCKET}{{{selector}, {le_matcher(bucket.le_seconds)}}}[{window}]))"
        total = f'sum{by} ({func}({DURATION_BUCKET}{{{selector}, le="+Inf"}}[{window}]))'
        return EventQueries(good=good, total=total)
    raise ValueError(f"event_queries does not handle {objective.type} objectives")


def _native_event_queries(
    objective: Objective, runtime: RuntimeEntry, selector: str, window: str, func: str, by: str
) -> EventQueries:
    """Good/total from the runtime's own series (its metric mapping), selected by the scrape's target
    labels. The checks of slo/sources.check_native_slis apply (raised here too, naming the field)."""
    mapping = runtime.metrics
    assert mapping is not None
    if objective.type == AVAILABILITY:
        bad, total = _native_bad_and_total(objective, runtime, selector, window, func, by)
        return EventQueries(good=f"{total} - {bad}", total=total)
    if objective.type == LATENCY:
        hist = mapping.latency
        assert hist is not None
        below = hist.promql(f"{selector}, {le_matcher(native_latency_le(objective, runtime))}")
        every = hist.promql(f'{selector}, le="+Inf"')
        return EventQueries(
            good=f"sum{by} ({func}({below}[{window}]))", total=f"sum{by} ({func}({every}[{window}]))"
        )
    raise ValueError(f"event_queries does not handle {objective.type} objectives")


def _native_bad_and_total(
    objective: Objective, runtime: RuntimeEntry, selector: str, window: str, func: str, by: str
) -> tuple[str, str]:
    """Bad (``(bad or 0 * total)``: never empty while there is traffic) and total requests of an
    availability SLI from the runtime's own counters."""
    mapping = runtime.metrics
    assert mapping is not None
    errors = mapping.client_and_server_errors if objective.count_client_errors_as_bad else mapping.errors
    if errors is None:
        raise ValueError(f"runtime {runtime.name} cannot tell client errors apart (countClientErrorsAsBad)")
    total = f"sum{by} ({func}({mapping.requests.promql(selector)}[{window}]))"
    bad = f"sum{by} ({func}({errors.promql(selector)}[{window}]))"
    return f"({bad} or 0 * {total})", total


def error_ratio_expr(
    objective: Objective,
    selector: str,
    window: str,
    *,
    latency_buckets: Sequence[float] | None = DEFAULT_LATENCY_BUCKETS_SECONDS,
    runtime: RuntimeEntry | None = None,
) -> str:
    """Bad/total ratio over `window` for availability or latency, aggregated by (namespace, model), from
    `runtime`'s own metrics (None or custom: the metric contract)."""
    if objective.type == AVAILABILITY:
        bad, total = _bad_and_total(objective, selector, window, runtime)
        return f"{bad}\n/\n{total}"
    q = event_queries(objective, selector, window, latency_buckets=latency_buckets, runtime=runtime)
    return f"1 - (\n{q.good}\n/\n{q.total}\n)"


def _bad_and_total(
    objective: Objective, selector: str, window: str, runtime: RuntimeEntry | None
) -> tuple[str, str]:
    """An availability SLI's bad (never empty while there is traffic) and total request rates."""
    if native_runtime(runtime) is None:
        codes = bad_codes_regex(objective)
        total = f"sum by (namespace, model) (rate({REQUESTS_TOTAL}{{{selector}}}[{window}]))"
        bad = f'sum by (namespace, model) (rate({REQUESTS_TOTAL}{{{selector}, code=~"{codes}"}}[{window}]))'
        return f"({bad} or 0 * {total})", total
    native = native_runtime(runtime)
    assert native is not None
    return _native_bad_and_total(objective, native, selector, window, "rate", " by (namespace, model)")


def union_error_ratio_expr(
    objective: Objective,
    terms: Sequence[tuple[RuntimeEntry | None, str]],
    window: str,
    *,
    latency_buckets: Sequence[float] | None = DEFAULT_LATENCY_BUCKETS_SECONDS,
) -> str:
    """:func:`error_ratio_expr` over models of several runtimes: `terms` are (runtime, selector of its
    models) pairs. Each term yields series for its own models only, so ``or`` is their union by
    (namespace, model); a single term is :func:`error_ratio_expr` itself."""
    if len(terms) == 1:
        runtime, selector = terms[0]
        return error_ratio_expr(objective, selector, window, latency_buckets=latency_buckets, runtime=runtime)
    if objective.type == AVAILABILITY:
        parts = [_bad_and_total(objective, selector, window, runtime) for runtime, selector in terms]
        bad = "\nor\n".join(b for b, _ in parts)
        total = "\nor\n".join(t for _, t in parts)
        return f"(\n{bad}\n)\n/\n(\n{total}\n)"
    qs = [event_queries(objective, s, window, latency_buckets=latency_buckets, runtime=r) for r, s in terms]
    good = "\nor\n".join(q.good for q in qs)
    total = "\nor\n".join(q.total for q in qs)
    return f"1 - (\n(\n{good}\n)\n/\n(\n{total}\n)\n)"


def quality_good_expr(
    objective: Objective,
    namespace: str,
    *,
    model: str | None = None,
    models: Sequence[str] | None = None,
    grouping: Sequence[str] = ("namespace", "model"),
    revision: str | None = None,
) -> str:
    """1 when the quality gauge met its bound at the evaluation instant, else 0 (``>= bool`` / ``<= bool``).

    Across revisions (during a rollout) the worst one counts: ``min`` for a lower bound, ``max`` for
    an upper bound."""
    quality = objective.quality
    assert quality is not None
    if quality.query:
        gauge = _render_for_model(quality.query, namespace, model)
    else:
        assert quality.metric is not None
        gauge = f"{gauge_metric_name(quality.metric)}{{{model_selector(namespace, model, models, revision)}}}"
    by = _by(grouping)
    checks = []
    if quality.min is not None:
        checks.append(f"(min{by} ({gauge}) >= bool {promql_number(quality.min)})")
    if quality.max is not None:
        checks.append(f"(max{by} ({gauge}) <= bool {promql_number(quality.max)})")
    return " * ".join(checks)


def custom_event_queries(
    objective: Objective,
    namespace: str,
    model: str | None,
    window: str,
    grouping: Sequence[str] = ("namespace", "model"),
) -> EventQueries:
    """The user's goodQuery/totalQuery rendered for one window, summed over `grouping` (a model-specific
    rendering sums to one series; the operator or the rule adds the model label)."""
    assert objective.custom is not None
    by = _by(grouping)
    custom = objective.custom
    good = _render_for_model(custom.good_query, namespace, model, window)
    total = _render_for_model(custom.total_query, namespace, model, window)
    return EventQueries(good=f"sum{by} ({good})", total=f"sum{by} ({total})")


def restrict_to_model(expr: str, namespace: str, model: str) -> str:
    """Keep only the series of `expr` labelled with this namespace and model (``and on`` a constant
    vector carrying those labels): how a user query without ``{{model}}`` is narrowed to one model."""
    one = (
        f'label_replace(label_replace(vector(1), "namespace", "{namespace}", "", ""),'
        f' "model", "{_checked_model(model)}", "", "")'
    )
    return f"(({expr}) and on (namespace, model) {one})"


def _render_for_model(template: str, namespace: str, model: str | None, window: str | None = None) -> str:
    rendered = render_template(template, namespace, model, window)
    if model is None or is_model_templated(template):
        return rendered
    return restrict_to_model(rendered, namespace, model)


# ------------------------------------------------------------------------------ status (one model)
def status_query_key(objective: str, window: str, kind: str) -> str:
    """Key of one status query: ``<objective>/<window or "slo">/<good|total>``."""
    return f"{objective}/{window}/{kind}"


def queries_for_status(
    spec: SLAPolicySpec,
    namespace: str,
    model: str,
    *,
    elapsed_seconds: float | None = None,
    latency_buckets: Sequence[float] | None = DEFAULT_LATENCY_BUCKETS_SECONDS,
    evaluation_interval: str = DEFAULT_EVALUATION_INTERVAL,
    runtime: RuntimeEntry | None = None,
) -> dict[str, str]:
    """Instant PromQL queries the operator runs to compute one model's SLA status (availability and
    latency from `runtime`'s own metrics; None or custom: the metric contract).

    Keys are :func:`status_query_key` strings: for every objective, ``good`` and ``total`` over the SLO
    window (``<objective>/slo/...``; shortened to `elapsed_seconds` when the policy or the model is
    younger than the window, rounded up to the evaluation interval) and over every alert-tier window
    (``<objective>/1h/...``). Each query returns one sample (or nothing, meaning no data). Event counts
    use ``increase()``; quality objectives count evaluation intervals with a subquery at
    `evaluation_interval` resolution. Feed the results to :func:`measurements_from_results`.
    """
    windows = {SLO_WINDOW_KEY: _status_slo_window(spec, elapsed_seconds, evaluation_interval)}
    windows.update({w: w for w in spec.burn_windows()})
    selector = model_selector(namespace, model)
    queries: dict[str, str] = {}
    for objective in spec.objectives:
        for key, window in windows.items():
            q = _status_event_queries(
                objective, namespace, model, selector, window, latency_buckets, evaluation_interval, runtime
            )
            queries[status_query_key(objective.name, key, "good")] = q.good
            queries[status_query_key(objective.name, key, "total")] = q.total
    return queries


def _status_slo_window(spec: SLAPolicySpec, elapsed_seconds: float | None, evaluation_interval: str) -> str:
    window = spec.window_seconds
    if elapsed_seconds is None or elapsed_seconds >= window:
        return spec.window
    step = parse_duration(evaluation_interval, positive=True)
    # Round up to whole evaluation intervals: a range must be positive and the first partial step counts.
    steps = max(1, -(-int(max(elapsed_seconds, 0)) // int(step)))
    return format_duration(min(window, steps * step))


def _status_event_queries(
    objective: Objective,
    namespace: str,
    model: str,
    selector: str,
    window: str,
    latency_buckets: Sequence[float] | None,
    evaluation_interval: str,
    runtime: RuntimeEntry | None,
) -> EventQueries:
    if objective.type in (AVAILABILITY, LATENCY):
        return event_queries(
            objective,
            selector,
            window,
            func="increase",
            grouping=(),
            latency_buckets=latency_buckets,
            runtime=runtime,
        )
    if objective.type == QUALITY:
        good = quality_good_expr(objective, namespace, model=model, grouping=())
        subquery = f"({good})[{window}:{evaluation_interval}]"
        return EventQueries(good=f"sum_over_time({subquery})", total=f"count_over_time({subquery})")
    return custom_event_queries(objective, namespace, model, window, grouping=())


@dataclass(frozen=True)
class WindowCounts:
    """Good and total events (or, for quality objectives, compliant and total evaluation intervals)."""

    good: float
    total: float

    @property
    def bad(self) -> float:
        return max(self.total - self.good, 0.0)

    @classmethod
    def from_fraction(cls, compliant_fraction: float, intervals: float) -> WindowCounts:
        """Quality SLIs reported as a compliant fraction of `intervals` evaluation intervals."""
        return cls(good=compliant_fraction * intervals, total=intervals)


@dataclass(frozen=True)
class Measurement:
    """What Prometheus said about one objective of one model: counts over the SLO window (or its
    elapsed part; None = no data) and over each alert-tier window, keyed by canonical duration."""

    window: WindowCounts | None
    burn_windows: Mapping[str, WindowCounts] = field(default_factory=dict)


def measurements_from_results(
    spec: SLAPolicySpec, results: Mapping[str, float | None]
) -> dict[str, Measurement]:
    """Turn the scalar results of :func:`queries_for_status` (same keys; None or absent = empty result)
    into a Measurement per objective. A window without a total (or with total 0) is left out: no data."""
    measurements = {}
    for objective in spec.objectives:

        def counts(window_key: str, name: str = objective.name) -> WindowCounts | None:
            total = results.get(status_query_key(name, window_key, "total"))
            if total is None or total != total or total <= 0:  # absent, NaN or zero: no data
                return None
            good = results.get(status_query_key(name, window_key, "good"))
            good = 0.0 if good is None or good != good else min(max(float(good), 0.0), float(total))
            return WindowCounts(good=good, total=float(total))

        burn = {w: c for w in spec.burn_windows() if (c := counts(w)) is not None}
        measurements[objective.name] = Measurement(window=counts(SLO_WINDOW_KEY), burn_windows=burn)
    return measurements
