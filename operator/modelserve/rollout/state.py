"""The rollout's progress as a dataclass, and its lossless round trip through the resource status.

Everything the machine needs to resume lives in ``status`` (top-level ``phase``, ``message``,
``stableRevision``, ``candidateRevision``, ``canaryWeight``, ``currentStepIndex`` and ``status.rollout``),
so a restarted operator continues exactly where it stopped. Times are whole seconds in UTC
(``2024-05-01T12:00:00Z``); the machine truncates its clock so the round trip is exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelserve.api.constants import (
    PHASE_PENDING,
    STAGE_IDLE,
)


@dataclass(frozen=True)
class PendingScaleDown:
    """A revision kept at ``replicas`` until ``at`` (rollback/replace/scale-down delay), then removed.

    ``reason``: ``PreviousStable`` (the stable a promotion replaced: instant rollback target),
    ``RolledBack``, ``Replaced`` (a newer candidate arrived) or ``Reverted`` (spec went back to stable).
    """

    revision: str
    at: datetime
    replicas: int
    reason: str


SCALE_DOWN_PREVIOUS_STABLE = "PreviousStable"
SCALE_DOWN_ROLLED_BACK = "RolledBack"
SCALE_DOWN_REPLACED = "Replaced"
SCALE_DOWN_REVERTED = "Reverted"


@dataclass(frozen=True)
class RolloutState:
    """Where the rollout stands. Field -> status path (``rollout.`` = ``status.rollout.``):

    stable_revision -> stableRevision, candidate_revision -> candidateRevision, phase -> phase,
    message -> message and rollout.message, canary_weight -> canaryWeight, step_index ->
    currentStepIndex, strategy -> rollout.strategy, stage -> rollout.phase, started_at ->
    rollout.startedAt, step_started_at -> rollout.stepStartedAt, analysis_since -> rollout.analysisSince,
    step_proceeded -> rollout.stepProceeded, mirror_percent -> rollout.mirrorPercent, pause_reason ->
    rollout.pauseReason, failed_revision/failed_reason -> rollout.failedRevision/failedReason,
    promote_token/retry_token/resume_token -> rollout.promoteToken/retryToken/resumeToken,
    scale_downs -> rollout.scaleDowns, weight_approximate -> rollout.weightApproximate, and the
    analysis judge's counters last_analysis_at/passed/failed/inconclusive/errors/consecutive_errors ->
    rollout.lastAnalysisAt/passed/failed/inconclusive/errors/consecutiveErrors (the machine only resets
    them when a rollout starts).
    """

    stable_revision: str | None = None
    candidate_revision: str | None = None
    phase: str = PHASE_PENDING
    message: str = ""
    strategy: str | None = None
    stage: str = STAGE_IDLE
    step_index: int = 0
    canary_weight: int = 0
    mirror_percent: int = 0
    started_at: datetime | None = None
    step_started_at: datetime | None = None
    analysis_since: datetime | None = None
    step_proceeded: bool = False
    pause_reason: str | None = None
    failed_revision: str | None = None
    failed_reason: str | None = None
    promote_token: str | None = None
    retry_token: str | None = None
    resume_token: str | None = None
    scale_downs: tuple[PendingScaleDown, ...] = ()
    weight_approximate: bool = False
    last_analysis_at: datetime | None = None
    passed: int = 0
    failed: int = 0
    inconclusive: int = 0
    errors: int = 0
    consecutive_errors: int = 0


def format_time(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with whole seconds, or None."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> datetime | None:
    """Parse an RFC 3339 time from status (``Z`` or offset); naive times are taken as UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def state_to_status(state: RolloutState) -> dict[str, Any]:
    """The status fragment for ``state``: top-level keys plus ``rollout``. ``None`` values are kept so a
    JSON merge patch clears fields that no longer apply."""
    return {
        "phase": state.phase,
        "message": state.message,
        "stableRevision": state.stable_revision,
        "candidateRevision": state.candidate_revision,
        "canaryWeight": state.canary_weight,
        "currentStepIndex": state.step_index,
        "rollout": {
            "strategy": state.strategy,
            "phase": state.stage,
            "message": state.message,
            "startedAt": format_time(state.started_at),
            "stepStartedAt": format_time(state.step_started_at),
            "analysisSince": format_time(state.analysis_since),
            "stepProceeded": state.step_proceeded,
            "mirrorPercent": state.mirror_percent,
            "pauseReason": state.pause_reason,
            "failedRevision": state.failed_revision,
            "failedReason": state.failed_reason,
            "promoteToken": state.promote_token,
            "retryToken": state.retry_token,
            "resumeToken": state.resume_token,
            "scaleDowns": [
                {"revision": s.revision, "at": format_time(s.at), "replicas": s.replicas, "reason": s.reason}
                for s in state.scale_downs
            ],
            "weightApproximate": state.weight_approximate,
            "lastAnalysisAt": format_time(state.last_analysis_at),
            "passed": state.passed,
            "failed": state.failed,
            "inconclusive": state.inconclusive,
            "errors": state.errors,
            "consecutiveErrors": state.consecutive_errors,
        },
    }


def state_from_status(status: Mapping[str, Any] | None) -> RolloutState:
    """Rebuild the state from a resource's ``status`` (missing fields take their defaults)."""
    status = status or {}
    rollout: Mapping[str, Any] = status.get("rollout") or {}
    scale_downs = []
    for entry in rollout.get("scaleDowns") or ():
        at = parse_time(entry.get("at"))
        if entry.get("revision") and at is not None:
            scale_downs.append(
                PendingScaleDown(
                    str(entry["revision"]),
                    at,
                    int(entry.get("replicas") or 0),
                    str(entry.get("reason") or ""),
                )
            )
    return RolloutState(
        stable_revision=status.get("stableRevision") or None,
        candidate_revision=status.get("candidateRevision") or None,
        phase=status.get("phase") or PHASE_PENDING,
        # The machine's own message: the planner replaces the top-level one with the replica count while
        # Ready or Pending, and reading that back would change rollout.message on the next reconcile.
        message=rollout.get("message") or status.get("message") or "",
        strategy=rollout.get("strategy") or None,
        stage=rollout.get("phase") or STAGE_IDLE,
        step_index=int(status.get("currentStepIndex") or 0),
        canary_weight=int(status.get("canaryWeight") or 0),
        mirror_percent=int(rollout.get("mirrorPercent") or 0),
        started_at=parse_time(rollout.get("startedAt")),
        step_started_at=parse_time(rollout.get("stepStartedAt")),
        analysis_since=parse_time(rollout.get("analysisSince")),
        step_proceeded=bool(rollout.get("stepProceeded")),
        pause_reason=rollout.get("pauseReason") or None,
        failed_revision=rollout.get("failedRevision") or None,
        failed_reason=rollout.get("failedReason") or None,
        promote_token=rollout.get("promoteToken") or None,
        retry_token=rollout.get("retryToken") or None,
        resume_token=rollout.get("resumeToken") or None,
        scale_downs=tuple(scale_downs),
        weight_approximate=bool(rollout.get("weightApproximate")),
        last_analysis_at=parse_time(rollout.get("lastAnalysisAt")),
        passed=int(rollout.get("passed") or 0),
        failed=int(rollout.get("failed") or 0),
        inconclusive=int(rollout.get("inconclusive") or 0),
        errors=int(rollout.get("errors") or 0),
        consecutive_errors=int(rollout.get("consecutiveErrors") or 0),
    )
