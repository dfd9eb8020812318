"""The model-server pod of a catalogue runtime: its container, the storage initializer, volumes, probes.

A catalogue runtime (mlserver, triton, vllm, ...) gets:
- an init container ``storage-init`` (the operator's own image) that downloads spec.model.uri into an
  emptyDir, which the server mounts read-only at the runtime's model path; a ``pvc://claim/path`` URI
  mounts the claim read-only instead, with no init container;
- startup, readiness and liveness probes on the runtime's health paths (a probe in spec.runtime wins);
  readiness is the model-ready path, so a revision's pods take traffic only once their model is loaded;
- a writable /tmp (the root filesystem is read-only) and, for runtimes that need it, shared memory.
The `custom` runtime keeps the pod it always had (builders/workloads.py).
"""

from __future__ import annotations

import copy
import math

from modelserve.api.modeldeployment import ModelDeploymentSpec
from modelserve.runtimes import RuntimeEntry

STORAGE_INIT_CONTAINER = "storage-init"
SERVER_CONTAINER = "model-server"
MODEL_VOLUME = "model"
TMP_VOLUME = "tmp"
SHM_VOLUME = "dshm"
PROBE_PERIOD_SECONDS = 10
PVC_SCHEME = "pvc://"


def startup_failure_threshold(startup_seconds: int, period_seconds: int = PROBE_PERIOD_SECONDS) -> int:
    """Probes a startup probe may fail before the kubelet restarts the container: enough to cover
    spec.runtime.startupSeconds (at least 1)."""
    return max(1, math.ceil(startup_seconds / period_seconds))


def parse_pvc_uri(uri: str) -> tuple[str, str]:
    """``pvc://claim/path/in/claim`` -> (claim, path); the path may be empty (the claim's root)."""
    rest = uri[len(PVC_SCHEME) :]
    claim, _, sub = rest.partition("/")
    return claim, sub.strip("/")


def _env_list(pairs: tuple[tuple[str, str], ...], entry: RuntimeEntry, spec: ModelDeploymentSpec) -> list:
    return [{"name": k, "value": entry.substitute(v, spec.model.name)} for k, v in pairs]


def model_variables(spec: ModelDeploymentSpec) -> list[dict]:
    """MODEL_NAME, MODEL_VERSION, MODEL_URI, MODEL_FORMAT: every runtime's server gets them."""
    return [
        {"name": "MODEL_NAME", "value": spec.model.name},
        {"name": "MODEL_VERSION", "value": spec.model.version},
        {"name": "MODEL_URI", "value": spec.model.uri},
        {"name": "MODEL_FORMAT", "value": spec.model.format},
    ]


def server_env(entry: RuntimeEntry, spec: ModelDeploymentSpec) -> list[dict]:
    """MODEL_*, the runtime's env, then its per-format env, then the user's spec.runtime.env (a name set
    by the user replaces the runtime's)."""
    base = (
        model_variables(spec)
        + _env_list(entry.env, entry, spec)
        + _env_list(entry.format_env.get(spec.model.format, ()), entry, spec)
    )
    own = {e.get("name") for e in spec.runtime.env}
    merged: dict[str, dict] = {}
    for e in base:
        if e["name"] not in own:
            merged[e["name"]] = e
    return list(merged.values()) + [dict(e) for e in spec.runtime.env]


def _http_probe(path: str, port: int, **extra: int) -> dict:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": PROBE_PERIOD_SECONDS, **extra}


def server_probes(entry: RuntimeEntry, spec: ModelDeploymentSpec) -> dict[str, dict]:
    """startupProbe / readinessProbe / livenessProbe from the runtime's health paths; a probe written in
    spec.runtime replaces the runtime's."""
    health, port = entry.health, entry.ports.http
    probes: dict[str, dict] = {}
    if health.startup:
        threshold = startup_failure_threshold(spec.runtime.startup_seconds)
        path = entry.substitute(health.startup, spec.model.name)
        probes["startupProbe"] = _http_probe(path, port, failureThreshold=threshold, timeoutSeconds=5)
    if health.readiness:
        path = entry.substitute(health.readiness, spec.model.name)
        probes["readinessProbe"] = _http_probe(path, port, failureThreshold=3, timeoutSeconds=5)
    if health.liveness:
        path = entry.substitute(health.liveness, spec.model.name)
        probes["livenessProbe"] = _http_probe(path, port, failureThreshold=6, timeoutSeconds=5)
    if spec.runtime.readiness_probe:
        probes["readinessProbe"] = spec.runtime.readiness_probe
    if spec.runtime.liveness_probe:
        probes["livenessProbe"] = spec.runtime.liveness_probe
    return probes


def _resources(entry: RuntimeEntry, spec: ModelDeploymentSpec) -> dict:
    out: dict = {}
    for part in ("requests", "limits"):
        merged = {**(entry.resources.get(part) or {}), **(spec.runtime.resources.get(part) or {})}
        if merged:
            out[part] = merged
    return out


def storage_init_container(
    entry: RuntimeEntry, spec: ModelDeploymentSpec, image: str, security: dict
) -> dict | None:
    """The init container that downloads the model, or None for a ``pvc://`` URI (mounted directly)."""
    if spec.model.uri.startswith(PVC_SCHEME):
        return None
    command = ["modelserve", "storage-init", "--uri", spec.model.uri, "--dest", entry.model_mount_path]
    if spec.model.sha256:
        command += ["--sha256", spec.model.sha256]
    container: dict = {
        "name": STORAGE_INIT_CONTAINER,
        "image": image,
        "command": command,
        # The program writes its one-line reason there; the kubelet falls back to the log's tail.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {"name": MODEL_VOLUME, "mountPath": entry.model_mount_path},
            {"name": TMP_VOLUME, "mountPath": "/tmp"},
        ],
        "securityContext": copy.deepcopy(security),
    }
    storage = spec.model.storage
    if storage.endpoint:
        container["env"] = [{"name": "AWS_ENDPOINT_URL", "value": storage.endpoint}]
    if storage.secret_name:
        container["envFrom"] = [{"secretRef": {"name": storage.secret_name}}]
    return container


def model_volume(entry: RuntimeEntry, spec: ModelDeploymentSpec) -> tuple[dict, dict]:
    """(the volume holding the model, the server's read-only mount of it)."""
    mount: dict = {"name": MODEL_VOLUME, "mountPath": entry.model_mount_path, "readOnly": True}
    if spec.model.uri.startswith(PVC_SCHEME):
        claim, sub = parse_pvc_uri(spec.model.uri)
        if sub:
            mount["subPath"] = sub
        volume = {"name": MODEL_VOLUME, "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}
        return volume, mount
    return {"name": MODEL_VOLUME, "emptyDir": {"sizeLimit": spec.model.storage.size_limit}}, mount


def runtime_pod(
    entry: RuntimeEntry, spec: ModelDeploymentSpec, storage_init_image: str, security: dict
) -> tuple[dict, list[dict], list[dict]]:
    """(server container, init containers, volumes) of a catalogue runtime's pod."""
    name = spec.model.name
    ports = [{"name": "http", "containerPort": entry.ports.http, "protocol": "TCP"}]
    if entry.ports.grpc:
        ports.append({"name": "grpc", "containerPort": entry.ports.grpc, "protocol": "TCP"})
    if entry.ports.metrics and entry.ports.metrics not in (entry.ports.http, entry.ports.grpc):
        ports.append({"name": "metrics", "containerPort": entry.ports.metrics, "protocol": "TCP"})
    volume, mount = model_volume(entry, spec)
    container: dict = {
        "name": SERVER_CONTAINER,
        "image": spec.runtime.image or entry.image,
        "ports": ports,
        "env": server_env(entry, spec),
        "securityContext": copy.deepcopy(security),
        "volumeMounts": [mount, {"name": TMP_VOLUME, "mountPath": "/tmp"}],
    }
    command = list(spec.runtime.command) or [entry.substitute(x, name) for x in entry.command]
    args = list(spec.runtime.args) or [entry.substitute(x, name) for x in entry.args]
    if command:
        container["command"] = command
    if args:
        container["args"] = args
    resources = _resources(entry, spec)
    if resources:
        container["resources"] = resources
    container.update(server_probes(entry, spec))
    volumes = [volume, {"name": TMP_VOLUME, "emptyDir": {}}]
    if entry.shared_memory:
        container["volumeMounts"].append({"name": SHM_VOLUME, "mountPath": "/dev/shm"})
        volumes.append({"name": SHM_VOLUME, "emptyDir": {"medium": "Memory"}})
    init = storage_init_container(entry, spec, storage_init_image, security)
    return container, [init] if init else [], volumes
