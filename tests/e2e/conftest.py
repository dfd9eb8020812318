"""Fixtures of the e2e suite: one real control plane (etcd, kube-apiserver, controller-manager,
scheduler, KWOK) and one Prometheus per session; one namespace per test."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from modelserve.localcluster import LocalCluster, LocalPrometheus
from modelserve.localcluster.cluster import OPERATOR_USER
from modelserve.localcluster.versions import binary

from tests.e2e.harness import REPO, Kube, OperatorProcess, healthy, wait_until

pytestmark = pytest.mark.e2e


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM ends the session as Ctrl-C does, tearing its control plane down (hack/e2e-lanes.sh stops
    the side lane with it: a background job of a script ignores SIGINT)."""
    signal.signal(signal.SIGTERM, _interrupt)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test here is `e2e`. Under hack/e2e-lanes.sh (MODELSERVE_E2E_LANE=main or side) a session
    keeps only its lane's tests: the side lane those marked `side_lane`, the main lane the rest."""
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
    lane = os.environ.get("MODELSERVE_E2E_LANE", "")
    if lane not in ("main", "side"):
        return
    keep = [item for item in items if (item.get_closest_marker("side_lane") is not None) == (lane == "side")]
    dropped = [item for item in items if item not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="modelserve-e2e-"))
    yield path
    if not os.environ.get("MODELSERVE_KEEP_E2E"):
        shutil.rmtree(path, ignore_errors=True)


class TestCluster(LocalCluster):
    """A LocalCluster with the helpers the tests (and the install tests) use."""

    def helm(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(binary("helm")), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=300,
        )


@pytest.fixture(scope="session")
def cluster(workdir: Path) -> Iterator[TestCluster]:
    c = TestCluster(workdir / "cluster")
    c.start()
    try:
        c.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        c.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="session")
def kube(cluster: TestCluster) -> Kube:
    return Kube(cluster)


@pytest.fixture(scope="session")
def prometheus(workdir: Path) -> Iterator[LocalPrometheus]:
    with LocalPrometheus(workdir / "prometheus") as prom:
        yield prom


_SESSION_OPERATOR: list[OperatorProcess] = []


@pytest.fixture(scope="session")
def operator(cluster: TestCluster, prometheus: LocalPrometheus, workdir: Path) -> Iterator[OperatorProcess]:
    """One operator for the session, authenticated as `modelserve-operator` (see the audit log)."""
    op = OperatorProcess(cluster.operator_kubeconfig, workdir, prometheus_url=prometheus.url)
    _SESSION_OPERATOR.append(op)
    try:
        wait_until(lambda: healthy(op), 60, what="operator liveness endpoint")
        yield op
    finally:
        op.stop()
        _SESSION_OPERATOR.remove(op)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A failed e2e test carries the session operator's last log lines in its report: CI keeps no
    work directory, so this is what tells a timeout's cause afterwards."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.when == "call" and _SESSION_OPERATOR:
        op = _SESSION_OPERATOR[-1]
        try:
            tail = "\n".join(op.log().splitlines()[-150:])
        except OSError:
            return
        report.sections.append(("session operator log (last 150 lines)", f"alive: {op.alive()}\n{tail}"))


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.run("create", "namespace", name)
    wait_until(lambda: kube.get("serviceaccount", "default", name), 30, what="default ServiceAccount")
    yield name
    kube.run("delete", "namespace", name, "--wait=false", check=False)


def start_operator(kubeconfig: str | Path, log_dir: Path, **kwargs: object) -> OperatorProcess:
    """For tests that need their own operator (restarts, other credentials)."""
    return OperatorProcess(kubeconfig, log_dir, **kwargs)  # type: ignore[arg-type]


__all__ = ["OPERATOR_USER", "start_operator"]


# --- progressive delivery: mesh CRDs and the traffic simulator -------------------------------------------


def _crd_documents(path: Path) -> list[dict]:
    import yaml

    docs = yaml.safe_load_all(path.read_text())
    return [d for d in docs if d and d.get("kind") == "CustomResourceDefinition"]


@pytest.fixture(scope="session")
def mesh_crds(cluster: TestCluster) -> list[str]:
    """The real upstream Gateway API (standard channel) and Istio CRDs, read from the Go module cache at
    the pinned versions (never copied into the repo). Returns the CRD names installed."""
    import yaml
    from modelserve.localcluster.versions import go_module_dir, versions

    pins = versions()
    gateway = go_module_dir("sigs.k8s.io/gateway-api", pins["GATEWAY_API_VERSION"])
    istio = go_module_dir("istio.io/api", pins["ISTIO_API_VERSION"])
    docs: list[dict] = []
    for path in sorted((gateway / "config" / "crd" / "standard").glob("*.yaml")):
        docs += _crd_documents(path)
    docs += _crd_documents(istio / "kubernetes" / "customresourcedefinitions.gen.yaml")
    # Server-side: Istio's CRDs are far larger than client-side apply's last-applied annotation allows.
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=yaml.safe_dump_all(docs))
    names = [d["metadata"]["name"] for d in docs]
    for name in ("httproutes.gateway.networking.k8s.io", "virtualservices.networking.istio.io"):
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")
    return names


@pytest.fixture
def simulator(cluster: TestCluster, prometheus: LocalPrometheus, namespace: str) -> Iterator[object]:
    """A factory: `simulator(model, rps=..., seed=..., prometheus=...)` starts the traffic simulator
    (tests/simulator) for ModelDeployment(s) `model` in the test's namespace, registers its /metrics as a
    scrape target of the session Prometheus (or the one given) and reloads it. Every simulator started
    is stopped and unregistered after the test."""
    import contextlib

    from tests.simulator import Simulator

    started: list[tuple[Simulator, LocalPrometheus, str]] = []

    def start(
        model: str | list[str], *, prometheus: LocalPrometheus = prometheus, **kwargs: object
    ) -> Simulator:
        sim = Simulator.from_kubeconfig(str(cluster.kubeconfig), namespace, model, **kwargs)  # type: ignore[arg-type]
        sim.start()
        job = f"simulator-{sim.port}"
        started.append((sim, prometheus, job))
        prometheus.add_target(job, sim.address)
        prometheus.reload()
        return sim

    yield start
    for sim, prom, job in started:
        sim.stop()
        prom.remove_job(job)
        if prom.proc is not None:
            with contextlib.suppress(OSError):
                prom.reload()
