"""A real model server end to end (issue 16): no simulator anywhere on the data path.

scikit-learn models trained here are uploaded to the local S3-compatible server; a ModelDeployment with
``format: sklearn`` and the ``s3://`` URI renders pods whose init container (the real
``modelserve storage-init``) downloads the model and whose server (the real MLServer, from its own venv)
loads it. The data plane (tests/dataplane) runs those rendered containers as local processes for the KWOK
pods, reports their real readiness in the pods' status, sends real OIP v2 requests split by the weights
the operator wrote, and registers each server's own /metrics with Prometheus under the scrape contract's
labels. The operator's gates judge MLServer's own metrics.

Short settings keep the file within a few minutes: analysis every 10 s, one 50 % step, 24 req/s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from modelserve.k8s.client import KubeClient
from modelserve.localcluster import LocalPrometheus
from modelserve.localcluster.s3 import LocalS3
from modelserve.localcluster.versions import binary

from tests.dataplane.images import local_images, mlserver_missing
from tests.dataplane.models import IRIS_ROWS, MODEL_FILE, train
from tests.dataplane.runner import PodRunner, wait_ready
from tests.dataplane.traffic import InferenceTraffic, infer, infer_request
from tests.e2e.harness import Kube, OperatorProcess, condition, wait_until
from tests.e2e.test_foundation import ready
from tests.e2e.test_rollouts import StatusRecorder, breach, start_rollout, wait_status
from tests.e2e.test_sla import measured_entry, sla_policy
from tests.simulator.cluster import KubeSnapshotReader


def missing() -> str | None:
    """Why the real runtime cannot run here: MLServer (`make mlserver`) or SeaweedFS (`make binaries`)."""
    try:
        binary("weed")
    except FileNotFoundError as exc:
        return str(exc)
    return mlserver_missing()


MISSING = missing()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]

NAME = "iris"
BUCKET = "models"
SECRET = "model-store"
RPS = 24
INTERVAL = 10
GATES = [
    {"name": "error-rate", "builtin": "errorRate", "max": 0.05},
    {"name": "latency-p95", "builtin": "latencyP95", "maxMilliseconds": 500},
]
#: The gate that catches a slower version: its p95 against 1.25x stable's, on MLServer's own histogram.
SLOWER_THAN_STABLE = {"name": "latency-vs-stable", "builtin": "latencyP95", "maxRelativeToStable": 1.25}
PROMOTE_TIMEOUT = 150
ROLLBACK_TIMEOUT = 120


# --- fixtures ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelStore:
    """The local S3 server and where the models uploaded to it were trained."""

    server: Any
    trained: Path

    @property
    def endpoint(self) -> str:
        return str(self.server.endpoint)


@pytest.fixture(scope="module")
def s3(workdir: Path) -> Iterator[ModelStore]:
    """The local S3 server with bucket ``models`` holding four trained versions of the iris model:
    ``iris/v1/`` and ``iris/v2/`` good, ``iris/v3/`` broken (predict raises), ``iris/v4/`` 3x slower
    than ``v2`` (tests/dataplane/models.py)."""
    server = LocalS3(workdir / "s3")
    server.start()
    try:
        server.create_bucket(BUCKET)
        trained = workdir / "trained"
        for version, kind in (("v1", "good"), ("v2", "good-v2"), ("v3", "broken"), ("v4", "slow")):
            directory = train(trained / version, kind)
            for path in sorted(directory.iterdir()):
                if path.is_file():
                    server.upload(BUCKET, f"iris/{version}/{path.name}", path)
        yield ModelStore(server, trained)
    finally:
        server.stop()


@pytest.fixture
def dataplane(
    cluster: Any, prometheus: LocalPrometheus, namespace: str, workdir: Path
) -> Iterator[PodRunner]:
    """The namespace's KWOK pods run as local processes, scraped by the session Prometheus."""
    kube = KubeClient.from_environment(str(cluster.kubeconfig))
    runner = PodRunner(
        kube, namespace, local_images(), workdir / f"dataplane-{namespace}", prometheus=prometheus
    )
    with runner:
        yield runner


def storage_secret(s3: ModelStore, namespace: str) -> dict:
    """The credentials, in the SDK's usual variables (the endpoint is spec.model.storage.endpoint)."""
    keys = {k: v for k, v in s3.server.env().items() if k != "AWS_ENDPOINT_URL"}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET, "namespace": namespace},
        "stringData": keys,
    }


def sklearn_md(
    s3: ModelStore,
    version: str,
    uri: str | None = None,
    sha256: str | None = None,
    gates: list[dict] | None = None,
) -> dict:
    """The iris model as a user writes it: format, URI and storage; no image, no probes, no metrics."""
    model: dict[str, Any] = {
        "name": NAME,
        "version": version,
        "format": "sklearn",
        "uri": uri or f"s3://{BUCKET}/iris/v{version}/",
        "storage": {"secretRef": {"name": SECRET}, "endpoint": s3.endpoint},
    }
    if sha256:
        model["sha256"] = sha256
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": NAME},
        "spec": {
            "model": model,
            "runtime": {"resources": {"requests": {"cpu": "100m", "memory": "256Mi"}}},
            "replicas": 2,
            "rollout": {
                "strategy": "canary",
                "canary": {"steps": [{"setWeight": 50}, {"analysis": {"duration": "20s"}}]},
                "analysis": {"interval": f"{INTERVAL}s", "minSampleSize": 50, "gates": gates or GATES},
                "scaleDownDelay": "5s",
            },
        },
    }


def start_stable(kube: Kube, s3: ModelStore, namespace: str, runner: PodRunner) -> str:
    kube.apply(storage_secret(s3, namespace), namespace)
    sha = hashlib.sha256((s3.trained / "v1" / MODEL_FILE).read_bytes()).hexdigest()
    kube.apply(sklearn_md(s3, "1", uri=f"s3://{BUCKET}/iris/v1/{MODEL_FILE}", sha256=sha), namespace)
    stable = ready(kube, NAME, namespace, timeout=120)["status"]["stableRevision"]
    wait_ready(runner, 2, revision=stable)
    return stable


def predict(runner: PodRunner, revision: str) -> Any:
    endpoint = next(e for e in runner.endpoints().values() if e.revision == revision)
    status, body = infer(endpoint.http_port, NAME, infer_request([IRIS_ROWS[0]]))
    assert status == 200, body
    return body["outputs"][0]["data"]


def traffic(cluster: Any, runner: PodRunner, namespace: str) -> InferenceTraffic:
    reader = KubeSnapshotReader.from_kubeconfig(str(cluster.kubeconfig))
    return InferenceTraffic(reader, runner.endpoints, namespace, NAME, IRIS_ROWS, rps=RPS)


def scraped(prometheus: LocalPrometheus, namespace: str, revision: str) -> float:
    """Inference requests Prometheus saw from ``revision``'s MLServers (their own counter)."""
    result = prometheus.query(
        f'sum(rest_server_requests_total{{namespace="{namespace}",model="{NAME}",revision="{revision}",'
        'path=~".*/infer"})'
    )
    return float(result[0]["value"][1]) if result else 0.0


def mean_latency(prometheus: LocalPrometheus, namespace: str, revision: str) -> float:
    """Mean inference latency of ``revision`` (seconds) from MLServer's own histogram."""
    selector = f'namespace="{namespace}",model="{NAME}",revision="{revision}",path=~".*/infer"'
    result = prometheus.query(
        f"sum(rest_server_request_duration_seconds_sum{{{selector}}})"
        f" / sum(rest_server_request_duration_seconds_count{{{selector}}})"
    )
    return float(result[0]["value"][1]) if result else float("nan")


# --- tests ---------------------------------------------------------------------------------------------


def test_good_version_is_promoted_and_broken_or_slow_ones_rolled_back(
    kube: Kube,
    cluster: Any,
    prometheus: LocalPrometheus,
    namespace: str,
    operator: OperatorProcess,
    s3: ModelStore,
    dataplane: PodRunner,
) -> None:
    stable = start_stable(kube, s3, namespace, dataplane)
    assert predict(dataplane, stable) == [0], "setosa"
    pod = kube.items("pods", namespace, f"modelserve.io/revision={stable}")[0]
    assert {c["name"] for c in pod["spec"].get("initContainers") or ()}, (
        "the model is fetched by an init container"
    )
    assert pod["spec"]["containers"][0].get("readinessProbe"), "the runtime's readiness probe"

    with (
        traffic(cluster, dataplane, namespace) as load,
        StatusRecorder(str(cluster.kubeconfig), namespace, NAME) as rec,
    ):
        wait_until(
            lambda: scraped(prometheus, namespace, stable) > 0, 30, what="MLServer metrics in Prometheus"
        )
        good, _ = start_rollout(kube, namespace, sklearn_md(s3, "2"), stable)
        wait_status(
            kube,
            NAME,
            namespace,
            lambda s: s.get("stableRevision") == good and s.get("phase") == "Ready",
            PROMOTE_TIMEOUT,
            f"{good} promoted",
            operator,
        )
        # The canary got real traffic only once its model was loaded, and answered all of it.
        counts = load.totals()
        assert counts[good].ok > 50 and counts[good].ok == counts[good].sent, counts[good]
        assert scraped(prometheus, namespace, good) > 0
        history = rec.first(
            lambda s: any(h.get("verdict") == "Passed" for h in s.get("analysisHistory") or [])
        )
        assert history, "the gates judged the canary from MLServer's metrics"

        broken, _ = start_rollout(kube, namespace, sklearn_md(s3, "3"), good)
        md = wait_status(
            kube,
            NAME,
            namespace,
            lambda s: s.get("phase") == "RolledBack",
            ROLLBACK_TIMEOUT,
            "phase RolledBack",
            operator,
            unexpected=("Paused",),
        )
        status = md["status"]
        assert status["stableRevision"] == good
        assert status["rollout"]["failedRevision"] == broken
        degraded = condition(md, "Degraded")
        assert degraded and breach(degraded["message"], "error-rate"), degraded
        counts = load.totals()
        assert counts[broken].by_status.get(500, 0) > 0, counts[broken]
        # The stable version kept serving: every request to it answered.
        before = load.totals()[good].ok
        wait_until(
            lambda: load.totals()[good].ok > before + RPS, 15, what="stable serving after the rollback"
        )
        assert load.totals()[good].ok == load.totals()[good].sent

        # A version 3x slower than stable (45 ms per predict against 15 ms) answers correctly but is
        # rolled back by a latency gate reading MLServer's own request-duration histogram.
        slow, _ = start_rollout(
            kube, namespace, sklearn_md(s3, "4", gates=[*GATES, SLOWER_THAN_STABLE]), good
        )
        md = wait_status(
            kube,
            NAME,
            namespace,
            lambda s: s.get("phase") == "RolledBack" and s.get("rollout", {}).get("failedRevision") == slow,
            ROLLBACK_TIMEOUT,
            f"{slow} rolled back",
            operator,
            unexpected=("Paused",),
        )
        assert md["status"]["stableRevision"] == good
        degraded = condition(md, "Degraded")
        assert degraded and breach(degraded["message"], "latency-vs-stable"), degraded
        assert not breach(degraded["message"], "error-rate"), degraded
        counts = load.totals()
        assert counts[slow].ok > 0 and counts[slow].ok == counts[slow].sent, counts[slow]
        ratio = mean_latency(prometheus, namespace, slow) / mean_latency(prometheus, namespace, good)
        assert ratio > 2, f"the slow version's mean request latency is only {ratio:.2f}x stable's"


def start_failing_rollout(kube: Kube, namespace: str, md_v2: dict, stable: str) -> str:
    """Apply a version whose model cannot be fetched; return its revision. The operator may find the fetch
    failure and roll back before the first poll sees the candidate: then the revision is the one the status
    names as failed, for the generation just applied."""
    kube.apply(md_v2, namespace)
    generation = kube.get("modeldeployment", md_v2["metadata"]["name"], namespace)["metadata"]["generation"]

    def revision(status: dict) -> str | None:
        if int(status.get("observedGeneration") or 0) < generation:
            return None
        if status.get("candidateRevision") and status["candidateRevision"] != stable:
            return str(status["candidateRevision"])
        failed = (status.get("rollout") or {}).get("failedRevision")
        if status.get("phase") == "RolledBack" and failed and failed != stable:
            return str(failed)
        return None

    md = wait_status(
        kube,
        md_v2["metadata"]["name"],
        namespace,
        revision,
        60,
        "a candidate revision",
        unexpected=("Paused",),
    )
    found = revision(md["status"])
    assert found, md["status"]
    return found


# Nothing listens on the discard port: the download cannot connect.
UNREACHABLE = "https://127.0.0.1:9/iris/model.joblib"


def test_a_model_that_cannot_be_fetched_blocks_the_rollout(
    kube: Kube,
    cluster: Any,
    namespace: str,
    operator: OperatorProcess,
    s3: ModelStore,
    dataplane: PodRunner,
) -> None:
    """A wrong sha256, then (a new version of the spec) an unreachable URI: each shows ModelFetchFailed
    naming the URI and the error; the candidate never serves and the stable version answers every request.
    An SLAPolicy over the model measures its availability from MLServer's own request counter."""
    stable = start_stable(kube, s3, namespace, dataplane)
    kube.apply(sla_policy("iris-slo", target=99.0, selector={}), namespace)
    with traffic(cluster, dataplane, namespace) as load:
        cases = [
            ("2", f"s3://{BUCKET}/iris/v2/{MODEL_FILE}", "0" * 64, "checksum mismatch"),
            ("2b", UNREACHABLE, None, "unreachable"),
        ]
        for version, uri, sha256, expected in cases:
            candidate = start_failing_rollout(
                kube, namespace, sklearn_md(s3, version, uri=uri, sha256=sha256), stable
            )

            def fetch_failed(uri: str = uri) -> dict | None:
                cond = condition(kube.get("modeldeployment", NAME, namespace), "ModelFetchFailed")
                return cond if cond and cond["status"] == "True" and uri in cond["message"] else None

            cond = wait_until(fetch_failed, 90, what=f"condition ModelFetchFailed for {uri}")
            assert expected in cond["message"], cond
            md = kube.get("modeldeployment", NAME, namespace)
            assert md["status"]["stableRevision"] == stable
            assert not [e for e in dataplane.endpoints().values() if e.revision == candidate]
            # The stable version keeps serving every request.
            before = load.totals().get(stable)
            wait_until(
                lambda before=before: load.totals()[stable].ok > (before.ok if before else 0) + RPS,
                20,
                what="stable serving",
            )
        totals = load.totals()
        assert set(totals) == {stable} and totals[stable].ok == totals[stable].sent, totals
        # Every inference answered (and health checks do not count): 100% availability, read from
        # rest_server_requests_total{path=~".../infer"} by the policy's status queries.
        entry = measured_entry(kube, "iris-slo", NAME, namespace, timeout=90)
        assert entry["attainment"][0]["percent"] == 100.0, entry
        assert entry["errorBudgetRemainingPercent"] == 100.0, entry
