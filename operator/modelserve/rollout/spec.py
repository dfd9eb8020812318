"""Typed inputs of the rollout state machine: the rollout spec, manual controls, observed revisions and
the analysis outcome. ``rollout_spec_from_api`` builds them from ``spec.rollout`` + annotations with
the API defaults applied, so the machine never digs through dicts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelserve.api.constants import (
    ANNOTATION_ABORT,
    ANNOTATION_PAUSED,
    ANNOTATION_PROMOTE,
    ANNOTATION_RESUME,
    ANNOTATION_RETRY,
    DECISIONS,
    STRATEGY_BLUE_GREEN,
    STRATEGY_CANARY,
    STRATEGY_SHADOW,
)
from modelserve.api.durations import parse_duration
from modelserve.rollout.steps import Step, parse_steps

PROMOTE_STEP = "step"
PROMOTE_FULL = "full"
_TRUE_VALUES = {"true", "1", "yes", "on"}


@dataclass(frozen=True)
class CanarySpec:
    """``spec.rollout.canary``."""

    steps: tuple[Step, ...] = ()


@dataclass(frozen=True)
class ShadowSpec:
    """``spec.rollout.shadow``: mirror ``mirror_percent`` of traffic for ``duration_seconds``, then
    ``then`` (``promote`` or ``canary``)."""

    mirror_percent: int = 100
    duration_seconds: float = 600.0
    then: str = "promote"


@dataclass(frozen=True)
class BlueGreenSpec:
    """``spec.rollout.blueGreen``."""

    preview_service_name: str | None = None
    scale_down_delay_seconds: float = 600.0
    auto_promote: bool = True


@dataclass(frozen=True)
class ManualControl:
    """Human requests, parsed from ``spec.rollout`` and ``modelserve.io/*`` annotations.

    Level-triggered: ``paused`` (hold everything), ``abort`` (roll back the candidate, keep it rolled
    back while set). One-shot: ``promote`` (``"step"``/``"full"``) with ``promote_token``,
    ``retry_token``, ``resume_token``. A one-shot request acts once: its token is recorded in the
    rollout status when first seen and ignored while it stays the same.
    """

    paused: bool = False
    abort: bool = False
    promote: str | None = None
    promote_token: str | None = None
    retry_token: str | None = None
    resume_token: str | None = None

    def __post_init__(self) -> None:
        if self.promote not in (None, PROMOTE_STEP, PROMOTE_FULL):
            raise ValueError(f"spec.rollout.promote: {self.promote!r} must be 'step' or 'full'")


@dataclass(frozen=True)
class RolloutSpec:
    """``spec.rollout`` with defaults applied, plus what the machine needs to know about the router."""

    strategy: str = STRATEGY_CANARY
    canary: CanarySpec = CanarySpec()
    shadow: ShadowSpec = ShadowSpec()
    blue_green: BlueGreenSpec = BlueGreenSpec()
    #: ``spec.rollout.analysis.gates`` is non-empty: pause/analysis steps need a PROCEED verdict.
    gates_configured: bool = False
    analysis_interval_seconds: float = 60.0
    #: ``spec.rollout.scaleDownDelay``: how long a rolled-back/replaced candidate (and, for canary and
    #: shadow, the previous stable after promotion) is kept before it is removed.
    scale_down_delay_seconds: float = 30.0
    progress_deadline_seconds: float = 1800.0
    #: The router only approximates weights by replica ratios (``router.approximate``).
    weight_approximate: bool = False
    manual: ManualControl = ManualControl()

    def __post_init__(self) -> None:
        if self.strategy not in (STRATEGY_CANARY, STRATEGY_SHADOW, STRATEGY_BLUE_GREEN):
            raise ValueError(f"spec.rollout.strategy: {self.strategy!r} must be canary, shadow or blueGreen")
        if self.shadow.then not in ("promote", "canary"):
            raise ValueError(f"spec.rollout.shadow.then: {self.shadow.then!r} must be promote or canary")


@dataclass(frozen=True)
class RevisionReplicas:
    """Observed replica counts of one revision's workload."""

    desired: int = 0
    ready: int = 0


@dataclass(frozen=True)
class CandidateFetchFailure:
    """The candidate revision's model download failed: ``message`` names the URI and the error;
    ``rollback``: roll back (spec.rollout.analysis.onFailure rollback) rather than pause."""

    message: str
    rollback: bool = True


@dataclass(frozen=True)
class ObservedRevisions:
    """What the cluster looks like now.

    ``target_replicas``: the full size the model should run at (``spec.replicas``, or the autoscaler's
    current desired count). ``revisions``: every revision that has a workload, by revision hash.
    """

    target_replicas: int
    revisions: Mapping[str, RevisionReplicas] = field(default_factory=dict)
    #: The candidate's pods could not fetch its model (ModelFetchFailed): it is never promoted.
    candidate_fetch_failure: CandidateFetchFailure | None = None

    def ready(self, revision: str | None) -> int:
        if revision is None or revision not in self.revisions:
            return 0
        return self.revisions[revision].ready


@dataclass(frozen=True)
class AnalysisOutcome:
    """The analysis judge's decision for the current window, as the reconciler maps it.

    ``decision``: ``continue`` | ``proceed`` | ``rollback`` | ``pause``; ``reason``: a sentence naming the
    gate, value and bound (shown in status and events); ``window_start``: start of the data the verdict
    covers, when known (a PROCEED over data older than the current step is not counted).
    """

    decision: str
    reason: str = ""
    window_start: datetime | None = None

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"analysis decision {self.decision!r} must be one of {', '.join(DECISIONS)}")


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in _TRUE_VALUES


def _token(annotation_value: str | None) -> str | None:
    if annotation_value is None or not str(annotation_value).strip():
        return None
    return f"annotation:{str(annotation_value).strip()}"


def manual_control_from(
    rollout: Mapping[str, Any] | None, annotations: Mapping[str, str] | None, *, spec_revision: str
) -> ManualControl:
    """Merge ``spec.rollout.{paused,abort,promote}`` and the ``modelserve.io/*`` annotations.

    - ``paused``/``abort``: true when either the spec field or the annotation (``"true"``) says so.
    - promote: annotation ``modelserve.io/promote: "step"|"full"`` (optionally ``"step@<nonce>"``; the
      whole value is the token, so write a new nonce to promote again), else ``spec.rollout.promote``,
      whose token is ``spec:<value>:<spec_revision>`` -- a committed promote acts once per revision.
    - retry / resume: any new annotation value is a new one-shot request.
    Raises ``ValueError`` naming the annotation when the promote value is not step/full.
    """
    rollout = rollout or {}
    annotations = annotations or {}
    promote: str | None = None
    promote_token: str | None = None
    raw_promote = annotations.get(ANNOTATION_PROMOTE)
    if raw_promote is not None and str(raw_promote).strip():
        kind = str(raw_promote).strip().split("@", 1)[0]
        if kind not in (PROMOTE_STEP, PROMOTE_FULL):
            raise ValueError(
                f"metadata.annotations[{ANNOTATION_PROMOTE}]: {raw_promote!r} must be "
                f"'step' or 'full', optionally followed by '@<nonce>'"
            )
        promote, promote_token = kind, _token(raw_promote)
    elif rollout.get("promote"):
        promote = str(rollout["promote"])
        promote_token = f"spec:{promote}:{spec_revision}"
    return ManualControl(
        paused=bool(rollout.get("paused")) or _truthy(annotations.get(ANNOTATION_PAUSED, "")),
        abort=bool(rollout.get("abort")) or _truthy(annotations.get(ANNOTATION_ABORT, "")),
        promote=promote,
        promote_token=promote_token,
        retry_token=_token(annotations.get(ANNOTATION_RETRY)),
        resume_token=_token(annotations.get(ANNOTATION_RESUME)),
    )


def _seconds(body: Mapping[str, Any], key: str, default: str, path: str) -> float:
    return parse_duration(str(body.get(key) or default), field=f"{path}.{key}")


def rollout_spec_from_api(
    rollout: Mapping[str, Any] | None,
    *,
    annotations: Mapping[str, str] | None = None,
    spec_revision: str,
    weight_approximate: bool,
) -> RolloutSpec:
    """Build a ``RolloutSpec`` from the ``spec.rollout`` dict (defaults from the API contract applied).

    ``weight_approximate`` is the chosen router's ``approximate``. Raises ``ValueError`` naming the
    field path on invalid input.
    """
    rollout = rollout or {}
    path = "spec.rollout"
    canary = rollout.get("canary") or {}
    shadow = rollout.get("shadow") or {}
    blue_green = rollout.get("blueGreen") or {}
    analysis = rollout.get("analysis") or {}
    return RolloutSpec(
        strategy=str(rollout.get("strategy") or STRATEGY_CANARY),
        canary=CanarySpec(steps=parse_steps(canary.get("steps"), field=f"{path}.canary.steps")),
        shadow=ShadowSpec(
            mirror_percent=int(shadow.get("mirrorPercent", 100)),
            duration_seconds=_seconds(shadow, "duration", "10m", f"{path}.shadow"),
            then=str(shadow.get("then") or "promote"),
        ),
        blue_green=BlueGreenSpec(
            preview_service_name=blue_green.get("previewServiceName") or None,
            scale_down_delay_seconds=_seconds(blue_green, "scaleDownDelay", "10m", f"{path}.blueGreen"),
            auto_promote=bool(blue_green.get("autoPromote", True)),
        ),
        gates_configured=bool(analysis.get("gates")),
        analysis_interval_seconds=_seconds(analysis, "interval", "1m", f"{path}.analysis"),
        scale_down_delay_seconds=_seconds(rollout, "scaleDownDelay", "30s", path),
        progress_deadline_seconds=_seconds(rollout, "progressDeadline", "30m", path),
        weight_approximate=weight_approximate,
        manual=manual_control_from(rollout, annotations, spec_revision=spec_revision),
    )
