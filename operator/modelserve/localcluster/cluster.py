"""LocalCluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK as local processes."""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

from modelserve.localcluster.nodes import FakeNode, default_nodes
from modelserve.localcluster.pki import ClientCert, LocalPKI
from modelserve.localcluster.processes import ManagedProcess, free_port, stop_pid, wait_for
from modelserve.localcluster.versions import binary, go_module_dir, versions

SERVICE_CIDR = "10.96.0.0/16"
OPERATOR_USER = "modelserve-operator"
FRONT_PROXY_USER = "front-proxy-client"

# Write requests only, at Metadata level: enough to count who wrote what (the quiet-minute test).
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        # Writes to Deployments (and their scale) keep their body: who set spec.replicas to what.
        {
            "level": "Request",
            "verbs": ["create", "update", "patch"],
            "resources": [{"group": "apps", "resources": ["deployments", "deployments/scale"]}],
        },
        {"level": "Metadata", "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
        {"level": "None"},
    ],
}

KWOK_STAGES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)


def _kubeconfig(server: str, ca: Path, client: ClientCert, user: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "modelserve-local", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [
            {"name": user, "user": {"client-certificate": str(client.cert), "client-key": str(client.key)}}
        ],
        "contexts": [{"name": "modelserve-local", "context": {"cluster": "modelserve-local", "user": user}}],
        "current-context": "modelserve-local",
    }


class LocalCluster:
    """A real Kubernetes control plane on loopback with KWOK nodes.

    Use as a context manager, or call start()/stop(). `kubeconfig` is an admin (system:masters)
    kubeconfig; `operator_kubeconfig` authenticates as the user `modelserve-operator` (also
    system:masters) so its requests can be told apart in the audit log.
    """

    def __init__(
        self,
        workdir: Path,
        nodes: Sequence[FakeNode] | None = None,
        *,
        audit: bool = True,
        audit_policy: dict | None = None,
    ):
        self.workdir = Path(workdir)
        self.nodes = list(default_nodes() if nodes is None else nodes)
        self.audit = audit
        self.audit_policy = audit_policy or AUDIT_POLICY
        self.pki = LocalPKI(self.workdir / "pki")
        self.logs = self.workdir / "logs"
        self.procs: list[ManagedProcess] = []
        self.api_port = 0
        self.etcd_port = 0
        self.kubeconfig = self.workdir / "admin.kubeconfig"
        self.operator_kubeconfig = self.workdir / "operator.kubeconfig"
        self.audit_log = self.workdir / "logs" / "audit.log"

    # -- life cycle -------------------------------------------------------------------------------
    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    def start(self, timeout: float = 120.0) -> None:
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pki.create()
        self.etcd_port, etcd_peer = free_port(), free_port()
        self.api_port = free_port()
        try:
            self._start_etcd(etcd_peer)
            self._start_apiserver()
            wait_for(
                self._apiserver_ready,
                timeout,
                "kube-apiserver /readyz",
                on_timeout=lambda: self.procs[-1].tail(),
            )
            self._start_controllers()
            self._start_kwok()
            self.add_nodes(self.nodes)
            wait_for(
                lambda: self._ready_nodes() >= len(self.nodes),
                timeout,
                "KWOK nodes Ready",
                on_timeout=lambda: self.procs[-1].tail(),
            )
            wait_for(self._default_service_account, timeout, "the default ServiceAccount")
        except BaseException:
            self.stop()
            raise
        self._write_state()
        self.startup_seconds = time.monotonic() - started

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()
        state = self.workdir / "state.json"
        if state.exists():
            state.unlink()

    # -- faults: stop and start one component, keeping its data, port and flags ----------------------
    def _component(self, name: str) -> int:
        for index, proc in enumerate(self.procs):
            if proc.name == name:
                return index
        raise KeyError(f"no component {name!r} in this cluster")

    def stop_component(self, name: str) -> None:
        """Stop one process of the control plane (e.g. "kube-apiserver", "etcd"); the rest keep running."""
        self.procs[self._component(name)].stop()

    def start_component(self, name: str, timeout: float = 60.0) -> None:
        """Start a stopped component again with the same flags (etcd keeps its data directory, the API
        server its port), and wait until the API server answers /readyz again."""
        index = self._component(name)
        old = self.procs[index]
        if old.alive():
            raise RuntimeError(f"{name} is still running")
        self.procs[index] = ManagedProcess(name, old.argv, self.logs)
        wait_for(self._apiserver_ready, timeout, f"kube-apiserver /readyz after starting {name}")
        self._write_state()

    def restart_component(self, name: str, timeout: float = 60.0) -> None:
        self.stop_component(name)
        self.start_component(name, timeout)

    def refresh_controllers(self) -> None:
        """Restart kube-controller-manager and kube-scheduler. Here they run without the liveness probes
        that would restart them in a real cluster, and after an API server restart the controller-manager
        has been seen to stop syncing without a word (no new ServiceAccounts) -- a fault test is about the
        operator, so the cluster's own controllers are given a fresh start."""
        for name in ("kube-controller-manager", "kube-scheduler"):
            self.restart_component(name)

    def compact_etcd(self) -> int:
        """Compact etcd's history up to its current revision (through etcd's JSON gateway) and return
        that revision: a watch resumed from an older resourceVersion then ends in 410 Gone."""

        def post(path: str, body: dict) -> dict:
            req = urllib.request.Request(
                f"http://127.0.0.1:{self.etcd_port}{path}",
                data=json.dumps(body).encode(),
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read())

        revision = int(post("/v3/kv/range", {"key": base64.b64encode(b"/").decode()})["header"]["revision"])
        post("/v3/kv/compaction", {"revision": str(revision), "physical": True})
        return revision

    # -- processes --------------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str]) -> ManagedProcess:
        proc = ManagedProcess(name, argv, self.logs)
        self.procs.append(proc)
        return proc

    def _start_etcd(self, peer_port: int) -> None:
        data = self.workdir / "etcd"
        shutil.rmtree(data, ignore_errors=True)
        client_url = f"http://127.0.0.1:{self.etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        self._spawn(
            "etcd",
            [
                str(binary("etcd")),
                "--name=local",
                f"--data-dir={data}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=local={peer_url}",
                "--unsafe-no-fsync",
                "--log-level=warn",
                "--quota-backend-bytes=4294967296",
            ],
        )

    def _start_apiserver(self) -> None:
        p = self.pki
        front_proxy = p.client("front-proxy-client", FRONT_PROXY_USER)
        argv = [
            str(binary("kube-apiserver")),
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.api_port}",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
            f"--cert-dir={self.workdir / 'pki'}",
            f"--tls-cert-file={p.serving_cert}",
            f"--tls-private-key-file={p.serving_key}",
            f"--client-ca-file={p.ca_cert}",
            "--authorization-mode=RBAC",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p.sa_pub}",
            f"--service-account-signing-key-file={p.sa_key}",
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            "--v=0",
            # The aggregation layer, for extension API servers such as prometheus-adapter
            # (custom.metrics.k8s.io): it proxies to them with this client certificate and passes the
            # caller in these headers; routing goes to the Service's endpoint, there is no kube-proxy.
            f"--requestheader-client-ca-file={p.ca_cert}",
            f"--requestheader-allowed-names={FRONT_PROXY_USER}",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={front_proxy.cert}",
            f"--proxy-client-key-file={front_proxy.key}",
            "--enable-aggregator-routing=true",
        ]
        if self.audit:
            policy = self.workdir / "audit-policy.yaml"
            policy.write_text(yaml.safe_dump(self.audit_policy))
            argv += [
                f"--audit-policy-file={policy}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
                "--audit-log-mode=blocking",
                "--audit-log-maxsize=200",
            ]
        self._spawn("kube-apiserver", argv)
        admin = self.pki.client("admin", "kubernetes-admin", ("system:masters",))
        self.kubeconfig.write_text(yaml.safe_dump(_kubeconfig(self.server, p.ca_cert, admin, "admin")))
        op = self.pki.client("operator", OPERATOR_USER, ("system:masters",))
        self.operator_kubeconfig.write_text(
            yaml.safe_dump(_kubeconfig(self.server, p.ca_cert, op, OPERATOR_USER))
        )

    def _component_kubeconfig(self, name: str, user: str, groups: tuple[str, ...] = ()) -> Path:
        return self.kubeconfig_for(name, user, groups)

    def kubeconfig_for(
        self, name: str, user: str, groups: tuple[str, ...] = (), server: str | None = None
    ) -> Path:
        """A kubeconfig authenticating as `user` (in `groups`) with a client certificate of its own, so
        its requests can be told apart in the audit log; `server` defaults to the API server."""
        client = self.pki.client(name, user, groups)
        path = self.workdir / f"{name}.kubeconfig"
        path.write_text(yaml.safe_dump(_kubeconfig(server or self.server, self.pki.ca_cert, client, user)))
        return path

    def _start_controllers(self) -> None:
        kcm = self._component_kubeconfig("kube-controller-manager", "system:kube-controller-manager")
        self._spawn(
            "kube-controller-manager",
            [
                str(binary("kube-controller-manager")),
                f"--kubeconfig={kcm}",
                f"--authentication-kubeconfig={kcm}",
                f"--authorization-kubeconfig={kcm}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--leader-elect=false",
                f"--service-account-private-key-file={self.pki.sa_key}",
                f"--root-ca-file={self.pki.ca_cert}",
                "--use-service-account-credentials=true",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route",
                "--horizontal-pod-autoscaler-sync-period=15s",
                "--concurrent-deployment-syncs=10",
                "--concurrent-replicaset-syncs=10",
                "--kube-api-qps=200",
                "--kube-api-burst=400",
                "--v=0",
            ],
        )
        sched = self._component_kubeconfig("kube-scheduler", "system:kube-scheduler")
        self._spawn(
            "kube-scheduler",
            [
                str(binary("kube-scheduler")),
                f"--kubeconfig={sched}",
                f"--authentication-kubeconfig={sched}",
                f"--authorization-kubeconfig={sched}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--leader-elect=false",
                "--kube-api-qps=200",
                "--kube-api-burst=400",
                "--v=0",
            ],
        )

    def _start_kwok(self) -> None:
        kwok_dir = go_module_dir("sigs.k8s.io/kwok", versions()["KWOK_VERSION"])
        stages = "\n---\n".join((kwok_dir / rel).read_text().strip() for rel in KWOK_STAGES)
        config = self.workdir / "kwok-stages.yaml"
        config.write_text(stages + "\n")
        kubeconfig = self._component_kubeconfig("kwok", "kwok-controller", ("system:masters",))
        self._spawn(
            "kwok",
            [
                str(binary("kwok")),
                f"--kubeconfig={kubeconfig}",
                f"--config={config}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--node-ip=127.0.0.1",
                "--cidr=10.0.0.1/16",
                "--node-lease-duration-seconds=40",
                f"--server-address=127.0.0.1:{free_port()}",
            ],
        )

    # -- API helpers --------------------------------------------------------------------------------
    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        admin = self.pki.client("admin", "kubernetes-admin", ("system:masters",))
        ctx.load_cert_chain(str(admin.cert), str(admin.key))
        return ctx

    def request(
        self, method: str, path: str, body: dict | None = None, content_type: str = "application/json"
    ) -> dict:
        """A raw admin request to the API server (used before any client library is configured)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.server + path,
            data=data,
            method=method,
            headers={"Content-Type": content_type, "Accept": "application/json"},
        )
        with urllib.request.urlopen(req, context=self._ssl_context(), timeout=10) as resp:
            raw = resp.read()
        return json.loads(raw) if raw and raw[:1] in (b"{", b"[") else {"raw": raw.decode(errors="replace")}

    def _apiserver_ready(self) -> bool:
        return self.request("GET", "/readyz").get("raw") == "ok"

    def _ready_nodes(self) -> int:
        items = self.request("GET", "/api/v1/nodes").get("items", [])
        return sum(
            1
            for n in items
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n.get("status", {}).get("conditions", [])
            )
        )

    def _default_service_account(self) -> bool:
        return bool(self.request("GET", "/api/v1/namespaces/default/serviceaccounts/default").get("metadata"))

    def add_nodes(self, nodes: Iterable[FakeNode]) -> None:
        """Create (or update) fake nodes; KWOK makes them Ready."""
        for node in nodes:
            manifest = node.manifest()
            self.request(
                "PATCH",
                f"/api/v1/nodes/{node.name}?fieldManager=modelserve-localcluster&force=true",
                manifest,
                content_type="application/apply-patch+yaml",
            )
            if node not in self.nodes:
                self.nodes.append(node)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the cached kubectl against this cluster as the admin."""
        return subprocess.run(
            [str(binary("kubectl")), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def _write_state(self) -> None:
        state = {
            "pids": [p.pid for p in self.procs],
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "operator_kubeconfig": str(self.operator_kubeconfig),
        }
        (self.workdir / "state.json").write_text(json.dumps(state, indent=2))


def stop_recorded(workdir: Path) -> bool:
    """Stop a cluster started by another process (`make cluster-down`), from its state.json."""
    state_file = Path(workdir) / "state.json"
    if not state_file.exists():
        return False
    state = json.loads(state_file.read_text())
    for pid in reversed(state.get("pids", [])):
        stop_pid(int(pid))
    state_file.unlink()
    return True


def default_workdir() -> Path:
    from modelserve.localcluster.versions import cache_dir

    return Path(os.environ.get("MODELSERVE_CLUSTER_DIR", cache_dir() / "cluster"))
