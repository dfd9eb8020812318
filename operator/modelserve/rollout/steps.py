"""Rollout steps and the small pure helpers around them (durations, replica shares).

A canary is a list of steps; each step is exactly one of ``setWeight``, ``pause`` or ``analysis``
(the CRD enforces that with CEL, ``parse_steps`` checks it again so a hand-built dict fails loudly).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from modelserve.api.durations import parse_duration


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
    raw_steps: Sequence[Mapping[str, object]] | None, *, field: str = "spec.rollout.canary.steps"
) -> tuple[Step, ...]:
    """Turn ``spec.rollout.canary.steps`` (a list of one-key dicts) into typed steps.

    Raises ``ValueError`` naming the step's field path when a step has not exactly one known key or a
    setWeight is out of 0..100 or not strictly increasing.
    """
    steps: list[Step] = []
    last_weight = -1
    for index, raw in enumerate(raw_steps or ()):
        path = f"{field}[{index}]"
        keys = [k for k in ("setWeight", "pause", "analysis") if raw.get(k) is not None]
        if len(keys) != 1:
            raise ValueError(
                f"{path}: needs exactly one of setWeight, pause, analysis (found {keys or 'none'})"
            )
        key = keys[0]
        if key == "setWeight":
            weight = raw["setWeight"]
            if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
                raise ValueError(f"{path}.setWeight: {weight!r} must be an integer 0..100")
            if weight <= last_weight:
                raise ValueError(
                    f"{path}.setWeight: {weight} must be greater than the previous setWeight ({last_weight})"
                )
            last_weight = weight
            steps.append(SetWeightStep(weight))
            continue
        body = raw[key]
        if not isinstance(body, Mapping):
            raise ValueError(f"{path}.{key}: must be an object (use {{}} for defaults)")
        duration = body.get("duration")
        seconds = (
            None if duration in (None, "") else parse_duration(str(duration), field=f"{path}.{key}.duration")
        )
        steps.append(PauseStep(seconds) if key == "pause" else AnalysisStep(seconds))
    return tuple(steps)


def effective_canary_steps(steps: Sequence[Step], *, gates_configured: bool) -> tuple[Step, ...]:
    """The steps the machine walks: the user's, plus a final gate when analysis would otherwise be skipped.

    With gates configured, a candidate must never be promoted on a weight nobody judged: when the list
    does not end with a pause/analysis step after its last non-zero setWeight, one ``AnalysisStep()``
    (a single PROCEED verdict) is appended.
    """
    result = tuple(steps)
    if not gates_configured:
        return result
    weighted = [i for i, s in enumerate(result) if isinstance(s, SetWeightStep) and s.weight > 0]
    last_weight_index = weighted[-1] if weighted else None
    if last_weight_index is None:
        return result
    if any(not isinstance(s, SetWeightStep) for s in result[last_weight_index + 1 :]):
        return result
    return (*result, AnalysisStep())
