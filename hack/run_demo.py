"""`make run`: the local control plane, Prometheus and the operator, with the examples applied.

Brings everything up on loopback, applies examples/ into the namespace `demo`, and prints the
ModelDeployments and what they own until Ctrl-C, which tears everything down.
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

from modelserve.localcluster import LocalCluster, LocalPrometheus  # noqa: E402
from modelserve.localcluster.processes import free_port  # noqa: E402


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="modelserve-run-"))
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
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
        deadline = time.monotonic() + float(os.environ.get("MODELSERVE_RUN_SECONDS", "1e9"))
        while not stop and time.monotonic() < deadline:
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
        if operator:
            operator.terminate()
            try:
                operator.wait(10)
            except subprocess.TimeoutExpired:
                operator.kill()
        prom.stop()
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
