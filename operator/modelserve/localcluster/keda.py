"""KEDA on the local control plane: its CRDs, its operator and its metrics API server, out of cluster.

Both binaries are built from KEDA's Go module (`hack/build-binaries.sh keda`, not part of `make
binaries`: see docs/autoscaling.md). The CRDs are read from the same module in the Go module cache
(`config/crd/bases`), never copied into this repository.

- **keda-operator** watches ScaledObjects in every namespace (`WATCH_NAMESPACE=""`), creates the HPA
  of each (`keda-hpa-<scaledobject>`) and serves the scalers' metric values over gRPC
  (`--metrics-service-bind-address`, on 127.0.0.1). Its certificate rotation (which writes a Secret
  and patches the APIService and webhooks in a real install) is off: the certificates come from the
  local cluster's CA instead.
- **keda-adapter** is the external.metrics.k8s.io APIService the HPA controller reads. It listens on
  a host-local address of its own and is registered through the aggregation layer
  (`aggregation.py`), exactly as prometheus-adapter is; it asks the operator for the values over gRPC
  with mutual TLS, reading `ca.crt`, `tls.crt` and `tls.key` from its `--cert-dir` (one certificate,
  signed by the cluster CA, serves both ends).

Needs root (the network namespace). `stop()` removes the APIService first, then the processes, the
network namespace and KEDA's CRDs (so a later model with `engine: auto` sees no KEDA).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from modelserve.localcluster.aggregation import ExtensionAPI, HostLink
from modelserve.localcluster.cluster import LocalCluster
from modelserve.localcluster.processes import ManagedProcess, free_port, wait_for
from modelserve.localcluster.versions import bin_dir, go_module_dir, versions

MODULE = "github.com/kedacore/keda/v2"
NAMESPACE = "keda"
SERVICE = "keda-metrics-apiserver"
GROUP = "external.metrics.k8s.io"


def keda_binary(name: str) -> Path:
    """`keda-operator` or `keda-adapter` from the cache; the error names the command that builds it."""
    path = bin_dir() / f"keda-{versions()['KEDA_VERSION']}" / name
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: run `bash hack/build-binaries.sh keda` (or `make e2e-keda`)"
        )
    return path


def keda_built() -> bool:
    try:
        keda_binary("keda-operator")
        keda_binary("keda-adapter")
    except FileNotFoundError:
        return False
    return True


def keda_crds() -> list[dict]:
    """KEDA's CRDs at the pinned version, from its Go module."""
    bases = go_module_dir(MODULE, versions()["KEDA_VERSION"]) / "config" / "crd" / "bases"
    docs: list[dict] = []
    for path in sorted(bases.glob("*.yaml")):
        docs += [
            d
            for d in yaml.safe_load_all(path.read_text())
            if d and d.get("kind") == "CustomResourceDefinition"
        ]
    return docs


class LocalKeda:
    """KEDA's operator and metrics API server against `cluster`, with their logs in `workdir`."""

    def __init__(self, cluster: LocalCluster, workdir: Path) -> None:
        self.cluster = cluster
        self.workdir = Path(workdir)
        self.link = HostLink("mkd", 254)  # a /30 inside 10.254.254.0/24
        self.api = ExtensionAPI(cluster, GROUP, ("v1beta1",), NAMESPACE, SERVICE)
        self.crds = [d["metadata"]["name"] for d in keda_crds()]
        self.port = 0
        self.operator: ManagedProcess | None = None
        self.adapter: ManagedProcess | None = None

    def __enter__(self) -> LocalKeda:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- life cycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 120.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._install_crds()
            self.link.create()
            certs = self._certificates()
            env = self._environment()
            grpc = self._run_operator(certs, env)
            self._run_adapter(certs, env, grpc)
            self.api.register(self.link.address, self.port)
            wait_for(self._available, timeout, f"the {GROUP} APIService (KEDA)", on_timeout=self._tail)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.api.unregister()
        for proc in (self.adapter, self.operator):
            if proc is not None:
                proc.stop()
        self.adapter = self.operator = None
        self.link.delete()
        if self.crds:
            self.cluster.kubectl(
                "delete", "crd", *self.crds, "--ignore-not-found", "--wait=false", check=False
            )

    # -- pieces -----------------------------------------------------------------------------------
    def _install_crds(self) -> None:
        docs = keda_crds()
        self.cluster.kubectl(
            "apply", "--server-side", "--force-conflicts", "-f", "-", input=yaml.safe_dump_all(docs)
        )
        for name in self.crds:
            self.cluster.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")

    def _certificates(self) -> Path:
        """The directory both KEDA processes read `ca.crt`, `tls.crt` and `tls.key` from."""
        dns = [
            f"{s}.{NAMESPACE}{d}"
            for s in (SERVICE, "keda-operator")
            for d in ("", ".svc", ".svc.cluster.local")
        ]
        pair = self.cluster.pki.serving(
            "keda-serving",
            dns=(SERVICE, "keda-operator", *dns),
            ips=("127.0.0.1", self.link.address),
            mutual=True,
        )
        certs = self.workdir / "certs"
        certs.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.cluster.pki.ca_cert, certs / "ca.crt")
        shutil.copyfile(pair.cert, certs / "tls.crt")
        shutil.copyfile(pair.key, certs / "tls.key")
        return certs

    def _environment(self) -> dict[str, str]:
        kubeconfig = self.cluster._component_kubeconfig("keda", "keda-operator", ("system:masters",))
        self.kubeconfig = kubeconfig
        return {
            "KUBECONFIG": str(kubeconfig),
            "WATCH_NAMESPACE": "",  # every namespace
            "POD_NAMESPACE": NAMESPACE,
            "KEDA_CLUSTER_OBJECT_NAMESPACE": NAMESPACE,
        }

    def _run_operator(self, certs: Path, env: dict[str, str]) -> str:
        grpc = f"127.0.0.1:{free_port()}"
        self.operator = ManagedProcess(
            "keda-operator",
            [
                str(keda_binary("keda-operator")),
                f"--kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                "--enable-cert-rotation=false",
                f"--cert-dir={certs}",
                f"--ca-dir={certs}",
                f"--metrics-bind-address=127.0.0.1:{free_port()}",
                f"--health-probe-bind-address=127.0.0.1:{free_port()}",
                f"--metrics-service-bind-address={grpc}",
                "--zap-log-level=info",
            ],
            self.workdir,
            env=env,
        )
        return grpc

    def _run_adapter(self, certs: Path, env: dict[str, str], grpc: str) -> None:
        self.port = free_port()
        kubeconfig = str(self.kubeconfig)
        self.adapter = ManagedProcess(
            "keda-adapter",
            [
                str(keda_binary("keda-adapter")),
                f"--secure-port={self.port}",
                f"--bind-address={self.link.address}",
                f"--cert-dir={certs}",
                f"--tls-cert-file={certs / 'tls.crt'}",
                f"--tls-private-key-file={certs / 'tls.key'}",
                f"--client-ca-file={self.cluster.pki.ca_cert}",
                f"--lister-kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--metrics-service-address={grpc}",
                f"--port={free_port()}",  # its own /metrics
                "--zap-log-level=info",
            ],
            self.workdir,
            env=env,
        )

    def _available(self) -> bool:
        for proc in (self.operator, self.adapter):
            if proc is not None and not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n" + proc.tail())
        return self.api.serving()

    def _tail(self) -> str:
        logs = [f"--- {p.name}\n{p.tail()}" for p in (self.operator, self.adapter) if p is not None]
        return "\n".join(logs) + "\n" + self.api.describe()
