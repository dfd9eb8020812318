"""The ModelDeployment planner: spec + observed state + clock in, desired objects, status and Events out.

Pure (no I/O); the shell in ``modelserve.reconcile.shell`` reads, calls it, applies and writes status.
"""

from modelserve.planner.modeldeployment import (
    OWNED_KINDS,
    AnalysisRun,
    Observed,
    Plan,
    plan_model_deployment,
    rollout_spec_for,
)

__all__ = ["OWNED_KINDS", "AnalysisRun", "Observed", "Plan", "plan_model_deployment", "rollout_spec_for"]
