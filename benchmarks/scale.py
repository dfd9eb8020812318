#!/usr/bin/env python3
"""The operator at scale: N plain ModelDeployments (one replica each) on the local control plane.

    python benchmarks/scale.py [--n 200,1000,5000] [--rest-seconds 180] [--out benchmarks/results]

Starts its own LocalCluster (etcd, kube-apiserver with an audit log, controller-manager, scheduler,
KWOK) with enough fake node capacity for the largest N, then for each N:

* **raw**: `modelserve render` renders the N models' owned objects (Deployment, Service,
  PodDisruptionBudget; owner references dropped, there is no owner), which are server-side applied
  with `--raw-concurrency` requests in flight until every Deployment is available: 4, the operator's
  concurrency (its `--workers` reconciles each make one request at a time), and 32, its client's
  connection pool (`k8s/client.py` CONNECTION_POOL), the fastest the API server takes them. The
  namespace is then deleted and its removal awaited. The ratio is taken against the raw apply at the
  operator's concurrency when measured (the issue's definition), else the first measured.
* **operator**: `modelserve run` as a process (as the e2e suite runs it, authenticated as its own
  user, `--resync-seconds 60`: the default), watching only the benchmark's namespace. The N
  ModelDeployments are created together (server-side apply, 32 in flight, so the creation itself is
  not the bottleneck) and the Ready count is polled every second until all are Ready, then until the
  operator has made no write for 15 s ("quiet").
* **writes** per model by resource and verb: the kube-apiserver audit log, the operator's user only,
  in the benchmark's namespace, from the first creation until quiet.
* **RSS** of the operator process: idle (started, no models), peak (sampled every 0.5 s from /proc) and
  after a restart once settled. **CPU-seconds** (utime + stime of the process) per model during
  convergence, and per minute at rest over `--rest-seconds` with no change (its writes too).
* **fairness**: before the storm a model of its own namespace (also watched) is rolled out to a canary
  (replica router, 20 %, then an indefinite pause); once every model of the storm exists and while
  fewer than half are Ready, its rollback is asked for (`spec.rollout.abort`), and the time until its
  status reads RolledBack with no candidate is measured (target: within 10 s while the storm runs).
* **restart**: the operator is stopped (SIGTERM) and started again with the N models unchanged;
  settled is the first moment its `modelserve_reconciles_total{kind="ModelDeployment"}` has reached N
  (every model reconciled once) with an empty work queue (`modelserve_workqueue_depth` 0); its writes
  are counted until 15 s after that.

Prints a table against the targets of issue 18, writes `scale.json` and `scale-ready-N.csv` to
`--out`, and the Ready-against-time plot to `--plot` (matplotlib, when installed).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from modelserve.k8s.client import CONNECTION_POOL, KubeClient
from modelserve.localcluster import LocalCluster
from modelserve.localcluster.cluster import OPERATOR_USER
from modelserve.localcluster.nodes import FakeNode, default_nodes
from modelserve.localcluster.processes import wait_for

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.e2e.harness import OperatorProcess  # noqa: E402  (the e2e suite's operator process)

NODE_PODS = 500
QUIET_SECONDS = 15.0
TICKS = os.sysconf("SC_CLK_TCK")
TARGETS = {
    "converge_ratio": 1.5,
    "writes_per_model": 5.0,
    "rest_writes": 0,
    "rest_cpu_per_minute": 1.0,
    "rss_mb": 250.0,
    "restart_writes": 0,
    "restart_settle_s": 60.0,
    "rollback_s": 10.0,
}
FAIR_STEPS = [{"setWeight": 20}, {"pause": {}}]


def model(name: str, namespace: str) -> dict:
    """A plain ModelDeployment with one replica (the e2e suite's `model_deployment`)."""
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": {"name": name, "version": "1", "uri": f"s3://models/{name}/1", "format": "sklearn"},
            "runtime": {
                "image": "registry.example.com/sklearn-server:1.4",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
            },
            "replicas": 1,
        },
    }


def canary_model(name: str, namespace: str, version: str) -> dict:
    """The fairness probe: a model rolled out to a 20 % canary that then waits (an indefinite pause)."""
    md = model(name, namespace)
    md["spec"]["model"]["version"] = version
    md["spec"]["model"]["uri"] = f"s3://models/{name}/{version}"
    md["spec"]["replicas"] = 5
    md["spec"]["rollout"] = {"strategy": "canary", "canary": {"steps": FAIR_STEPS}, "scaleDownDelay": "5s"}
    md["spec"]["traffic"] = {"router": "replicas"}
    return md


def fair_status(kube: KubeClient, namespace: str) -> dict:
    return (kube.get("ModelDeployment", namespace, "fair") or {}).get("status") or {}


def start_fair_canary(admin: KubeClient, namespace: str) -> None:
    """The probe model Ready on v1, then v2 applied and at its 20 % canary step."""
    apply_all(admin, [canary_model("fair", namespace, "1")])
    wait_for(lambda: fair_status(admin, namespace).get("phase") == "Ready", 120, "the probe model Ready", 0.5)
    apply_all(admin, [canary_model("fair", namespace, "2")])
    wait_for(
        lambda: int(fair_status(admin, namespace).get("canaryWeight") or 0) >= 20,
        120,
        "the probe model's canary at 20 %",
        0.5,
    )


def rollback_during_storm(admin: KubeClient, namespace: str, counter: Counter, n: int, res: Result) -> None:
    """Once the storm's models exist and fewer than half are Ready: abort the probe's rollout and time
    its rollback."""
    wait_for(lambda: counter.existing() >= n, 60 + n / 10, "the storm's models to exist", 0.2)
    res.rollback_ready_at_abort = counter.count()
    started = time.monotonic()
    admin.patch("ModelDeployment", namespace, "fair", {"spec": {"rollout": {"abort": True}}})

    def rolled_back() -> bool:
        status = fair_status(admin, namespace)
        return status.get("phase") == "RolledBack" and not status.get("candidateRevision")

    wait_for(rolled_back, 120, "the probe model's rollback", 0.2)
    res.rollback_s = time.monotonic() - started


def capacity_nodes(n: int) -> list[FakeNode]:
    """Fake nodes for n one-replica pods (100m CPU, 128Mi each), with a fifth spare."""
    count = math.ceil(n * 1.2 / NODE_PODS)
    return [
        FakeNode(
            name=f"kwok-scale-{i}",
            region="eu-central-1",
            zone=f"eu-central-1{'abc'[i % 3]}",
            cpu=str(NODE_PODS // 10 + 14),
            memory=f"{NODE_PODS // 8 + 64}Gi",
            pods=str(NODE_PODS),
        )
        for i in range(count)
    ]


# -- measuring ---------------------------------------------------------------------------------------------
class AuditTail:
    """Follows the kube-apiserver's audit log (through its rotations: the open file is read to its end
    before the new one is opened) and keeps the operator's writes: (time, namespace, 'verb resource')."""

    def __init__(self, path: Path, user: str = OPERATOR_USER):
        self.path = path
        self.needle = f'"username":"{user}"'.encode()
        self.user = user
        self.writes: list[tuple[float, str, str]] = []
        self._file: Any = None
        self._inode = 0
        self._done: set[int] = set()  # inodes of the files read to their end (or being read)

    def poll(self) -> None:
        if self._file is None:
            if not self.path.exists():
                return
            self._file = open(self.path, "rb")  # noqa: SIM115 - followed for the benchmark's life
            self._inode = os.fstat(self._file.fileno()).st_ino
            self._done = {self._inode}
        while True:
            self._read_available()
            try:
                rotated = os.stat(self.path).st_ino != self._inode
            except FileNotFoundError:
                rotated = False
            if not rotated:
                return
            self._read_available()
            self._file.close()
            # More than one rotation since the last poll (200 MB each: a 5,000-model storm writes several
            # between two polls): the backups in between are read whole, oldest first, before the new file.
            for backup in sorted(self.path.parent.glob(f"{self.path.stem}-*{self.path.suffix}")):
                inode = os.stat(backup).st_ino
                if inode in self._done:
                    continue
                self._done.add(inode)
                with open(backup, "rb") as self._file:
                    self._read_available()
            self._file = open(self.path, "rb")  # noqa: SIM115
            self._inode = os.fstat(self._file.fileno()).st_ino
            self._done.add(self._inode)

    def _read_available(self) -> None:
        for line in self._file:
            if not line.endswith(b"\n"):  # a line being written: read it next time
                self._file.seek(-len(line), os.SEEK_CUR)
                return
            if self.needle not in line:
                continue
            entry = json.loads(line)
            ref = entry.get("objectRef") or {}
            if ref.get("resource") in ("clusterkopfpeerings", "kopfpeerings"):
                continue
            kind = ref.get("resource", "") + ("/" + ref["subresource"] if ref.get("subresource") else "")
            ts = datetime.fromisoformat(entry["requestReceivedTimestamp"].replace("Z", "+00:00")).timestamp()
            self.writes.append((ts, ref.get("namespace") or "", f"{entry['verb']} {kind}"))

    def between(self, namespace: str, since: float, until: float = math.inf) -> collections.Counter:
        self.poll()
        return collections.Counter(k for t, ns, k in self.writes if ns == namespace and since <= t <= until)

    def last_write(self, namespace: str) -> float:
        self.poll()
        return max((t for t, ns, _ in self.writes if ns == namespace), default=0.0)


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def control_plane_cpu() -> dict[str, float]:
    """CPU-seconds so far of each control-plane process on this machine (by its executable's name)."""
    out: dict[str, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv0 = (proc / "cmdline").read_bytes().split(b"\0", 1)[0].decode()
            name = Path(argv0).name
            if name in CONTROL_PLANE:
                out[name] = out.get(name, 0.0) + proc_cpu_seconds(int(proc.name))
        except (OSError, IndexError, ValueError):
            continue
    return out


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(after.get(k, 0.0) - before.get(k, 0.0), 1) for k in CONTROL_PLANE}


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssSampler(threading.Thread):
    """The peak RSS of a process, sampled every 0.5 s until stopped."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            try:
                self.peak = max(self.peak, proc_rss_mb(self.pid))
            except OSError:
                return
            self._done.wait(0.5)

    def stop(self) -> float:
        self._done.set()
        self.join(5)
        return self.peak


def operator_metrics(op: OperatorProcess) -> dict[str, float]:
    """`modelserve_reconciles_total` of ModelDeployments (all results) and the work queue's depth."""
    with urllib.request.urlopen(f"http://127.0.0.1:{op.metrics_port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out = {"reconciles": 0.0, "depth": 0.0}
    for line in text.splitlines():
        if line.startswith("modelserve_reconciles_total{") and 'kind="ModelDeployment"' in line:
            out["reconciles"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("modelserve_api_requests_total{"):
            verb = line.split('verb="', 1)[1].split('"', 1)[0]
            kind = line.split('kind="', 1)[1].split('"', 1)[0] if 'kind="' in line else ""
            key = f"api {verb} {kind}".rstrip()
            out[key] = out.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
        elif line.startswith("modelserve_workqueue_depth "):
            out["depth"] = float(line.rsplit(" ", 1)[1])
    return out


# -- the cluster side --------------------------------------------------------------------------------------
def apply_all(kube: KubeClient, objects: list[dict], concurrency: int = CONNECTION_POOL) -> None:
    """Server-side apply every object, `concurrency` requests in flight."""
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in pool.map(lambda o: kube.apply(o, field_manager="scale-benchmark"), objects):
            pass


def available_deployments(kube: KubeClient, namespace: str) -> int:
    deployments = kube.list("Deployment", namespace)
    return sum(1 for d in deployments if (d.get("status") or {}).get("availableReplicas", 0) >= 1)


def ready(md: dict) -> bool:
    conds = (md.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


class Counter:
    """How many objects of `kind` in `namespace` exist and how many satisfy `predicate`, kept by one
    list-and-watch (relisting after a stream ends badly): the operator's phase's Ready count. Polling
    instead -- a LIST of every model each second -- loaded the very API server being measured: ~60 full
    lists of 1,000 custom resources in the operator's phase against two or three lists of Deployments in
    the raw phase (counted once its applies are done). A watch of the models is served from the API
    server's watch cache, each event encoded once for all its JSON watchers (kopf's among them)."""

    def __init__(self, kube: KubeClient, kind: str, namespace: str, predicate: Any):
        self.kube, self.kind, self.namespace, self.predicate = kube, kind, namespace, predicate
        self._state: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._response: Any = None
        self._thread = threading.Thread(target=self._run, name=f"count {kind}", daemon=True)

    def start(self) -> Counter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):
                response.close()
        self._thread.join(2)  # a daemon: a stream slow to notice its closing is left behind

    def count(self) -> int:
        with self._lock:
            return sum(self._state.values())

    def existing(self) -> int:
        with self._lock:
            return len(self._state)

    def _set(self, obj: dict, deleted: bool = False) -> None:
        name = (obj.get("metadata") or {}).get("name")
        if not name:
            return
        with self._lock:
            if deleted:
                self._state.pop(name, None)
            else:
                self._state[name] = bool(self.predicate(obj))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                meta: dict = {}
                items = list(self.kube.list_pages(self.kind, self.namespace, meta=meta))
                with self._lock:
                    self._state = {}
                for item in items:
                    self._set(item)
                rv = str(meta.get("resourceVersion") or "")
                while not self._stop.is_set():
                    for event in self.kube.watch(
                        self.kind,
                        self.namespace,
                        resource_version=rv,
                        opened=lambda r: setattr(self, "_response", r),
                    ):
                        obj = event.get("object") or {}
                        rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                        if event.get("type") == "ERROR":
                            raise RuntimeError(f"watch ERROR: {obj.get('message')}")
                        if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                            self._set(obj, deleted=event["type"] == "DELETED")
            except Exception as exc:  # a broken stream or 410 Gone: list again
                if not self._stop.is_set():
                    print(f"  counter of {self.kind}: {exc}; listing again", flush=True)
                    self._stop.wait(0.5)


def render_owned(models: list[dict], workdir: Path) -> list[dict]:
    """`modelserve render` of the models: the objects the operator would own, without owner references."""
    path = workdir / "models.yaml"
    path.write_text(yaml.safe_dump_all(models))
    out = subprocess.run(
        [sys.executable, "-m", "modelserve", "render", "-f", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    objects = [o for o in yaml.safe_load_all(out.stdout) if o]
    for o in objects:
        o["metadata"].pop("ownerReferences", None)
    return objects


def new_namespace(cluster: LocalCluster, name: str) -> None:
    cluster.kubectl("create", "namespace", name)
    wait_for(
        lambda: cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0,
        60,
        f"the default ServiceAccount of {name}",
    )


def delete_namespace(cluster: LocalCluster, name: str, timeout: float) -> float:
    started = time.monotonic()
    cluster.kubectl("delete", "namespace", name, "--wait=false")
    wait_for(
        lambda: cluster.kubectl("get", "namespace", name, check=False).returncode != 0,
        timeout,
        f"namespace {name} deleted",
        interval=2,
    )
    return time.monotonic() - started


# -- one N -------------------------------------------------------------------------------------------------
@dataclass
class Result:
    n: int
    raw_objects: int = 0
    raw_apply_s: float = 0.0
    raw_available_s: float = 0.0
    create_s: float = 0.0
    converge_s: float = 0.0
    quiet_s: float = 0.0
    last_write_after_ready_s: float = 0.0
    writes: dict[str, int] = field(default_factory=dict)
    writes_per_model: float = 0.0
    rss_idle_mb: float = 0.0
    rss_peak_mb: float = 0.0
    rss_after_restart_mb: float = 0.0
    rss_peak_restart_mb: float = 0.0
    cpu_s_converge: float = 0.0
    cpu_s_per_model: float = 0.0
    rest_seconds: float = 0.0
    rest_cpu_per_minute: float = 0.0
    rest_cpu_by_minute: list[float] = field(default_factory=list)
    rest_writes: dict[str, int] = field(default_factory=dict)
    restart_settle_s: float = 0.0
    restart_cpu_s: float = 0.0
    restart_writes: dict[str, int] = field(default_factory=dict)
    operator_concurrency: int = 4  # the operator's --workers
    raw_by_concurrency: dict[int, float] = field(default_factory=dict)  # in flight -> s to available
    raw_control_plane_cpu: dict[str, float] = field(default_factory=dict)  # CPU-s while converging
    control_plane_cpu: dict[str, float] = field(default_factory=dict)
    api_requests: dict[str, float] = field(default_factory=dict)  # the operator's, while converging
    rollback_s: float = math.nan  # the fairness probe's rollback, asked for during the storm
    rollback_ready_at_abort: int = 0  # models of the storm Ready when it was asked for
    ready_curve: list[tuple[float, int]] = field(default_factory=list)
    error: str = ""  # what stopped this N's measurement, if anything did

    @property
    def ratio(self) -> float:
        return self.converge_s / self.raw_available_s if self.raw_available_s else math.inf


def run_raw(
    cluster: LocalCluster, admin: KubeClient, n: int, workdir: Path, res: Result, concurrency: int
) -> None:
    ns = f"scale-raw-{n}-{concurrency}"
    new_namespace(cluster, ns)
    objects = render_owned([model(f"m-{i}", ns) for i in range(n)], workdir)
    res.raw_objects = len(objects)
    cpu0 = control_plane_cpu()
    started = time.monotonic()
    apply_all(admin, objects, concurrency)
    applied = time.monotonic() - started
    # Counted by a list once the applies are done (two or three lists, then): a watch running through the
    # applies was the only JSON watcher of the Deployments here and cost the API server more than that.
    wait_for(lambda: available_deployments(admin, ns) >= n, 60 + n, f"{n} raw Deployments available", 0.5)
    available = time.monotonic() - started
    res.raw_by_concurrency[concurrency] = round(available, 1)
    if not res.raw_available_s or concurrency == res.operator_concurrency:
        res.raw_apply_s, res.raw_available_s = applied, available
        res.raw_control_plane_cpu = cpu_delta(cpu0, control_plane_cpu())
    print(
        f"  raw ({concurrency} in flight): {len(objects)} objects applied in {applied:.1f} s, all "
        f"available at {available:.1f} s; deleting",
        flush=True,
    )
    delete_namespace(cluster, ns, 300 + n / 5)


def converge(
    admin: KubeClient,
    op: OperatorProcess,
    audit: AuditTail,
    ns: str,
    n: int,
    res: Result,
    fair_ns: str | None = None,
) -> None:
    """Create the models and follow the Ready count until all are Ready and the operator is quiet; with
    `fair_ns`, time the probe's rollback asked for during the storm (a thread)."""
    pid = op.proc.pid
    cpu0 = proc_cpu_seconds(pid)
    plane0 = control_plane_cpu()
    requests0 = operator_metrics(op)
    since = time.time()
    counter = Counter(admin, "ModelDeployment", ns, ready).start()
    started = time.monotonic()
    probe: threading.Thread | None = None
    probe_error: list[BaseException] = []
    if fair_ns is not None:

        def run_probe() -> None:
            try:
                rollback_during_storm(admin, fair_ns, counter, n, res)
            except BaseException as exc:  # reported after the storm
                probe_error.append(exc)

        probe = threading.Thread(target=run_probe, daemon=True)
        probe.start()
    apply_all(admin, [model(f"m-{i}", ns) for i in range(n)])
    res.create_s = time.monotonic() - started
    deadline = started + 120 + n
    last_sample = -math.inf
    try:
        while True:
            count = counter.count()
            now = time.monotonic()
            if now - last_sample >= 1 or count >= n:  # the curve: a point a second (and the last)
                res.ready_curve.append((round(now - started, 1), count))
                last_sample = now
            if count >= n:
                # Taken here, not after the counter's watch is stopped below: closing its stream can
                # take seconds (up to the join's 10), which once counted as convergence time.
                res.converge_s = now - started
                break
            if now > deadline or not op.alive():
                waited = now - started
                raise TimeoutError(f"{count}/{n} Ready after {waited:.0f} s (operator alive: {op.alive()})")
            time.sleep(0.1)
    finally:
        counter.stop()
    res.control_plane_cpu = cpu_delta(plane0, control_plane_cpu())
    requests = operator_metrics(op)
    res.api_requests = {
        k: requests[k] - requests0.get(k, 0.0) for k in sorted(requests) if k.startswith("api ")
    }
    if probe is not None:
        probe.join(150)
        if probe_error:
            print(f"  fairness probe failed: {probe_error[0]}", flush=True)
        else:
            print(
                f"  rollback asked for with {res.rollback_ready_at_abort}/{n} Ready: "
                f"rolled back in {res.rollback_s:.1f} s",
                flush=True,
            )
    ready_at = time.time()
    print(f"  operator: created in {res.create_s:.1f} s, all Ready at {res.converge_s:.1f} s", flush=True)
    wait_for(
        lambda: time.time() - max(audit.last_write(ns), ready_at) >= QUIET_SECONDS,
        300,
        "the operator to stop writing",
        1,
    )
    last = audit.last_write(ns)
    res.quiet_s = last - since
    res.last_write_after_ready_s = max(0.0, last - ready_at)
    res.cpu_s_converge = proc_cpu_seconds(pid) - cpu0
    res.cpu_s_per_model = res.cpu_s_converge / n
    res.writes = dict(sorted(audit.between(ns, since).items()))
    res.writes_per_model = sum(res.writes.values()) / n


def rest(op: OperatorProcess, audit: AuditTail, ns: str, seconds: float, res: Result) -> None:
    """Measure, not wait: the operator's CPU and writes over `seconds` with nothing changing."""
    pid = op.proc.pid
    cpu0, since, t0 = proc_cpu_seconds(pid), time.time(), time.monotonic()
    last = cpu0
    while (left := seconds - (time.monotonic() - t0)) > 0:
        time.sleep(min(60.0, left))
        now = proc_cpu_seconds(pid)
        res.rest_cpu_by_minute.append(round(now - last, 2))
        last = now
    res.rest_seconds = time.monotonic() - t0
    res.rest_cpu_per_minute = (last - cpu0) / res.rest_seconds * 60
    res.rest_writes = dict(audit.between(ns, since))


def restart(op: OperatorProcess, audit: AuditTail, ns: str, n: int, res: Result) -> None:
    op.stop()
    since = time.time()
    started = time.monotonic()
    op.resume(timeout=120)
    sampler = RssSampler(op.proc.pid)
    sampler.start()

    def settled() -> bool:
        m = operator_metrics(op)
        return m["reconciles"] >= n and m["depth"] == 0

    wait_for(settled, 120 + n / 10, "the restarted operator to settle", 0.5)
    res.restart_settle_s = time.monotonic() - started
    res.restart_cpu_s = proc_cpu_seconds(op.proc.pid)
    time.sleep(QUIET_SECONDS)  # a measuring window: writes that follow the settle are counted too
    res.restart_writes = dict(audit.between(ns, since))
    res.rss_after_restart_mb = proc_rss_mb(op.proc.pid)
    res.rss_peak_restart_mb = sampler.stop()


def run_operator(
    cluster: LocalCluster, admin: KubeClient, audit: AuditTail, n: int, args: Any, res: Result
) -> None:
    ns = f"scale-{n}"
    fair_ns = f"scale-{n}-fair"
    new_namespace(cluster, ns)
    new_namespace(cluster, fair_ns)
    op = OperatorProcess(
        cluster.operator_kubeconfig,
        args.workdir,
        namespaces=[ns, fair_ns],
        extra_args=["--resync-seconds", str(args.resync_seconds), "--log-level", "WARNING"]
        + (["--workers", str(args.workers)] if args.workers else []),
        name=f"operator-{n}",
    )
    try:
        wait_for(op.alive, 5, "operator process")
        wait_for(lambda: operator_metrics(op) is not None, 60, "operator metrics endpoint", 0.5)
        time.sleep(5)  # a measuring window: the idle process after start-up
        res.rss_idle_mb = proc_rss_mb(op.proc.pid)
        start_fair_canary(admin, fair_ns)
        sampler = RssSampler(op.proc.pid)
        sampler.start()
        converge(admin, op, audit, ns, n, res, fair_ns)
        res.rss_peak_mb = sampler.stop()
        print(
            f"  quiet {res.last_write_after_ready_s:.0f} s after all Ready; {res.writes_per_model:.2f} "
            f"writes/model; resting {args.rest_seconds:.0f} s",
            flush=True,
        )
        rest(op, audit, ns, args.rest_seconds, res)
        restart(op, audit, ns, n, res)
    finally:
        op.stop()
    delete_namespace(cluster, fair_ns, 120)
    delete_namespace(cluster, ns, 300 + n / 5)


# -- output ------------------------------------------------------------------------------------------------
def report(results: list[Result]) -> str:
    def mark(ok: bool) -> str:
        return "met" if ok else "MISSED"

    lines = [
        "| N | raw apply -> available | operator all Ready | ratio (target <= 1.5) | writes/model (<= 5) "
        "| RSS idle / peak / after restart MB (<= 250) | CPU-s/model | at rest: CPU-s/min (<= 1), writes (0) "
        "| restart: settled s (<= 60), writes (0) | rollback during the storm s (<= 10) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rest_w = sum(r.rest_writes.values())
        restart_w = sum(r.restart_writes.values())
        lines.append(
            f"| {r.n} | {r.raw_available_s:.0f} s | {r.converge_s:.0f} s | {r.ratio:.2f}x "
            f"({mark(r.ratio <= TARGETS['converge_ratio'])}) | {r.writes_per_model:.2f} "
            f"({mark(r.writes_per_model <= TARGETS['writes_per_model'])}) | {r.rss_idle_mb:.0f} / "
            f"{r.rss_peak_mb:.0f} / {r.rss_after_restart_mb:.0f} "
            f"({mark(max(r.rss_peak_mb, r.rss_after_restart_mb) <= TARGETS['rss_mb'])}) "
            f"| {r.cpu_s_per_model:.3f} | {r.rest_cpu_per_minute:.2f}, {rest_w} "
            f"({mark(r.rest_cpu_per_minute <= TARGETS['rest_cpu_per_minute'] and rest_w == 0)}) "
            f"| {r.restart_settle_s:.0f}, {restart_w} "
            f"({mark(r.restart_settle_s <= TARGETS['restart_settle_s'] and restart_w == 0)}) "
            f"| {r.rollback_s:.1f} with {r.rollback_ready_at_abort}/{r.n} Ready "
            f"({mark(r.rollback_s <= TARGETS['rollback_s'])}) |"
        )
    lines.append("")
    for r in results:
        if r.error:
            lines.append(f"N={r.n} STOPPED: {r.error} (figures above are partial)")
        per_kind = ", ".join(f"{k} {v / r.n:.2f}" for k, v in r.writes.items())
        lines.append(f"N={r.n} writes per model by kind: {per_kind}")
        lines.append(
            f"N={r.n} last write {r.last_write_after_ready_s:.0f} s after all Ready; "
            f"CPU {r.cpu_s_converge:.0f} s converging, {r.restart_cpu_s:.0f} s to settle after restart; "
            f"rest writes {r.rest_writes or 0}, restart writes {r.restart_writes or 0}; "
            f"rest CPU-s in each minute {r.rest_cpu_by_minute}"
        )
        lines.append(f"N={r.n} raw apply to all available, by requests in flight: {r.raw_by_concurrency}")
        lines.append(
            f"N={r.n} control-plane CPU-s converging: raw {r.raw_control_plane_cpu}, "
            f"operator {r.control_plane_cpu}; the operator's API requests converging: "
            + ", ".join(f"{k[4:]} {v:.0f}" for k, v in r.api_requests.items())
        )
    return "\n".join(lines)


def save(results: list[Result], out: Path, plot: Path | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rows = [asdict(r) | {"ratio": r.ratio} for r in results]
    (out / "scale.json").write_text(json.dumps({"machine": machine(), "results": rows}, indent=1))
    for r in results:
        (out / f"scale-ready-{r.n}.csv").write_text(
            "seconds,ready\n" + "".join(f"{t},{c}\n" for t, c in r.ready_curve)
        )
    if plot is None:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (the CSVs hold the curves)")
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for r in results:
        ax.plot([t for t, _ in r.ready_curve], [c / r.n * 100 for _, c in r.ready_curve], label=f"N={r.n}")
        ax.axvline(r.raw_available_s, linestyle=":", color=ax.lines[-1].get_color())
    ax.set_xlabel("seconds since creation (dotted: raw apply, all available)")
    ax.set_ylabel("ModelDeployments Ready (%)")
    ax.legend()
    ax.grid(alpha=0.3)
    plot.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(plot, dpi=100)
    print(f"plot: {plot}")


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "date": datetime.now().isoformat(timespec="seconds"),
    }


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", default="200,1000,5000", help="model counts, comma-separated")
    parser.add_argument("--rest-seconds", type=float, default=180.0)
    parser.add_argument("--resync-seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=0, help="the operator's --workers (0: its default)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "img" / "scale-ready.png")
    parser.add_argument(
        "--raw-concurrency",
        default="4,32",
        help="requests in flight of the raw baselines, comma-separated ('' skips them)",
    )
    parser.add_argument("--raw-only", action="store_true", help="measure the raw baselines only")
    args = parser.parse_args(argv)
    # A background job ignores SIGINT: let SIGTERM stop the cluster and the operator too (finally below).
    signal.signal(signal.SIGTERM, _interrupt)
    counts = [int(x) for x in args.n.split(",") if x]
    args.workdir = Path(tempfile.mkdtemp(prefix="modelserve-scale-"))
    print(f"machine: {machine()}; work directory {args.workdir}", flush=True)
    cluster = LocalCluster(args.workdir / "cluster", nodes=default_nodes() + capacity_nodes(max(counts)))
    results: list[Result] = []
    cluster.start()
    try:
        cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        admin = KubeClient.from_environment(str(cluster.kubeconfig))
        audit = AuditTail(cluster.audit_log)
        for n in counts:
            print(f"N={n}", flush=True)
            res = Result(n, operator_concurrency=args.workers or 4)
            try:
                for concurrency in [int(x) for x in args.raw_concurrency.split(",") if x]:
                    run_raw(cluster, admin, n, args.workdir, res, concurrency)
                if not args.raw_only:
                    run_operator(cluster, admin, audit, n, args, res)
            except Exception as exc:  # keep what was measured, say what stopped it
                res.error = f"{type(exc).__name__}: {exc}"
                print(f"  N={n} stopped: {res.error}", flush=True)
            results.append(res)
            save(results, args.out, args.plot)
            print(report(results), flush=True)
    finally:
        cluster.stop()
    print(f"\nreproduce: python benchmarks/scale.py --n {args.n} --rest-seconds {args.rest_seconds:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
