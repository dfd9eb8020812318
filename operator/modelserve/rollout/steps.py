"""What the machine does with canary steps beyond parsing them (the steps themselves are the API's,
``api.rollout``)."""

from __future__ import annotations

from collections.abc import Sequence

from modelserve.api.rollout import AnalysisStep, SetWeightStep, Step


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
