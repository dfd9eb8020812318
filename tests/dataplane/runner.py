"""The pod runner: plays the kubelet for the KWOK pods of one namespace with local processes.

Every ``poll`` seconds it lists the namespace's pods that carry a revision label. A new pod gets a worker
thread that plans it (``tests.dataplane.podspec``), runs its init containers one after the other (retried
with a back-off while one fails, as the kubelet does), then its server, and probes the server's real
readiness endpoint. The pod's status in the API server is patched to show exactly that
(``tests.dataplane.status``), so the Deployment, the operator and the data plane's traffic see the pod
Ready only once its model is loaded. A ready pod's metrics port becomes a Prometheus target labelled as
the operator's scrape configuration labels it. A pod that goes away has its processes stopped, its
target removed and its directories deleted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from modelserve.k8s.client import KubeClient
from modelserve.k8s.transport import ApiException
from modelserve.localcluster.processes import free_port, stop_pid

from tests.dataplane.podspec import (
    EnvSources,
    LocalImage,
    PodPlan,
    ProcessPlan,
    config_map_names,
    plan_pod,
    secret_names,
)
from tests.dataplane.scrape import scrape_labels
from tests.dataplane.status import ContainerState, Exit, LocalPod, differs, pod_status
from tests.simulator.split import REVISION_LABEL

log = logging.getLogger(__name__)
# The kubelet's restart back-off: from 10 s, doubled up to 5 min. Shorter would make a failing init
# container run most of the time, and a running one shows no failure.
BACKOFF_SECONDS = (10.0, 20.0, 40.0, 80.0, 160.0, 300.0)
PROBE_TIMEOUT = 2.0
# How long a deleted pod keeps answering requests already sent to it (longer than a traffic tick).
DRAIN_SECONDS = 2.0
LOG_TAIL_BYTES = 4096
BASE_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


class ScrapeTargets(Protocol):
    """What the runner needs of a Prometheus (``LocalPrometheus`` has it)."""

    def add_target(self, job: str, address: str, labels: Mapping[str, str] | None = None) -> None: ...
    def remove_job(self, job: str) -> None: ...
    def reload(self) -> None: ...


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Endpoint:
    """A ready local pod: where its inference HTTP port listens, and its group labels."""

    pod: str
    revision: str
    http_port: int


class _PodWorker:
    """One pod's processes, in a thread of its own."""

    def __init__(self, runner: PodRunner, pod: dict[str, Any]):
        self.runner = runner
        self.pod = pod
        meta = pod["metadata"]
        self.name: str = meta["name"]
        self.uid: str = meta.get("uid", self.name)
        self.workdir = runner.workdir / "pods" / f"{self.name}-{self.uid[:8]}"
        spec = pod.get("spec") or {}
        self.local = LocalPod(init={c["name"]: ContainerState() for c in spec.get("initContainers") or ()})
        self.plan: PodPlan | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name=f"pod-{self.name}", daemon=True)

    # -- state ------------------------------------------------------------------------------------------
    def _set_init(self, name: str, state: ContainerState) -> None:
        with self.lock:
            self.local = replace(self.local, init={**self.local.init, name: state})
        self.runner.sync_status(self)

    def _set_server(self, state: ContainerState) -> None:
        with self.lock:
            self.local = replace(self.local, server=state)
        self.runner.sync_status(self)

    def endpoint(self) -> Endpoint | None:
        if not (self.local.server.ready and self.plan and self.plan.http_port):
            return None
        labels = (self.pod.get("metadata") or {}).get("labels") or {}
        return Endpoint(self.name, labels.get(REVISION_LABEL, ""), self.plan.http_port)

    # -- lifecycle --------------------------------------------------------------------------------------
    def _run(self) -> None:
        attempts = 0
        while self.plan is None:
            try:
                self.plan = self.runner.plan(self.pod, self.workdir)
            except Exception as exc:  # a Secret not there yet, an API hiccup: retried, as the kubelet does
                log.error("pod %s cannot run locally: %s", self.name, exc)
                attempts += 1
                self._set_server(ContainerState(last=Exit(1, str(exc), now_rfc3339(), now_rfc3339())))
                if not self._backoff(attempts):
                    return
        for directory in self.plan.directories:
            directory.mkdir(parents=True, exist_ok=True)
        for process in self.plan.init:
            if not self._run_init(process):
                return
        self._serve(self.plan)

    def _backoff(self, restarts: int) -> bool:
        """Wait before restart number ``restarts``; False when the pod is being stopped."""
        delay = BACKOFF_SECONDS[min(restarts, len(BACKOFF_SECONDS)) - 1] if restarts else 0.0
        return not self.stop_event.wait(delay)

    def _run_init(self, process: ProcessPlan) -> bool:
        restarts = 0
        while not self.stop_event.is_set():
            started = now_rfc3339()
            self._set_init(
                process.container,
                ContainerState("running", started, self.local.init[process.container].last, restarts),
            )
            code = self._run_to_end(process)
            if self.stop_event.is_set():
                return False
            end = Exit(code, self._termination_message(process, code), started, now_rfc3339())
            if code == 0:
                self._set_init(process.container, ContainerState("done", started, end, restarts))
                return True
            log.info(
                "pod %s: init container %s failed (%d): %s", self.name, process.container, code, end.message
            )
            restarts += 1
            self._set_init(process.container, ContainerState("waiting", "", end, restarts))
            if not self._backoff(restarts):
                return False
        return False

    def _run_to_end(self, process: ProcessPlan) -> int:
        self.proc = self._spawn(process)
        while self.proc.poll() is None:
            if self.stop_event.wait(0.2):
                self._kill()
                return -1
        return int(self.proc.returncode)

    def _serve(self, plan: PodPlan) -> None:
        restarts = 0
        while not self.stop_event.is_set():
            started = now_rfc3339()
            last = self.local.server.last
            self._set_server(ContainerState("running", started, last, restarts))
            self.proc = self._spawn(plan.server)
            ready = False
            while self.proc.poll() is None and not self.stop_event.is_set():
                ok = self._probe(plan)
                if ok != ready:
                    ready = ok
                    self._set_server(ContainerState("running", started, last, restarts, ready=ok))
                    self.runner.targets_changed(self, ok)
                self.stop_event.wait(0.5)
            if self.stop_event.is_set():
                break
            code = int(self.proc.returncode)
            end = Exit(code, self._termination_message(plan.server, code), started, now_rfc3339())
            log.info("pod %s: server exited (%d): %s", self.name, code, end.message[-300:])
            if ready:
                self.runner.targets_changed(self, False)
            restarts += 1
            self._set_server(ContainerState("waiting", "", end, restarts))
            if not self._backoff(restarts):
                break

    def _probe(self, plan: PodPlan) -> bool:
        if plan.readiness is None:
            return True
        try:
            with urllib.request.urlopen(plan.readiness.url, timeout=PROBE_TIMEOUT) as resp:
                return 200 <= resp.status < 400
        except Exception:
            return False

    def _spawn(self, process: ProcessPlan) -> subprocess.Popen[bytes]:
        process.termination_log.unlink(missing_ok=True)
        log_path = self.runner.log_dir / f"{self.name}-{process.container}.log"
        with open(log_path, "ab") as out:
            out.write(f"--- {now_rfc3339()} {' '.join(process.argv)}\n".encode())
            out.flush()
            return subprocess.Popen(
                list(process.argv),
                env=dict(process.env),
                cwd=str(process.cwd),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def _termination_message(self, process: ProcessPlan, code: int) -> str:
        """The termination-message file, else (on failure: FallbackToLogsOnError) the log's tail."""
        with contextlib.suppress(OSError):
            text = process.termination_log.read_text(errors="replace").strip()
            if text:
                return text
        if code == 0:
            return ""
        log_path = self.runner.log_dir / f"{self.name}-{process.container}.log"
        try:
            data = log_path.read_bytes()[-LOG_TAIL_BYTES:]
        except OSError:
            return ""
        return data.decode(errors="replace").strip()

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_pid(self.proc.pid, timeout=5)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)

    def stop(self, drain: float = 0.0) -> None:
        """Stop the pod's processes (after ``drain`` seconds, for requests in flight) and remove its
        directories."""
        if drain:
            time.sleep(drain)
        self.stop_event.set()
        self._kill()
        self.thread.join(15)
        self._kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


class PodRunner:
    """Runs the pods of ``namespace`` that carry ``modelserve.io/revision`` as local processes.

    ``images`` maps image names (``image_name``) to local executables; ``prometheus`` (optional) gets a
    scrape target per ready pod; ``selector`` (a label selector) narrows the pods run (it must keep to
    pods with a revision label). ``start()`` / ``stop()``; ``endpoints()`` lists the ready pods.
    """

    def __init__(
        self,
        kube: KubeClient,
        namespace: str,
        images: Mapping[str, LocalImage],
        workdir: Path,
        *,
        prometheus: ScrapeTargets | None = None,
        poll: float = 0.25,
        allocate_port: Callable[[], int] = free_port,
        selector: str = REVISION_LABEL,
    ):
        self.kube = kube
        self.namespace = namespace
        self.images = dict(images)
        self.workdir = Path(workdir)
        self.log_dir = self.workdir / "logs"
        self.prometheus = prometheus
        self.poll = poll
        self.allocate_port = allocate_port
        self.selector = selector
        self.base_env = {k: os.environ[k] for k in BASE_ENV_KEYS if k in os.environ}
        self.workers: dict[str, _PodWorker] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._targets_dirty = False
        self._stopping: list[threading.Thread] = []

    def start(self) -> PodRunner:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._loop, name=f"pod-runner-{self.namespace}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)
        with self._lock:
            workers = list(self.workers.values())
            self.workers.clear()
        for worker in workers:
            self._remove_target(worker)
            worker.stop()
        for stopper in self._stopping:
            stopper.join(30)
        self._reload_targets()

    def __enter__(self) -> PodRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- observation --------------------------------------------------------------------------------------
    def endpoints(self) -> dict[str, Endpoint]:
        """Ready pods by name."""
        with self._lock:
            found = {name: w.endpoint() for name, w in self.workers.items()}
        return {name: e for name, e in found.items() if e is not None}

    def local_state(self, pod: str) -> LocalPod | None:
        with self._lock:
            worker = self.workers.get(pod)
        return worker.local if worker else None

    def log(self, pod: str, container: str) -> str:
        try:
            return (self.log_dir / f"{pod}-{container}.log").read_text(errors="replace")
        except OSError:
            return ""

    # -- the loop -----------------------------------------------------------------------------------------
    def plan(self, pod: dict[str, Any], workdir: Path) -> PodPlan:
        sources = EnvSources(
            secrets={n: s for n in secret_names(pod) if (s := self._read("secret", n))},
            config_maps={n: c for n in config_map_names(pod) if (c := self._read("config_map", n))},
        )
        return plan_pod(pod, self.images, sources, workdir, self.allocate_port, self.base_env)

    def _read(self, kind: str, name: str) -> dict[str, Any] | None:
        """A Secret (``secret``) or ConfigMap (``config_map``) body, ``None`` when missing. By path: the
        operator's own client resolves only the kinds it manages."""
        plural = {"secret": "secrets", "config_map": "configmaps"}[kind]
        try:
            found = self.kube.transport.request("GET", f"/api/v1/namespaces/{self.namespace}/{plural}/{name}")
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return dict(found or {})

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:  # the API server is busy: next time
                log.exception("pod runner tick failed")
            self._stop.wait(self.poll)

    def _tick(self) -> None:
        pods = self.kube.list("Pod", self.namespace, label_selector=self.selector)
        live = {
            p["metadata"]["name"]: p
            for p in pods
            if not p["metadata"].get("deletionTimestamp") and (p.get("spec") or {}).get("nodeName")
        }
        with self._lock:
            gone = [
                w
                for name, w in self.workers.items()
                if name not in live or w.uid != live[name]["metadata"].get("uid")
            ]
            for worker in gone:
                del self.workers[worker.name]
            new = [_PodWorker(self, p) for name, p in live.items() if name not in self.workers]
            for worker in new:
                self.workers[worker.name] = worker
        for worker in gone:
            # Out of the endpoints at once; the process gets the drain time to answer what is in flight
            # (the kubelet's grace period: endpoints go first, SIGTERM after).
            self._remove_target(worker)
            stopper = threading.Thread(target=worker.stop, args=(DRAIN_SECONDS,), daemon=True)
            stopper.start()
            self._stopping.append(stopper)
        for worker in new:
            worker.thread.start()
        with self._lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.pod = live.get(worker.name, worker.pod)
            self.sync_status(worker)
        self._reload_targets()

    # -- status and targets -------------------------------------------------------------------------------
    def sync_status(self, worker: _PodWorker) -> None:
        """Patch the pod's status when it shows something else than the local processes (KWOK marks pods
        Ready on its own; this undoes it until the real probe passes)."""
        desired = pod_status(worker.pod, worker.local, now_rfc3339())
        if not differs(worker.pod.get("status") or {}, desired):
            return
        try:
            worker.pod = self.kube.patch_status("Pod", self.namespace, worker.name, desired)
        except Exception as exc:  # deleted meanwhile, or a conflict: the next tick retries
            log.debug("patching pod %s status failed: %s", worker.name, exc)

    def _job(self, worker: _PodWorker) -> str:
        return f"pod-{self.namespace}-{worker.name}"

    def targets_changed(self, worker: _PodWorker, ready: bool) -> None:
        if self.prometheus is None or worker.plan is None or worker.plan.metrics is None:
            return
        if ready:
            labels = scrape_labels(worker.pod)
            self.prometheus.add_target(self._job(worker), f"127.0.0.1:{worker.plan.metrics.port}", labels)
            log.info("scraping pod %s at :%d with %s", worker.name, worker.plan.metrics.port, labels)
        with self._lock:
            self._targets_dirty = True

    def _remove_target(self, worker: _PodWorker) -> None:
        if self.prometheus is not None:
            self.prometheus.remove_job(self._job(worker))
            with self._lock:
                self._targets_dirty = True

    def _reload_targets(self) -> None:
        with self._lock:
            dirty, self._targets_dirty = self._targets_dirty, False
        if dirty and self.prometheus is not None:
            try:
                self.prometheus.reload()
            except OSError as exc:
                log.warning("Prometheus reload failed: %s", exc)
                with self._lock:
                    self._targets_dirty = True


def wait_ready(
    runner: PodRunner, count: int, timeout: float = 120.0, revision: str | None = None
) -> dict[str, Endpoint]:
    """Block until ``count`` pods (of ``revision``, if given) are ready locally; their endpoints."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = {n: e for n, e in runner.endpoints().items() if revision is None or e.revision == revision}
        if len(ready) >= count:
            return ready
        time.sleep(0.5)
    raise TimeoutError(
        f"timed out after {timeout}s waiting for {count} ready local pod(s) in {runner.namespace}"
    )
