"""Pure analysis core of progressive delivery: metric contract, samples, statistics, verdicts and
decisions. Only ``providers`` does I/O (Prometheus queries). The gate and analysis specs it judges
by are the API's (``modelserve.api.gates``)."""

from modelserve.analysis.contract import (
    PRESETS,
    GateQueries,
    MetricPreset,
    QueryTarget,
    analysis_window_seconds,
    gate_queries,
    render_query,
)
from modelserve.analysis.judge import (
    AnalysisCounters,
    Decision,
    GateResult,
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
    "Decision",
    "DecisionAction",
    "GateQueries",
    "GateResult",
    "HistogramSample",
    "Look",
    "MetricPreset",
    "QueryTarget",
    "RateSample",
    "Sample",
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
]
