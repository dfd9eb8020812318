"""How a revision behaves under simulated requests: errors, latency, model-quality gauges.

Pure given a ``numpy.random.Generator``: the simulator seeds one per model, so a run is reproducible
for the same sequence of traffic splits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

# Selectors resolved from the ModelDeployment's status at every tick.
STABLE = "stable"
CANDIDATE = "candidate"
DEFAULT = "default"
ROLE_SELECTORS = (STABLE, CANDIDATE)


@dataclass(frozen=True)
class Behaviour:
    """One revision's behaviour. Defaults are a healthy model server.

    ``error_rate``: fraction of requests answered 500. ``latency_ms``: median latency, lognormal with
    ``latency_sigma`` (the log-space standard deviation; 0.3 puts p95 at about 1.64 x the median).
    ``accuracy``, ``confidence``, ``drift``: the quality gauges' values, with ``gauge_noise`` (absolute
    standard deviation) added per tick.
    """

    error_rate: float = 0.005
    latency_ms: float = 50.0
    latency_sigma: float = 0.3
    accuracy: float = 0.95
    confidence: float = 0.90
    drift: float = 0.05
    gauge_noise: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate: {self.error_rate} must be within 0..1")
        if self.latency_ms <= 0:
            raise ValueError(f"latency_ms: {self.latency_ms} must be > 0")
        if self.latency_sigma < 0 or self.gauge_noise < 0:
            raise ValueError("latency_sigma and gauge_noise must be >= 0")

    def with_changes(self, **changes: Any) -> Behaviour:
        """A copy with some fields changed; unknown names raise ``TypeError`` naming them."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"unknown behaviour field(s) {unknown}; known: {sorted(known)}")
        return replace(self, **changes)

    def latency_quantile_ms(self, q: float) -> float:
        """The q-quantile of the latency distribution in ms (for tests and docs)."""
        from scipy.stats import norm

        return self.latency_ms * math.exp(self.latency_sigma * float(norm.ppf(q)))


HEALTHY = Behaviour()


@dataclass(frozen=True)
class Outcomes:
    """``n`` simulated requests: how many failed, and every request's latency in seconds."""

    n: int
    errors: int
    latencies_seconds: np.ndarray


def simulate_requests(rng: np.random.Generator, behaviour: Behaviour, n: int) -> Outcomes:
    """Draw ``n`` requests: a binomial number of 500s and lognormal latencies."""
    if n <= 0:
        return Outcomes(0, 0, np.empty(0))
    errors = int(rng.binomial(n, behaviour.error_rate))
    median_seconds = behaviour.latency_ms / 1000.0
    latencies = rng.lognormal(mean=math.log(median_seconds), sigma=behaviour.latency_sigma, size=n)
    return Outcomes(n, errors, latencies)


def gauge_values(rng: np.random.Generator, behaviour: Behaviour) -> dict[str, float]:
    """This tick's accuracy / confidence / drift (clipped to 0..1)."""
    values = {"accuracy": behaviour.accuracy, "confidence": behaviour.confidence, "drift": behaviour.drift}
    if behaviour.gauge_noise > 0:
        values = {k: v + float(rng.normal(0.0, behaviour.gauge_noise)) for k, v in values.items()}
    return {k: min(1.0, max(0.0, v)) for k, v in values.items()}


def resolve_behaviour(
    revision: str,
    behaviours: Mapping[str, Behaviour],
    stable_revision: str | None,
    candidate_revision: str | None,
) -> Behaviour:
    """The behaviour of ``revision``: set for it by hash, else for its current role (``candidate`` /
    ``stable`` from the ModelDeployment's status), else ``default``, else healthy."""
    if revision in behaviours:
        return behaviours[revision]
    if revision == candidate_revision and CANDIDATE in behaviours:
        return behaviours[CANDIDATE]
    if revision == stable_revision and STABLE in behaviours:
        return behaviours[STABLE]
    return behaviours.get(DEFAULT, HEALTHY)


def parse_behaviour_option(text: str) -> tuple[str, dict[str, float]]:
    """CLI form ``SELECTOR:field=value,field=value`` (e.g. ``candidate:error_rate=0.05,latency_ms=200``)."""
    selector, _, assignments = text.partition(":")
    if not selector or not assignments:
        raise ValueError(f"--behaviour {text!r}: expected SELECTOR:field=value[,field=value]")
    changes = {}
    for item in assignments.split(","):
        key, _, value = item.partition("=")
        if not key or not value:
            raise ValueError(f"--behaviour {text!r}: {item!r} is not field=value")
        changes[key.strip()] = float(value)
    return selector.strip(), changes
