"""Leader election over a coordination.k8s.io/v1 Lease: the pure decisions, as client-go's
leaderelection makes them.

Only one operator replica may act: two would both apply, patch status and advance rollouts. kopf's
peering cannot give that (two replicas of the same priority pause each other's watches, and our own
work queue and resync loop run regardless), so replicas campaign for a Lease instead.

Why the rules are safe:
- A candidate never trusts the holder's clock. It takes a Lease over only when it has seen the same
  record (holder and renewTime) unchanged for ``lease_duration`` of its *own* clock (``observed_at``).
- The holder stops acting when it has not renewed within ``renew_deadline`` of its own clock, and
  ``renew_deadline < lease_duration``: it stops before anyone may take over.
- Every write carries the resourceVersion that was read (optimistic concurrency), so of two
  candidates acting on the same read, one gets a conflict and stays a candidate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal


@dataclass(frozen=True)
class LeaseTiming:
    """client-go's defaults (kube-controller-manager, kube-scheduler): 15 s / 10 s / 2 s."""

    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry_period < self.renew_deadline < self.lease_duration:
            raise ValueError("leader election needs 0 < retryPeriod < renewDeadline < leaseDuration")


@dataclass(frozen=True)
class LeaseRecord:
    """The Lease's spec: who holds it, since when, last renewed when (wall clock, for people)."""

    holder: str
    duration_seconds: int
    acquire_time: str | None = None
    renew_time: str | None = None
    transitions: int = 0

    @classmethod
    def from_lease(cls, lease: dict[str, Any]) -> LeaseRecord:
        spec = lease.get("spec") or {}
        return cls(
            holder=spec.get("holderIdentity") or "",
            duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=spec.get("acquireTime"),
            renew_time=spec.get("renewTime"),
            transitions=int(spec.get("leaseTransitions") or 0),
        )

    def spec(self) -> dict[str, Any]:
        return {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.duration_seconds,
            "acquireTime": self.acquire_time,
            "renewTime": self.renew_time,
            "leaseTransitions": self.transitions,
        }


@dataclass(frozen=True)
class Observation:
    """The record a candidate last read, and when (its own monotonic clock) it last saw it change."""

    record: LeaseRecord
    observed_at: float


Action = Literal["create", "acquire", "renew", "wait"]


@dataclass(frozen=True)
class LeaseDecision:
    """``action``: create the Lease, take it over (``acquire``), ``renew`` ours, or ``wait`` (held by a
    live holder); ``record``: what to write (None for ``wait``)."""

    action: Action
    record: LeaseRecord | None


def micro_time(wall: float) -> str:
    """A wall-clock instant as Kubernetes' MicroTime (RFC 3339 with microseconds)."""
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def observe(previous: Observation | None, record: LeaseRecord, now: float) -> Observation:
    """Keep the time of the previous observation while the record is unchanged: a live holder renews,
    so its record changes every retry period; a dead one's stays the same."""
    if previous is not None and previous.record == record:
        return previous
    return Observation(record, now)


def decide(
    identity: str, observed: Observation | None, now: float, wall: float, timing: LeaseTiming
) -> LeaseDecision:
    """What candidate ``identity`` does at monotonic time ``now`` (``wall`` for the written times),
    given the Lease as last read (None: there is none)."""
    stamp = micro_time(wall)
    duration = int(timing.lease_duration)
    if observed is None:
        return LeaseDecision("create", LeaseRecord(identity, duration, stamp, stamp, 0))
    record = observed.record
    if record.holder == identity:
        return LeaseDecision("renew", replace(record, duration_seconds=duration, renew_time=stamp))
    held = bool(record.holder) and now < observed.observed_at + max(record.duration_seconds, 1)
    if held:
        return LeaseDecision("wait", None)
    return LeaseDecision("acquire", LeaseRecord(identity, duration, stamp, stamp, record.transitions + 1))


def still_leading(last_renewed: float, now: float, timing: LeaseTiming) -> bool:
    """A holder acts only while its last successful renewal is within ``renew_deadline`` (its clock)."""
    return now - last_renewed < timing.renew_deadline


def released(record: LeaseRecord, wall: float) -> LeaseRecord:
    """The record a holder writes when it stops on purpose: no holder, so a candidate takes over at
    once instead of waiting out the lease (client-go's ReleaseOnCancel)."""
    return replace(record, holder="", duration_seconds=1, renew_time=micro_time(wall))
