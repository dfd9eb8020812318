"""Verdicts and decisions of progressive-delivery analysis.

Four verdicts are kept apart on purpose: a metrics outage (``Error``) or too little traffic
(``Inconclusive``) must never look like a pass, and must never look like a failure either --
healthy canaries are not rolled back because Prometheus was down or traffic was low.
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    """Outcome of one gate measurement, or of one analysis (all gates of one interval)."""

    PASSED = "Passed"
    FAILED = "Failed"
    #: The query worked but there is not enough evidence: too few samples, no series, or a bound
    #: exceeded by the point estimate without statistical significance.
    INCONCLUSIVE = "Inconclusive"
    #: The measurement itself failed: query error, Prometheus unreachable, malformed result.
    ERROR = "Error"

    def __str__(self) -> str:
        return self.value


class DecisionAction(StrEnum):
    """What the rollout controller should do after an analysis."""

    #: Keep waiting and measuring (the step's analysis is not complete, or the latest analysis
    #: is not a pass yet but no limit was reached).
    CONTINUE = "Continue"
    #: The analysis step passed: the rollout may advance to its next step.
    PROCEED = "Proceed"
    ROLLBACK = "Rollback"
    PAUSE = "Pause"

    def __str__(self) -> str:
        return self.value
