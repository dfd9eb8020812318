"""Pure: the Pod status a kubelet would report for the local processes of one pod.

KWOK marks every pod Running and Ready the moment it is scheduled. The runner replaces that with what its
processes show: an init container that failed (exit code, termination message, ``CrashLoopBackOff`` while
it waits to retry), a server that is started but not ready until its real readiness probe passes. The
phase stays ``Running``: KWOK's pod-ready stage re-readies any ``Pending`` pod, so the harness reports
init failures on a ``Running`` pod with ``Initialized=False`` (docs/dataplane.md says why).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.dataplane.podspec import POD_IP

WAITING_INIT = "PodInitializing"
CRASH_LOOP = "CrashLoopBackOff"


@dataclass(frozen=True)
class Exit:
    """How a container's last run ended."""

    exit_code: int
    message: str
    started_at: str
    finished_at: str

    @property
    def reason(self) -> str:
        return "Completed" if self.exit_code == 0 else "Error"

    def terminated(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
        }
        if self.message:
            out["message"] = self.message
        return out


@dataclass(frozen=True)
class ContainerState:
    """One container's local state: ``waiting`` (not started, or backing off after ``last``), ``running``
    (since ``started_at``), or ``done`` (ended with ``last``, not to be restarted: a completed init
    container)."""

    state: str = "waiting"
    started_at: str = ""
    last: Exit | None = None
    restarts: int = 0
    ready: bool = False


@dataclass(frozen=True)
class LocalPod:
    """The local state of one pod: its init containers' and its server's (by container name)."""

    init: Mapping[str, ContainerState] = field(default_factory=dict)
    server: ContainerState = field(default_factory=ContainerState)

    @property
    def initialized(self) -> bool:
        return all(c.state == "done" for c in self.init.values())


def _container_status(name: str, image: str, state: ContainerState, init_pending: bool) -> dict[str, Any]:
    status: dict[str, Any] = {
        "name": name,
        "image": image,
        "ready": state.ready,
        "restartCount": state.restarts,
    }
    if state.state == "running":
        status["state"] = {"running": {"startedAt": state.started_at}}
        status["started"] = True
    elif state.state == "done" and state.last is not None:
        status["state"] = {"terminated": state.last.terminated()}
        status["started"] = False
    else:
        failed = state.last is not None and state.last.exit_code != 0
        reason = CRASH_LOOP if failed else (WAITING_INIT if init_pending else "ContainerCreating")
        status["state"] = {"waiting": {"reason": reason}}
        status["started"] = False
    if state.last is not None and state.state != "done":
        status["lastState"] = {"terminated": state.last.terminated()}
    return status


def _condition(type_: str, ok: bool, since: str, reason: str | None = None) -> dict[str, Any]:
    cond = {"type": type_, "status": "True" if ok else "False", "lastTransitionTime": since}
    if reason and not ok:
        cond["reason"] = reason
    return cond


def pod_status(pod: Mapping[str, Any], local: LocalPod, now: str) -> dict[str, Any]:
    """The status (for a merge patch of ``pods/status``) reporting ``local`` for ``pod``."""
    spec = pod.get("spec") or {}
    images = {
        c["name"]: c.get("image", "") for c in [*(spec.get("initContainers") or ()), *spec["containers"]]
    }
    server_name = spec["containers"][0]["name"]
    initialized = local.initialized
    ready = initialized and local.server.ready
    previous = {c.get("type"): c for c in (pod.get("status") or {}).get("conditions") or ()}

    def since(type_: str, ok: bool) -> str:
        old = previous.get(type_) or {}
        return (
            old.get("lastTransitionTime") or now if old.get("status") == ("True" if ok else "False") else now
        )

    conditions = [
        _condition("PodScheduled", True, since("PodScheduled", True)),
        _condition("Initialized", initialized, since("Initialized", initialized), "ContainersNotInitialized"),
        _condition("ContainersReady", ready, since("ContainersReady", ready), "ContainersNotReady"),
        _condition("Ready", ready, since("Ready", ready), "ContainersNotReady"),
    ]
    init_statuses = [
        _container_status(name, images.get(name, ""), state, False) for name, state in local.init.items()
    ]
    server = _container_status(server_name, images.get(server_name, ""), local.server, not initialized)
    return {
        "phase": "Running",
        "conditions": conditions,
        "initContainerStatuses": init_statuses,
        "containerStatuses": [server],
        "podIP": POD_IP,
        "podIPs": [{"ip": POD_IP}],
        "hostIP": POD_IP,
    }


def differs(current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Whether the pod's status shows something else than ``desired`` (timestamps of equal states aside)."""

    def essence(status: Mapping[str, Any]) -> Any:
        conds = sorted((c.get("type"), c.get("status")) for c in status.get("conditions") or ())
        containers = [
            (
                c.get("name"),
                c.get("ready"),
                c.get("restartCount"),
                sorted((c.get("state") or {}).keys()),
                (c.get("lastState") or {}).get("terminated", {}).get("message"),
            )
            for key in ("initContainerStatuses", "containerStatuses")
            for c in status.get(key) or ()
        ]
        return status.get("phase"), conds, containers

    return essence(current) != essence(desired)
