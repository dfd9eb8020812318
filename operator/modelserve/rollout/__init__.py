"""Progressive delivery's pure core: rollout state (status round-trip), steps and the state machine.

Its phases, stages, strategies, decisions, condition and Event reasons are named in
``modelserve.api.constants``, with every other name the operator shares.
"""

from __future__ import annotations

from modelserve.rollout.machine import RolloutPlan, analysis_window_start, plan_rollout
from modelserve.rollout.spec import (
    AnalysisOutcome,
    BlueGreenSpec,
    CanarySpec,
    CandidateFetchFailure,
    ManualControl,
    ObservedRevisions,
    RevisionReplicas,
    RolloutSpec,
    ShadowSpec,
    manual_control_from,
    rollout_spec_from_api,
)
from modelserve.rollout.state import PendingScaleDown, RolloutState, state_from_status, state_to_status

__all__ = [
    "AnalysisOutcome",
    "BlueGreenSpec",
    "CanarySpec",
    "CandidateFetchFailure",
    "ManualControl",
    "ObservedRevisions",
    "PendingScaleDown",
    "RevisionReplicas",
    "RolloutPlan",
    "RolloutSpec",
    "RolloutState",
    "ShadowSpec",
    "analysis_window_start",
    "manual_control_from",
    "plan_rollout",
    "rollout_spec_from_api",
    "state_from_status",
    "state_to_status",
]
