"""prometheus-adapter for the local control plane: custom.metrics.k8s.io from a real Prometheus.

The adapter (built from its Go module by hack/build-binaries.sh) is registered as an APIService for
custom.metrics.k8s.io v1beta1 and v1beta2, behind a Service whose Endpoints name the adapter's
address; the API server's aggregation layer (flags in cluster.py) proxies the HPA controller's
metric reads to it.

The API server refuses Endpoints on loopback addresses, and this machine may have no other address
of its own to spare: so a veth pair is created, its far end in a network namespace of its own, and
the adapter listens on the near end's address (a private /30). That address is local to the host, so
the API server, the adapter's own client (to the API server and Prometheus, both on 127.0.0.1) and
the HPA controller all reach it without any routing. Needs root (`ip netns`, `ip link`); `stop()`
removes the APIServices first (an unavailable aggregated API would break discovery for every other
client), then the process and the namespace (which takes the veth pair with it).
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from urllib.parse import quote

import yaml

from modelserve.localcluster.cluster import LocalCluster
from modelserve.localcluster.processes import ManagedProcess, free_port, wait_for
from modelserve.localcluster.versions import binary

NAMESPACE = "modelserve-metrics"
SERVICE = "prometheus-adapter"
VERSIONS = ("v1beta1", "v1beta2")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


class MetricsAdapter:
    """prometheus-adapter with `rules`, reading `prometheus_url`, registered in `cluster`.

    `relist_seconds`: how often it looks for new series (a new pod's metric appears after that)."""

    def __init__(
        self,
        cluster: LocalCluster,
        prometheus_url: str,
        rules: list[dict],
        workdir: Path,
        *,
        relist_seconds: int = 10,
    ) -> None:
        self.cluster = cluster
        self.prometheus_url = prometheus_url
        self.rules = rules
        self.workdir = Path(workdir)
        self.relist_seconds = relist_seconds
        tag = os.getpid() % 10000
        self.netns = f"ms-adapter-{tag}"
        self.veth = f"msa{tag}h"  # interface names: at most 15 characters
        self.peer = f"msa{tag}n"
        subnet = 4 * (tag % 60)  # a /30 inside 10.254.255.0/24
        self.address = f"10.254.255.{subnet + 1}"
        self.peer_address = f"10.254.255.{subnet + 2}"
        self.port = 0
        self.proc: ManagedProcess | None = None

    def __enter__(self) -> MetricsAdapter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- life cycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 120.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._network()
            self._run()
            self._register()
            wait_for(self._available, timeout, "the custom.metrics.k8s.io APIService", on_timeout=self._tail)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for version in VERSIONS:
            self.cluster.kubectl(
                "delete", "apiservice", f"{version}.custom.metrics.k8s.io", "--ignore-not-found", check=False
            )
        self.cluster.kubectl(
            "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false", check=False
        )
        if self.proc is not None:
            self.proc.stop()
            self.proc = None
        subprocess.run(["ip", "netns", "delete", self.netns], capture_output=True, timeout=30)

    # -- pieces -----------------------------------------------------------------------------------
    def _network(self) -> None:
        subprocess.run(["ip", "netns", "delete", self.netns], capture_output=True, timeout=30)  # a leftover
        _ip("netns", "add", self.netns)
        _ip("link", "add", self.veth, "type", "veth", "peer", "name", self.peer)
        _ip("link", "set", self.peer, "netns", self.netns)
        _ip("addr", "add", f"{self.address}/30", "dev", self.veth)
        _ip("link", "set", self.veth, "up")
        _ip("-n", self.netns, "addr", "add", f"{self.peer_address}/30", "dev", self.peer)
        _ip("-n", self.netns, "link", "set", self.peer, "up")

    def _run(self) -> None:
        pki = self.cluster.pki
        dns = (SERVICE, f"{SERVICE}.{NAMESPACE}", f"{SERVICE}.{NAMESPACE}.svc")
        serving = pki.serving("prometheus-adapter-serving", dns=dns, ips=(self.address,))
        kubeconfig = self.cluster._component_kubeconfig(
            "prometheus-adapter", "prometheus-adapter", ("system:masters",)
        )
        config = self.workdir / "adapter-config.yaml"
        config.write_text(yaml.safe_dump({"rules": self.rules}, sort_keys=False))
        self.port = free_port()
        self.proc = ManagedProcess(
            "prometheus-adapter",
            [
                str(binary("prometheus-adapter")),
                f"--secure-port={self.port}",
                f"--bind-address={self.address}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--cert-dir={self.workdir / 'certs'}",
                f"--lister-kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--client-ca-file={pki.ca_cert}",
                f"--prometheus-url={self.prometheus_url}",
                f"--metrics-relist-interval={self.relist_seconds}s",
                f"--config={config}",
                "--v=1",
            ],
            self.workdir,
        )

    def _register(self) -> None:
        ca = base64.b64encode(self.cluster.pki.ca_cert.read_bytes()).decode()
        docs: list[dict] = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": SERVICE, "namespace": NAMESPACE},
                "spec": {"ports": [{"name": "https", "port": 443, "targetPort": self.port}]},
            },
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": SERVICE, "namespace": NAMESPACE},
                "subsets": [
                    {"addresses": [{"ip": self.address}], "ports": [{"name": "https", "port": self.port}]}
                ],
            },
        ]
        for priority, version in enumerate(VERSIONS, start=1):
            docs.append(
                {
                    "apiVersion": "apiregistration.k8s.io/v1",
                    "kind": "APIService",
                    "metadata": {"name": f"{version}.custom.metrics.k8s.io"},
                    "spec": {
                        "group": "custom.metrics.k8s.io",
                        "version": version,
                        "service": {"name": SERVICE, "namespace": NAMESPACE, "port": 443},
                        "caBundle": ca,
                        "groupPriorityMinimum": 100,
                        "versionPriority": 100 * priority,
                    },
                }
            )
        self.cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(docs))

    def _available(self) -> bool:
        if self.proc is not None and not self.proc.alive():
            raise RuntimeError("prometheus-adapter exited:\n" + self.proc.tail())
        out = self.cluster.kubectl("get", "--raw", "/apis/custom.metrics.k8s.io/v1beta2", check=False)
        return out.returncode == 0 and "APIResourceList" in out.stdout

    def _tail(self) -> str:
        status = self.cluster.kubectl(
            "get", "apiservice", "v1beta2.custom.metrics.k8s.io", "-o", "yaml", check=False
        )
        return (self.proc.tail() if self.proc else "") + "\n" + status.stdout + status.stderr

    def pod_metric(self, namespace: str, metric: str, selector: str) -> dict[str, float]:
        """The metric per pod as the HPA controller reads it (pods matching the label `selector`)."""
        path = f"/apis/custom.metrics.k8s.io/v1beta2/namespaces/{namespace}/pods/*/{metric}"
        out = self.cluster.kubectl("get", "--raw", f"{path}?labelSelector={quote(selector)}", check=False)
        if out.returncode != 0:
            raise RuntimeError(f"{path}: {out.stderr.strip()}")
        items = yaml.safe_load(out.stdout).get("items") or []
        return {i["describedObject"]["name"]: _quantity(i["value"]) for i in items}


def _quantity(value: str) -> float:
    if value.endswith("m"):
        return float(value[:-1]) / 1000
    return float(value)
