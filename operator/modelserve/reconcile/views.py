"""What other controllers hand to the ModelDeployment planner: small, typed, already decided.

The SLA controller computes an `SLAView` for a model (from its governing SLAPolicy and that
policy's status); the predictive autoscaler computes a `PredictiveFloor` per region. The shell puts
them in `Observed`; the planner only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SLAView:
    """The SLA that governs one ModelDeployment."""

    policy: str  # SLAPolicy name
    frozen: bool = False  # budget exhausted under freezeRollouts and no override annotation
    freeze_reason: str = ""
    gates: tuple[dict, ...] = ()  # objectives as canary gates, shaped like spec.rollout.analysis.gates[]
    status: dict = field(default_factory=dict)  # the ModelDeployment's status.sla
    selection_message: str = ""  # e.g. "selected by slaPolicyRef" or an ambiguity note


@dataclass(frozen=True)
class PredictiveFloor:
    """The predictive autoscaler's decision for one region (None = the model's only region)."""

    floor: int | None  # None: stay purely reactive (status says why)
    status: dict = field(default_factory=dict)  # the ModelDeployment's status.autoscaling
