"""Properties of the rollout machine over random scripts: a restarted operator (state read back from the
status dict at every reconcile) behaves exactly like an uninterrupted one; weights never jump more than
one step; the candidate is scaled before it gets weight; rollbacks take all traffic off at once."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from modelserve.api.rollout import BlueGreenSpec, CanarySpec, SetWeightStep, ShadowSpec, parse_steps
from modelserve.rollout.machine import plan_rollout
from modelserve.rollout.spec import (
    AnalysisOutcome,
    ManualControl,
    ObservedRevisions,
    RevisionReplicas,
    RolloutSpec,
)
from modelserve.rollout.state import PendingScaleDown, RolloutState, state_from_status, state_to_status
from modelserve.rollout.steps import effective_canary_steps
from modelserve.routers.base import Weights
from modelserve.routers.replicas import candidate_share

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

SPECS = [
    RolloutSpec(
        canary=CanarySpec(
            parse_steps(
                [
                    {"setWeight": 10},
                    {"pause": {"duration": "1m"}},
                    {"setWeight": 40},
                    {"analysis": {"duration": "2m"}},
                    {"setWeight": 80},
                ]
            )
        ),
        gates_configured=True,
    ),
    RolloutSpec(
        canary=CanarySpec(parse_steps([{"setWeight": 25}, {"pause": {}}, {"setWeight": 100}])),
        weight_approximate=True,
    ),
    RolloutSpec(
        strategy="shadow",
        shadow=ShadowSpec(mirror_percent=50, duration_seconds=120, then="canary"),
        canary=CanarySpec(parse_steps([{"setWeight": 50}])),
        gates_configured=True,
    ),
    RolloutSpec(
        strategy="blueGreen",
        blue_green=BlueGreenSpec(scale_down_delay_seconds=120, auto_promote=True),
        gates_configured=True,
    ),
]


@dataclass(frozen=True)
class Action:
    after: int
    revision: str
    decision: str | None
    ready_fraction: float
    paused: bool
    abort: bool
    promote: str | None
    token: int
    frozen: bool


DEPLOY = Action(0, "s1", None, 1.0, False, False, None, 0, False)

actions = st.builds(
    Action,
    after=st.sampled_from([0, 1, 10, 30, 60, 120, 700]),
    revision=st.sampled_from(["c1"] * 6 + ["s1", "c2"]),
    decision=st.sampled_from([None, None, "continue", "proceed", "proceed", "rollback", "pause"]),
    ready_fraction=st.sampled_from([1.0, 1.0, 1.0, 0.5, 0.0]),
    paused=st.sampled_from([False] * 8 + [True]),
    abort=st.sampled_from([False] * 15 + [True]),
    promote=st.sampled_from([None] * 6 + ["step", "full"]),
    token=st.integers(0, 3),
    frozen=st.sampled_from([False] * 8 + [True]),
)


def run(spec: RolloutSpec, script: list[Action], *, restart: bool):
    state, now, target = RolloutState(), T0, 8
    desired: dict[str, int] = {}
    ready: dict[str, int] = {}
    history = []
    for action in script:
        now += timedelta(seconds=action.after)
        if restart:  # a new operator process: all it has is the status, as JSON
            state = state_from_status(json.loads(json.dumps(state_to_status(state))))
        observed = ObservedRevisions(
            target, {r: RevisionReplicas(n, ready.get(r, 0)) for r, n in desired.items()}
        )
        token = f"annotation:{action.token}"
        manual = ManualControl(
            paused=action.paused,
            abort=action.abort,
            promote=action.promote,
            promote_token=f"{token}/{action.promote}" if action.promote else None,
            retry_token=token,
            resume_token=token,
        )
        analysis = AnalysisOutcome(action.decision, "gate x") if action.decision else None
        plan = plan_rollout(
            replace(spec, manual=manual),
            state,
            observed,
            analysis,
            now,
            spec_revision=action.revision,
            frozen=action.frozen,
        )
        history.append((observed, plan))
        state = plan.state
        desired = dict(plan.replicas)
        # Pods converge between reconciles, possibly only partly.
        ready = {
            r: (n if ready.get(r, 0) >= n else max(ready.get(r, 0), int(n * action.ready_fraction)))
            for r, n in plan.replicas.items()
        }
    return history


@settings(max_examples=150, deadline=None)
@given(spec_index=st.integers(0, len(SPECS) - 1), script=st.lists(actions, min_size=1, max_size=40))
def test_restart_from_status_at_every_reconcile_is_identical(spec_index, script):
    spec = SPECS[spec_index]
    uninterrupted = run(spec, [DEPLOY, *script], restart=False)
    restarted = run(spec, [DEPLOY, *script], restart=True)
    assert [p for _, p in uninterrupted] == [p for _, p in restarted]


@settings(max_examples=150, deadline=None)
@given(spec_index=st.integers(0, len(SPECS) - 1), script=st.lists(actions, min_size=1, max_size=40))
def test_weights_move_one_step_at_a_time_and_only_onto_ready_capacity(spec_index, script):
    spec = SPECS[spec_index]
    steps = effective_canary_steps(spec.canary.steps, gates_configured=spec.gates_configured)
    weights = [s.weight for s in steps if isinstance(s, SetWeightStep)]
    history = run(spec, [DEPLOY, *script], restart=False)
    for (_, before), (observed, after) in itertools.pairwise(history):
        if after.candidate_revision is None:
            assert after.weights.candidate == 0 and after.weights.mirror_percent == 0
        if after.state.failed_revision and after.state.failed_revision != before.state.failed_revision:
            assert after.weights == Weights(100, 0, 0)  # rollback: all traffic back in the same plan
        if before.candidate_revision is not None and after.candidate_revision == before.candidate_revision:
            old, new = before.weights.candidate, after.weights.candidate
            if new > old:
                assert new == min(w for w in weights if w > old)  # exactly one step forward
                need = candidate_share(observed.target_replicas, new)
                assert observed.ready(after.candidate_revision) >= need
        if (
            after.stable_revision != before.stable_revision
            and after.stable_revision == before.candidate_revision
        ):
            # promotion: the new stable is Ready at full size; the old stays until its delay is over
            assert observed.ready(after.stable_revision) >= observed.target_replicas
            assert before.stable_revision in after.replicas
        replaced = after.candidate_revision not in (None, before.candidate_revision)
        if before.candidate_revision is not None and replaced:
            assert after.weights.candidate == 0  # a replacement candidate starts with no traffic


@settings(max_examples=200, deadline=None)
@given(
    st.builds(
        RolloutState,
        stable_revision=st.one_of(st.none(), st.text("abc0123", min_size=1, max_size=8)),
        candidate_revision=st.one_of(st.none(), st.text("abc0123", min_size=1, max_size=8)),
        phase=st.sampled_from(["Pending", "Ready", "Progressing", "Paused", "RolledBack", "Frozen"]),
        message=st.text(max_size=20),
        step_index=st.integers(0, 32),
        canary_weight=st.integers(0, 100),
        started_at=st.one_of(st.none(), st.integers(0, 10**8).map(lambda s: T0 + timedelta(seconds=s))),
        step_proceeded=st.booleans(),
        scale_downs=st.lists(
            st.builds(
                PendingScaleDown,
                revision=st.text("abc", min_size=1, max_size=4),
                at=st.integers(0, 10**6).map(lambda s: T0 + timedelta(seconds=s)),
                replicas=st.integers(0, 100),
                reason=st.sampled_from(["RolledBack", "Replaced"]),
            ),
            max_size=3,
        ).map(tuple),
        passed=st.integers(0, 50),
    )
)
def test_state_round_trips_through_status(state):
    assert state_from_status(json.loads(json.dumps(state_to_status(state)))) == state
