"""Names shared across modelserve: labels, annotations, condition types and reasons, phases."""

from __future__ import annotations

from modelserve import GROUP

# Labels on every owned object.
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MODEL = f"{GROUP}/model"
LABEL_REVISION = f"{GROUP}/revision"
LABEL_REGION = f"{GROUP}/region"
LABEL_ROLE = f"{GROUP}/role"  # stable | candidate
MANAGED_BY = "modelserve"

# Annotations a user (or GitOps) may set on a ModelDeployment.
ANNOTATION_PROMOTE = f"{GROUP}/promote"
ANNOTATION_ABORT = f"{GROUP}/abort"
ANNOTATION_RETRY = f"{GROUP}/retry"
ANNOTATION_PAUSED = f"{GROUP}/paused"
ANNOTATION_OVERRIDE_FREEZE = f"{GROUP}/override-freeze"
# Set on owned objects: the hash of what we applied, for cheap no-change detection.
ANNOTATION_REVISION_SPEC = f"{GROUP}/revision-spec"
# Set on owned objects: a hash of what we last applied, so a changed intent is always re-applied.
ANNOTATION_APPLIED = f"{GROUP}/applied"
# Set on a ModelDeployment that writes into a user-owned route: the routes it holds fields in
# ("HTTPRoute/<name>", comma-separated), released before the finalizer below goes (routers/user_routes.py).
ANNOTATION_USER_ROUTES = f"{GROUP}/user-routes"
FINALIZER_ROUTE_RELEASE = f"{GROUP}/route-release"

# spec.traffic.router when the spec leaves it out.
DEFAULT_ROUTER = "replicas"

# Condition types.
COND_READY = "Ready"
COND_PROGRESSING = "Progressing"
COND_DEGRADED = "Degraded"
COND_REFERENCES = "ReferencesResolved"
COND_RESIDENCY = "ResidencyCompliant"
COND_SLA = "SLACompliant"
COND_PREDICTIVE = "PredictiveScaling"
COND_MODEL_FETCH_FAILED = "ModelFetchFailed"

# Condition reasons.
REASON_AVAILABLE = "MinimumReplicasAvailable"
REASON_UNAVAILABLE = "ReplicasUnavailable"
REASON_SCALED_TO_ZERO = "ScaledToZero"
REASON_RECONCILED = "Reconciled"
REASON_ROLLING_OUT = "RollingOut"
REASON_NEW_REVISION = "NewRevision"
REASON_STABLE = "Stable"
REASON_RESOLVED = "Resolved"
REASON_PLACEMENT_NOT_FOUND = "PlacementNotFound"
REASON_SLA_POLICY_NOT_FOUND = "SLAPolicyNotFound"
REASON_INVALID_SPEC = "InvalidSpec"
REASON_APPLY_FAILED = "ApplyFailed"
REASON_RECONCILE_ERROR = "ReconcileError"
REASON_AS_EXPECTED = "AsExpected"
REASON_ROUTE_RELEASED = "RouteReleased"
REASON_ROUTE_RELEASE_FAILED = "RouteReleaseFailed"
REASON_ROUTE_NOT_FOUND = "RouteNotFound"
REASON_MODEL_FETCH_FAILED = "ModelFetchFailed"  # the storage initializer could not fetch the model
REASON_MODEL_FETCHED = "ModelFetched"

# Phases (status.phase).
PHASE_PENDING = "Pending"
PHASE_READY = "Ready"
PHASE_PROGRESSING = "Progressing"
PHASE_PAUSED = "Paused"
PHASE_ROLLED_BACK = "RolledBack"
PHASE_DEGRADED = "Degraded"
PHASE_FROZEN = "Frozen"

# Kubernetes Event types.
EVENT_NORMAL = "Normal"
EVENT_WARNING = "Warning"

# The rollout machine (modelserve.rollout): where a rollout is, its strategies, the analysis
# decisions it takes, and the reasons of its conditions and Events.

# --- status.rollout.phase (where the rollout is) ------------------------------------------------
STAGE_IDLE = "Idle"  # no rollout: the stable revision serves everything
STAGE_CANARY = "Canary"  # walking spec.rollout.canary.steps
STAGE_SHADOW = "Shadow"  # candidate at full size, judged on mirrored traffic
STAGE_PREVIEW = "Preview"  # blue-green: candidate at full size behind the preview Service
STAGE_PROMOTING = "Promoting"  # scaling the candidate to full size before it takes 100 %

# --- strategies -----------------------------------------------------------------------------------
STRATEGY_CANARY = "canary"
STRATEGY_SHADOW = "shadow"
STRATEGY_BLUE_GREEN = "blueGreen"

# --- analysis decisions (input from the analysis judge, mapped by the reconciler) --------------------
DECISION_CONTINUE = "continue"  # no verdict yet: keep judging
DECISION_PROCEED = "proceed"  # gates passed for this window
DECISION_ROLLBACK = "rollback"  # a gate failed (or onInconclusive/onError say rollback)
DECISION_PAUSE = "pause"  # hold and wait for a human (e.g. inconclusive too often)
DECISIONS = (DECISION_CONTINUE, DECISION_PROCEED, DECISION_ROLLBACK, DECISION_PAUSE)

# --- condition / pause / failure reasons ---------------------------------------------------------
REASON_ROLLOUT_PROGRESSING = "RolloutProgressing"
REASON_ROLLOUT_PAUSED = "RolloutPaused"
REASON_ROLLOUT_COMPLETED = "RolloutCompleted"
REASON_ROLLED_BACK = "RolledBack"
REASON_ROLLOUTS_FROZEN = "ErrorBudgetExhausted"
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
EVENT_ROLLED_BACK = "RolledBack"  # Warning
EVENT_CANDIDATE_REPLACED = "CandidateReplaced"
EVENT_REVERTED = "RolloutReverted"
EVENT_PAUSED = "RolloutPaused"  # Warning when automatic
EVENT_RESUMED = "RolloutResumed"
EVENT_RETRY = "RolloutRetried"
EVENT_FROZEN = "RolloutFrozen"  # Warning
EVENT_BLOCKED = "RevisionBlocked"  # Warning: a failed revision is requested again
EVENT_PROGRESS_DEADLINE = "ProgressDeadlineExceeded"  # Warning
EVENT_SCALED_DOWN = "RevisionRemoved"

ANNOTATION_RESUME = f"{GROUP}/resume"
