"""prometheus-adapter for the local control plane: custom.metrics.k8s.io from a real Prometheus.

The adapter (built from its Go module by hack/build-binaries.sh) is registered as an APIService for
custom.metrics.k8s.io v1beta1 and v1beta2, behind a Service whose Endpoints name the adapter's
address; the API server's aggregation layer (flags in cluster.py) proxies the HPA controller's
metric reads to it.

It runs on a host-local address of its own and is registered through the aggregation layer as
`aggregation.py` describes (`HostLink`, `ExtensionAPI`); needs root. `stop()` removes the
APIServices first, then the process and the network namespace.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import yaml

from modelserve.localcluster.aggregation import ExtensionAPI, HostLink
from modelserve.localcluster.cluster import LocalCluster
from modelserve.localcluster.processes import ManagedProcess, free_port, wait_for
from modelserve.localcluster.versions import binary

NAMESPACE = "modelserve-metrics"
SERVICE = "prometheus-adapter"
VERSIONS = ("v1beta1", "v1beta2")


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
        self.link = HostLink("msa", 255)  # a /30 inside 10.254.255.0/24
        self.address = self.link.address
        self.api = ExtensionAPI(cluster, "custom.metrics.k8s.io", VERSIONS, NAMESPACE, SERVICE)
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
            self.link.create()
            self._run()
            self.api.register(self.address, self.port)
            wait_for(self._available, timeout, "the custom.metrics.k8s.io APIService", on_timeout=self._tail)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.api.unregister()
        if self.proc is not None:
            self.proc.stop()
            self.proc = None
        self.link.delete()

    # -- pieces -----------------------------------------------------------------------------------
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

    def _available(self) -> bool:
        if self.proc is not None and not self.proc.alive():
            raise RuntimeError("prometheus-adapter exited:\n" + self.proc.tail())
        return self.api.serving()

    def _tail(self) -> str:
        return (self.proc.tail() if self.proc else "") + "\n" + self.api.describe()

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
