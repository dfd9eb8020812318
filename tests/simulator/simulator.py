"""The traffic simulator: plays the gateway and the model servers for tests and the demo.

Every tick it reads the live traffic split of each model (``tests.simulator.snapshot``), sends
``rps * tick_seconds`` simulated requests split by it (plus mirrored copies and blue-green preview
smoke traffic), draws outcomes from each revision's ``Behaviour`` and records them in the metric
contract's series, served on ``/metrics`` for Prometheus to scrape.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client import start_http_server

from tests.simulator.behaviour import (
    DEFAULT,
    HEALTHY,
    Behaviour,
    gauge_values,
    resolve_behaviour,
    simulate_requests,
)
from tests.simulator.cluster import KubeSnapshotReader, SnapshotReader
from tests.simulator.metrics import SimulatorMetrics
from tests.simulator.snapshot import ModelSnapshot, groups_present, main_split, preview_split
from tests.simulator.split import (
    EMPTY_SPLIT,
    Group,
    TrafficSplit,
    allocate_requests,
    node_regions,
    ready_pod_names,
)

log = logging.getLogger(__name__)
HISTORY_MAX = 5000
# When ticks fall this far behind (a loaded machine), skip ahead instead of bursting.
MAX_TICKS_BEHIND = 5


@dataclass(frozen=True)
class SplitRecord:
    """One observed change of a model's split: wall-clock time, served percent and mirrored percent by
    revision, unserved percent by Service, what was read, and the status' stable / candidate revisions."""

    at: float
    weights: dict[str, float]
    mirrors: dict[str, float]
    unserved: dict[str, float]
    source: str
    stable: str | None
    candidate: str | None

    def same_traffic(self, other: SplitRecord) -> bool:
        return (self.weights, self.mirrors, self.unserved, self.stable, self.candidate) == (
            other.weights,
            other.mirrors,
            other.unserved,
            other.stable,
            other.candidate,
        )


@dataclass
class RevisionTotals:
    """Requests the simulator generated for one revision (served, errors among them, mirrored copies,
    preview smoke requests)."""

    served: int = 0
    errors: int = 0
    mirrored: int = 0
    preview: int = 0


@dataclass
class _ModelState:
    name: str
    rps: float
    preview_rps: float
    rng: np.random.Generator
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    carry: dict[Group, float] = field(default_factory=dict)
    mirror_carry: dict[Group, float] = field(default_factory=dict)
    preview_carry: dict[Group, float] = field(default_factory=dict)
    split: TrafficSplit = EMPTY_SPLIT
    snapshot: ModelSnapshot | None = None
    history: list[SplitRecord] = field(default_factory=list)
    totals: dict[str, RevisionTotals] = field(default_factory=dict)
    read_errors: int = 0


class Simulator:
    """Simulated production traffic for ModelDeployments ``models`` in ``namespace``.

    In-process: ``sim = Simulator.from_kubeconfig(kc, ns, "iris").start()``; register ``sim.address``
    as a Prometheus target; ``sim.set_behaviour("candidate", error_rate=0.05)``; ``sim.stop()``.
    ``tick()`` runs one step synchronously (unit tests inject a ``reader`` and never start the thread).
    """

    def __init__(
        self,
        reader: SnapshotReader,
        namespace: str,
        models: str | Sequence[str],
        *,
        rps: float = 20.0,
        preview_rps: float | None = None,
        tick_seconds: float = 1.0,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        per_pod: bool = False,
    ):
        names = [models] if isinstance(models, str) else list(models)
        if not names:
            raise ValueError("models: at least one ModelDeployment name is needed")
        if rps < 0 or tick_seconds <= 0:
            raise ValueError("rps must be >= 0 and tick_seconds > 0")
        self.reader = reader
        self.namespace = namespace
        self.tick_seconds = tick_seconds
        self.host = host
        self.port = port
        self.metrics = SimulatorMetrics(per_pod=per_pod)
        seeds = np.random.SeedSequence(seed).spawn(len(names))
        self._models = {
            name: _ModelState(
                name, rps, rps / 4 if preview_rps is None else preview_rps, np.random.default_rng(s)
            )
            for name, s in zip(names, seeds, strict=True)
        }
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: Any = None

    @classmethod
    def from_kubeconfig(
        cls, kubeconfig: str | None, namespace: str, models: str | Sequence[str], **kwargs: Any
    ) -> Simulator:
        return cls(KubeSnapshotReader.from_kubeconfig(kubeconfig), namespace, models, **kwargs)

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> Simulator:
        """Serve /metrics and start ticking in a daemon thread. Returns self."""
        if self._server is None:
            self._server, _ = start_http_server(self.port, addr=self.host, registry=self.metrics.registry)
            self.port = self._server.server_port
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="traffic-simulator", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> str:
        """``host:port`` of /metrics (a Prometheus static target)."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}/metrics"

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # keep simulating: a test wants traffic even through hiccups
                log.exception("simulator tick failed")
            next_at += self.tick_seconds
            now = time.monotonic()
            if now - next_at > MAX_TICKS_BEHIND * self.tick_seconds:
                next_at = now
            self._stop.wait(max(0.0, next_at - now))

    # -- control ------------------------------------------------------------------------------------
    def _targets(self, model: str | None) -> list[_ModelState]:
        if model is None:
            return list(self._models.values())
        if model not in self._models:
            raise KeyError(f"model {model!r} is not simulated (have {sorted(self._models)})")
        return [self._models[model]]

    def set_behaviour(self, selector: str = DEFAULT, model: str | None = None, **changes: Any) -> Behaviour:
        """Set how ``selector`` behaves: a revision hash, ``stable`` / ``candidate`` (resolved from the
        ModelDeployment's status at every tick) or ``default``. Unnamed fields keep their current value
        for that selector (healthy defaults at first). Returns the new behaviour."""
        with self._lock:
            new = HEALTHY
            for state in self._targets(model):
                current = state.behaviours.get(selector, state.behaviours.get(DEFAULT, HEALTHY))
                new = current.with_changes(**changes)
                state.behaviours[selector] = new
            return new

    def reset_behaviours(self, model: str | None = None) -> None:
        with self._lock:
            for state in self._targets(model):
                state.behaviours.clear()

    def set_rps(self, rps: float, model: str | None = None, preview_rps: float | None = None) -> None:
        with self._lock:
            for state in self._targets(model):
                state.rps = rps
                if preview_rps is not None:
                    state.preview_rps = preview_rps

    # -- observation ---------------------------------------------------------------------------------
    def _one(self, model: str | None) -> _ModelState:
        if model is None:
            if len(self._models) != 1:
                raise ValueError("several models are simulated: name one")
            return next(iter(self._models.values()))
        return self._targets(model)[0]

    def split(self, model: str | None = None) -> TrafficSplit:
        """The split used at the last tick."""
        with self._lock:
            return self._one(model).split

    def history(self, model: str | None = None) -> list[SplitRecord]:
        """Every change of the split seen so far (oldest first)."""
        with self._lock:
            return list(self._one(model).history)

    def totals(self, model: str | None = None) -> dict[str, RevisionTotals]:
        """Requests generated so far, by revision."""
        with self._lock:
            return {rev: RevisionTotals(**vars(t)) for rev, t in self._one(model).totals.items()}

    def behaviour_of(self, revision: str, model: str | None = None) -> Behaviour:
        with self._lock:
            state = self._one(model)
            snap = state.snapshot
            return resolve_behaviour(
                revision,
                state.behaviours,
                snap.stable_revision if snap else None,
                snap.candidate_revision if snap else None,
            )

    # -- the step ------------------------------------------------------------------------------------
    def tick(self) -> None:
        """Read every model's split and send one tick of requests."""
        for state in list(self._models.values()):
            try:
                snapshot = self.reader.read(self.namespace, state.name)
            except Exception as exc:  # the data plane keeps its last configuration
                state.read_errors += 1
                if state.read_errors in (1, 10, 100):
                    log.warning(
                        "simulator: reading %s/%s failed (%s); keeping the last split",
                        self.namespace,
                        state.name,
                        exc,
                    )
                snapshot = None
            with self._lock:
                self._tick_model(state, snapshot)
        self.metrics.ticks.inc()

    def _tick_model(self, state: _ModelState, snapshot: ModelSnapshot | None) -> None:
        ns, model = self.namespace, state.name
        if snapshot is not None:
            state.snapshot = snapshot
            state.split = main_split(snapshot)
            for revision, region in groups_present(snapshot):
                self.metrics.ensure_series(ns, model, revision, region)
        snap = state.snapshot
        if snap is None:
            return
        split = state.split
        self._remember(state, split, snap)
        stable, candidate = snap.stable_revision, snap.candidate_revision
        total = state.rps * self.tick_seconds

        def behaviour(revision: str) -> Behaviour:
            return resolve_behaviour(revision, state.behaviours, stable, candidate)

        counts, state.carry = allocate_requests(split.shares, total, state.carry)
        mirror_counts, state.mirror_carry = allocate_requests(split.mirrors, total, state.mirror_carry)
        preview = preview_split(snap) if snapshot is not None else EMPTY_SPLIT
        preview_counts, state.preview_carry = allocate_requests(
            preview.shares, state.preview_rps * self.tick_seconds, state.preview_carry
        )
        allocations = (("served", counts), ("mirrored", mirror_counts), ("preview", preview_counts))
        ready = ready_pod_names(snap.pods, node_regions(snap.nodes)) if self.metrics.per_pod else {}
        for kind, allocation in allocations:
            for (revision, region), n in sorted(allocation.items()):
                outcomes = simulate_requests(state.rng, behaviour(revision), n)
                pods = ready.get((revision, region), []) if kind == "served" else []
                self.metrics.record(ns, model, revision, region, outcomes, pods)
                totals = state.totals.setdefault(revision, RevisionTotals())
                setattr(totals, kind, getattr(totals, kind) + n)
                totals.errors += outcomes.errors if kind == "served" else 0
        for service, share in split.unserved.items():
            self.metrics.unserved.labels(ns, model, service).inc(total * share)
        for revision in sorted({rev for rev, _ in groups_present(snap)}):
            self.metrics.set_gauges(ns, model, revision, gauge_values(state.rng, behaviour(revision)))

    @staticmethod
    def _remember(state: _ModelState, split: TrafficSplit, snap: ModelSnapshot) -> None:
        record = SplitRecord(
            at=time.time(),
            weights=split.revision_percent(),
            mirrors=split.mirror_percent(),
            unserved={k: round(100 * v, 6) for k, v in sorted(split.unserved.items())},
            source=split.source,
            stable=snap.stable_revision,
            candidate=snap.candidate_revision,
        )
        if not state.history or not state.history[-1].same_traffic(record):
            state.history.append(record)
            del state.history[:-HISTORY_MAX]
