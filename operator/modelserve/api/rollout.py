"""``spec.rollout``: strategy, canary steps, shadow, blue-green, analysis and manual controls, typed.

Parsed once with the rest of the spec (``api.modeldeployment.parse_model_deployment``), defaults from
the API contract applied; the rollout machine's own input (``rollout.spec.RolloutSpec``) is built from
this, the annotations and the router. A canary is a list of steps; each step is exactly one of
``setWeight``, ``pause`` or ``analysis`` (the CRD enforces that with CEL, ``parse_steps`` checks it again
so a hand-built dict fails loudly).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelserve.api.constants import STRATEGY_BLUE_GREEN, STRATEGY_CANARY, STRATEGY_SHADOW
from modelserve.api.durations import parse_duration
from modelserve.api.errors import SpecError, object_field
from modelserve.api.gates import AnalysisSpec

ROLLOUT_PATH = "spec.rollout"
PROMOTE_STEP = "step"
PROMOTE_FULL = "full"
SHADOW_THEN = ("promote", "canary")


# --- steps ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SetWeightStep:
    """Send ``weight`` percent of traffic to the candidate (after it is scaled to carry it)."""

    weight: int


@dataclass(frozen=True)
class PauseStep:
    """Hold the current weight for ``duration_seconds``; ``None`` holds until a manual promote."""

    duration_seconds: float | None = None


@dataclass(frozen=True)
class AnalysisStep:
    """Run the quality gates; ``duration_seconds`` is the minimum time to judge (``None``: one verdict)."""

    duration_seconds: float | None = None


Step = SetWeightStep | PauseStep | AnalysisStep


def parse_steps(
    raw_steps: Sequence[Mapping[str, object]] | None, *, field: str = f"{ROLLOUT_PATH}.canary.steps"
) -> tuple[Step, ...]:
    """Turn ``spec.rollout.canary.steps`` (a list of one-key dicts) into typed steps.

    Raises ``SpecError`` naming the step's field path when a step has not exactly one known key or a
    setWeight is out of 0..100 or not strictly increasing.
    """
    steps: list[Step] = []
    last_weight = -1
    for index, raw in enumerate(raw_steps or ()):
        path = f"{field}[{index}]"
        keys = [k for k in ("setWeight", "pause", "analysis") if raw.get(k) is not None]
        if len(keys) != 1:
            raise SpecError(path, f"needs exactly one of setWeight, pause, analysis (found {keys or 'none'})")
        key = keys[0]
        if key == "setWeight":
            weight = raw["setWeight"]
            if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
                raise SpecError(f"{path}.setWeight", f"{weight!r} must be an integer 0..100")
            if weight <= last_weight:
                raise SpecError(
                    f"{path}.setWeight",
                    f"{weight} must be greater than the previous setWeight ({last_weight})",
                )
            last_weight = weight
            steps.append(SetWeightStep(weight))
            continue
        body = raw[key]
        if not isinstance(body, Mapping):
            raise SpecError(f"{path}.{key}", "must be an object (use {} for defaults)")
        duration = body.get("duration")
        seconds = (
            None if duration in (None, "") else parse_duration(str(duration), field=f"{path}.{key}.duration")
        )
        steps.append(PauseStep(seconds) if key == "pause" else AnalysisStep(seconds))
    return tuple(steps)


# --- strategies -------------------------------------------------------------------------------------------
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
class Rollout:
    """``spec.rollout`` with the API's defaults; durations in seconds."""

    strategy: str = STRATEGY_CANARY
    canary: CanarySpec = field(default_factory=CanarySpec)
    shadow: ShadowSpec = field(default_factory=ShadowSpec)
    blue_green: BlueGreenSpec = field(default_factory=BlueGreenSpec)
    analysis: AnalysisSpec = field(default_factory=AnalysisSpec)
    #: ``scaleDownDelay``: how long a rolled-back/replaced candidate (and, for canary and shadow, the
    #: previous stable after promotion) is kept before it is removed.
    scale_down_delay_seconds: float = 30.0
    progress_deadline_seconds: float = 1800.0
    paused: bool = False
    abort: bool = False
    #: ``promote``: ``step`` or ``full`` (None when unset or empty).
    promote: str | None = None


def _seconds(body: Mapping[str, Any], key: str, default: str, path: str) -> float:
    return parse_duration(str(body.get(key) or default), field=f"{path}.{key}")


def parse_rollout(rollout: Mapping[str, Any] | None) -> Rollout:
    """``spec.rollout`` (a dict, or None) -> ``Rollout`` with defaults. Raises SpecError naming the field."""
    rollout = rollout or {}
    path = ROLLOUT_PATH
    if not isinstance(rollout, Mapping):
        raise SpecError(path, "must be an object")
    strategy = str(rollout.get("strategy") or STRATEGY_CANARY)
    if strategy not in (STRATEGY_CANARY, STRATEGY_SHADOW, STRATEGY_BLUE_GREEN):
        raise SpecError(f"{path}.strategy", f"{strategy!r} must be canary, shadow or blueGreen")
    promote = str(rollout.get("promote") or "") or None
    if promote not in (None, PROMOTE_STEP, PROMOTE_FULL):
        raise SpecError(f"{path}.promote", f"{promote!r} must be 'step' or 'full'")
    canary = object_field(rollout, "canary", path)
    shadow = object_field(rollout, "shadow", path)
    blue_green = object_field(rollout, "blueGreen", path)
    then = str(shadow.get("then") or "promote")
    if then not in SHADOW_THEN:
        raise SpecError(f"{path}.shadow.then", f"{then!r} must be promote or canary")
    return Rollout(
        strategy=strategy,
        canary=CanarySpec(steps=parse_steps(canary.get("steps"), field=f"{path}.canary.steps")),
        shadow=ShadowSpec(
            mirror_percent=int(shadow.get("mirrorPercent", 100)),
            duration_seconds=_seconds(shadow, "duration", "10m", f"{path}.shadow"),
            then=then,
        ),
        blue_green=BlueGreenSpec(
            preview_service_name=blue_green.get("previewServiceName") or None,
            scale_down_delay_seconds=_seconds(blue_green, "scaleDownDelay", "10m", f"{path}.blueGreen"),
            auto_promote=bool(blue_green.get("autoPromote", True)),
        ),
        analysis=AnalysisSpec.from_mapping(object_field(rollout, "analysis", path)),
        scale_down_delay_seconds=_seconds(rollout, "scaleDownDelay", "30s", path),
        progress_deadline_seconds=_seconds(rollout, "progressDeadline", "30m", path),
        paused=bool(rollout.get("paused")),
        abort=bool(rollout.get("abort")),
        promote=promote,
    )
