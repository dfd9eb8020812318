"""Helpers for the e2e suite: the operator as a process, waiting on conditions, audit-log reading."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from modelserve.cli.yaml_output import dump_all
from modelserve.localcluster.processes import free_port, stop_pid

REPO = Path(__file__).resolve().parents[2]


def wait_until(
    predicate: Callable[[], Any], timeout: float = 60, interval: float = 0.5, what: str = "condition"
) -> Any:
    """Poll until `predicate()` returns something truthy; return it. Fail with `what` on timeout."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # not there yet
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what}" + (f": {last_exc}" if last_exc else "")
    )


class OperatorProcess:
    """`modelserve run` as a local process, with its log in the test's work directory."""

    def __init__(
        self,
        kubeconfig: str | Path,
        log_dir: Path,
        *,
        namespaces: Sequence[str] | None = None,
        prometheus_url: str | None = None,
        extra_args: Sequence[str] = (),
        env: dict | None = None,
        name: str = "operator",
    ):
        self.metrics_port = free_port()
        self.health_port = free_port()
        self.log_path = log_dir / f"{name}-{self.metrics_port}.log"
        argv = [
            sys.executable,
            "-m",
            "modelserve",
            "run",
            "--kubeconfig",
            str(kubeconfig),
            "--metrics-port",
            str(self.metrics_port),
            "--health-port",
            str(self.health_port),
            "--resync-seconds",
            "15",
            *extra_args,
        ]
        for ns in namespaces or ():
            argv += ["--namespace", ns]
        if prometheus_url:
            argv += ["--prometheus-url", prometheus_url]
        self._argv = argv
        self._env = {**os.environ, **(env or {})}
        self._spawn()

    def _spawn(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            self._argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=self._env,
            cwd=str(REPO),
        )

    def pause(self) -> None:
        """Stop acting (a test runs an operator of its own). `resume()` starts a fresh process:
        a process frozen with SIGSTOP comes back with stale watch streams, a fresh one re-lists."""
        self.stop()

    def resume(self, timeout: float = 60) -> None:
        self._spawn()

        def healthy() -> bool:
            import urllib.request

            if not self.alive():
                raise AssertionError("operator exited:\n" + self.log()[-3000:])
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=2) as resp:
                return resp.status == 200

        wait_until(healthy, timeout, what="operator liveness after resume")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: an operator that dies mid-work, without any cleanup."""
        stop_pid(self.proc.pid, timeout=0.1)
        self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        if self.alive():
            stop_pid(self.proc.pid, timeout=10)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        if not self._log.closed:
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Kube:
    """kubectl with JSON in and out, for tests."""

    def __init__(self, cluster: Any):
        self.cluster = cluster

    def run(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl(*args, input=input, check=check)

    def apply(
        self, docs: dict | list[dict] | str, namespace: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        # Quoted as `modelserve render` quotes: PyYAML leaves 1e5 plain, and kubectl reads it as a number.
        text = docs if isinstance(docs, str) else dump_all(docs if isinstance(docs, list) else [docs])
        args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
        return self.run(*args, input=text, check=check)

    def get(
        self, kind: str, name: str | None = None, namespace: str | None = None, selector: str | None = None
    ) -> Any:
        args = ["get", kind] + ([name] if name else []) + ["-o", "json"]
        if namespace:
            args += ["-n", namespace]
        if selector:
            args += ["-l", selector]
        out = self.run(*args, check=False)
        if out.returncode != 0:
            if "NotFound" in out.stderr or "not found" in out.stderr:
                return None
            raise AssertionError(out.stderr)
        return json.loads(out.stdout)

    def items(self, kind: str, namespace: str | None = None, selector: str | None = None) -> list[dict]:
        return (self.get(kind, namespace=namespace, selector=selector) or {}).get("items", [])


def condition(obj: dict | None, type_: str) -> dict | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return cond
    return None


def operator_writes(
    audit_log: Path,
    user: str,
    since: float,
    until: float | None = None,
    exclude_resources: Sequence[str] = ("clusterkopfpeerings", "kopfpeerings"),
) -> list[dict]:
    """Write requests (create/update/patch/delete) that `user` made between `since` and `until`
    (epoch seconds), read from the API server's audit log."""
    from datetime import datetime

    writes = []
    if not audit_log.exists():
        return writes
    for line in audit_log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if entry.get("user", {}).get("username") != user:
            continue
        ts = entry.get("requestReceivedTimestamp", "").replace("Z", "+00:00")
        when = datetime.fromisoformat(ts).timestamp()
        if when < since or (until is not None and when > until):
            continue
        if (entry.get("objectRef") or {}).get("resource") in exclude_resources:
            continue
        writes.append(entry)
    return writes


def healthy(op: OperatorProcess) -> bool:
    """The operator process is alive and its liveness endpoint answers 200 (raises if it exited)."""
    import urllib.request

    if not op.alive():
        raise AssertionError("operator exited:\n" + op.log()[-3000:])
    with urllib.request.urlopen(f"http://127.0.0.1:{op.health_port}/healthz", timeout=2) as resp:
        return resp.status == 200
