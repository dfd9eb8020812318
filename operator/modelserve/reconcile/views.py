"""What other controllers hand to the ModelDeployment planner: small, typed, already decided.

Kept only so that old imports keep working: `PredictiveFloor` now lives with the forecast cycle
(modelserve.forecasting.cycle); import it from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modelserve.forecasting.cycle import PredictiveFloor

__all__ = ["PredictiveFloor", "SLAView"]


@dataclass(frozen=True)
class SLAView:
    """The SLA that governs one ModelDeployment."""

    policy: str  # SLAPolicy name
    frozen: bool = False  # budget exhausted under freezeRollouts and no override annotation
    freeze_reason: str = ""
    gates: tuple[dict, ...] = ()  # objectives as canary gates, shaped like spec.rollout.analysis.gates[]
    status: dict = field(default_factory=dict)  # the ModelDeployment's status.sla
    selection_message: str = ""  # e.g. "selected by slaPolicyRef" or an ambiguity note
