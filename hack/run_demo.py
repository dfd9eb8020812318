"""`make run`: the local control plane, Prometheus and the operator, with the examples applied.

Brings everything up on loopback, applies examples/ into the namespace `demo`, serves a real
scikit-learn model (`iris`: trained here, uploaded to the local S3 server, fetched by the storage
initializer and served by MLServer, see docs/dataplane.md) and prints one real prediction, then prints
the ModelDeployments and what they own until Ctrl-C, which tears everything down.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402
from modelserve.localcluster import LocalCluster, LocalPrometheus  # noqa: E402
from modelserve.localcluster.processes import free_port  # noqa: E402

REAL_MODEL = "iris"
# Two models whose next version is rolled out as a canary while the simulator plays the gateway:
# `canary-good` is promoted step by step, `canary-bad` (10% errors) is rolled back by the judge.
CANARY_MODELS = ("canary-good", "canary-bad")


def canary_model(name: str, version: str) -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "labels": {"demo": "canary"}},
        "spec": {
            "model": {
                "name": name,
                "version": version,
                "uri": f"s3://models/{name}/{version}",
                "format": "onnx",
            },
            "runtime": {
                "image": "registry.example.com/onnx-server:1.0",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
            },
            "replicas": 4,
            "rollout": {
                "strategy": "canary",
                "canary": {
                    "steps": [
                        {"setWeight": 25},
                        {"analysis": {"duration": "30s"}},
                        {"setWeight": 50},
                        {"analysis": {"duration": "30s"}},
                        {"setWeight": 100},
                    ]
                },
                "analysis": {
                    "interval": "10s",
                    "minSampleSize": 50,
                    "gates": [
                        {"name": "error-rate", "builtin": "errorRate", "max": 0.02},
                        {"name": "latency-p99", "builtin": "latencyP99", "maxMilliseconds": 500},
                    ],
                },
            },
        },
    }


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="modelserve-run-"))
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    simulator = None
    real: list = []
    cluster = LocalCluster(work / "cluster")
    prom = LocalPrometheus(work / "prometheus")
    operator = None
    try:
        print("starting the local control plane (etcd, kube-apiserver, controllers, KWOK)...", flush=True)
        cluster.start()
        print(f"  up in {cluster.startup_seconds:.1f}s; export KUBECONFIG={cluster.kubeconfig}")
        prom.start()
        print(f"  Prometheus at {prom.url}")
        cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        metrics_port = free_port()
        log = open(work / "operator.log", "wb")  # noqa: SIM115
        operator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelserve",
                "run",
                "--kubeconfig",
                str(cluster.operator_kubeconfig),
                "--prometheus-url",
                prom.url,
                "--metrics-port",
                str(metrics_port),
                "--health-port",
                str(free_port()),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(REPO),
        )
        print(f"  operator running (metrics on :{metrics_port}, log {work / 'operator.log'})")
        cluster.kubectl("create", "namespace", "demo")
        for example in sorted((REPO / "examples").glob("*.yaml")):
            print(f"applying {example.relative_to(REPO)}")
            cluster.kubectl("apply", "-n", "demo", "-f", str(example))
        simulator = start_canary_demo(cluster, prom)
        real = start_real_model(cluster, prom, work)
        deadline = time.monotonic() + float(os.environ.get("MODELSERVE_RUN_SECONDS", "1e9"))
        rolled_out = False
        while not stop and time.monotonic() < deadline:
            if simulator and not rolled_out and _all_ready(cluster, CANARY_MODELS):
                # v1 is serving: roll out v2 of both; the bad one's candidate answers 10% errors.
                simulator.set_behaviour("candidate", model="canary-bad", error_rate=0.10)
                for name in CANARY_MODELS:
                    cluster.kubectl(
                        "apply", "-n", "demo", "-f", "-", input=yaml.safe_dump(canary_model(name, "2"))
                    )
                rolled_out = True
            out = cluster.kubectl(
                "get", "modeldeployments,regionplacements,slapolicies", "-n", "demo", check=False
            )
            owned = cluster.kubectl("get", "deployments,services,hpa,pdb", "-n", "demo", check=False)
            pods = cluster.kubectl("get", "pods", "-n", "demo", "-o", "wide", check=False)
            print("\033[2J\033[H" if sys.stdout.isatty() else "\n", end="")
            print(time.strftime("%H:%M:%S"), "modelserve demo (Ctrl-C to tear down)\n")
            print(out.stdout, owned.stdout, pods.stdout, sep="\n")
            for _ in range(20):
                if stop:
                    break
                time.sleep(0.25)
        return 0
    finally:
        print("tearing down...", flush=True)
        for part in reversed(real):
            part.stop()
        if simulator:
            simulator.stop()
        if operator:
            operator.terminate()
            try:
                operator.wait(10)
            except subprocess.TimeoutExpired:
                operator.kill()
        prom.stop()
        cluster.stop()


def start_canary_demo(cluster: LocalCluster, prom: LocalPrometheus):  # type: ignore[no-untyped-def]
    """Apply the two canary models (v1) and start the traffic simulator for them."""
    try:
        from tests.simulator import Simulator
    except ImportError:  # the simulator ships with the tests; without them, no canary demo
        return None
    for name in CANARY_MODELS:
        cluster.kubectl("apply", "-n", "demo", "-f", "-", input=yaml.safe_dump(canary_model(name, "1")))
    sim = Simulator.from_kubeconfig(str(cluster.kubeconfig), "demo", list(CANARY_MODELS), rps=40.0).start()
    prom.add_target("simulator", sim.address)
    prom.reload()
    print(f"  traffic simulator at {sim.url}, scraped by Prometheus")
    return sim


def start_real_model(cluster: LocalCluster, prom: LocalPrometheus, work: Path) -> list:
    """Serve the `iris` model for real: train it, upload it to the local S3 server, apply a ModelDeployment
    with `format: sklearn` and its s3:// URI, run its pods' init and server containers as local processes
    (tests/dataplane), and print one prediction. Returns what to stop at teardown (nothing when MLServer or
    the S3 server is not installed: `make run` installs both)."""
    try:
        from modelserve.k8s.client import KubeClient
        from modelserve.localcluster.s3 import LocalS3

        from tests.dataplane.images import local_images, mlserver_missing
        from tests.dataplane.models import IRIS_ROWS, train
        from tests.dataplane.runner import PodRunner, wait_ready
        from tests.dataplane.traffic import infer, infer_request
    except ImportError as exc:  # the data plane ships with the tests
        print(f"  no real model server: {exc}")
        return []
    missing = mlserver_missing()
    if missing:
        print(f"  no real model server: {missing}")
        return []
    s3 = LocalS3(work / "s3")
    try:
        s3.start()
    except FileNotFoundError as exc:  # SeaweedFS not built: `make binaries`
        print(f"  no real model server: {exc}")
        return []
    parts: list = [s3]
    s3.create_bucket("models")
    s3.upload("models", "iris/v1/model.joblib", train(work / "iris-v1") / "model.joblib")
    keys = {k: v for k, v in s3.env().items() if k != "AWS_ENDPOINT_URL"}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "model-store"}, "stringData": keys}
    md = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": REAL_MODEL},
        "spec": {
            "model": {
                "name": REAL_MODEL,
                "version": "1",
                "format": "sklearn",
                "uri": "s3://models/iris/v1/model.joblib",
                "storage": {"secretRef": {"name": "model-store"}, "endpoint": s3.endpoint},
            },
            "replicas": 1,
        },
    }
    cluster.kubectl("apply", "-n", "demo", "-f", "-", input=yaml.safe_dump_all([secret, md]))
    runner = PodRunner(
        KubeClient.from_environment(str(cluster.kubeconfig)),
        "demo",
        local_images(),
        work / "dataplane",
        prometheus=prom,
        selector=f"app.kubernetes.io/instance={REAL_MODEL}",
    ).start()
    parts.append(runner)
    print(
        f"  S3 at {s3.endpoint}; serving {REAL_MODEL} with MLServer (logs in {runner.log_dir})...", flush=True
    )
    try:
        endpoint = next(iter(wait_ready(runner, 1, timeout=240).values()))
    except TimeoutError as exc:
        print(f"  {exc}")
        return parts
    status, body = infer(endpoint.http_port, REAL_MODEL, infer_request([IRIS_ROWS[2]]))
    answer = body["outputs"][0]["data"] if status == 200 else body
    request = f"POST /v2/models/{REAL_MODEL}/infer {list(IRIS_ROWS[2])}"
    print(f"  real prediction: {request} -> HTTP {status} {answer}")
    return parts


def _all_ready(cluster: LocalCluster, names: tuple[str, ...]) -> bool:
    out = cluster.kubectl(
        "get",
        "modeldeployments",
        "-n",
        "demo",
        *names,
        "-o",
        "jsonpath={.items[*].status.phase}",
        check=False,
    )
    return out.returncode == 0 and out.stdout.split() == ["Ready"] * len(names)


if __name__ == "__main__":
    sys.exit(main())
