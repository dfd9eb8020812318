"""Progressive delivery's pure core: rollout state (status round-trip), steps and the state machine.

Constants for phases, condition types/reasons, event reasons and analysis decisions live here, in one
place. The heavy modules are imported lazily (``from modelserve.rollout import plan_rollout`` works)
so that ``modelserve.routers`` can import ``modelserve.rollout.steps`` without an import cycle.
"""

from __future__ import annotations

from typing import Any

# --- status.phase (top level) -------------------------------------------------------------------
PHASE_PENDING = "Pending"
PHASE_READY = "Ready"
PHASE_PROGRESSING = "Progressing"
PHASE_PAUSED = "Paused"
PHASE_ROLLED_BACK = "RolledBack"
PHASE_DEGRADED = "Degraded"
PHASE_FROZEN = "Frozen"

# --- status.rollout.phase (where the rollout is) ------------------------------------------------
STAGE_IDLE = "Idle"        # no rollout: the stable revision serves everything
STAGE_CANARY = "Canary"    # walking spec.rollout.canary.steps
STAGE_SHADOW = "Shadow"    # candidate at full size, judged on mirrored traffic
STAGE_PREVIEW = "Preview"  # blue-green: candidate at full size behind the preview Service
STAGE_PROMOTING = "Promoting"  # scaling the candidate to full size before it takes 100 %

# --- strategies -----------------------------------------------------------------------------------
STRATEGY_CANARY = "canary"
STRATEGY_SHADOW = "shadow"
STRATEGY_BLUE_GREEN = "blueGreen"

# --- analysis decisions (input from the analysis judge, mapped by the reconciler) --------------------
DECISION_CONTINUE = "continue"  # no verdict yet: keep judging
DECISION_PROCEED = "proceed"    # gates passed for this window
DECISION_ROLLBACK = "rollback"  # a gate failed (or onInconclusive/onError say rollback)
DECISION_PAUSE = "pause"        # hold and wait for a human (e.g. inconclusive too often)
DECISIONS = (DECISION_CONTINUE, DECISION_PROCEED, DECISION_ROLLBACK, DECISION_PAUSE)

# --- condition types ----------------------------------------------------------------------------
CONDITION_PROGRESSING = "Progressing"
CONDITION_DEGRADED = "Degraded"

# --- condition / pause / failure reasons ---------------------------------------------------------
REASON_ROLLOUT_PROGRESSING = "RolloutProgressing"
REASON_ROLLOUT_PAUSED = "RolloutPaused"
REASON_ROLLOUT_COMPLETED = "RolloutCompleted"
REASON_ROLLED_BACK = "RolledBack"
REASON_ROLLOUTS_FROZEN = "ErrorBudgetExhausted"
REASON_HEALTHY = "AsExpected"
REASON_QUALITY_GATE_FAILED = "QualityGateFailed"
REASON_ABORTED = "Aborted"
REASON_PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
REASON_UNSUPPORTED_STRATEGY = "UnsupportedStrategy"
REASON_MANUAL_PAUSE = "ManualPause"
REASON_ANALYSIS_PAUSE = "AnalysisPaused"
REASON_PAUSE_STEP = "PauseStep"
REASON_AWAITING_PROMOTION = "AwaitingPromotion"

# --- event reasons (Normal unless noted) -----------------------------------------------------------
EVENT_DEPLOYED = "Deployed"
EVENT_ROLLOUT_STARTED = "RolloutStarted"
EVENT_CANDIDATE_SCALING = "CandidateScaling"
EVENT_WEIGHT_SET = "WeightSet"
EVENT_STEP_COMPLETED = "StepCompleted"
EVENT_MIRROR_STARTED = "MirrorStarted"
EVENT_PREVIEW_READY = "PreviewReady"
EVENT_PROMOTION_STARTED = "PromotionStarted"
EVENT_PROMOTED = "Promoted"
EVENT_ROLLED_BACK = "RolledBack"          # Warning
EVENT_CANDIDATE_REPLACED = "CandidateReplaced"
EVENT_REVERTED = "RolloutReverted"
EVENT_PAUSED = "RolloutPaused"            # Warning when automatic
EVENT_RESUMED = "RolloutResumed"
EVENT_RETRY = "RolloutRetried"
EVENT_FROZEN = "RolloutFrozen"            # Warning
EVENT_BLOCKED = "RevisionBlocked"         # Warning: a failed revision is requested again
EVENT_PROGRESS_DEADLINE = "ProgressDeadlineExceeded"  # Warning
EVENT_SCALED_DOWN = "RevisionRemoved"

EVENT_NORMAL = "Normal"
EVENT_WARNING = "Warning"

# --- annotations for one-shot / level manual control (see docs/rollouts.md) -------------------------
ANNOTATION_PROMOTE = "modelserve.io/promote"
ANNOTATION_ABORT = "modelserve.io/abort"
ANNOTATION_RETRY = "modelserve.io/retry"
ANNOTATION_PAUSED = "modelserve.io/paused"
ANNOTATION_RESUME = "modelserve.io/resume"

_LAZY = {
    "plan_rollout": "modelserve.rollout.machine",
    "analysis_window_start": "modelserve.rollout.machine",
    "RolloutPlan": "modelserve.rollout.machine",
    "Event": "modelserve.rollout.machine",
    "Condition": "modelserve.rollout.machine",
    "RolloutState": "modelserve.rollout.state",
    "PendingScaleDown": "modelserve.rollout.state",
    "state_from_status": "modelserve.rollout.state",
    "state_to_status": "modelserve.rollout.state",
    "RolloutSpec": "modelserve.rollout.spec",
    "CanarySpec": "modelserve.rollout.spec",
    "ShadowSpec": "modelserve.rollout.spec",
    "BlueGreenSpec": "modelserve.rollout.spec",
    "ManualControl": "modelserve.rollout.spec",
    "AnalysisOutcome": "modelserve.rollout.spec",
    "ObservedRevisions": "modelserve.rollout.spec",
    "RevisionReplicas": "modelserve.rollout.spec",
    "rollout_spec_from_api": "modelserve.rollout.spec",
    "manual_control_from": "modelserve.rollout.spec",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'modelserve.rollout' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
