"""Metric providers and the (I/O) loop that fetches every gate's samples through one."""

from __future__ import annotations

from collections.abc import Sequence

from modelserve.analysis.contract import QueryTarget
from modelserve.analysis.providers.base import MetricProvider, ProviderError
from modelserve.analysis.samples import Sample
from modelserve.api.gates import GateSpec


def fetch_samples(
    provider: MetricProvider,
    gates: Sequence[GateSpec],
    target: QueryTarget,
    window_seconds: float,
    *,
    interval_seconds: float | None = None,
) -> dict[str, tuple[Sample | None, Sample | None] | BaseException]:
    """Candidate and stable samples of every gate over the same window, by gate name, for
    ``judge.analyse_interval`` (the one judging path of the operator and the benchmark).

    A ProviderError (or a template error in a custom query) for either revision is kept as that gate's
    entry (the judge makes it an Error); a missing stable revision just means no baseline (relative
    bounds become Inconclusive). ``interval_seconds``: ask for per-interval counts too (MetricProvider).
    """
    samples: dict[str, tuple[Sample | None, Sample | None] | BaseException] = {}
    for gate in gates:
        try:
            candidate = provider.fetch(gate, target, target.revision, window_seconds, interval_seconds)
            baseline = (
                provider.fetch(gate, target, target.stable_revision, window_seconds, interval_seconds)
                if target.stable_revision and target.stable_revision != target.revision
                else None
            )
        except (ProviderError, ValueError) as exc:
            samples[gate.name] = exc
            continue
        samples[gate.name] = (candidate, baseline)
    return samples


__all__ = ["MetricProvider", "ProviderError", "fetch_samples"]
