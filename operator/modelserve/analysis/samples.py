"""What a metric provider returns for one gate and one revision over one window (pure data)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class RateSample:
    """Request counts over the window: ``errors`` out of ``total`` (integers, increase() rounded).

    ``intervals``: the same counts per analysis interval inside the window, ``(errors, total)`` each,
    when the provider has them (empty otherwise). They are only used to estimate how much burstier than
    Poisson the errors are (the dispersion); the tests themselves use ``errors`` and ``total``.
    """

    errors: int
    total: int
    intervals: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.total < 0 or self.errors < 0:
            raise ValueError(f"counts must be >= 0, got errors={self.errors} total={self.total}")
        if self.errors > self.total:
            raise ValueError(f"errors ({self.errors}) > total ({self.total})")

    @property
    def samples(self) -> int:
        return self.total

    @property
    def rate(self) -> float:
        """Error ratio, NaN when there were no requests."""
        return self.errors / self.total if self.total else math.nan


@dataclass(frozen=True)
class HistogramSample:
    """Latency histogram over the window: cumulative counts per upper bound ``le`` (seconds).

    ``buckets`` is a sequence of ``(le, cumulative_count)``; the ``+Inf`` bucket (``math.inf``)
    carries the total. Order does not matter; it is sorted on creation.
    """

    buckets: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        # Accept any iterable of pairs (lists from JSON, generators) and normalise to a sorted tuple.
        items = sorted((float(le), float(count)) for le, count in self.buckets)
        object.__setattr__(self, "buckets", tuple(items))

    @property
    def samples(self) -> int:
        """Number of observations (the +Inf bucket, or the largest cumulative count)."""
        if not self.buckets:
            return 0
        return round(max(count for _, count in self.buckets))

    @property
    def has_inf_bucket(self) -> bool:
        return bool(self.buckets) and math.isinf(self.buckets[-1][0])


@dataclass(frozen=True)
class ValueSample:
    """A gauge-like value (accuracy, confidence, drift, custom query) and the number of requests
    that back it over the window (``samples``; the provider reads it from the request counter)."""

    value: float
    samples: int


Sample = RateSample | HistogramSample | ValueSample
