"""The rollout state machine: one pure function from (spec, state, observed, analysis, clock) to a plan.

``plan_rollout`` is called on every reconcile. It moves the rollout at most one step (one weight
change) per call, and everything it needs to continue is in the returned ``RolloutPlan.state`` (which
round-trips through the resource status), so a restarted operator resumes exactly.

Safety rules it keeps:
- scale before weight: a revision is scaled to carry a share and has that many Ready pods before the
  share is routed to it (canary steps, promotion, blue-green switch);
- the stable revision stays at full size during a rollout (mesh routers), so a rollback can send all
  traffic back at once; with the replica-ratio router the stable shrinks as the candidate grows
  (that *is* the split) and a rollback scales it back up;
- removed revisions are kept for a delay (``scaleDownDelay``) before they are deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from modelserve.api.conditions import Condition
from modelserve.api.constants import (
    COND_DEGRADED,
    COND_PROGRESSING,
    DECISION_PAUSE,
    DECISION_PROCEED,
    DECISION_ROLLBACK,
    EVENT_BLOCKED,
    EVENT_CANDIDATE_REPLACED,
    EVENT_DEPLOYED,
    EVENT_FROZEN,
    EVENT_MIRROR_STARTED,
    EVENT_NORMAL,
    EVENT_PAUSED,
    EVENT_PREVIEW_READY,
    EVENT_PROGRESS_DEADLINE,
    EVENT_PROMOTED,
    EVENT_PROMOTION_STARTED,
    EVENT_RESUMED,
    EVENT_RETRY,
    EVENT_REVERTED,
    EVENT_ROLLED_BACK,
    EVENT_ROLLOUT_STARTED,
    EVENT_SCALED_DOWN,
    EVENT_STEP_COMPLETED,
    EVENT_WARNING,
    EVENT_WEIGHT_SET,
    PHASE_DEGRADED,
    PHASE_FROZEN,
    PHASE_PAUSED,
    PHASE_PENDING,
    PHASE_PROGRESSING,
    PHASE_READY,
    PHASE_ROLLED_BACK,
    REASON_ABORTED,
    REASON_ANALYSIS_PAUSE,
    REASON_AS_EXPECTED,
    REASON_AWAITING_PROMOTION,
    REASON_MANUAL_PAUSE,
    REASON_MODEL_FETCH_FAILED,
    REASON_PAUSE_STEP,
    REASON_PROGRESS_DEADLINE_EXCEEDED,
    REASON_QUALITY_GATE_FAILED,
    REASON_ROLLED_BACK,
    REASON_ROLLOUT_COMPLETED,
    REASON_ROLLOUT_PAUSED,
    REASON_ROLLOUT_PROGRESSING,
    REASON_ROLLOUTS_FROZEN,
    REASON_UNSUPPORTED_STRATEGY,
    STAGE_CANARY,
    STAGE_IDLE,
    STAGE_PREVIEW,
    STAGE_PROMOTING,
    STAGE_SHADOW,
    STRATEGY_BLUE_GREEN,
    STRATEGY_SHADOW,
)
from modelserve.api.events import EventSpec
from modelserve.api.rollout import PROMOTE_FULL, PROMOTE_STEP, AnalysisStep, PauseStep, SetWeightStep, Step
from modelserve.rollout.spec import (
    AnalysisOutcome,
    ObservedRevisions,
    RolloutSpec,
)
from modelserve.rollout.state import (
    SCALE_DOWN_PREVIOUS_STABLE,
    SCALE_DOWN_REPLACED,
    SCALE_DOWN_REVERTED,
    SCALE_DOWN_ROLLED_BACK,
    PendingScaleDown,
    RolloutState,
    state_to_status,
)
from modelserve.rollout.steps import effective_canary_steps
from modelserve.routers.base import ALL_STABLE, Weights
from modelserve.routers.replicas import candidate_share, replicas_for_weight

#: How often to look again while waiting for pods to become Ready (watches usually wake us sooner).
READY_POLL_SECONDS = 10.0

_START_STAGE = {STRATEGY_SHADOW: STAGE_SHADOW, STRATEGY_BLUE_GREEN: STAGE_PREVIEW}


@dataclass(frozen=True)
class RolloutPlan:
    """What to do now.

    ``replicas``: desired replica count for every revision that should exist (revision -> count);
    ``delete_revisions``: observed revisions whose workloads must go; ``weights``: traffic split for the
    router (``stable_revision`` / ``candidate_revision`` name the two sides); ``preview_revision``: the
    revision behind the blue-green preview Service, if any; ``state``: the new progress (write it with
    ``status``); ``events``/``conditions`` to publish; ``requeue_after``: seconds until the next
    time-driven change (``None``: only a watch event can change anything).
    """

    state: RolloutState
    replicas: dict[str, int]
    delete_revisions: tuple[str, ...]
    weights: Weights
    stable_revision: str
    candidate_revision: str | None
    preview_revision: str | None
    events: tuple[EventSpec, ...]
    conditions: tuple[Condition, ...]
    requeue_after: float | None

    @property
    def status(self) -> dict[str, Any]:
        """The status fragment to merge-patch (see ``state_to_status``)."""
        return state_to_status(self.state)


def plan_rollout(
    spec: RolloutSpec,
    state: RolloutState,
    observed: ObservedRevisions,
    analysis: AnalysisOutcome | None,
    now: datetime,
    *,
    spec_revision: str,
    frozen: bool,
) -> RolloutPlan:
    """Decide the next move of the rollout.

    In: the parsed rollout ``spec`` (with manual controls), the ``state`` read back from status, the
    ``observed`` replica counts per revision, the analysis judge's ``analysis`` outcome for this
    reconcile (``None`` when it did not run), the clock ``now`` (timezone-aware; truncated to whole
    seconds), ``spec_revision`` (hash of the revision-defining spec fields) and ``frozen`` (SLA error
    budget exhausted without override: no new rollout may start).
    Out: a ``RolloutPlan`` (desired replicas, weights, new state, events, conditions, requeue time).
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)  # status times are UTC; a naive clock is taken as UTC too
    run = _Run(spec, observed, now.replace(microsecond=0), state)
    run.expire_scale_downs()
    _transition(run, analysis, spec_revision, frozen)
    run.normalize()
    return run.plan()


def analysis_window_start(spec: RolloutSpec, state: RolloutState) -> datetime | None:
    """When the analysis judge should run, the start of the data window it should judge; else ``None``.

    Analysis runs only with gates configured, while a candidate is exposed (Ready and receiving weight,
    mirrored or preview traffic) and not held by an analysis pause. The window starts when the candidate
    was first exposed or when the current step began, whichever is later.
    """
    if not spec.gates_configured or state.candidate_revision is None or state.analysis_since is None:
        return None
    if state.pause_reason == REASON_ANALYSIS_PAUSE:
        return None
    if state.step_started_at is None:
        return state.analysis_since
    return max(state.analysis_since, state.step_started_at)


class _Run:
    """Accumulates one reconcile's transition: the evolving state and the events it causes."""

    def __init__(self, spec: RolloutSpec, observed: ObservedRevisions, now: datetime, state: RolloutState):
        self.spec = spec
        self.observed = observed
        self.now = now
        self.state = state
        self.events: list[EventSpec] = []

    # -- small helpers ------------------------------------------------------------------------------
    def set(self, **changes: Any) -> None:
        self.state = replace(self.state, **changes)

    def event(self, type_: str, reason: str, message: str) -> None:
        self.events.append(EventSpec(type_, reason, message))

    @property
    def target(self) -> int:
        return self.observed.target_replicas

    def later(self, seconds: float) -> datetime:
        return self.now + timedelta(seconds=seconds)

    def candidate_ready(self) -> int:
        return self.observed.ready(self.state.candidate_revision)

    def steps(self) -> tuple[Step, ...]:
        return effective_canary_steps(self.spec.canary.steps, gates_configured=self.spec.gates_configured)

    def gates_satisfied(self) -> bool:
        # Without exposure there is nothing to judge: a gate before the first non-zero weight only waits.
        s = self.state
        return not self.spec.gates_configured or s.step_proceeded or s.analysis_since is None

    def consume_tokens(self, *, promote: bool = True) -> None:
        """Record the current one-shot tokens as seen, so they never act later on another rollout."""
        m = self.spec.manual
        changes: dict[str, Any] = {}
        if m.retry_token is not None:
            changes["retry_token"] = m.retry_token
        if m.resume_token is not None:
            changes["resume_token"] = m.resume_token
        if promote and m.promote_token is not None:
            changes["promote_token"] = m.promote_token
        if changes:
            self.set(**changes)

    # -- replica arithmetic (from the state alone, so a plan is a function of the new state) -------
    def candidate_replicas(self, state: RolloutState) -> int:
        if state.candidate_revision is None:
            return 0
        if state.stage != STAGE_CANARY:
            return self.target  # shadow, preview and promotion run the candidate at full size
        replicas = candidate_share(self.target, state.canary_weight)
        steps = self.steps()
        if state.step_index < len(steps):
            step = steps[state.step_index]
            if isinstance(step, SetWeightStep):
                replicas = max(replicas, candidate_share(self.target, step.weight))  # scale before weight
        return replicas

    def stable_replicas(self, state: RolloutState) -> int:
        if (
            self.spec.weight_approximate
            and state.candidate_revision is not None
            and state.stage in (STAGE_CANARY, STAGE_PROMOTING)
        ):
            # The replica ratio is the split; keep one stable pod so a rollback is never from zero.
            return max(replicas_for_weight(self.target, state.canary_weight)[0], min(1, self.target))
        return self.target

    # -- scale-down bookkeeping ---------------------------------------------------------------------
    def expire_scale_downs(self) -> None:
        keep = []
        for pending in self.state.scale_downs:
            if pending.at <= self.now:
                self.event(
                    EVENT_NORMAL,
                    EVENT_SCALED_DOWN,
                    f"revision {pending.revision} removed ({pending.reason}, delay over)",
                )
            else:
                keep.append(pending)
        if len(keep) != len(self.state.scale_downs):
            self.set(scale_downs=tuple(keep))

    def schedule_scale_down(self, revision: str, replicas: int, delay_seconds: float, reason: str) -> None:
        pending = [p for p in self.state.scale_downs if p.revision != revision]
        pending.append(PendingScaleDown(revision, self.later(delay_seconds), replicas, reason))
        self.set(scale_downs=tuple(pending))

    # -- the shared transitions -----------------------------------------------------------------------
    def reset_rollout_fields(self) -> dict[str, Any]:
        return {
            "candidate_revision": None,
            "stage": STAGE_IDLE,
            "step_index": 0,
            "canary_weight": 0,
            "mirror_percent": 0,
            "analysis_since": None,
            "step_proceeded": False,
            "pause_reason": None,
        }

    def drop_candidate(self, reason: str) -> None:
        """Take all traffic off the candidate now; keep its pods for scaleDownDelay, then remove them."""
        s = self.state
        assert s.candidate_revision is not None
        self.schedule_scale_down(
            s.candidate_revision, self.candidate_replicas(s), self.spec.scale_down_delay_seconds, reason
        )
        self.set(**self.reset_rollout_fields())

    def rollback(self, reason: str, detail: str) -> None:
        candidate = self.state.candidate_revision
        self.drop_candidate(SCALE_DOWN_ROLLED_BACK)
        message = (
            f"revision {candidate} rolled back ({reason}): {detail}; all traffic is on "
            f"{self.state.stable_revision}. Change the spec or set {_RETRY_HINT} to try again"
        )
        self.set(failed_revision=candidate, failed_reason=reason, phase=PHASE_ROLLED_BACK, message=message)
        self.consume_tokens()
        self.event(EVENT_WARNING, EVENT_ROLLED_BACK, message)

    def switch_to_candidate(self) -> None:
        """Promotion's last move: the (full-size, Ready) candidate becomes stable and takes 100 %."""
        s = self.state
        assert s.candidate_revision is not None and s.stable_revision is not None
        old, new = s.stable_revision, s.candidate_revision
        delay = (
            self.spec.blue_green.scale_down_delay_seconds
            if s.strategy == STRATEGY_BLUE_GREEN
            else self.spec.scale_down_delay_seconds
        )
        self.schedule_scale_down(old, self.stable_replicas(s), delay, SCALE_DOWN_PREVIOUS_STABLE)
        message = f"revision {new} promoted; previous revision {old} kept {int(delay)}s for instant rollback"
        self.set(**self.reset_rollout_fields(), stable_revision=new, phase=PHASE_READY, message=message)
        self.event(EVENT_NORMAL, EVENT_PROMOTED, message)

    def start_promotion(self, why: str) -> None:
        self.set(stage=STAGE_PROMOTING, step_started_at=self.now, mirror_percent=0, pause_reason=None)
        self.event(
            EVENT_NORMAL,
            EVENT_PROMOTION_STARTED,
            f"promoting {self.state.candidate_revision} ({why}): scaling it to {self.target} replicas "
            f"before it takes all traffic",
        )

    def advance_step(self, why: str) -> None:
        s = self.state
        self.set(step_index=s.step_index + 1, step_started_at=self.now, step_proceeded=False)
        self.event(EVENT_NORMAL, EVENT_STEP_COMPLETED, f"step {s.step_index} ({why}) completed")

    def wait_for_ready(self, need: int) -> None:
        """Still waiting for Ready pods: flag the progress deadline once it passes (pause, not rollback)."""
        s = self.state
        started = s.step_started_at or s.started_at or self.now
        deadline = self.spec.progress_deadline_seconds
        if s.pause_reason is None and self.now >= started + timedelta(seconds=deadline):
            message = (
                f"candidate {s.candidate_revision} has {self.candidate_ready()}/{need} Ready replicas "
                f"after progressDeadline {int(deadline)}s; the rollout waits (fix the pods, or abort)"
            )
            self.set(pause_reason=REASON_PROGRESS_DEADLINE_EXCEEDED, message=message)
            self.event(EVENT_WARNING, EVENT_PROGRESS_DEADLINE, message)

    def ready_again(self) -> None:
        if self.state.pause_reason == REASON_PROGRESS_DEADLINE_EXCEEDED:
            self.set(pause_reason=None)

    # -- end of the reconcile --------------------------------------------------------------------------
    def normalize(self) -> None:
        s = self.state
        live = {s.stable_revision, s.candidate_revision}
        pending = tuple(p for p in s.scale_downs if p.revision not in live)
        self.set(scale_downs=pending, weight_approximate=self.spec.weight_approximate)
        if s.candidate_revision is None:
            return
        phase, message = _describe_active(self)
        self.set(phase=phase, message=message)

    def plan(self) -> RolloutPlan:
        s = self.state
        assert s.stable_revision is not None
        replicas = {p.revision: p.replicas for p in s.scale_downs}
        replicas[s.stable_revision] = self.stable_replicas(s)
        if s.candidate_revision is not None:
            replicas[s.candidate_revision] = self.candidate_replicas(s)
        weights = (
            Weights(100 - s.canary_weight, s.canary_weight, s.mirror_percent)
            if s.candidate_revision is not None
            else ALL_STABLE
        )
        preview = s.candidate_revision if s.stage == STAGE_PREVIEW else None
        return RolloutPlan(
            state=s,
            replicas=replicas,
            delete_revisions=tuple(sorted(set(self.observed.revisions) - set(replicas))),
            weights=weights,
            stable_revision=s.stable_revision,
            candidate_revision=s.candidate_revision,
            preview_revision=preview,
            events=tuple(self.events),
            conditions=_conditions(s),
            requeue_after=_requeue_after(self),
        )


_RETRY_HINT = "annotation modelserve.io/retry=<new value>"


def _transition(run: _Run, analysis: AnalysisOutcome | None, spec_revision: str, frozen: bool) -> None:
    s = run.state
    if s.stable_revision is None:
        message = f"revision {spec_revision} deployed"
        run.set(stable_revision=spec_revision, phase=PHASE_READY, stage=STAGE_IDLE, message=message)
        run.consume_tokens()
        run.event(EVENT_NORMAL, EVENT_DEPLOYED, message)
        return
    if s.candidate_revision is None and _instant_rollback(run, spec_revision):
        return
    if s.candidate_revision is not None:
        if spec_revision == s.stable_revision:
            candidate = s.candidate_revision
            run.drop_candidate(SCALE_DOWN_REVERTED)
            message = f"spec reverted to {spec_revision}: candidate {candidate} dropped, traffic on stable"
            run.set(phase=PHASE_READY, message=message, failed_revision=None, failed_reason=None)
            run.event(EVENT_NORMAL, EVENT_REVERTED, message)
            return
        if spec_revision != s.candidate_revision:
            old = s.candidate_revision
            run.drop_candidate(SCALE_DOWN_REPLACED)
            run.event(
                EVENT_NORMAL,
                EVENT_CANDIDATE_REPLACED,
                f"candidate {old} replaced by newer revision {spec_revision}; steps restart at 0",
            )
            _start_or_block(run, spec_revision, frozen)
            return
        _advance(run, analysis)
        return
    if spec_revision == s.stable_revision:
        run.consume_tokens()
        # Pending here is Ready as the planner shows it while the pods are not all ready yet: no change.
        if s.phase not in (PHASE_READY, PHASE_PENDING) or s.failed_revision is not None:
            # Back on the stable revision: a failed revision is forgotten (asking for it again retries it).
            run.set(
                phase=PHASE_READY,
                message=f"serving revision {spec_revision}",
                failed_revision=None,
                failed_reason=None,
            )
        return
    _start_or_block(run, spec_revision, frozen)


def _instant_rollback(run: _Run, spec_revision: str) -> bool:
    """While the previous stable is still kept after a promotion, going back to it is a weight flip.

    Triggered by the spec reverting to that revision, or by abort right after the promotion.
    """
    s = run.state
    previous = next((p for p in s.scale_downs if p.reason == SCALE_DOWN_PREVIOUS_STABLE), None)
    if previous is None or s.stable_revision is None:
        return False
    need = max(min(previous.replicas, run.target), min(1, run.target))
    if run.observed.ready(previous.revision) < need:
        return False
    current = s.stable_revision
    if spec_revision == previous.revision:
        run.schedule_scale_down(
            current, run.stable_replicas(s), run.spec.scale_down_delay_seconds, SCALE_DOWN_REVERTED
        )
        message = f"spec reverted to {previous.revision}: traffic switched back at once from {current}"
        run.set(
            stable_revision=previous.revision,
            phase=PHASE_READY,
            message=message,
            failed_revision=None,
            failed_reason=None,
        )
        run.consume_tokens()
        run.event(EVENT_NORMAL, EVENT_REVERTED, message)
        return True
    if run.spec.manual.abort and spec_revision == current:
        run.schedule_scale_down(
            current, run.stable_replicas(s), run.spec.scale_down_delay_seconds, SCALE_DOWN_ROLLED_BACK
        )
        message = (
            f"revision {current} rolled back ({REASON_ABORTED}): aborted during its scale-down delay; "
            f"traffic switched back at once to {previous.revision}. Change the spec or set "
            f"{_RETRY_HINT} to try again"
        )
        run.set(
            stable_revision=previous.revision,
            phase=PHASE_ROLLED_BACK,
            message=message,
            failed_revision=current,
            failed_reason=REASON_ABORTED,
        )
        run.consume_tokens()
        run.event(EVENT_WARNING, EVENT_ROLLED_BACK, message)
        return True
    return False


def _start_or_block(run: _Run, revision: str, frozen: bool) -> None:
    s, spec, manual = run.state, run.spec, run.spec.manual
    if revision == s.failed_revision:
        if manual.retry_token is None or manual.retry_token == s.retry_token:
            message = (
                f"revision {revision} was rolled back ({s.failed_reason}); it is not retried. "
                f"Change the spec or set {_RETRY_HINT}"
            )
            if s.phase == PHASE_ROLLED_BACK and s.message:
                # Keep the rollback's own message: it names the gate, the measured value and the bound.
                message = s.message
            else:
                run.event(EVENT_WARNING, EVENT_BLOCKED, message)
            run.set(phase=PHASE_ROLLED_BACK, message=message)
            return
        run.set(retry_token=manual.retry_token)
        run.event(EVENT_NORMAL, EVENT_RETRY, f"retrying revision {revision} on request")
    if frozen:
        message = (
            f"rollouts are frozen: the SLA error budget is exhausted; revision {revision} waits "
            f"(stable {s.stable_revision} keeps serving)"
        )
        if s.phase != PHASE_FROZEN:
            run.event(EVENT_WARNING, EVENT_FROZEN, message)
        run.set(phase=PHASE_FROZEN, message=message)
        return
    if spec.strategy == STRATEGY_SHADOW and spec.weight_approximate:
        message = (
            "spec.rollout.strategy: shadow needs request mirroring; set spec.traffic.router to "
            "gatewayAPI or istio"
        )
        run.set(phase=PHASE_DEGRADED, message=message)
        return
    run.set(
        candidate_revision=revision,
        strategy=spec.strategy,
        stage=_START_STAGE.get(spec.strategy, STAGE_CANARY),
        step_index=0,
        canary_weight=0,
        mirror_percent=0,
        started_at=run.now,
        step_started_at=run.now,
        analysis_since=None,
        step_proceeded=False,
        pause_reason=None,
        failed_revision=None,
        failed_reason=None,
        last_analysis_at=None,
        passed=0,
        failed=0,
        inconclusive=0,
        errors=0,
        consecutive_errors=0,
        phase=PHASE_PROGRESSING,
    )
    # A promote committed together with the new revision is meant for it: keep that token unconsumed.
    run.consume_tokens(promote=False)
    run.event(
        EVENT_NORMAL,
        EVENT_ROLLOUT_STARTED,
        f"{spec.strategy} rollout of revision {revision} started (stable {s.stable_revision})",
    )


def _advance(run: _Run, analysis: AnalysisOutcome | None) -> None:
    """One reconcile of an active rollout whose candidate is the spec's revision."""
    s, spec, manual, now = run.state, run.spec, run.spec.manual, run.now
    window = analysis_window_start(spec, s)
    exposed = s.analysis_since is not None

    if manual.abort:
        run.rollback(REASON_ABORTED, "aborted by request (spec.rollout.abort or modelserve.io/abort)")
        return
    if analysis is not None and analysis.decision == DECISION_ROLLBACK and exposed:
        run.rollback(REASON_QUALITY_GATE_FAILED, analysis.reason or "a quality gate failed")
        return
    if _model_fetch_failed(run):
        return
    if manual.paused:
        if s.pause_reason is None:
            message = "paused by request (spec.rollout.paused or modelserve.io/paused); unset it to resume"
            run.set(pause_reason=REASON_MANUAL_PAUSE, message=message)
            run.event(EVENT_NORMAL, EVENT_PAUSED, message)
        return  # one-shot requests wait until the pause is lifted

    new_resume = manual.resume_token is not None and manual.resume_token != s.resume_token
    promote = (
        manual.promote
        if manual.promote_token is not None and manual.promote_token != s.promote_token
        else None
    )
    run.consume_tokens()
    if s.pause_reason == REASON_MANUAL_PAUSE:
        run.set(pause_reason=None)
        run.event(EVENT_NORMAL, EVENT_RESUMED, "resumed: manual pause lifted")
    elif s.pause_reason == REASON_ANALYSIS_PAUSE:
        if not (new_resume or promote):
            return  # held until a human resumes, promotes or aborts
        # A fresh start for the judge: only data after the resume counts.
        run.set(
            pause_reason=None,
            step_proceeded=False,
            analysis_since=now if exposed else None,
            step_started_at=now,
        )
        run.event(EVENT_NORMAL, EVENT_RESUMED, "resumed after an analysis pause")
        if not promote:
            return

    if promote == PROMOTE_FULL:
        if run.state.stage != STAGE_PROMOTING:
            run.start_promotion("full promotion requested")
        return
    if (
        analysis is not None
        and analysis.decision == DECISION_PAUSE
        and exposed
        and run.state.pause_reason is None
    ):
        message = f"paused by analysis: {analysis.reason or 'inconclusive'}; resume, promote or abort"
        run.set(pause_reason=REASON_ANALYSIS_PAUSE, message=message)
        run.event(EVENT_WARNING, EVENT_PAUSED, message)
        return
    if (
        analysis is not None
        and analysis.decision == DECISION_PROCEED
        and window is not None
        and now >= window + timedelta(seconds=spec.analysis_interval_seconds)
        and (analysis.window_start is None or analysis.window_start >= window)
    ):
        run.set(step_proceeded=True)
    if promote == PROMOTE_STEP:
        _skip_step(run)
        return
    stage = run.state.stage
    if stage == STAGE_CANARY:
        _canary(run)
    elif stage == STAGE_SHADOW:
        _shadow(run)
    elif stage == STAGE_PREVIEW:
        _preview(run)
    elif stage == STAGE_PROMOTING:
        _promoting(run)


def _model_fetch_failed(run: _Run) -> bool:
    """The candidate's pods cannot fetch its model: it never gets traffic or promotion. Roll back or pause
    per onFailure (True: this reconcile's move is made); a pause lifts by itself once the fetch works."""
    failure, s = run.observed.candidate_fetch_failure, run.state
    if failure is None:
        if s.pause_reason == REASON_MODEL_FETCH_FAILED:
            run.set(pause_reason=None)
            run.event(EVENT_NORMAL, EVENT_RESUMED, "resumed: the candidate's model was fetched")
        return False
    if failure.rollback:
        run.rollback(REASON_MODEL_FETCH_FAILED, failure.message)
        return True
    if s.pause_reason != REASON_MODEL_FETCH_FAILED:
        message = f"paused ({REASON_MODEL_FETCH_FAILED}): {failure.message}; fix the model or abort"
        run.set(pause_reason=REASON_MODEL_FETCH_FAILED, message=message)
        run.event(EVENT_WARNING, EVENT_PAUSED, message)
    return True


def _skip_step(run: _Run) -> None:
    """``promote: step``: skip the current pause/analysis (a setWeight still waits for its pods)."""
    s = run.state
    if s.stage == STAGE_CANARY:
        steps = run.steps()
        if s.step_index >= len(steps):
            run.start_promotion("all steps done")
        elif not isinstance(steps[s.step_index], SetWeightStep):
            run.advance_step("skipped by promote")
    elif s.stage == STAGE_SHADOW:
        _end_shadow(run, "skipped by promote")
    elif s.stage == STAGE_PREVIEW:
        run.start_promotion("promote requested")


def _canary(run: _Run) -> None:
    s, now = run.state, run.now
    steps = run.steps()
    if s.step_index >= len(steps):
        run.start_promotion("all steps done")
        return
    step = steps[s.step_index]
    if isinstance(step, SetWeightStep):
        need = candidate_share(run.target, step.weight)
        if run.candidate_ready() < need:
            run.wait_for_ready(need)
            return
        run.ready_again()
        changes: dict[str, Any] = {"canary_weight": step.weight}
        if step.weight > 0 and s.analysis_since is None:
            changes["analysis_since"] = now  # exposure starts: from here on analysis may judge
        run.set(**changes)
        run.set(step_index=s.step_index + 1, step_started_at=now, step_proceeded=False)
        run.event(
            EVENT_NORMAL,
            EVENT_WEIGHT_SET,
            f"candidate {s.candidate_revision} weight {s.canary_weight}% -> {step.weight}% "
            f"({need} Ready replicas)",
        )
        return
    assert isinstance(step, PauseStep | AnalysisStep)
    started = s.step_started_at or now
    if isinstance(step, PauseStep) and step.duration_seconds is None:
        return  # until promoted
    elapsed = step.duration_seconds is None or now >= started + timedelta(seconds=step.duration_seconds)
    if elapsed and run.gates_satisfied():
        run.advance_step("pause" if isinstance(step, PauseStep) else "analysis")


def _shadow(run: _Run) -> None:
    s, spec, now = run.state, run.spec, run.now
    if s.mirror_percent == 0:
        if run.candidate_ready() < run.target:
            run.wait_for_ready(run.target)
            return
        run.ready_again()
        run.set(
            mirror_percent=spec.shadow.mirror_percent,
            analysis_since=now,
            step_started_at=now,
            step_proceeded=False,
        )
        run.event(
            EVENT_NORMAL,
            EVENT_MIRROR_STARTED,
            f"mirroring {spec.shadow.mirror_percent}% of traffic to {s.candidate_revision} for "
            f"{int(spec.shadow.duration_seconds)}s",
        )
        return
    started = s.step_started_at or now
    if now >= started + timedelta(seconds=spec.shadow.duration_seconds) and run.gates_satisfied():
        _end_shadow(run, "judged on mirrored traffic")


def _end_shadow(run: _Run, why: str) -> None:
    if run.spec.shadow.then == "promote":
        run.start_promotion(f"shadow {why}")
        return
    run.set(
        stage=STAGE_CANARY,
        step_index=0,
        canary_weight=0,
        mirror_percent=0,
        step_started_at=run.now,
        analysis_since=None,
        step_proceeded=False,
        pause_reason=None,
    )
    run.event(EVENT_NORMAL, EVENT_STEP_COMPLETED, f"shadow {why}; continuing with the canary steps")


def _preview(run: _Run) -> None:
    s, spec, now = run.state, run.spec, run.now
    if s.analysis_since is None:
        if run.candidate_ready() < run.target:
            run.wait_for_ready(run.target)
            return
        run.ready_again()
        run.set(analysis_since=now, step_started_at=now, step_proceeded=False)
        run.event(
            EVENT_NORMAL,
            EVENT_PREVIEW_READY,
            f"candidate {s.candidate_revision} Ready at full size behind the preview Service",
        )
        return
    if spec.blue_green.auto_promote and run.gates_satisfied():
        if run.candidate_ready() >= run.target:
            run.switch_to_candidate()
        else:
            run.start_promotion("preview passed")


def _promoting(run: _Run) -> None:
    if run.candidate_ready() < run.target:
        run.wait_for_ready(run.target)
        return
    run.switch_to_candidate()


def _describe_active(run: _Run) -> tuple[str, str]:
    """Top-level phase and message for a rollout that still has a candidate."""
    s, spec = run.state, run.spec
    if s.pause_reason is not None:
        return PHASE_PAUSED, s.message
    ready = run.candidate_ready()
    if s.stage == STAGE_PROMOTING:
        return PHASE_PROGRESSING, (
            f"promoting {s.candidate_revision}: {ready}/{run.target} Ready before it takes all traffic"
        )
    if s.stage == STAGE_SHADOW:
        if s.mirror_percent == 0:
            return PHASE_PROGRESSING, f"shadow: waiting for {ready}/{run.target} candidate replicas Ready"
        return PHASE_PROGRESSING, (
            f"shadow: mirroring {s.mirror_percent}% of traffic to {s.candidate_revision}{_gate_note(run)}"
        )
    if s.stage == STAGE_PREVIEW:
        if s.analysis_since is None:
            return PHASE_PROGRESSING, f"blue-green: waiting for {ready}/{run.target} preview replicas Ready"
        if not spec.blue_green.auto_promote and run.gates_satisfied():
            return PHASE_PAUSED, (
                f"blue-green: preview of {s.candidate_revision} ready; waiting for promote "
                f"({REASON_AWAITING_PROMOTION})"
            )
        return PHASE_PROGRESSING, f"blue-green: judging preview {s.candidate_revision}{_gate_note(run)}"
    steps = run.steps()
    prefix = f"canary step {min(s.step_index + 1, len(steps))}/{len(steps)}, weight {s.canary_weight}%"
    if s.step_index >= len(steps):
        return PHASE_PROGRESSING, f"{prefix}: steps done"
    step = steps[s.step_index]
    if isinstance(step, SetWeightStep):
        need = candidate_share(run.target, step.weight)
        return PHASE_PROGRESSING, (
            f"{prefix}: scaling candidate to {need} ({ready} Ready) before weight {step.weight}%"
        )
    if isinstance(step, PauseStep) and step.duration_seconds is None:
        return PHASE_PAUSED, f"{prefix}: paused until promoted ({REASON_PAUSE_STEP})"
    kind = "pause" if isinstance(step, PauseStep) else "analysis"
    return PHASE_PROGRESSING, f"{prefix}: {kind}" + _gate_note(run)


def _gate_note(run: _Run) -> str:
    if not run.spec.gates_configured:
        return ""
    return "; gates passed" if run.state.step_proceeded else "; waiting for quality gates"


def _conditions(s: RolloutState) -> tuple[Condition, ...]:
    if s.phase == PHASE_ROLLED_BACK and s.failed_reason:
        degraded = Condition(COND_DEGRADED, True, s.failed_reason, s.message)
    elif s.pause_reason == REASON_PROGRESS_DEADLINE_EXCEEDED:
        degraded = Condition(COND_DEGRADED, True, REASON_PROGRESS_DEADLINE_EXCEEDED, s.message)
    elif s.phase == PHASE_DEGRADED:
        degraded = Condition(COND_DEGRADED, True, REASON_UNSUPPORTED_STRATEGY, s.message)
    else:
        degraded = Condition(COND_DEGRADED, False, REASON_AS_EXPECTED, "")
    if s.candidate_revision is not None:
        if s.phase == PHASE_PAUSED:
            progressing = Condition(COND_PROGRESSING, None, REASON_ROLLOUT_PAUSED, s.message)
        else:
            progressing = Condition(COND_PROGRESSING, True, REASON_ROLLOUT_PROGRESSING, s.message)
    elif s.phase == PHASE_ROLLED_BACK:
        progressing = Condition(COND_PROGRESSING, False, REASON_ROLLED_BACK, s.message)
    elif s.phase == PHASE_FROZEN:
        progressing = Condition(COND_PROGRESSING, False, REASON_ROLLOUTS_FROZEN, s.message)
    elif s.phase == PHASE_DEGRADED:
        progressing = Condition(COND_PROGRESSING, False, REASON_UNSUPPORTED_STRATEGY, s.message)
    else:
        progressing = Condition(COND_PROGRESSING, False, REASON_ROLLOUT_COMPLETED, s.message)
    return progressing, degraded


def _requeue_after(run: _Run) -> float | None:
    """Seconds until the next time-driven change: a pause or shadow end, an analysis interval, a
    scale-down, the progress deadline, or a readiness poll."""
    s, spec, now = run.state, run.spec, run.now
    times = [p.at for p in s.scale_downs]
    if s.candidate_revision is not None and s.pause_reason != REASON_MANUAL_PAUSE:
        started = s.step_started_at or now
        need = run.candidate_replicas(s)
        waiting_for_pods = run.candidate_ready() < need or (
            s.stage == STAGE_CANARY
            and s.step_index < len(run.steps())
            and isinstance(run.steps()[s.step_index], SetWeightStep)
        )
        if waiting_for_pods:
            times.append(now + timedelta(seconds=READY_POLL_SECONDS))
            if s.pause_reason is None:
                times.append(started + timedelta(seconds=spec.progress_deadline_seconds))
        duration = _current_duration(run)
        if duration is not None:
            times.append(started + timedelta(seconds=duration))
        window = analysis_window_start(spec, s)
        if window is not None and not s.step_proceeded:
            first_verdict = window + timedelta(seconds=spec.analysis_interval_seconds)
            times.append(
                max(first_verdict, now + timedelta(seconds=spec.analysis_interval_seconds))
                if first_verdict <= now
                else first_verdict
            )
    # Times already past were acted on in this reconcile (or wait on something else): ignore them.
    future = [t for t in times if t > now]
    if not future:
        return None
    return max(1.0, (min(future) - now).total_seconds())


def _current_duration(run: _Run) -> float | None:
    return step_duration_seconds(run.spec, run.state)


def step_duration_seconds(spec: RolloutSpec, state: RolloutState) -> float | None:
    """Duration of the step the rollout is in: a pause/analysis step's or the shadow's; None for a step
    that has none (a setWeight, a step of one verdict, a blue-green preview)."""
    if state.stage == STAGE_SHADOW and state.mirror_percent:
        return spec.shadow.duration_seconds
    if state.stage == STAGE_CANARY:
        steps = effective_canary_steps(spec.canary.steps, gates_configured=spec.gates_configured)
        if state.step_index < len(steps):
            step = steps[state.step_index]
            if isinstance(step, PauseStep | AnalysisStep):
                return step.duration_seconds
    return None
