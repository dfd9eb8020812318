"""The work queue's choice of the next key (reconcile/queue.py): heaps per lane instead of a scan of
every queued key, checked against the scan it replaced on random sequences of operations."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st
from modelserve.reconcile import queue as queue_module
from modelserve.reconcile.queue import WorkQueue

KEYS = [("ModelDeployment", "ml", f"m-{i}") for i in range(6)]

op = st.one_of(
    st.tuples(
        st.just("add"),
        st.integers(0, 5),
        st.sampled_from([0.0, 0.0, 1.0, 5.0, 30.0]),
        st.sampled_from([None, True, False]),
    ),
    st.tuples(st.just("take")),
    st.tuples(st.just("finish"), st.integers(0, 5)),
    st.tuples(st.just("forget"), st.integers(0, 5)),
    st.tuples(st.just("advance"), st.sampled_from([0.5, 1.0, 10.0])),
)


def reference(q: WorkQueue, now: float) -> tuple[set, float]:
    """The keys the old scan could pick (all with its lane and due time), or the wait."""
    ready = [(t, k) for k, t in q._due.items() if k not in q._running]
    if not ready:
        return set(), 3600.0
    due = [(k in q._first_time, t, k) for t, k in ready if t <= now]
    if due:
        best = min(due)[:2]
        return {k for lane, t, k in due if (lane, t) == best}, 0.0
    return set(), min(ready)[0] - now


@given(st.lists(op, max_size=60))
def test_the_next_key_is_the_one_the_scan_would_pick(ops: list[tuple]) -> None:
    clock = [1000.0]
    mp = pytest.MonkeyPatch()
    mp.setattr(queue_module.time, "monotonic", lambda: clock[0])
    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        q = WorkQueue(lambda key: None)
        for o in ops:
            if o[0] == "add":
                q.add(KEYS[o[1]], o[2], first_time=o[3])
            elif o[0] == "take":
                key, _ = q._next()
                if key is not None:
                    del q._due[key]
                    q._running.add(key)
            elif o[0] == "finish":
                q._running.discard(KEYS[o[1]])
            elif o[0] == "forget":
                q.forget(KEYS[o[1]])
            else:
                clock[0] += o[1]
            expected, wait = reference(q, clock[0])
            key, got_wait = q._next()
            if expected:
                assert key in expected, (key, expected)
            else:
                assert key is None
                assert got_wait == pytest.approx(wait)
    finally:
        mp.undo()
        loop.close()
        asyncio.set_event_loop(None)


@given(burst=st.integers(0, 12), after=st.integers(1, 6))
def test_on_drained_runs_once_after_a_burst_and_never_at_rest(burst: int, after: int) -> None:
    """The freed heap is handed back after a storm or a restart (memory.trim), not on every reconcile."""
    drained: list[int] = []
    done: list[tuple] = []

    async def run() -> None:
        def trim() -> None:
            drained.append(len(done))

        q = WorkQueue(done.append, workers=2, on_drained=trim, drained_after=after)
        q.start()
        try:
            for i in range(burst):
                q.add(("ModelDeployment", "ml", f"m-{i}"))
            for _ in range(400):
                if len(done) >= burst and (burst < after or drained):
                    break
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)  # at rest now: nothing more may run
        finally:
            await q.stop()

    asyncio.run(run())
    assert len(done) == burst
    if burst >= after:
        assert drained and drained[-1] >= after, (drained, burst, after)
        assert len(drained) <= burst // after
    else:
        assert drained == []
