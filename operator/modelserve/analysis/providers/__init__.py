"""Metric providers and the (I/O) loop that measures every gate of an analysis through one."""

from __future__ import annotations

from collections.abc import Sequence

from modelserve.analysis.contract import QueryTarget
from modelserve.analysis.judge import GateResult, GateSpec, Look, gate_error, judge_gate
from modelserve.analysis.providers.base import MetricProvider, ProviderError


def measure_gates(
    provider: MetricProvider,
    gates: Sequence[GateSpec],
    target: QueryTarget,
    window_seconds: float,
    *,
    min_sample_size: int,
    look: Look | int = 1,
    interval_seconds: float | None = None,
) -> list[GateResult]:
    """Fetch candidate and stable samples for every gate over the same window and judge them.

    A ProviderError (or a template error in a custom query) for either revision makes that gate's result
    an Error; ``look`` is where this analysis sits in its step (``plan_look``); a missing stable revision
    just means no baseline (relative bounds become Inconclusive). ``interval_seconds``: ask for
    per-interval counts too (see MetricProvider).
    """
    results: list[GateResult] = []
    for gate in gates:
        try:
            candidate = provider.fetch(gate, target, target.revision, window_seconds, interval_seconds)
            baseline = (
                provider.fetch(gate, target, target.stable_revision, window_seconds, interval_seconds)
                if target.stable_revision and target.stable_revision != target.revision
                else None
            )
        except (ProviderError, ValueError) as exc:
            results.append(gate_error(gate, f"query failed: {exc}"))
            continue
        results.append(judge_gate(gate, candidate, baseline, min_sample_size=min_sample_size, look=look))
    return results


__all__ = ["MetricProvider", "ProviderError", "measure_gates"]
