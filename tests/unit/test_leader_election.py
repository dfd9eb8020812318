"""Leader election's decisions (k8s/lease.py): at most one replica ever believes it leads, whatever the
interleaving of reads, writes, clock ticks and crashes; a dead holder is replaced after the lease
duration; a released Lease is taken at once."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelserve.handlers.leader import LeaseElector
from modelserve.k8s.lease import (
    LeaseDecision,
    LeaseRecord,
    LeaseTiming,
    Observation,
    decide,
    observe,
    released,
    still_leading,
)
from modelserve.k8s.transport import ApiException

TIMING = LeaseTiming()


@dataclass
class Store:
    """The API server's copy of the Lease: a record and a resourceVersion (writes must name the one read)."""

    record: LeaseRecord | None = None
    version: int = 0


@dataclass
class Candidate:
    identity: str
    observed: Observation | None = None
    last_renewed: float = float("-inf")
    alive: bool = True
    pending: tuple[int, LeaseDecision, float] | None = field(default=None)

    def read(self, store: Store, now: float) -> None:
        self.observed = None if store.record is None else observe(self.observed, store.record, now)
        self.pending = (store.version, decide(self.identity, self.observed, now, 1e9 + now, TIMING), now)

    def write(self, store: Store) -> None:
        if self.pending is None:
            return
        version, decision, read_at = self.pending
        self.pending = None
        if decision.record is None or version != store.version:
            return  # waiting, or a 409: someone wrote since our read
        store.record, store.version = decision.record, store.version + 1
        self.observed = Observation(decision.record, read_at)
        self.last_renewed = read_at

    def leads(self, now: float) -> bool:
        return self.alive and still_leading(self.last_renewed, now, TIMING)


operation = st.one_of(
    st.tuples(st.just("read"), st.integers(0, 2)),
    st.tuples(st.just("write"), st.integers(0, 2)),
    st.tuples(st.just("tick"), st.floats(0.0, 6.0)),
    st.tuples(st.just("crash"), st.integers(0, 2)),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(operation, max_size=120))
def test_at_most_one_replica_believes_it_leads(ops: list[tuple[str, object]]) -> None:
    store, now = Store(), 0.0
    candidates = [Candidate(f"replica-{i}") for i in range(3)]
    for op, arg in ops:
        if op == "tick":
            now += float(arg)  # type: ignore[arg-type]
        else:
            c = candidates[int(arg)]  # type: ignore[call-overload]
            if not c.alive:
                continue
            if op == "read":
                c.read(store, now)
            elif op == "write":
                c.write(store)
            else:
                c.alive = False
        leaders = [c.identity for c in candidates if c.leads(now)]
        assert len(leaders) <= 1, (leaders, now, store)


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 14.9), st.floats(15.0, 60.0))
def test_a_silent_holder_is_replaced_only_after_the_lease_duration(early: float, late: float) -> None:
    held = LeaseRecord("a", 15, "t0", "t0", 3)
    seen = Observation(held, observed_at=100.0)
    assert decide("b", seen, 100.0 + early, 0.0, TIMING) == LeaseDecision("wait", None)
    taken = decide("b", seen, 100.0 + late, 0.0, TIMING)
    assert taken.action == "acquire" and taken.record is not None
    assert taken.record.holder == "b" and taken.record.transitions == 4


def test_a_renewing_holder_is_never_replaced() -> None:
    """Each renewal changes the record, so the candidate's clock for it starts again."""
    seen: Observation | None = None
    for i in range(20):  # a renewal every 2 s for 40 s
        record = LeaseRecord("a", 15, "t0", f"t{i}")
        seen = observe(seen, record, now=2.0 * i)
        assert decide("b", seen, 2.0 * i + 1.9, 0.0, TIMING).action == "wait"


def test_create_renew_and_release() -> None:
    created = decide("a", None, 0.0, 0.0, TIMING)
    assert created.action == "create" and created.record is not None
    assert created.record.spec()["holderIdentity"] == "a"
    assert created.record.spec()["leaseDurationSeconds"] == 15
    renewed = decide("a", Observation(created.record, 0.0), 2.0, 2.0, TIMING)
    assert renewed.action == "renew" and renewed.record is not None
    assert renewed.record.acquire_time == created.record.acquire_time
    assert renewed.record.renew_time != created.record.renew_time
    gone = released(renewed.record, 3.0)
    assert decide("b", Observation(gone, 3.0), 3.0, 3.0, TIMING).action == "acquire"


def test_lease_record_round_trips_through_a_lease_body() -> None:
    record = LeaseRecord("a", 15, "2026-12-03T23:00:00.000000Z", "2026-12-03T23:00:02.000000Z", 2)
    assert LeaseRecord.from_lease({"spec": record.spec()}) == record


def test_the_holder_stops_before_anyone_may_take_over() -> None:
    assert still_leading(0.0, 9.9, TIMING)
    assert not still_leading(0.0, 10.0, TIMING)
    with pytest.raises(ValueError, match="renewDeadline < leaseDuration"):
        LeaseTiming(lease_duration=10, renew_deadline=10, retry_period=2)


# --- the elector's I/O loop, against an in-memory Lease store with optimistic concurrency -------------


class LeaseStore:
    """Just enough of the API server for one Lease: GET, POST (409 if it exists), PUT (409 on a stale
    resourceVersion). `hang` makes every GET block, as a stalled API server would."""

    def __init__(self) -> None:
        self.lease: dict | None = None
        self.version = 0
        self.hang = threading.Event()
        self.released = threading.Event()

    def get(self, kind: str, namespace: str | None, name: str) -> dict | None:
        if self.hang.is_set():
            self.released.wait(30)
        return None if self.lease is None else json.loads(json.dumps(self.lease))

    def _store(self, obj: dict) -> dict:
        self.version += 1
        self.lease = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.version)}}
        return self.lease

    def create(self, obj: dict) -> dict:
        if self.lease is not None:
            raise ApiException(status=409)
        return self._store(obj)

    def replace(self, obj: dict) -> dict:
        if (
            self.lease is None
            or obj["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]
        ):
            raise ApiException(status=409)
        return self._store(obj)


def elector(store: LeaseStore, identity: str, clock: list[float]) -> LeaseElector:
    return LeaseElector(store, "ns", "lease", identity, clock=lambda: clock[0], wall=lambda: clock[0])  # type: ignore[arg-type]


def test_elector_acquires_waits_and_takes_over_after_a_release() -> None:
    store, clock = LeaseStore(), [0.0]
    a, b = elector(store, "a", clock), elector(store, "b", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    clock[0] = 2.0
    assert a.try_acquire_or_renew()  # a renewal
    clock[0] = 10.0
    assert not b.try_acquire_or_renew()  # renewed since b last read it: held
    a.release()
    assert b.try_acquire_or_renew()
    assert store.lease is not None and store.lease["spec"]["holderIdentity"] == "b"
    assert store.lease["spec"]["leaseTransitions"] == 1


def test_a_hung_renewal_cannot_stretch_the_renew_deadline() -> None:
    """The API server stops answering: the leader gives up once the renew deadline has passed, though
    its renewal request is still waiting."""
    store = LeaseStore()
    timing = LeaseTiming(lease_duration=3, renew_deadline=1.0, retry_period=0.2)
    leader = LeaseElector(store, "ns", "lease", "a", timing)  # type: ignore[arg-type]
    assert leader.try_acquire_or_renew()
    store.hang.set()
    reasons: list[str] = []
    started = time.monotonic()
    lost = leader.keep_leading(reasons.append)
    try:
        assert lost.wait(5), "leadership was never given up"
        assert time.monotonic() - started < 1.5
        assert reasons and "not renewed within 1s" in reasons[0]
    finally:
        store.released.set()
