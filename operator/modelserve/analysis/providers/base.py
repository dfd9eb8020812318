"""The metric-provider interface: measure one gate for one revision over one window."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from modelserve.analysis.contract import QueryTarget
from modelserve.analysis.samples import Sample
from modelserve.api.gates import GateSpec


class ProviderError(Exception):
    """A measurement failed: the backend is unreachable, timed out, rejected the query, or returned
    something that is not a valid result. Judged as Verdict.ERROR, never as a pass or a failure."""


@runtime_checkable
class MetricProvider(Protocol):
    """Source of samples for gates.

    ``fetch`` returns the sample of ``gate`` for ``revision`` of ``target`` over the last
    ``window_seconds``: a RateSample (errorRate), HistogramSample (latency percentiles) or ValueSample
    (quality gauges, custom queries); ``None`` when the query worked but returned no series (no data ->
    Inconclusive); raises ProviderError when the measurement failed (-> Error). With
    ``interval_seconds`` a RateSample carries its per-interval counts too (for the dispersion).
    """

    def fetch(
        self,
        gate: GateSpec,
        target: QueryTarget,
        revision: str,
        window_seconds: float,
        interval_seconds: float | None = None,
    ) -> Sample | None: ...
