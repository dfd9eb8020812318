"""A faithful, deterministic simulation of the Kubernetes HorizontalPodAutoscaler (autoscaling/v2).

Follows kube-controller-manager's podautoscaler (replica_calculator.go, horizontal.go) for a
Pods/Object metric with an AverageValue target (e.g. requests per second per pod):

- every `sync_seconds` (15 s, --horizontal-pod-autoscaler-sync-period) the controller reconciles;
- if current replicas > maxReplicas -> maxReplicas; if < minReplicas -> minReplicas, at once (no
  rate limit: this is how a raised predictive floor takes effect within one sync);
- otherwise the proposal comes from the metric on **Ready** pods: usage ratio r = (total / ready) /
  target; within tolerance (|1 - r| <= 0.1) keep current, else ceil(r x ready). Pods that are not
  Ready yet have no metric: on a scale-up they count as 0 usage, on a scale-down as exactly target,
  and the proposal is dropped if that flips its direction or lands in the tolerance
  (the "missing pods" rebalance);
- stabilisation: the recommendation is max(recommendations in the last 300 s) for scale-down and
  min(recommendations in the last 0 s) for scale-up, bounded by the current count;
- rate limits (default behaviour): scale-up at most max(+100 %, +4 pods) per 15 s, scale-down at
  most 100 % per 15 s; then minReplicas / maxReplicas;
- a new pod becomes Ready `startup_seconds` after it is created; scale-down removes not-Ready pods
  first (newest first), as the ReplicaSet controller does.

Not modelled: the initial readiness delay / CPU-only rules, metric-server quirks, pod scheduling
time (fold it into `startup_seconds`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

HPA_SYNC_SECONDS = 15


@dataclass(frozen=True)
class HpaBehavior:
    """The HPA defaults (spec.behavior unset) plus the controller flags that matter here."""

    sync_seconds: float = HPA_SYNC_SECONDS
    tolerance: float = 0.1
    scale_down_stabilization_seconds: float = 300
    scale_up_stabilization_seconds: float = 0
    scale_up_percent: float = 100
    scale_up_pods: int = 4
    scale_up_period_seconds: float = 15
    scale_down_percent: float = 100
    scale_down_period_seconds: float = 15


def replicas_for_metric(
    current_replicas: int,
    ready_replicas: int,
    metric_total: float,
    target_per_pod: float,
    tolerance: float = 0.1,
) -> int:
    """The replica calculator for an AverageValue target (calcPlainMetricReplicas).

    `metric_total` is the sum of the metric over Ready pods (e.g. total requests/s they serve);
    not-Ready pods (`current - ready`) are the "missing" pods. Returns the proposal before
    stabilisation and rate limits; with no Ready pod there is no metric and the count is kept.
    """
    if ready_replicas <= 0:
        return current_replicas
    missing = max(current_replicas - ready_replicas, 0)
    usage_ratio = metric_total / ready_replicas / target_per_pod
    if missing == 0:
        if abs(1.0 - usage_ratio) <= tolerance:
            return current_replicas
        return math.ceil(usage_ratio * ready_replicas)
    # Missing pods: 0 usage on a scale-up, exactly the target on a scale-down.
    assumed = 0.0 if usage_ratio > 1.0 else missing * target_per_pod
    pods = ready_replicas + missing
    new_ratio = (metric_total + assumed) / pods / target_per_pod
    if (
        abs(1.0 - new_ratio) <= tolerance
        or (usage_ratio < 1.0 < new_ratio)
        or (usage_ratio > 1.0 > new_ratio)
    ):
        return current_replicas
    proposal = math.ceil(new_ratio * pods)
    if (new_ratio < 1.0 and proposal > current_replicas) or (new_ratio > 1.0 and proposal < current_replicas):
        return current_replicas
    return proposal


@dataclass
class HpaSimulator:
    """One HPA + its Deployment. Call :meth:`sync` every `behavior.sync_seconds` of simulated time.

    `pods` holds the time each pod becomes Ready. Deterministic; no clock of its own.
    """

    min_replicas: int
    max_replicas: int
    target_per_pod: float
    startup_seconds: float
    behavior: HpaBehavior = field(default_factory=HpaBehavior)
    initial_replicas: int | None = None
    pods: list[float] = field(default_factory=list)
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    scale_events: list[tuple[float, int]] = field(default_factory=list)
    _initialised: bool = False

    def __post_init__(self) -> None:
        start = self.min_replicas if self.initial_replicas is None else self.initial_replicas
        if not self.pods:
            self.pods = [-math.inf] * start  # Ready since forever

    @property
    def replicas(self) -> int:
        return len(self.pods)

    def ready(self, now: float) -> int:
        return sum(1 for ready_at in self.pods if ready_at <= now)

    def sync(self, now: float, metric_total: float, min_replicas: int | None = None) -> int:
        """Reconcile once at `now`. `metric_total` is the demand the Ready pods see (e.g. requests/s).

        `min_replicas` overrides spec.minReplicas for this sync (the predictive floor). Applies the
        decision to `pods` and returns the new replica count.
        """
        b = self.behavior
        lo = self.min_replicas if min_replicas is None else min(max(min_replicas, 1), self.max_replicas)
        current = self.replicas
        if not self._initialised:  # maybeInitScaleDownStabilizationWindow
            self.recommendations.append((now, current))
            self._initialised = True
        if current > self.max_replicas:
            desired = self.max_replicas
        elif current < lo:
            desired = lo
        else:
            proposal = replicas_for_metric(
                current, self.ready(now), metric_total, self.target_per_pod, b.tolerance
            )
            desired = self._normalize(now, current, proposal, lo)
        self._scale_to(now, desired)
        return desired

    def _normalize(self, now: float, current: int, proposal: int, lo: int) -> int:
        b = self.behavior
        up_cutoff = now - b.scale_up_stabilization_seconds
        down_cutoff = now - b.scale_down_stabilization_seconds
        up_rec = down_rec = proposal
        for at, rec in self.recommendations:
            if at > up_cutoff:
                up_rec = min(rec, up_rec)
            if at > down_cutoff:
                down_rec = max(rec, down_rec)
        stabilized = min(max(current, up_rec), down_rec)
        self.recommendations.append((now, proposal))
        keep_after = now - max(b.scale_up_stabilization_seconds, b.scale_down_stabilization_seconds)
        self.recommendations = [r for r in self.recommendations if r[0] > keep_after]

        if stabilized > current:
            period_start = current - sum(
                c for at, c in self.scale_events if at > now - b.scale_up_period_seconds
            )
            by_percent = math.ceil(period_start * (1 + b.scale_up_percent / 100.0))
            limit = max(by_percent, period_start + b.scale_up_pods, current)
            return min(stabilized, self.max_replicas, limit)
        if stabilized < current:
            period_start = current - sum(
                c for at, c in self.scale_events if at > now - b.scale_down_period_seconds
            )
            limit = math.ceil(period_start * (1 - b.scale_down_percent / 100.0))
            return max(stabilized, lo, limit)
        return current

    def _scale_to(self, now: float, desired: int) -> None:
        change = desired - self.replicas
        if change > 0:
            self.pods.extend([now + self.startup_seconds] * change)
        elif change < 0:
            # The ReplicaSet deletes not-Ready pods first, then the youngest.
            self.pods.sort()
            del self.pods[desired:]
        if change:
            self.scale_events.append((now, change))
            b = self.behavior
            horizon = now - max(b.scale_up_period_seconds, b.scale_down_period_seconds)
            self.scale_events = [e for e in self.scale_events if e[0] > horizon]
