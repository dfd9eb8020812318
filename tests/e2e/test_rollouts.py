"""Progressive delivery end to end: the real operator, control plane and Prometheus, with the traffic
simulator (tests/simulator) playing the gateway and the model servers.

Short durations keep each test around a minute or two: analysis every 10 s, minSampleSize 50, steps
[setWeight 20, analysis 20s, setWeight 50, analysis 20s, setWeight 100], Prometheus scraping every 2 s.

A gate passes only when the data show that it holds (docs/analysis.md): a 0.5% error rate cannot be
shown below a 1% bound from a few hundred requests, so revisions that must be promoted here serve no
errors at all and get 100 req/s; how much traffic real evidence needs is the benchmark's subject
(docs/benchmarks.md), these tests are about the wiring.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from modelserve.k8s.client import KubeClient
from modelserve.localcluster import LocalPrometheus

from tests.e2e.conftest import start_operator
from tests.e2e.harness import Kube, OperatorProcess, condition, wait_until
from tests.e2e.test_foundation import model_deployment, ready
from tests.simulator import Behaviour, Simulator

INTERVAL = 10  # seconds, spec.rollout.analysis.interval
ROUTERS = ("replicas", "gatewayAPI", "istio")
REPLICAS = 5  # 20 % of 5 is exactly one pod, so the replicas router's ratio is exact at the first step
# 20 % of 100 req/s is 400 requests per 20 s step: with no errors, enough to show < 1% by the end of
# the step's first extension (0.99^800 < 0.004, the level of that check).
GOOD_RPS = 100
# A 5 % vs 0.5 % error rate needs enough candidate requests per interval to be significant at the first
# looks: at 100 req/s and 20 % (200 requests per interval) two failed analyses by the third look are
# near certain (the judge's own maths, see docs/analysis.md); at 40 req/s only ~84 %.
BAD_RPS = 100
CANARY_STEPS = [
    {"setWeight": 20},
    {"analysis": {"duration": "20s"}},
    {"setWeight": 50},
    {"analysis": {"duration": "20s"}},
    {"setWeight": 100},
]
GATES = [
    {"name": "error-rate", "builtin": "errorRate", "max": 0.01},
    {"name": "latency-p95", "builtin": "latencyP95", "maxMilliseconds": 250},
]
PROMOTE_TIMEOUT = 240
ROLLBACK_TIMEOUT = 150


# --- specs -----------------------------------------------------------------------------------------------


def good_simulator(simulator: Any, name: str, **kwargs: Any) -> Simulator:
    """The traffic simulator for a rollout that must be promoted: every revision serves no errors."""
    sim = simulator(name, **kwargs)
    sim.set_behaviour(error_rate=0.0)
    return sim


def traffic(router: str) -> dict:
    if router == "gatewayAPI":
        return {"router": router, "gatewayAPI": {"parentRefs": [{"name": "public-gateway"}]}}
    return {"router": router}


def rollout_md(
    name: str,
    version: str,
    router: str = "replicas",
    *,
    strategy: str = "canary",
    steps: list[dict] | None = None,
    analysis: dict | None = None,
    **rollout_extra: Any,
) -> dict:
    rollout: dict = {
        "strategy": strategy,
        "analysis": {"interval": f"{INTERVAL}s", "minSampleSize": 50, "gates": GATES, **(analysis or {})},
        "scaleDownDelay": "30s",
        **rollout_extra,
    }
    if strategy == "canary":
        rollout["canary"] = {"steps": steps or CANARY_STEPS}
    return model_deployment(
        name, version=version, replicas=REPLICAS, rollout=rollout, traffic=traffic(router)
    )


# --- observation -----------------------------------------------------------------------------------------


class StatusRecorder:
    """Polls one ModelDeployment's status twice a second in a thread: the sequence of weights, steps and
    phases a test asserts on, even for states that last a single reconcile."""

    def __init__(self, kubeconfig: str, namespace: str, name: str, period: float = 0.5):
        self.client = KubeClient.from_environment(kubeconfig)
        self.namespace, self.name, self.period = namespace, name, period
        self.samples: list[tuple[float, dict]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"status-{name}")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                md = self.client.get("ModelDeployment", self.namespace, self.name)
                if md is not None:
                    status = md.get("status") or {}
                    if not self.samples or self.samples[-1][1] != status:
                        self.samples.append((time.time(), status))
            except Exception:  # the API server is busy: try again
                pass
            self._stop.wait(self.period)

    def __enter__(self) -> StatusRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def statuses(self, since: float = 0.0) -> list[tuple[float, dict]]:
        return [(t, s) for t, s in list(self.samples) if t >= since]

    def canary_weights(self, candidate: str, since: float = 0.0) -> list[int]:
        """status.canaryWeight while ``candidate`` was the candidate, consecutive duplicates removed."""
        out: list[int] = []
        for _, status in self.statuses(since):
            if status.get("candidateRevision") != candidate:
                continue
            weight = int(status.get("canaryWeight") or 0)
            if not out or out[-1] != weight:
                out.append(weight)
        return out

    def step_indexes(self, candidate: str, since: float = 0.0) -> list[int]:
        out: list[int] = []
        for _, status in self.statuses(since):
            if status.get("candidateRevision") != candidate:
                continue
            index = int(status.get("currentStepIndex") or 0)
            if not out or out[-1] != index:
                out.append(index)
        return out

    def first(self, predicate: Callable[[dict], Any]) -> tuple[float, dict] | None:
        for t, status in self.statuses():
            if predicate(status):
                return t, status
        return None


def get_md(kube: Kube, name: str, namespace: str) -> dict:
    md = kube.get("modeldeployment", name, namespace)
    assert md is not None, f"ModelDeployment {namespace}/{name} is gone"
    return md


def wait_status(
    kube: Kube,
    name: str,
    namespace: str,
    predicate: Callable[[dict], Any],
    timeout: float,
    what: str,
    operator: OperatorProcess | None = None,
    unexpected: tuple[str, ...] = ("Paused", "RolledBack"),
) -> dict:
    """Wait until ``predicate(status)``. Fails at once when the phase becomes one of ``unexpected`` (and
    the predicate does not hold); the failure shows the last status and the operator log's tail."""
    last: dict = {}

    class Unexpected(Exception):
        pass

    def check() -> dict | None:
        nonlocal last
        md = get_md(kube, name, namespace)
        last = md.get("status") or {}
        if predicate(last):
            return md
        if last.get("phase") in unexpected:
            raise Unexpected(f"phase {last.get('phase')}")
        return None

    def fail(headline: str) -> AssertionError:
        tail = f"\noperator log tail:\n{operator.log()[-4000:]}" if operator else ""
        return AssertionError(f"{headline}\nlast status: {json.dumps(_brief(last), indent=1)}{tail}")

    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
        except Unexpected as exc:
            raise fail(f"waiting for {what}: unexpected {exc}") from None
        except AssertionError:
            raise
        except Exception:  # the API server is busy: try again
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(1.0)


def _brief(status: dict) -> dict:
    keep = (
        "phase",
        "message",
        "stableRevision",
        "candidateRevision",
        "canaryWeight",
        "currentStepIndex",
        "rollout",
        "conditions",
    )
    out = {k: status.get(k) for k in keep if k in status}
    out["analysisHistory"] = (status.get("analysisHistory") or [])[-4:]
    return out


def events(kube: Kube, namespace: str, name: str, reason: str | None = None) -> list[dict]:
    return [
        e
        for e in kube.items("events", namespace)
        if e["involvedObject"].get("name") == name
        and e["involvedObject"].get("kind") == "ModelDeployment"
        and (reason is None or e.get("reason") == reason)
    ]


def start_rollout(kube: Kube, namespace: str, md_v2: dict, stable: str) -> tuple[str, dict]:
    """Apply the new version; return (candidate revision, the stored resource right after the apply)."""
    kube.apply(md_v2, namespace)
    applied = get_md(kube, md_v2["metadata"]["name"], namespace)
    md = wait_status(
        kube,
        md_v2["metadata"]["name"],
        namespace,
        lambda s: s.get("candidateRevision") and s.get("candidateRevision") != stable,
        60,
        "a candidate revision",
    )
    return md["status"]["candidateRevision"], applied


def assert_spec_untouched(kube: Kube, namespace: str, applied: dict) -> None:
    """The operator never writes spec: the stored spec (as JSON text) and generation are what we applied."""
    now = get_md(kube, applied["metadata"]["name"], namespace)
    assert json.dumps(now["spec"]) == json.dumps(applied["spec"])
    assert now["metadata"]["generation"] == applied["metadata"]["generation"]


def non_decreasing(values: list[float]) -> bool:
    return all(a <= b for a, b in itertools.pairwise(values))


def sim_candidate_weights(sim: Simulator, candidate: str) -> list[float]:
    """The candidate's served share (percent) in every split the simulator saw while it was the candidate."""
    out: list[float] = []
    for record in sim.history():
        if record.candidate != candidate:
            continue
        weight = round(record.weights.get(candidate, 0.0), 1)
        if not out or out[-1] != weight:
            out.append(weight)
    return out


def route_candidate_weight(kube: Kube, namespace: str, name: str, router: str, candidate: str) -> int | None:
    """The candidate's weight as written in the router's live object (None: not listed there)."""
    if router == "gatewayAPI":
        route = kube.get("httproute", name, namespace)
        for rule in route["spec"]["rules"]:
            for ref in rule.get("backendRefs") or ():
                if ref["name"].endswith(candidate[:22]):
                    return int(ref.get("weight", 1))
        return None
    if router == "istio":
        vs = kube.get("virtualservice", name, namespace)
        for http in vs["spec"]["http"]:
            for dest in http.get("route") or ():
                if dest["destination"]["host"].split(".")[0].endswith(candidate[:22]):
                    return int(dest.get("weight", 0))
        return None
    selector = kube.get("service", name, namespace)["spec"]["selector"]
    rev = selector.get("modelserve.io/revision")
    return None if rev is None else (100 if rev == candidate else 0)


GATE_BREACH = re.compile(
    r"gate (?P<gate>[a-z0-9-]+): (?P<value>[0-9.e+-]+)(?:ms)? > max (?P<bound>[0-9.e+-]+)"
)


def breach(message: str, gate: str) -> tuple[float, float] | None:
    """(measured value, bound) of ``gate`` named in a rollback message, or None."""
    for m in GATE_BREACH.finditer(message or ""):
        if m.group("gate") == gate:
            return float(m.group("value")), float(m.group("bound"))
    return None


def rfc3339_seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# --- promotion and rollback through every router --------------------------------------------------------


@pytest.mark.side_lane  # 2 minutes per router, paced by the steps' pauses (hack/e2e-lanes.sh)
@pytest.mark.parametrize("router", ROUTERS)
def test_good_candidate_is_promoted_through_every_step(
    router: str,
    kube: Kube,
    cluster: Any,
    namespace: str,
    operator: OperatorProcess,
    simulator: Any,
    mesh_crds: list[str],
) -> None:
    name = "good"
    kube.apply(rollout_md(name, "1", router), namespace)
    stable = ready(kube, name, namespace)["status"]["stableRevision"]
    sim = good_simulator(simulator, name, rps=GOOD_RPS, seed=11)
    wait_until(lambda: sim.split().revision_percent() == {stable: 100.0}, 30, what="traffic on stable")

    with StatusRecorder(str(cluster.kubeconfig), namespace, name) as rec:
        candidate, applied = start_rollout(kube, namespace, rollout_md(name, "2", router), stable)
        md = wait_status(
            kube,
            name,
            namespace,
            lambda s: s.get("stableRevision") == candidate and s.get("phase") == "Ready",
            PROMOTE_TIMEOUT,
            "the candidate promoted",
            operator,
        )

    weights = rec.canary_weights(candidate)
    assert non_decreasing(weights), weights
    assert {20, 50, 100} <= set(weights), f"weights seen: {weights}"
    assert set(weights) <= {0, 20, 50, 100}, f"weights seen: {weights}"
    assert non_decreasing(rec.step_indexes(candidate)), rec.step_indexes(candidate)
    # What the data plane did (the simulator reads the routes / ready pods, not the status).
    served = sim_candidate_weights(sim, candidate)
    assert non_decreasing(served), served
    if router != "replicas":  # mesh routers are exact, and scale before weight means no unserved request
        assert {20.0, 50.0} <= set(served), served
        assert not any(r.unserved for r in sim.history()), [r for r in sim.history() if r.unserved]
    status = md["status"]
    assert not status.get("candidateRevision")
    assert int(status.get("canaryWeight") or 0) == 0
    verdicts = {(h["gate"], h["verdict"]) for h in status.get("analysisHistory") or []}
    assert {("error-rate", "Passed"), ("latency-p95", "Passed")} <= verdicts, verdicts
    assert not any(v == "Failed" for _, v in verdicts), status.get("analysisHistory")
    wait_until(lambda: events(kube, namespace, name, "Promoted"), 30, what="Promoted event")
    wait_until(
        lambda: sim.split().revision_percent() == {candidate: 100.0},
        30,
        what="all traffic on the promoted revision",
    )
    assert_spec_untouched(kube, namespace, applied)


@pytest.mark.parametrize("router", ROUTERS)
def test_bad_candidate_is_rolled_back_with_the_reason(
    router: str,
    kube: Kube,
    cluster: Any,
    namespace: str,
    operator: OperatorProcess,
    simulator: Any,
    mesh_crds: list[str],
) -> None:
    name = "bad"
    kube.apply(rollout_md(name, "1", router), namespace)
    stable = ready(kube, name, namespace)["status"]["stableRevision"]
    sim = simulator(name, rps=BAD_RPS, seed=12)
    sim.set_behaviour("candidate", error_rate=0.05)

    with StatusRecorder(str(cluster.kubeconfig), namespace, name) as rec:
        candidate, applied = start_rollout(kube, namespace, rollout_md(name, "2", router), stable)
        # The candidate is pinned by hash: after the rollback it is no longer "candidate" in status.
        sim.set_behaviour(candidate, error_rate=0.05)
        md = wait_status(
            kube,
            name,
            namespace,
            lambda s: s.get("phase") == "RolledBack",
            ROLLBACK_TIMEOUT,
            "phase RolledBack",
            operator,
            unexpected=("Paused",),
        )
        time.sleep(3)  # let the next reconciles happen: what they write must keep the reason
    status = md["status"]
    assert status["stableRevision"] == stable
    assert not status.get("candidateRevision")
    assert int(status.get("canaryWeight") or 0) == 0
    assert status["rollout"]["failedRevision"] == candidate
    assert status["rollout"]["failedReason"] == "QualityGateFailed"
    assert max(rec.canary_weights(candidate)) == 20, "rolled back at the first weight"

    degraded, problems = rollback_reason_problems(kube, namespace, name, rec, "error-rate", 0.01)
    failed = [h for h in status.get("analysisHistory") or [] if h["verdict"] == "Failed"]
    assert failed and all(h["gate"] == "error-rate" for h in failed), status.get("analysisHistory")
    assert failed[-1]["value"] > 0.01 and "0.01" in failed[-1]["bound"]

    # Within two analysis intervals of the first full sample (one interval after exposure began).
    exposed = rec.first(
        lambda s: s.get("candidateRevision") == candidate and (s.get("canaryWeight") or 0) > 0
    )
    assert exposed, "the candidate never got traffic"
    rolled_back_at = rfc3339_seconds(degraded["lastTransitionTime"])
    first_full_sample = exposed[0] + INTERVAL
    slack = 6  # scrape interval, reconcile and poll granularity
    assert rolled_back_at - first_full_sample <= 2 * INTERVAL + slack, (
        f"rolled back {rolled_back_at - exposed[0]:.1f}s after exposure began"
    )

    # All traffic back on stable: the router's object and what the data plane does.
    assert route_candidate_weight(kube, namespace, name, router, candidate) in (0, None)
    wait_until(lambda: sim.split().revision_percent() == {stable: 100.0}, 15, what="all traffic on stable")
    assert_spec_untouched(kube, namespace, applied)
    assert not problems, "\n".join(problems)


def rollback_reason_problems(
    kube: Kube, namespace: str, name: str, rec: StatusRecorder, gate: str, bound: float
) -> tuple[dict, list[str]]:
    """At the rollback: Degraded=True with reason QualityGateFailed (asserted), and -- returned as problems
    so a test still checks everything else first -- a message naming the gate, the measured value and the
    bound, at the transition and still now (docs/rollouts.md: it lasts until a new revision or a retry), and
    a Warning Event saying the same. Returns (the condition at the transition, problems)."""
    rolled = rec.first(lambda s: s.get("phase") == "RolledBack")
    assert rolled, "the recorder never saw phase RolledBack"
    degraded = condition({"status": rolled[1]}, "Degraded")
    assert degraded and degraded["status"] == "True" and degraded["reason"] == "QualityGateFailed", degraded
    problems = []
    found = breach(degraded["message"], gate)
    if not found:
        problems.append(
            f"Degraded message at the rollback does not name gate, value and bound: {degraded['message']!r}"
        )
    elif not (found[1] == bound and found[0] > bound):
        problems.append(f"Degraded message has the wrong value/bound: {degraded['message']!r}")
    warning = wait_until(lambda: events(kube, namespace, name, "RolledBack"), 30, what="RolledBack event")
    assert warning[0]["type"] == "Warning"
    if not breach(warning[0]["message"], gate):
        problems.append(f"RolledBack event does not name gate, value and bound: {warning[0]['message']!r}")
    now = condition(get_md(kube, name, namespace), "Degraded")
    assert now and now["reason"] == "QualityGateFailed", now
    if not breach(now["message"], gate):
        problems.append(
            f"after the rollback the Degraded message no longer names the gate: {now['message']!r}"
        )
    return degraded, problems


def test_slow_candidate_fails_the_latency_gate(
    kube: Kube,
    cluster: Any,
    namespace: str,
    operator: OperatorProcess,
    simulator: Any,
    mesh_crds: list[str],
) -> None:
    name = "slow"
    router = "istio"
    kube.apply(rollout_md(name, "1", router), namespace)
    stable = ready(kube, name, namespace)["status"]["stableRevision"]
    sim = simulator(name, rps=BAD_RPS, seed=13)
    sim.set_behaviour("candidate", latency_ms=400)  # p95 ~ 660 ms against a 250 ms bound; errors healthy
    with StatusRecorder(str(cluster.kubeconfig), namespace, name) as rec:
        candidate, applied = start_rollout(kube, namespace, rollout_md(name, "2", router), stable)
        sim.set_behaviour(candidate, latency_ms=400)
        md = wait_status(
            kube,
            name,
            namespace,
            lambda s: s.get("phase") == "RolledBack",
            ROLLBACK_TIMEOUT,
            "phase RolledBack",
            operator,
            unexpected=("Paused",),
        )
        time.sleep(3)
    degraded, problems = rollback_reason_problems(kube, namespace, name, rec, "latency-p95", 250)
    assert breach(degraded["message"], "error-rate") is None, "the error rate was healthy"
    assert md["status"]["stableRevision"] == stable
    wait_until(lambda: sim.split().revision_percent() == {stable: 100.0}, 15, what="all traffic on stable")
    assert_spec_untouched(kube, namespace, applied)
    assert not problems, "\n".join(problems)


def test_tail_only_latency_regression_is_rolled_back(
    kube: Kube,
    cluster: Any,
    namespace: str,
    operator: OperatorProcess,
    simulator: Any,
) -> None:
    """p99 +40% with the median unchanged, against latencyP99 maxRelativeToStable 1.2: the tail test
    (candidate requests slower than 1.2 x stable's p99, against stable's 1% slower than its own p99)
    rolls it back on the real Prometheus histograms (a rank test sees no such regression:
    tests/unit/test_analysis_evidence.py)."""
    name = "tail"
    gates = [
        {"name": "error-rate", "builtin": "errorRate", "max": 0.01},
        {"name": "latency-p99", "builtin": "latencyP99", "maxRelativeToStable": 1.2},
    ]
    healthy, tail = Behaviour(error_rate=0.0), Behaviour(error_rate=0.0, latency_sigma=0.443)
    assert tail.latency_quantile_ms(0.5) == healthy.latency_quantile_ms(0.5)
    assert 1.38 < tail.latency_quantile_ms(0.99) / healthy.latency_quantile_ms(0.99) < 1.42
    kube.apply(rollout_md(name, "1", analysis={"gates": gates}), namespace)
    stable = ready(kube, name, namespace)["status"]["stableRevision"]
    sim = simulator(name, rps=BAD_RPS, seed=19)
    sim.set_behaviour(error_rate=0.0)
    sim.set_behaviour("candidate", latency_sigma=tail.latency_sigma)
    with StatusRecorder(str(cluster.kubeconfig), namespace, name) as rec:
        candidate, applied = start_rollout(
            kube, namespace, rollout_md(name, "2", analysis={"gates": gates}), stable
        )
        sim.set_behaviour(candidate, latency_sigma=tail.latency_sigma)
        md = wait_status(
            kube,
            name,
            namespace,
            lambda s: s.get("phase") == "RolledBack",
            ROLLBACK_TIMEOUT,
            "phase RolledBack",
            operator,
            unexpected=("Paused",),
        )
        wait_until(
            lambda: rec.first(lambda s: s.get("phase") == "RolledBack"),
            10,
            what="the status recorder seeing the rollback",
        )
    status = md["status"]
    assert status["stableRevision"] == stable
    assert status["rollout"]["failedRevision"] == candidate
    failed = [h for h in status.get("analysisHistory") or [] if h["verdict"] == "Failed"]
    assert failed and all(h["gate"] == "latency-p99" for h in failed), status.get("analysisHistory")
    assert max(rec.canary_weights(candidate)) == 20, "rolled back at the first weight"
    degraded, problems = rollback_reason_problems(kube, namespace, name, rec, "latency-p99", 1.2)
    assert breach(degraded["message"], "error-rate") is None, "the error rate was healthy"
    wait_until(lambda: sim.split().revision_percent() == {stable: 100.0}, 15, what="all traffic on stable")
    assert_spec_untouched(kube, namespace, applied)
    assert not problems, "\n".join(problems)


# --- failures of the surroundings -----------------------------------------------------------------------


def test_prometheus_down_mid_analysis_never_promotes(
    kube: Kube,
    cluster: Any,
    namespace: str,
    operator: OperatorProcess,
    simulator: Any,
    workdir: Path,
) -> None:
    """The rollout's own Prometheus (spec.rollout.analysis.provider.address) stops after the first
    analysis at 20 %: no promotion, no rollback, and after consecutiveErrorLimit errors a pause."""
    name = "blind"
    with LocalPrometheus(workdir / f"prometheus-{namespace}") as own:
        extra = {"provider": {"address": own.url}, "consecutiveErrorLimit": 3}
        steps = [{"setWeight": 20}, {"analysis": {"duration": "5m"}}, {"setWeight": 100}]
        kube.apply(rollout_md(name, "1", steps=steps, analysis=extra), namespace)
        stable = ready(kube, name, namespace)["status"]["stableRevision"]
        simulator(name, rps=GOOD_RPS, seed=14, prometheus=own)
        with StatusRecorder(str(cluster.kubeconfig), namespace, name) as rec:
            candidate, applied = start_rollout(
                kube, namespace, rollout_md(name, "2", steps=steps, analysis=extra), stable
            )
            wait_status(
                kube,
                name,
                namespace,
                lambda s: s.get("canaryWeight") == 20 and s.get("analysisHistory"),
                90,
                "a first analysis at 20 %",
                operator,
            )
            own.stop()
            stopped_at = time.time()
            md = wait_status(
                kube,
                name,
                namespace,
                lambda s: (
                    s.get("phase") == "Paused"
                    and (s.get("rollout") or {}).get("pauseReason") == "AnalysisPaused"
                ),
                6 * INTERVAL + 30,
                "an analysis pause",
                operator,
                unexpected=("RolledBack",),
            )
            time.sleep(INTERVAL)  # a paused rollout stays paused
    status = get_md(kube, name, namespace)["status"]
    assert status["stableRevision"] == stable and status["candidateRevision"] == candidate
    assert status["canaryWeight"] == 20
    seen = rec.statuses()
    assert all(s.get("stableRevision") == stable for _, s in seen), "promoted without evidence"
    assert all(s.get("phase") != "RolledBack" for _, s in seen), "rolled back because Prometheus was down"
    assert max(rec.canary_weights(candidate)) == 20
    errors = [
        h
        for h in md["status"].get("analysisHistory") or []
        if h["verdict"] == "Error" and rfc3339_seconds(h["time"]) >= stopped_at - 1
    ]
    assert errors, md["status"].get("analysisHistory")
    assert (md["status"].get("rollout") or {}).get("consecutiveErrors", 0) >= 3
    assert status["phase"] == "Paused"
    assert_spec_untouched(kube, namespace, applied)


@contextmanager
def own_operator(session_operator: OperatorProcess) -> Iterator[None]:
    """The session operator watches every namespace; stop it while a test runs its own, so
    exactly one operator acts. A fresh one starts afterwards and re-lists everything from the API."""
    session_operator.pause()
    try:
        yield
    finally:
        session_operator.resume()


def _operator_healthy(op: OperatorProcess) -> bool:
    import urllib.request

    if not op.alive():
        raise AssertionError("operator exited:\n" + op.log()[-3000:])
    with urllib.request.urlopen(f"http://127.0.0.1:{op.health_port}/healthz", timeout=2) as resp:
        return resp.status == 200


@pytest.mark.side_lane  # 2.5 minutes, paced by the steps' pauses around the kill (hack/e2e-lanes.sh)
def test_operator_killed_mid_rollout_resumes_at_the_recorded_step(
    kube: Kube,
    cluster: Any,
    namespace: str,
    operator: OperatorProcess,
    simulator: Any,
    prometheus: LocalPrometheus,
    workdir: Path,
    mesh_crds: list[str],
) -> None:
    name = "resume"
    router = "gatewayAPI"
    ops: list[OperatorProcess] = []

    def start() -> OperatorProcess:
        op = start_operator(
            cluster.operator_kubeconfig,
            workdir,
            namespaces=[namespace],
            prometheus_url=prometheus.url,
            name=f"resume-{len(ops)}",
        )
        ops.append(op)
        wait_until(lambda: _operator_healthy(op), 60, what="own operator liveness")
        return op

    with own_operator(operator):
        try:
            op = start()
            kube.apply(rollout_md(name, "1", router), namespace)
            stable = ready(kube, name, namespace)["status"]["stableRevision"]
            sim = good_simulator(simulator, name, rps=GOOD_RPS, seed=15)
            with StatusRecorder(str(cluster.kubeconfig), namespace, name) as rec:
                candidate, applied = start_rollout(kube, namespace, rollout_md(name, "2", router), stable)
                # Kill it in the analysis step at 20 %, once an analysis has been counted.
                before = wait_status(
                    kube,
                    name,
                    namespace,
                    lambda s: (
                        s.get("currentStepIndex") == 1
                        and s.get("canaryWeight") == 20
                        and (s.get("rollout") or {}).get("lastAnalysisAt")
                    ),
                    90,
                    "analysis at 20 %",
                    op,
                )["status"]
                op.kill()
                killed_at = time.time()
                time.sleep(5)
                frozen = get_md(kube, name, namespace)["status"]
                assert frozen["currentStepIndex"] == before["currentStepIndex"]
                assert route_candidate_weight(kube, namespace, name, router, candidate) == 20
                op = start()
                wait_status(
                    kube,
                    name,
                    namespace,
                    lambda s: s.get("stableRevision") == candidate and s.get("phase") == "Ready",
                    PROMOTE_TIMEOUT,
                    "the candidate promoted after the restart",
                    op,
                )
            # The new operator continues from status: the same step or the next one, never back to 0 and
            # never past the next setWeight.
            after = [s for t, s in rec.statuses(since=killed_at) if s.get("candidateRevision") == candidate]
            assert after, "no status seen after the restart"
            step = before["currentStepIndex"]
            indexes = [int(s.get("currentStepIndex") or 0) for s in after]
            assert non_decreasing(indexes) and indexes[0] >= step, f"step went back: {step} then {indexes}"
            assert after[0]["canaryWeight"] in (20, 50), "the restart jumped the weight"
            assert all(int(s.get("canaryWeight") or 0) >= 20 for s in after), "the restart reset the weight"
            # The analysis step kept its start time: it did not end before its 20 s had run.
            step_started = rfc3339_seconds(before["rollout"]["stepStartedAt"])
            moved = rec.first(
                lambda s: (
                    s.get("candidateRevision") == candidate and int(s.get("currentStepIndex") or 0) > step
                )
            )
            assert moved and moved[0] >= step_started + 20 - 1, "the analysis step was cut short"
            weights = rec.canary_weights(candidate)
            assert weights == [w for w in (0, 20, 50, 100) if w in weights] and 50 in weights, weights
            served = sim_candidate_weights(sim, candidate)
            assert non_decreasing(served) and 50.0 in served, served
            assert_spec_untouched(kube, namespace, applied)
        finally:
            for op in ops:
                op.stop()


# --- the other strategies -------------------------------------------------------------------------------


def test_shadow_judges_mirrored_traffic_then_promotes(
    kube: Kube,
    cluster: Any,
    namespace: str,
    operator: OperatorProcess,
    simulator: Any,
    mesh_crds: list[str],
) -> None:
    name = "shadowed"
    router = "gatewayAPI"
    shadow = {"shadow": {"mirrorPercent": 50, "duration": "20s", "then": "promote"}}
    kube.apply(rollout_md(name, "1", router, strategy="shadow", **shadow), namespace)
    stable = ready(kube, name, namespace)["status"]["stableRevision"]
    sim = good_simulator(simulator, name, rps=GOOD_RPS, seed=16)
    with StatusRecorder(str(cluster.kubeconfig), namespace, name) as rec:
        candidate, applied = start_rollout(
            kube, namespace, rollout_md(name, "2", router, strategy="shadow", **shadow), stable
        )
        wait_until(
            lambda: sim.split().mirror_percent() == {candidate: 50.0},
            90,
            what="half of the requests mirrored to the candidate",
        )
        assert sim.split().revision_percent() == {stable: 100.0}, "a shadow serves no user traffic"
        md = wait_status(
            kube,
            name,
            namespace,
            lambda s: s.get("stableRevision") == candidate and s.get("phase") == "Ready",
            PROMOTE_TIMEOUT,
            "the shadowed candidate promoted",
            operator,
        )
    stages = {(s.get("rollout") or {}).get("phase") for _, s in rec.statuses()}
    assert "Shadow" in stages, stages
    assert set(rec.canary_weights(candidate)) <= {0, 100}, "a shadow is never weighted"
    mirrored = sim.totals()[candidate].mirrored
    assert mirrored >= 50, f"only {mirrored} mirrored requests"
    assert any(h["verdict"] == "Passed" for h in md["status"].get("analysisHistory") or [])
    for reason in ("MirrorStarted", "Promoted"):
        wait_until(lambda r=reason: events(kube, namespace, name, r), 30, what=f"{reason} event")
    wait_until(
        lambda: sim.split().revision_percent() == {candidate: 100.0} and not sim.split().mirrors,
        30,
        what="all traffic on the promoted revision, no mirror",
    )
    assert_spec_untouched(kube, namespace, applied)


@pytest.mark.side_lane  # paced by the preview's analysis (hack/e2e-lanes.sh)
def test_blue_green_switches_at_once_after_the_preview_passes(
    kube: Kube,
    cluster: Any,
    namespace: str,
    operator: OperatorProcess,
    simulator: Any,
) -> None:
    name = "bluegreen"
    blue_green = {"blueGreen": {"autoPromote": True, "scaleDownDelay": "1m"}}
    kube.apply(rollout_md(name, "1", strategy="blueGreen", **blue_green), namespace)
    stable = ready(kube, name, namespace)["status"]["stableRevision"]
    sim = good_simulator(simulator, name, rps=GOOD_RPS, preview_rps=10, seed=17)
    with StatusRecorder(str(cluster.kubeconfig), namespace, name) as rec:
        candidate, applied = start_rollout(
            kube, namespace, rollout_md(name, "2", strategy="blueGreen", **blue_green), stable
        )
        preview = wait_until(
            lambda: kube.get("service", f"{name}-preview", namespace), 90, what="the preview Service"
        )
        assert preview["spec"]["selector"]["modelserve.io/revision"] == candidate
        wait_until(
            lambda: sim.totals().get(candidate) and sim.totals()[candidate].preview > 0,
            90,
            what="smoke traffic on the preview",
        )
        md = wait_status(
            kube,
            name,
            namespace,
            lambda s: s.get("stableRevision") == candidate and s.get("phase") == "Ready",
            PROMOTE_TIMEOUT,
            "the previewed candidate promoted",
            operator,
        )
    stages = {(s.get("rollout") or {}).get("phase") for _, s in rec.statuses()}
    assert "Preview" in stages, stages
    # Users saw the old revision only, then the new one only: no split in between.
    for record in sim.history():
        assert len(record.weights) <= 1, f"traffic split during blue-green: {record}"
    assert set(rec.canary_weights(candidate)) <= {0, 100}, rec.canary_weights(candidate)
    assert any(h["verdict"] == "Passed" for h in md["status"].get("analysisHistory") or [])
    wait_until(lambda: events(kube, namespace, name, "PreviewReady"), 30, what="PreviewReady event")
    wait_until(
        lambda: sim.split().revision_percent() == {candidate: 100.0},
        30,
        what="all traffic on the promoted revision",
    )
    # The old revision is kept (scaleDownDelay 1m) for an instant rollback.
    owned = kube.items("deployments", namespace, selector=f"app.kubernetes.io/instance={name}")
    deployments = {d["metadata"]["labels"]["modelserve.io/revision"] for d in owned}
    assert stable in deployments, deployments
    assert_spec_untouched(kube, namespace, applied)


def test_shadow_needs_a_router_that_can_mirror(
    kube: Kube,
    namespace: str,
    operator: OperatorProcess,
    simulator: Any,
) -> None:
    name = "nomirror"
    shadow = {"shadow": {"mirrorPercent": 100, "duration": "20s"}}
    kube.apply(rollout_md(name, "1", "replicas", strategy="shadow", **shadow), namespace)
    stable = ready(kube, name, namespace)["status"]["stableRevision"]
    sim = simulator(name, rps=GOOD_RPS, seed=18)
    kube.apply(rollout_md(name, "2", "replicas", strategy="shadow", **shadow), namespace)
    md = wait_status(
        kube,
        name,
        namespace,
        lambda s: (
            (c := condition({"status": s}, "Degraded"))
            and c["status"] == "True"
            and c["reason"] == "UnsupportedStrategy"
        ),
        60,
        "Degraded UnsupportedStrategy",
        operator,
    )
    assert md["status"]["stableRevision"] == stable
    assert "gatewayAPI" in condition(md, "Degraded")["message"]
    time.sleep(3)
    assert sim.split().revision_percent() == {stable: 100.0} and not sim.split().mirrors
