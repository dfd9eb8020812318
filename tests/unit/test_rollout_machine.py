"""State-machine transitions, driven through a tiny simulated cluster (pure, no Kubernetes)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from modelserve.api.constants import (
    COND_DEGRADED,
    EVENT_PROMOTED,
    EVENT_ROLLED_BACK,
    EVENT_WARNING,
    PHASE_DEGRADED,
    PHASE_FROZEN,
    PHASE_PAUSED,
    PHASE_PROGRESSING,
    PHASE_READY,
    PHASE_ROLLED_BACK,
    REASON_ABORTED,
    REASON_ANALYSIS_PAUSE,
    REASON_PROGRESS_DEADLINE_EXCEEDED,
    REASON_QUALITY_GATE_FAILED,
    STAGE_PREVIEW,
    STAGE_PROMOTING,
)
from modelserve.api.rollout import BlueGreenSpec, CanarySpec, ShadowSpec, parse_steps
from modelserve.rollout.machine import RolloutPlan, analysis_window_start, plan_rollout
from modelserve.rollout.spec import (
    AnalysisOutcome,
    ManualControl,
    ObservedRevisions,
    RevisionReplicas,
    RolloutSpec,
)
from modelserve.rollout.state import RolloutState, state_from_status, state_to_status
from modelserve.routers.base import Weights

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
PROCEED = AnalysisOutcome("proceed", "all gates passed")
CONTINUE = AnalysisOutcome("continue", "not enough samples")


def canary(steps: list[dict], **kw) -> RolloutSpec:
    return RolloutSpec(canary=CanarySpec(parse_steps(steps)), **kw)


@dataclass
class Sim:
    """A fake cluster: workloads get the plan's replica counts; pods become Ready by the next reconcile
    when ``auto_ready`` (else ``ready`` is set by the test)."""

    spec: RolloutSpec
    target: int = 10
    auto_ready: bool = True
    roundtrip: bool = False
    now: datetime = T0
    state: RolloutState = field(default_factory=RolloutState)
    desired: dict[str, int] = field(default_factory=dict)
    ready: dict[str, int] = field(default_factory=dict)
    plans: list[RolloutPlan] = field(default_factory=list)

    def observed(self) -> ObservedRevisions:
        return ObservedRevisions(
            self.target, {r: RevisionReplicas(n, self.ready.get(r, 0)) for r, n in self.desired.items()}
        )

    def step(
        self,
        revision: str,
        *,
        after: float = 0,
        analysis: AnalysisOutcome | None = None,
        frozen: bool = False,
        manual: ManualControl | None = None,
    ) -> RolloutPlan:
        self.now += timedelta(seconds=after)
        spec = self.spec if manual is None else replace(self.spec, manual=manual)
        state = state_from_status(state_to_status(self.state)) if self.roundtrip else self.state
        plan = plan_rollout(
            spec, state, self.observed(), analysis, self.now, spec_revision=revision, frozen=frozen
        )
        self.state = plan.state
        self.desired = dict(plan.replicas)
        self.ready = {
            r: (n if self.auto_ready else min(self.ready.get(r, 0), n)) for r, n in plan.replicas.items()
        }
        self.plans.append(plan)
        return plan

    def deployed(self, revision: str = "s1") -> Sim:
        self.step(revision)
        return self


def reasons(plan: RolloutPlan) -> list[str]:
    return [e.reason for e in plan.events]


def condition(plan: RolloutPlan, type_: str):
    return next(c for c in plan.conditions if c.type == type_)


# --- first deploy ----------------------------------------------------------------------------------
def test_first_deploy_makes_the_revision_stable_at_once():
    sim = Sim(canary([{"setWeight": 50}]))
    plan = sim.step("s1")
    assert plan.state.stable_revision == "s1" and plan.candidate_revision is None
    assert plan.state.phase == PHASE_READY
    assert plan.replicas == {"s1": 10}
    assert plan.weights == Weights(100, 0, 0)
    assert reasons(plan) == ["Deployed"]
    assert plan.requeue_after is None
    again = sim.step("s1")
    assert again.events == () and again.state == plan.state


# --- canary good path ------------------------------------------------------------------------------
def test_canary_walks_every_step_scaling_before_weight_and_promotes_without_capacity_dip():
    sim = Sim(
        canary(
            [
                {"setWeight": 20},
                {"pause": {"duration": "1m"}},
                {"setWeight": 50},
                {"analysis": {"duration": "2m"}},
            ]
        )
    ).deployed()
    p = sim.step("c1")
    assert p.state.phase == PHASE_PROGRESSING and p.candidate_revision == "c1"
    assert p.replicas == {"s1": 10, "c1": 2} and p.weights == Weights(100, 0)  # scale first
    p = sim.step("c1")
    assert p.weights == Weights(80, 20) and p.state.step_index == 1  # 2 Ready -> weight 20
    assert "WeightSet" in reasons(p)
    p = sim.step("c1", after=30)
    assert p.weights == Weights(80, 20) and p.state.step_index == 1
    assert p.requeue_after == 30
    p = sim.step("c1", after=30)
    assert p.state.step_index == 2 and p.replicas["c1"] == 5 and p.weights == Weights(80, 20)
    p = sim.step("c1")
    assert p.weights == Weights(50, 50) and p.state.step_index == 3
    p = sim.step("c1", after=119)
    assert p.state.step_index == 3
    p = sim.step("c1", after=1)
    assert p.state.step_index == 4
    p = sim.step("c1")
    assert p.state.stage == STAGE_PROMOTING
    assert p.replicas == {"s1": 10, "c1": 10} and p.weights == Weights(50, 50)  # full size before 100 %
    p = sim.step("c1")
    assert p.state.stable_revision == "c1" and p.candidate_revision is None
    assert p.weights == Weights(100, 0) and p.state.phase == PHASE_READY
    assert p.replicas == {"c1": 10, "s1": 10}  # old stable kept for scaleDownDelay
    assert EVENT_PROMOTED in reasons(p)
    assert p.requeue_after == 30
    p = sim.step("c1", after=30)
    assert p.replicas == {"c1": 10} and p.delete_revisions == ("s1",)
    assert condition(p, COND_DEGRADED).status is False


def test_candidate_gets_weight_only_once_its_share_is_ready():
    sim = Sim(canary([{"setWeight": 30}]), auto_ready=False).deployed()
    sim.ready["s1"] = 10
    p = sim.step("c1")
    assert p.replicas["c1"] == 3
    sim.ready["c1"] = 2
    p = sim.step("c1", after=10)
    assert p.weights.candidate == 0 and p.requeue_after == 10
    sim.ready["c1"] = 3
    p = sim.step("c1", after=10)
    assert p.weights == Weights(70, 30)


def test_indefinite_pause_waits_for_promote_step_and_a_token_acts_once():
    sim = Sim(canary([{"setWeight": 10}, {"pause": {}}, {"setWeight": 40}])).deployed()
    sim.step("c1")
    sim.step("c1")
    p = sim.step("c1", after=3600)
    assert p.state.phase == PHASE_PAUSED and p.state.step_index == 1 and p.requeue_after is None
    promote = ManualControl(promote="step", promote_token="annotation:step@1")
    p = sim.step("c1", manual=promote)
    assert p.state.step_index == 2 and p.weights.candidate == 10
    p = sim.step("c1", manual=promote)  # same token: already applied
    assert p.weights.candidate == 40 and p.state.step_index == 3


def test_promote_full_skips_steps_but_still_scales_before_weight():
    sim = Sim(canary([{"setWeight": 10}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}])).deployed()
    sim.step("c1")
    sim.step("c1")
    full = ManualControl(promote="full", promote_token="spec:full:c1")
    p = sim.step("c1", manual=full)
    assert p.state.stage == STAGE_PROMOTING and p.replicas["c1"] == 10 and p.weights.candidate == 10
    p = sim.step("c1", manual=full)
    assert p.state.stable_revision == "c1" and p.weights == Weights(100, 0)


def test_promote_committed_with_the_new_revision_applies_to_it():
    sim = Sim(canary([{"setWeight": 10}, {"pause": {}}])).deployed()
    sim.step("s1", manual=ManualControl(promote="full", promote_token="spec:full:s1"))
    full = ManualControl(promote="full", promote_token="spec:full:c1")
    p = sim.step("c1", manual=full)
    assert p.state.stage != STAGE_PROMOTING
    p = sim.step("c1", manual=full)
    assert p.state.stage == STAGE_PROMOTING


def test_stale_promote_annotation_from_an_idle_period_does_not_act_on_the_next_rollout():
    sim = Sim(canary([{"setWeight": 10}, {"pause": {}}])).deployed()
    stale = ManualControl(promote="step", promote_token="annotation:step@old")
    sim.step("s1", manual=stale)
    sim.step("c1", manual=stale)
    sim.step("c1", manual=stale)
    p = sim.step("c1", manual=stale)
    assert p.state.step_index == 1 and p.state.phase == PHASE_PAUSED


# --- analysis ----------------------------------------------------------------------------------------
def test_analysis_needs_a_proceed_after_a_full_interval_of_exposure():
    steps = [{"setWeight": 10}, {"analysis": {}}, {"setWeight": 50}]
    sim = Sim(canary(steps, gates_configured=True)).deployed()
    sim.step("c1")
    assert analysis_window_start(sim.spec, sim.state) is None  # not exposed yet
    p = sim.step("c1", after=5)
    exposed_at = sim.now
    assert p.weights.candidate == 10 and analysis_window_start(sim.spec, sim.state) == exposed_at
    assert p.requeue_after == 60
    p = sim.step("c1", after=30, analysis=PROCEED)  # too early: half an interval
    assert p.state.step_index == 1 and not p.state.step_proceeded
    p = sim.step("c1", after=30, analysis=CONTINUE)
    assert p.state.step_index == 1
    stale = AnalysisOutcome("proceed", "old data", window_start=exposed_at - timedelta(minutes=5))
    p = sim.step("c1", after=1, analysis=stale)
    assert p.state.step_index == 1
    p = sim.step("c1", after=1, analysis=PROCEED)
    assert p.state.step_index == 2


def test_implicit_final_gate_before_promotion_when_steps_end_on_a_weight():
    sim = Sim(canary([{"setWeight": 25}], gates_configured=True)).deployed()
    sim.step("c1")
    sim.step("c1")
    p = sim.step("c1", after=600)
    assert p.state.stage != STAGE_PROMOTING and "waiting for quality gates" in p.state.message
    p = sim.step("c1", after=1, analysis=PROCEED)
    p = sim.step("c1")
    assert p.state.stage == STAGE_PROMOTING


def test_pause_step_with_gates_needs_both_time_and_a_proceed():
    sim = Sim(canary([{"setWeight": 10}, {"pause": {"duration": "5m"}}], gates_configured=True)).deployed()
    sim.step("c1")
    sim.step("c1")
    p = sim.step("c1", after=60, analysis=PROCEED)
    assert p.state.step_proceeded and p.state.step_index == 1
    p = sim.step("c1", after=240)
    assert p.state.step_index == 2


def test_rollback_sends_all_traffic_to_stable_in_the_same_plan_and_scales_down_after_the_delay():
    sim = Sim(
        canary(
            [{"setWeight": 20}, {"setWeight": 60}, {"pause": {}}],
            gates_configured=True,
            scale_down_delay_seconds=45,
        )
    ).deployed()
    for _ in range(4):
        sim.step("c1")
    assert sim.state.canary_weight == 60
    fail = AnalysisOutcome("rollback", "gate errorRate: 0.12 > max 0.05")
    p = sim.step("c1", after=20, analysis=fail)
    assert p.weights == Weights(100, 0) and p.candidate_revision is None
    assert p.replicas == {"s1": 10, "c1": 6}  # kept, without traffic, for scaleDownDelay
    assert p.state.phase == PHASE_ROLLED_BACK and p.state.failed_revision == "c1"
    degraded = condition(p, COND_DEGRADED)
    assert (degraded.status, degraded.reason) == (True, REASON_QUALITY_GATE_FAILED)
    assert "errorRate: 0.12 > max 0.05" in degraded.message
    assert [(e.type, e.reason) for e in p.events] == [(EVENT_WARNING, EVENT_ROLLED_BACK)]
    assert p.requeue_after == 45
    p = sim.step("c1", after=44)
    assert p.replicas["c1"] == 6 and p.events == () and p.state.phase == PHASE_ROLLED_BACK
    p = sim.step("c1", after=1)
    assert "c1" not in p.replicas and p.delete_revisions == ("c1",)
    p = sim.step("c1", after=600)
    assert p.candidate_revision is None and p.state.phase == PHASE_ROLLED_BACK  # not retried


def test_rollback_decision_before_exposure_is_ignored():
    sim = Sim(canary([{"setWeight": 20}], gates_configured=True), auto_ready=False).deployed()
    sim.ready["s1"] = 10
    p = sim.step("c1")
    p = sim.step("c1", analysis=AnalysisOutcome("rollback", "no data"))
    assert p.candidate_revision == "c1"


def test_retry_restarts_a_rolled_back_revision_once_per_token():
    sim = Sim(canary([{"setWeight": 20}, {"pause": {}}])).deployed()
    sim.step("c1")
    sim.step("c1")
    sim.step("c1", manual=ManualControl(abort=True))
    retry = ManualControl(retry_token="annotation:1")
    p = sim.step("c1", manual=retry)
    assert p.candidate_revision == "c1" and p.state.failed_revision is None
    assert "RolloutRetried" in reasons(p)
    sim.step("c1", manual=retry)
    p = sim.step("c1", manual=ManualControl(abort=True, retry_token="annotation:1"))
    assert p.state.phase == PHASE_ROLLED_BACK
    p = sim.step("c1", manual=retry)
    assert p.candidate_revision is None and p.state.phase == PHASE_ROLLED_BACK  # token already used


def test_abort_rolls_back_with_reason_aborted():
    sim = Sim(canary([{"setWeight": 20}, {"pause": {}}])).deployed()
    sim.step("c1")
    sim.step("c1")
    p = sim.step("c1", manual=ManualControl(abort=True))
    assert p.weights == Weights(100, 0) and p.state.failed_reason == REASON_ABORTED
    assert condition(p, COND_DEGRADED).reason == REASON_ABORTED


def test_reverting_the_spec_after_a_rollback_clears_the_failure_and_reapplying_retries():
    sim = Sim(canary([{"setWeight": 20}, {"pause": {}}])).deployed()
    sim.step("c1")
    sim.step("c1", manual=ManualControl(abort=True))
    p = sim.step("s1")
    assert p.state.phase == PHASE_READY and p.state.failed_revision is None
    p = sim.step("c1")
    assert p.candidate_revision == "c1"


def test_manual_pause_holds_and_resume_continues():
    sim = Sim(canary([{"setWeight": 10}, {"pause": {"duration": "1m"}}, {"setWeight": 20}])).deployed()
    sim.step("c1")
    sim.step("c1")
    paused = ManualControl(paused=True)
    p = sim.step("c1", manual=paused)
    assert p.state.phase == PHASE_PAUSED and "RolloutPaused" in reasons(p)
    p = sim.step("c1", after=600, manual=paused)
    assert p.state.step_index == 1 and p.events == () and p.requeue_after is None
    p = sim.step("c1")
    assert "RolloutResumed" in reasons(p) and p.state.step_index == 2 and p.state.phase == PHASE_PROGRESSING


def test_analysis_pause_holds_until_resume():
    sim = Sim(canary([{"setWeight": 10}, {"analysis": {}}], gates_configured=True)).deployed()
    sim.step("c1")
    sim.step("c1")
    p = sim.step("c1", after=60, analysis=AnalysisOutcome("pause", "analysis inconclusive 5 times in a row"))
    assert p.state.phase == PHASE_PAUSED and p.state.pause_reason == REASON_ANALYSIS_PAUSE
    assert "inconclusive 5 times" in p.state.message and analysis_window_start(sim.spec, sim.state) is None
    p = sim.step("c1", after=60, analysis=PROCEED)
    assert p.state.step_index == 1 and p.state.phase == PHASE_PAUSED
    p = sim.step("c1", manual=ManualControl(resume_token="annotation:r1"))
    assert p.state.pause_reason is None and p.state.analysis_since == sim.now
    p = sim.step("c1", after=60, analysis=PROCEED)
    assert p.state.step_index == 2


# --- revisions changing mid-rollout ----------------------------------------------------------------------
def test_newer_candidate_replaces_the_old_one_and_restarts_at_step_zero():
    sim = Sim(canary([{"setWeight": 20}, {"pause": {}}])).deployed()
    sim.step("c1")
    sim.step("c1")
    p = sim.step("c2")
    assert p.candidate_revision == "c2" and p.state.step_index == 0 and p.weights == Weights(100, 0)
    assert p.replicas == {"s1": 10, "c1": 2, "c2": 2}
    assert reasons(p) == ["CandidateReplaced", "RolloutStarted"]
    p = sim.step("c2", after=30)
    assert p.replicas == {"s1": 10, "c2": 2} and p.delete_revisions == ("c1",)


def test_reverting_to_stable_mid_rollout_aborts_the_candidate_without_marking_it_failed():
    sim = Sim(canary([{"setWeight": 20}, {"pause": {}}])).deployed()
    sim.step("c1")
    sim.step("c1")
    p = sim.step("s1")
    assert p.state.phase == PHASE_READY and p.weights == Weights(100, 0) and p.candidate_revision is None
    assert p.state.failed_revision is None and "RolloutReverted" in reasons(p)


def test_frozen_blocks_new_rollouts_only():
    sim = Sim(canary([{"setWeight": 20}])).deployed()
    p = sim.step("c1", frozen=True)
    assert p.state.phase == PHASE_FROZEN and p.candidate_revision is None and reasons(p) == ["RolloutFrozen"]
    p = sim.step("c1", frozen=True)
    assert p.events == ()
    p = sim.step("c1")
    assert p.candidate_revision == "c1"
    p = sim.step("c1", frozen=True)
    assert p.candidate_revision == "c1" and p.weights.candidate == 20


def test_progress_deadline_pauses_with_degraded_condition_then_recovers():
    sim = Sim(canary([{"setWeight": 20}], progress_deadline_seconds=600), auto_ready=False).deployed()
    sim.ready["s1"] = 10
    sim.step("c1")
    p = sim.step("c1", after=599)
    assert p.state.pause_reason is None
    p = sim.step("c1", after=1)
    assert p.state.phase == PHASE_PAUSED and p.candidate_revision == "c1"
    degraded = condition(p, COND_DEGRADED)
    assert (degraded.status, degraded.reason) == (True, REASON_PROGRESS_DEADLINE_EXCEEDED)
    assert reasons(p) == ["ProgressDeadlineExceeded"]
    p = sim.step("c1", after=60)
    assert p.events == ()
    sim.ready["c1"] = 2
    p = sim.step("c1")
    assert p.weights.candidate == 20 and condition(p, COND_DEGRADED).status is False


# --- shadow ---------------------------------------------------------------------------------------------
def test_shadow_mirrors_at_full_size_then_promotes():
    spec = RolloutSpec(
        strategy="shadow", shadow=ShadowSpec(mirror_percent=30, duration_seconds=300), gates_configured=True
    )
    sim = Sim(spec).deployed()
    p = sim.step("c1")
    assert p.replicas == {"s1": 10, "c1": 10} and p.weights == Weights(100, 0, 0)
    p = sim.step("c1")
    assert p.weights == Weights(100, 0, 30) and "MirrorStarted" in reasons(p)
    p = sim.step("c1", after=300)
    assert p.state.stage == "Shadow"  # time is up but no PROCEED yet
    p = sim.step("c1", after=1, analysis=PROCEED)
    assert p.state.stage == STAGE_PROMOTING and p.weights == Weights(100, 0, 0)
    p = sim.step("c1")
    assert p.state.stable_revision == "c1" and p.weights == Weights(100, 0, 0)


def test_shadow_then_canary_continues_through_the_steps():
    spec = RolloutSpec(
        strategy="shadow",
        shadow=ShadowSpec(duration_seconds=60, then="canary"),
        canary=CanarySpec(parse_steps([{"setWeight": 50}])),
    )
    sim = Sim(spec).deployed()
    sim.step("c1")
    sim.step("c1")
    p = sim.step("c1", after=60)
    assert p.state.stage == "Canary" and p.weights == Weights(100, 0, 0) and p.replicas["c1"] == 5
    p = sim.step("c1")
    assert p.weights == Weights(50, 50)


def test_shadow_with_the_replica_router_is_degraded_not_started():
    sim = Sim(RolloutSpec(strategy="shadow", weight_approximate=True)).deployed()
    p = sim.step("c1")
    assert p.state.phase == PHASE_DEGRADED and p.candidate_revision is None
    assert "spec.traffic.router" in p.state.message


# --- blue-green -----------------------------------------------------------------------------------------
def test_blue_green_preview_judged_then_switches_at_once_and_keeps_old_for_scale_down_delay():
    spec = RolloutSpec(
        strategy="blueGreen", blue_green=BlueGreenSpec(scale_down_delay_seconds=600), gates_configured=True
    )
    sim = Sim(spec).deployed()
    p = sim.step("c1")
    assert p.replicas == {"s1": 10, "c1": 10} and p.preview_revision == "c1" and p.weights == Weights(100, 0)
    p = sim.step("c1")
    assert p.state.stage == STAGE_PREVIEW and "PreviewReady" in reasons(p)
    p = sim.step("c1", after=60, analysis=PROCEED)
    assert p.state.stable_revision == "c1" and p.weights == Weights(100, 0) and p.preview_revision is None
    assert p.replicas == {"c1": 10, "s1": 10}
    p = sim.step("c1", after=599)
    assert "s1" in p.replicas
    p = sim.step("c1", after=1)
    assert p.delete_revisions == ("s1",)


def test_blue_green_without_auto_promote_waits_for_promote():
    spec = RolloutSpec(strategy="blueGreen", blue_green=BlueGreenSpec(auto_promote=False))
    sim = Sim(spec).deployed()
    sim.step("c1")
    p = sim.step("c1")
    p = sim.step("c1", after=3600)
    assert p.state.phase == PHASE_PAUSED and "waiting for promote" in p.state.message
    promote = ManualControl(promote="step", promote_token="annotation:step@x")
    p = sim.step("c1", manual=promote)
    assert p.state.stage == STAGE_PROMOTING
    p = sim.step("c1", manual=promote)
    assert p.state.stable_revision == "c1"


def test_abort_during_the_scale_down_delay_switches_back_instantly():
    spec = RolloutSpec(strategy="blueGreen", blue_green=BlueGreenSpec(scale_down_delay_seconds=600))
    sim = Sim(spec).deployed()
    for _ in range(3):
        sim.step("c1")
    assert sim.state.stable_revision == "c1"
    p = sim.step("c1", after=60, manual=ManualControl(abort=True))
    assert p.state.stable_revision == "s1" and p.weights == Weights(100, 0)
    assert p.state.phase == PHASE_ROLLED_BACK and p.state.failed_revision == "c1"
    assert p.replicas == {"s1": 10, "c1": 10}


def test_reverting_the_spec_during_the_scale_down_delay_switches_back_instantly():
    sim = Sim(canary([{"setWeight": 50}], scale_down_delay_seconds=300)).deployed()
    for _ in range(4):
        sim.step("c1")
    assert sim.state.stable_revision == "c1"
    p = sim.step("s1", after=10)
    assert p.state.stable_revision == "s1" and p.candidate_revision is None and p.state.phase == PHASE_READY


# --- replica-ratio router -------------------------------------------------------------------------------
def test_replica_router_splits_by_pod_counts_and_rollback_restores_stable():
    sim = Sim(canary([{"setWeight": 30}, {"pause": {}}], weight_approximate=True)).deployed()
    p = sim.step("c1")
    assert p.replicas == {"s1": 10, "c1": 3}  # candidate first, stable untouched
    p = sim.step("c1")
    assert p.replicas == {"s1": 7, "c1": 3} and p.weights == Weights(70, 30) and p.state.weight_approximate
    p = sim.step("c1", manual=ManualControl(abort=True))
    assert p.replicas == {"s1": 10, "c1": 3} and p.weights == Weights(100, 0)


SCRIPT = [  # (revision, seconds since last reconcile, analysis decision, manual control)
    ("s1", 0, None, None),
    ("c1", 0, None, None),
    ("c1", 5, None, None),
    ("c1", 60, "proceed", None),
    ("c1", 0, None, None),
    ("c1", 0, None, None),
    ("c1", 61, "proceed", None),
    ("c1", 30, None, None),
    ("c1", 30, "continue", ManualControl(paused=True)),
    ("c1", 100, None, None),
    ("c1", 0, None, None),
    ("c1", 60, "pause", None),
    ("c1", 10, "proceed", None),
    ("c1", 5, None, ManualControl(resume_token="annotation:r")),
    ("c1", 60, "proceed", None),
    ("c1", 0, None, ManualControl(promote="step", promote_token="annotation:step@1")),
    ("c1", 0, None, None),
    ("c2", 10, None, None),
    ("c2", 0, None, None),
    ("c2", 0, None, None),
    ("c2", 61, "rollback", None),
    ("c2", 30, None, None),
    ("c2", 30, None, ManualControl(retry_token="annotation:again")),
    ("c2", 0, None, None),
    ("c2", 0, None, None),
    ("c2", 60, "proceed", None),
    ("c2", 120, "proceed", None),
    ("c2", 0, None, None),
    ("c2", 0, None, None),
    ("c2", 0, None, ManualControl(promote="full", promote_token="spec:full:c2")),
    ("c2", 0, None, None),
    ("c2", 0, None, None),
    ("c2", 30, None, None),
    ("s1", 10, None, None),
]


def _run_script(roundtrip: bool) -> list[RolloutPlan]:
    spec = canary(
        [
            {"setWeight": 10},
            {"pause": {"duration": "1m"}},
            {"setWeight": 40},
            {"analysis": {"duration": "2m"}},
            {"setWeight": 70},
            {"pause": {}},
        ],
        gates_configured=True,
    )
    sim = Sim(spec, roundtrip=roundtrip)
    for revision, after, decision, manual in SCRIPT:
        sim.step(
            revision,
            after=after,
            analysis=AnalysisOutcome(decision, "gate g") if decision else None,
            manual=manual,
        )
        assert state_from_status(state_to_status(sim.state)) == sim.state
    return sim.plans


def test_scripted_run_restarted_from_status_at_every_step_matches_the_uninterrupted_run():
    uninterrupted = _run_script(roundtrip=False)
    assert uninterrupted == _run_script(roundtrip=True)
    # the script really covers the interesting ground
    seen = {e.reason for p in uninterrupted for e in p.events}
    assert {
        "WeightSet",
        "StepCompleted",
        "RolloutPaused",
        "RolloutResumed",
        "RolledBack",
        "RolloutRetried",
        "PromotionStarted",
        "Promoted",
        "CandidateReplaced",
    } <= seen
    assert any(p.state.step_proceeded for p in uninterrupted)


@pytest.mark.parametrize("now", [T0.replace(microsecond=123456)])
def test_clock_is_truncated_to_seconds(now):
    plan = plan_rollout(
        RolloutSpec(),
        RolloutState(stable_revision="s1"),
        ObservedRevisions(1),
        None,
        now,
        spec_revision="c1",
        frozen=False,
    )
    assert plan.state.started_at == T0


def test_no_busy_requeue_while_held_by_an_analysis_pause():
    sim = Sim(canary([{"setWeight": 10}, {"pause": {"duration": "1m"}}], gates_configured=True)).deployed()
    sim.step("c1")
    sim.step("c1")
    p = sim.step("c1", after=120, analysis=AnalysisOutcome("pause", "inconclusive"))
    assert p.state.phase == PHASE_PAUSED and p.requeue_after is None
