"""Faults of the control plane (issue 18): the operator reconnects, re-lists and resumes a rollout at
its recorded step -- no step twice, no weight jump, no lost rollback -- and two replicas never act at
once.

These tests restart etcd and the API server, so they run on a control plane of their own (module
scope), never the session's. Every weight the operator writes is read back from the audit log: that
cluster's policy keeps the body of every ModelDeployment status patch, so replaying the patches gives
each status the operator wrote, in order, including states a poller would miss.

The rollouts are short: [20, pause 3s, 40, pause 3s, 60, pause 3s, 80, pause 3s, 100] through the
replicas router, with no gates (the pauses need no analysis).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from modelserve.localcluster import LocalPrometheus
from modelserve.localcluster.cluster import AUDIT_POLICY, OPERATOR_USER
from modelserve.planner.settle import SETTLE_SECONDS

from tests.e2e import conftest
from tests.e2e.faultproxy import FaultProxy
from tests.e2e.harness import REPO, Kube, OperatorProcess, healthy, operator_writes, wait_until
from tests.e2e.test_foundation import model_deployment, ready
from tests.e2e.test_rollouts import BAD_RPS, ROLLBACK_TIMEOUT, rollout_md, wait_status
from tests.simulator import Simulator

PLAN = (20, 40, 60, 80, 100)
PAUSE = "3s"
STEPS = [step for weight in PLAN for step in ({"setWeight": weight}, {"pause": {"duration": PAUSE}})][:-1]
REPLICAS = 5  # every weight of the plan is a whole number of pods
PROMOTE_TIMEOUT = 150
# A fault lasts this long: long enough that the operator's requests and watches fail meanwhile.
OUTAGE_SECONDS = 6
# Status patches keep their body, so every status the operator wrote can be replayed.
FAULTS_AUDIT_POLICY = {
    **AUDIT_POLICY,
    "rules": [
        {
            "level": "Request",
            "verbs": ["patch", "update"],
            "resources": [{"group": "modelserve.io", "resources": ["modeldeployments/status"]}],
        },
        *AUDIT_POLICY["rules"],
    ],
}


# --- the module's own control plane and operator -------------------------------------------------------


@pytest.fixture(scope="module")
def fault_cluster(workdir: Path) -> Iterator[conftest.TestCluster]:
    c = conftest.TestCluster(workdir / "fault-cluster", audit_policy=FAULTS_AUDIT_POLICY)
    c.start()
    try:
        c.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        c.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def fkube(fault_cluster: conftest.TestCluster) -> Kube:
    return Kube(fault_cluster)


@pytest.fixture(scope="module")
def fault_operator(
    fault_cluster: conftest.TestCluster, prometheus: LocalPrometheus, workdir: Path
) -> Iterator[OperatorProcess]:
    """One operator (no leader election) for the module, with the session's Prometheus for its gates.
    Its resync is 10 minutes, so whatever it does within a test came from its watches or its own
    requeues, not from a periodic relist; DEBUG, so its log shows kopf restarting a watch after 410."""
    op = OperatorProcess(
        fault_cluster.operator_kubeconfig,
        workdir,
        prometheus_url=prometheus.url,
        extra_args=["--resync-seconds", "600", "--log-level", "DEBUG"],
        name="fault-operator",
    )
    try:
        wait_until(lambda: healthy(op), 60, what="operator liveness endpoint")
        yield op
    finally:
        op.stop()


@pytest.fixture
def fns(fkube: Kube) -> Iterator[str]:
    name = f"f-{uuid.uuid4().hex[:8]}"
    fkube.run("create", "namespace", name)
    wait_until(lambda: fkube.get("serviceaccount", "default", name), 30, what="default ServiceAccount")
    yield name
    fkube.run("delete", "namespace", name, "--wait=false", check=False)


# --- what the operator wrote, from the audit log --------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (what KubeClient.patch_status sends)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _when(entry: dict) -> float:
    return datetime.fromisoformat(entry["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()


def written_statuses(audit: Path, namespace: str, name: str) -> list[tuple[float, str, dict]]:
    """(time, user, whole status after the write) for every successful status patch of one
    ModelDeployment, in order: the patches replayed from an empty status."""
    entries = []
    for line in audit.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        ref = entry.get("objectRef") or {}
        if (
            ref.get("resource") != "modeldeployments"
            or ref.get("subresource") != "status"
            or ref.get("namespace") != namespace
            or ref.get("name") != name
            or entry.get("verb") != "patch"
            or entry.get("stage") != "ResponseComplete"
            or not 200 <= int((entry.get("responseStatus") or {}).get("code") or 0) < 300
        ):
            continue
        entries.append(entry)
    entries.sort(key=_when)
    status: dict = {}
    out = []
    for entry in entries:
        status = merge_patch(status, (entry.get("requestObject") or {}).get("status") or {})
        out.append((_when(entry), entry["user"]["username"], status))
    return out


def rollout_trace(statuses: list[tuple[float, str, dict]], candidate: str) -> list[tuple[int, int]]:
    """(currentStepIndex, canaryWeight) as written while `candidate` was the candidate, consecutive
    repeats removed."""
    trace: list[tuple[int, int]] = []
    for _, _, status in statuses:
        if status.get("candidateRevision") != candidate:
            continue
        point = (int(status.get("currentStepIndex") or 0), int(status.get("canaryWeight") or 0))
        if not trace or trace[-1] != point:
            trace.append(point)
    return trace


def assert_plan_followed(
    trace: list[tuple[int, int]], *, complete: bool, plan: tuple[int, ...] = PLAN
) -> None:
    """No step twice (step indexes only grow), no weight jump (weights only grow, and every weight of
    the plan appears in order, none skipped); `complete`: the plan ran to its last weight."""
    steps = [s for s, _ in trace]
    weights = [w for _, w in trace]
    assert all(a <= b for a, b in itertools.pairwise(steps)), f"a step went back or repeated: {trace}"
    assert all(a <= b for a, b in itertools.pairwise(weights)), f"a weight went back: {trace}"
    seen = [w for w, _ in itertools.groupby(w for w in weights if w > 0)]
    assert seen == list(plan[: len(seen)]), f"weights {seen} skip a step of the plan {plan}: {trace}"
    if complete:
        assert seen == list(plan), f"the plan did not run to its end: {trace}"


# --- faults and rollouts ----------------------------------------------------------------------------------


def apiserver_outage(cluster: conftest.TestCluster, *, compact_etcd: bool = False) -> int | None:
    """Stop the API server for OUTAGE_SECONDS (compacting etcd's history meanwhile, if asked: returns
    the revision), start it again, and give the cluster's own controllers a fresh start
    (LocalCluster.refresh_controllers says why; the operator is never restarted)."""
    cluster.stop_component("kube-apiserver")
    revision = cluster.compact_etcd() if compact_etcd else None
    time.sleep(OUTAGE_SECONDS)  # the fault itself: the API server is away this long
    cluster.start_component("kube-apiserver")
    cluster.refresh_controllers()
    return revision


def canary_md(name: str, version: str) -> dict:
    return model_deployment(
        name,
        version=version,
        replicas=REPLICAS,
        rollout={"strategy": "canary", "canary": {"steps": STEPS}, "scaleDownDelay": "5s"},
        traffic={"router": "replicas"},
    )


def start_canary(kube: Kube, namespace: str, name: str, operator: OperatorProcess | None) -> tuple[str, str]:
    """v1 Ready, then v2 applied: (stable, candidate) revisions."""
    kube.apply(canary_md(name, "1"), namespace)
    stable = ready(kube, name, namespace)["status"]["stableRevision"]
    kube.apply(canary_md(name, "2"), namespace)
    md = wait_status(
        kube,
        name,
        namespace,
        lambda s: s.get("candidateRevision") and s["candidateRevision"] != stable,
        60,
        "a candidate revision",
        operator,
    )
    return stable, md["status"]["candidateRevision"]


def wait_step(kube: Kube, namespace: str, name: str, weight: int, operator: OperatorProcess | None) -> None:
    wait_status(
        kube,
        name,
        namespace,
        lambda s: int(s.get("canaryWeight") or 0) >= weight,
        90,
        f"canary weight {weight}",
        operator,
    )


def wait_promoted(
    kube: Kube, namespace: str, name: str, candidate: str, operator: OperatorProcess | None
) -> dict:
    return wait_status(
        kube,
        name,
        namespace,
        lambda s: s.get("stableRevision") == candidate and s.get("phase") == "Ready",
        PROMOTE_TIMEOUT,
        "the candidate promoted",
        operator,
    )


# --- the control plane restarts ---------------------------------------------------------------------------


def test_apiserver_restart_mid_rollout_resumes_at_the_recorded_step(
    fault_cluster: conftest.TestCluster, fkube: Kube, fns: str, fault_operator: OperatorProcess
) -> None:
    name = "api-restart"
    _, candidate = start_canary(fkube, fns, name, fault_operator)
    wait_step(fkube, fns, name, 40, fault_operator)
    apiserver_outage(fault_cluster)
    md = wait_promoted(fkube, fns, name, candidate, fault_operator)
    assert fault_operator.alive(), fault_operator.log()[-3000:]
    statuses = written_statuses(fault_cluster.audit_log, fns, name)
    trace = rollout_trace(statuses, candidate)
    print(f"\napiserver restart: written (step, weight): {trace}")
    assert_plan_followed(trace, complete=True)
    assert int(md["status"].get("canaryWeight") or 0) == 0 and not md["status"].get("candidateRevision")


def test_apiserver_restart_during_analysis_a_failing_gate_still_rolls_back(
    fault_cluster: conftest.TestCluster,
    fkube: Kube,
    fns: str,
    fault_operator: OperatorProcess,
    prometheus: LocalPrometheus,
) -> None:
    """A candidate serving 10 % errors (the gate's bound is 1 %) through test_rollouts' plan [20,
    analysis, 50, analysis, 100]; the API server goes away during its first analysis. The failing gate
    must still roll it back, at the first weight. (At 5 %, in one CI run of the last four, the outage
    cost the judge a look with no data, the sequential test's stricter later looks stayed Inconclusive
    (p=0.0035 against 0.0018) and the rollout paused: that measured the judge's power at the edge, not
    the surviving of the outage, which is what this test is for.)"""
    name = "bad-gate"
    fkube.apply(rollout_md(name, "1"), fns)
    stable = ready(fkube, name, fns)["status"]["stableRevision"]
    sim = Simulator.from_kubeconfig(str(fault_cluster.kubeconfig), fns, name, rps=BAD_RPS, seed=18)
    sim.start()
    job = f"simulator-{sim.port}"
    prometheus.add_target(job, sim.address)
    prometheus.reload()
    try:
        sim.set_behaviour("candidate", error_rate=0.10)
        fkube.apply(rollout_md(name, "2"), fns)
        md = wait_status(
            fkube,
            name,
            fns,
            lambda s: s.get("candidateRevision") and s["candidateRevision"] != stable,
            60,
            "a candidate revision",
            fault_operator,
        )
        candidate = md["status"]["candidateRevision"]
        sim.set_behaviour(candidate, error_rate=0.10)  # pinned: after the rollback it is no candidate
        wait_step(fkube, fns, name, 20, fault_operator)
        apiserver_outage(fault_cluster)
        md = wait_status(
            fkube,
            name,
            fns,
            lambda s: s.get("phase") == "RolledBack",
            ROLLBACK_TIMEOUT,
            "phase RolledBack",
            fault_operator,
            unexpected=("Paused",),
        )
    finally:
        sim.stop()
        prometheus.remove_job(job)
        prometheus.reload()
    status = md["status"]
    assert status["stableRevision"] == stable and not status.get("candidateRevision")
    assert status["rollout"]["failedRevision"] == candidate
    assert status["rollout"]["failedReason"] == "QualityGateFailed"
    trace = rollout_trace(written_statuses(fault_cluster.audit_log, fns, name), candidate)
    print(f"\nfailing gate across an apiserver restart: written (step, weight): {trace}")
    assert_plan_followed(trace, complete=False, plan=(20, 50, 100))
    assert max(w for _, w in trace) == 20, f"rolled back at the first weight: {trace}"


def test_etcd_restart_during_a_rollback_still_rolls_back(
    fault_cluster: conftest.TestCluster, fkube: Kube, fns: str, fault_operator: OperatorProcess
) -> None:
    """The rollback is asked for (spec.rollout.abort) just before etcd goes away: the API server stays
    up but fails every read and write meanwhile; the rollback must still complete, from where it was."""
    name = "etcd-restart"
    stable, candidate = start_canary(fkube, fns, name, fault_operator)
    wait_step(fkube, fns, name, 40, fault_operator)
    fkube.run(
        "patch",
        "modeldeployment",
        name,
        "-n",
        fns,
        "--type=merge",
        "-p",
        '{"spec":{"rollout":{"abort":true}}}',
    )
    fault_cluster.stop_component("etcd")
    time.sleep(OUTAGE_SECONDS)  # the fault itself
    fault_cluster.start_component("etcd")
    md = wait_status(
        fkube,
        name,
        fns,
        lambda s: s.get("phase") == "RolledBack" and not s.get("candidateRevision"),
        PROMOTE_TIMEOUT,
        "phase RolledBack",
        fault_operator,
        unexpected=(),
    )
    assert fault_operator.alive(), fault_operator.log()[-3000:]
    status = md["status"]
    assert status["stableRevision"] == stable
    assert int(status.get("canaryWeight") or 0) == 0
    assert (status.get("rollout") or {}).get("failedRevision") == candidate
    trace = rollout_trace(written_statuses(fault_cluster.audit_log, fns, name), candidate)
    print(f"\netcd restart: written (step, weight) before the rollback: {trace}")
    assert_plan_followed(trace, complete=False)
    # All traffic back on stable: the Service selects the stable revision's pods only.
    selector = fkube.get("service", name, fns)["spec"]["selector"]
    assert selector.get("modelserve.io/revision") in (None, stable), selector


def test_a_lagging_controller_manager_costs_a_new_model_one_status_write(
    fault_cluster: conftest.TestCluster, fkube: Kube, fns: str, fault_operator: OperatorProcess
) -> None:
    """The controller-manager is away for longer than the first status's settle time while models are
    created, as it runs minutes behind in a storm of thousands: their first status waits for the control
    plane to begin their start (planner/settle.py), so each model is told once, Ready, not Pending
    then Ready."""
    names = [f"lag-{i}" for i in range(3)]
    fault_cluster.stop_component("kube-controller-manager")
    try:
        fkube.apply([model_deployment(n, replicas=1) for n in names], fns)
        wait_until(
            lambda: len(fkube.items("deployment", fns)) >= len(names), 60, what="the operator's Deployments"
        )
        time.sleep(SETTLE_SECONDS + 5)  # the fault itself: the controller-manager stays away this long
        for name in names:
            assert written_statuses(fault_cluster.audit_log, fns, name) == [], (
                f"{name} narrated while waiting"
            )
    finally:
        fault_cluster.start_component("kube-controller-manager")
    for name in names:
        ready(fkube, name, fns)
    for name in names:
        statuses = written_statuses(fault_cluster.audit_log, fns, name)
        assert [s.get("phase") for _, _, s in statuses] == ["Ready"], statuses


def test_watch_expired_410_gone_relists_and_acts_on_later_changes(
    fault_cluster: conftest.TestCluster, fkube: Kube, fns: str, fault_operator: OperatorProcess
) -> None:
    """etcd's history is compacted while the API server is down: the operator's watches resume from a
    resourceVersion that no longer exists, get 410 Gone, and must re-list. A spec change made after
    that is acted on at once (the resync is 10 minutes away: only a live watch can deliver it)."""
    name = "gone"
    fkube.apply(model_deployment(name, replicas=2), fns)
    ready(fkube, name, fns)
    log_offset = len(fault_operator.log())
    revision = apiserver_outage(fault_cluster, compact_etcd=True)
    wait_until(
        lambda: "Restarting the watch-stream for modeldeployments" in fault_operator.log()[log_offset:],
        60,
        what=f"kopf restarting its ModelDeployment watch after 410 Gone (etcd compacted at {revision})",
    )
    wait_until(  # the owned kinds' own list-and-watch (reconcile/watch.py) lists again too
        lambda: "watch of Deployment: resourceVersion expired" in fault_operator.log()[log_offset:],
        60,
        what="the owned Deployments' watch listing again after 410 Gone",
    )
    fkube.run("patch", "modeldeployment", name, "-n", fns, "--type=merge", "-p", '{"spec":{"replicas":3}}')
    wait_until(
        lambda: any(d["spec"]["replicas"] == 3 for d in fkube.items("deployments", fns)),
        20,
        what="the Deployment scaled to 3 after the relist",
    )
    ready(fkube, name, fns, timeout=30)
    assert fault_operator.alive(), fault_operator.log()[-3000:]


# --- 429 and 5xx for a while --------------------------------------------------------------------------------


def test_429_and_5xx_for_a_while_the_rollout_converges_in_order(
    fault_cluster: conftest.TestCluster, fkube: Kube, fns: str, fault_operator: OperatorProcess, workdir: Path
) -> None:
    """An operator behind a proxy that answers half its requests 429 or 503 (and cuts its watches) for
    20 s in the middle of a rollout: it stays up, keeps its place, and finishes the rollout."""
    pki = fault_cluster.pki
    client = pki.client("operator", OPERATOR_USER, ("system:masters",))
    proxy = FaultProxy(
        fault_cluster.api_port, pki.serving_cert, pki.serving_key, pki.ca_cert, client.cert, client.key
    )
    proxy.start()
    kubeconfig = fault_cluster.kubeconfig_for(
        "operator", OPERATOR_USER, ("system:masters",), server=proxy.url
    )
    fault_operator.pause()
    op = OperatorProcess(kubeconfig, workdir, extra_args=["--resync-seconds", "600"], name="proxied-operator")
    try:
        wait_until(lambda: healthy(op), 60, what="proxied operator liveness")
        name = "throttled"
        _, candidate = start_canary(fkube, fns, name, op)
        wait_step(fkube, fns, name, 20, op)
        proxy.faults(0.5)
        started = time.monotonic()
        wait_until(lambda: time.monotonic() - started > 20 or not op.alive(), 30, what="the fault window")
        assert op.alive(), "operator exited under 429/503:\n" + op.log()[-3000:]
        proxy.faults(0.0)
        print(
            f"\n429/5xx: injected {proxy.stats.answered}, cut {proxy.stats.cut} streams, "
            f"forwarded {proxy.stats.forwarded}"
        )
        assert sum(proxy.stats.answered.values()) >= 10, proxy.stats
        wait_promoted(fkube, fns, name, candidate, op)
        assert op.alive(), op.log()[-3000:]
        trace = rollout_trace(written_statuses(fault_cluster.audit_log, fns, name), candidate)
        print(f"429/5xx: written (step, weight): {trace}")
        assert_plan_followed(trace, complete=True)
    finally:
        op.stop()
        proxy.stop()
        fault_operator.resume()


# --- two replicas ---------------------------------------------------------------------------------------


def lease_holder(kube: Kube) -> str:
    lease = kube.get("lease", "modelserve-operator", "default") or {}
    return (lease.get("spec") or {}).get("holderIdentity") or ""


def test_two_replicas_one_acts_and_the_other_takes_over_within_60s(
    fault_cluster: conftest.TestCluster, fkube: Kube, fns: str, fault_operator: OperatorProcess, workdir: Path
) -> None:
    users = ("modelserve-operator-a", "modelserve-operator-b")
    configs = [fault_cluster.kubeconfig_for(u, u, ("system:masters",)) for u in users]
    fault_operator.pause()
    replicas: list[OperatorProcess] = []
    try:
        since = time.time() - 1
        a = OperatorProcess(configs[0], workdir, extra_args=["--leader-elect"], name="replica-a")
        replicas.append(a)
        wait_until(lambda: healthy(a) and lease_holder(fkube), 60, what="replica a leading")
        b = OperatorProcess(configs[1], workdir, extra_args=["--leader-elect"], name="replica-b")
        replicas.append(b)
        wait_until(lambda: healthy(b), 60, what="replica b standing by (liveness)")
        first_holder = lease_holder(fkube)

        name = "ha"
        _, candidate = start_canary(fkube, fns, name, a)
        wait_step(fkube, fns, name, 40, a)
        writes_a = operator_writes(fault_cluster.audit_log, users[0], since)
        writes_b = operator_writes(fault_cluster.audit_log, users[1], since)
        assert writes_a, "the leader wrote nothing"
        assert not writes_b, f"the standby wrote: {[(w['verb'], w['objectRef']) for w in writes_b][:5]}"

        # SIGKILL alone (OperatorProcess.kill sends SIGTERM first, and a clean stop releases the Lease):
        # the dead leader releases nothing, so b must wait the lease out.
        os.killpg(a.proc.pid, signal.SIGKILL)
        a.proc.wait(10)
        killed = time.time()
        wait_until(
            lambda: lease_holder(fkube) not in ("", first_holder), 60, what="replica b taking the lease"
        )
        lease_writes = [
            w
            for w in operator_writes(fault_cluster.audit_log, users[1], killed)
            if (w.get("objectRef") or {}).get("resource") == "leases"
        ]
        takeover = _when(lease_writes[0]) - killed
        wait_promoted(fkube, fns, name, candidate, b)
        assert b.alive(), b.log()[-3000:]

        statuses = written_statuses(fault_cluster.audit_log, fns, name)
        trace = rollout_trace(statuses, candidate)
        by_user = {u: sum(1 for _, who, _ in statuses if who == u) for u in users}
        print(
            f"\ntwo replicas: takeover {takeover:.1f}s after SIGKILL; status writes per replica {by_user}; "
            f"written (step, weight): {trace}"
        )
        # Not before the lease (15 s) has run out on b's clock, and well within a minute.
        assert 10 <= takeover <= 60, takeover
        assert_plan_followed(trace, complete=True)
        # Exactly one acted at any time: every write of a before the kill, every write of b after it.
        assert all(t <= killed for t, who, _ in statuses if who == users[0])
        assert all(t >= killed for t, who, _ in statuses if who == users[1])
        assert by_user[users[1]] > 0, "replica b never continued the rollout"
    finally:
        for r in replicas:
            r.stop()
        fault_operator.resume()
