"""Pure analysis core of progressive delivery: metric contract, samples, statistics, verdicts and
decisions. Only ``providers`` does I/O (Prometheus queries)."""

from modelserve.analysis.contract import (
    PRESETS,
    GateQueries,
    MetricPreset,
    QueryTarget,
    TemplateError,
    analysis_window_seconds,
    gate_queries,
    render_query,
    validate_query_template,
)
from modelserve.analysis.judge import (
    AnalysisCounters,
    AnalysisSpec,
    Decision,
    GateResult,
    GateSpec,
    Look,
    analyse_interval,
    decide,
    gate_error,
    judge_analysis,
    judge_gate,
    plan_look,
    update_counters,
)
from modelserve.analysis.samples import HistogramSample, RateSample, Sample, ValueSample
from modelserve.analysis.verdict import DecisionAction, Verdict

__all__ = [
    "PRESETS",
    "AnalysisCounters",
    "AnalysisSpec",
    "Decision",
    "DecisionAction",
    "GateQueries",
    "GateResult",
    "GateSpec",
    "HistogramSample",
    "Look",
    "MetricPreset",
    "QueryTarget",
    "RateSample",
    "Sample",
    "TemplateError",
    "ValueSample",
    "Verdict",
    "analyse_interval",
    "analysis_window_seconds",
    "decide",
    "gate_error",
    "gate_queries",
    "judge_analysis",
    "judge_gate",
    "plan_look",
    "render_query",
    "update_counters",
    "validate_query_template",
]
