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
