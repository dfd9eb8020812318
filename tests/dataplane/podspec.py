"""Pure translation of a rendered Pod into local processes: the kubelet's job, played on loopback.

A KWOK pod has no containers. The data plane runs what the API server holds for it instead: each init
container, then the server container, with the image's command/args/env exactly as rendered, except for
what only a node has:

- images -> local executables (``LocalImage``: a bin directory, the image's default entrypoint);
- volume mount paths -> per-pod directories (every env value and argument naming a mount path is
  rewritten);
- container ports (and the ports an image opens by default) -> free loopback ports, rewritten where env
  values (``*PORT``) or arguments name them;
- ``$(VAR)`` references, ``valueFrom`` and ``envFrom`` resolved as the kubelet does, Secrets and
  ConfigMaps given as data.

No I/O here: the runner (``tests.dataplane.runner``) fetches the Pod, Secrets and ConfigMaps and starts
the processes.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The env variable C's storage initializer writes its termination message to (instead of
#: /dev/termination-log, which a local process cannot write).
TERMINATION_LOG_ENV = "MODELSERVE_TERMINATION_LOG"
PROMETHEUS_PORT_ANNOTATION = "prometheus.io/port"
PROMETHEUS_PATH_ANNOTATION = "prometheus.io/path"
METRICS_PORT_NAMES = ("metrics", "http-metrics")
POD_IP = "127.0.0.1"


class PodSpecError(ValueError):
    """A rendered pod the data plane cannot run locally (the message names the field)."""


@dataclass(frozen=True)
class LocalImage:
    """How a container image runs on this machine: its executables live in ``bin_dir``; ``entrypoint`` is
    what the image runs when the container names no command; ``port_env`` maps the env variables the
    image reads its ports from to the port it opens when they are unset (so every port is remapped,
    even one the pod spec never declares)."""

    bin_dir: Path
    entrypoint: tuple[str, ...] = ()
    port_env: Mapping[str, int] = field(default_factory=dict)


def image_name(image: str) -> str:
    """The repository's last path element, without registry, tag or digest:
    ``docker.io/seldonio/mlserver:1.7.1`` -> ``mlserver``."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def lookup_image(images: Mapping[str, LocalImage], image: str, field_path: str) -> LocalImage:
    local = images.get(image_name(image))
    if local is None:
        raise PodSpecError(
            f"{field_path}: no local executable for image {image!r} (known: {', '.join(sorted(images))})"
        )
    return local


# --- env -------------------------------------------------------------------------------------------

_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: defined names are replaced, undefined ones left as written,
    ``$$`` is a literal ``$``."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _REF.sub(sub, value)


@dataclass(frozen=True)
class EnvSources:
    """Objects ``valueFrom`` / ``envFrom`` read: Secret and ConfigMap bodies by name (of the pod's
    namespace)."""

    secrets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    config_maps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def secret_data(self, name: str, field_path: str, optional: bool = False) -> dict[str, str]:
        body = self.secrets.get(name)
        if body is None:
            if optional:
                return {}
            raise PodSpecError(f"{field_path}: Secret {name!r} not found")
        data = {k: base64.b64decode(v).decode() for k, v in (body.get("data") or {}).items()}
        data.update(body.get("stringData") or {})
        return data

    def config_map_data(self, name: str, field_path: str, optional: bool = False) -> dict[str, str]:
        body = self.config_maps.get(name)
        if body is None:
            if optional:
                return {}
            raise PodSpecError(f"{field_path}: ConfigMap {name!r} not found")
        return dict(body.get("data") or {})


def secret_names(pod: Mapping[str, Any]) -> set[str]:
    """Every Secret the pod's containers read env from."""
    return _referenced(pod, "secretRef", "secretKeyRef")


def config_map_names(pod: Mapping[str, Any]) -> set[str]:
    return _referenced(pod, "configMapRef", "configMapKeyRef")


def _referenced(pod: Mapping[str, Any], from_key: str, key_ref: str) -> set[str]:
    spec = pod.get("spec") or {}
    names = set()
    for container in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        for source in container.get("envFrom") or ():
            if (source.get(from_key) or {}).get("name"):
                names.add(source[from_key]["name"])
        for var in container.get("env") or ():
            ref = (var.get("valueFrom") or {}).get(key_ref) or {}
            if ref.get("name"):
                names.add(ref["name"])
    return names


def _field_ref(pod: Mapping[str, Any], path: str, field_path: str) -> str:
    meta = pod.get("metadata") or {}
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": (pod.get("spec") or {}).get("nodeName"),
        "spec.serviceAccountName": (pod.get("spec") or {}).get("serviceAccountName"),
        "status.podIP": POD_IP,
        "status.hostIP": POD_IP,
    }
    if path in simple:
        return str(simple[path] or "")
    found = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if found:
        return str((meta.get(found.group(1)) or {}).get(found.group(2), ""))
    raise PodSpecError(f"{field_path}.valueFrom.fieldRef.fieldPath: {path!r} is not supported locally")


def container_env(
    pod: Mapping[str, Any], container: Mapping[str, Any], sources: EnvSources, field_path: str
) -> dict[str, str]:
    """The container's environment as the kubelet builds it: ``envFrom`` first (in order), then ``env``
    (later wins), each value ``$(VAR)``-expanded against what came before."""
    env: dict[str, str] = {}
    for i, source in enumerate(container.get("envFrom") or ()):
        where = f"{field_path}.envFrom[{i}]"
        prefix = source.get("prefix") or ""
        if "secretRef" in source:
            ref = source["secretRef"]
            data = sources.secret_data(ref["name"], f"{where}.secretRef", bool(ref.get("optional")))
        elif "configMapRef" in source:
            ref = source["configMapRef"]
            data = sources.config_map_data(ref["name"], f"{where}.configMapRef", bool(ref.get("optional")))
        else:
            continue
        env.update({prefix + k: v for k, v in data.items()})
    for i, var in enumerate(container.get("env") or ()):
        where = f"{field_path}.env[{i}]"
        name = var["name"]
        if "valueFrom" not in var:
            env[name] = expand(str(var.get("value", "")), env)
            continue
        value_from = var["valueFrom"]
        if "secretKeyRef" in value_from:
            ref = value_from["secretKeyRef"]
            data = sources.secret_data(
                ref["name"], f"{where}.valueFrom.secretKeyRef", bool(ref.get("optional"))
            )
        elif "configMapKeyRef" in value_from:
            ref = value_from["configMapKeyRef"]
            data = sources.config_map_data(
                ref["name"], f"{where}.valueFrom.configMapKeyRef", bool(ref.get("optional"))
            )
        elif "fieldRef" in value_from:
            env[name] = _field_ref(pod, value_from["fieldRef"]["fieldPath"], where)
            continue
        else:
            raise PodSpecError(
                f"{where}.valueFrom: only secretKeyRef, configMapKeyRef and fieldRef run locally"
            )
        if ref["key"] in data:
            env[name] = data[ref["key"]]
        elif not ref.get("optional"):
            raise PodSpecError(f"{where}.valueFrom: key {ref['key']!r} not in {ref['name']!r}")
    return env


# --- paths and ports ----------------------------------------------------------------------------------


def rewrite_paths(value: str, mounts: Mapping[str, Path]) -> str:
    """Replace every mount path in ``value`` (where it is a whole path prefix: at the start or after a
    separator such as ``=``, ``:`` or a space, and followed by ``/``, the end, or a character that cannot
    continue a path element) by its local directory. One pass, longer mount paths first: ``/mnt/models/x``
    wins over ``/mnt/models``, and a local directory put in is never rewritten again (it may well lie
    under a mount path such as ``/tmp``)."""
    if not mounts:
        return value
    by_path = {mount.rstrip("/") or "/": str(local) for mount, local in mounts.items()}
    alternation = "|".join(re.escape(m) for m in sorted(by_path, key=len, reverse=True))
    pattern = re.compile(r"(?:^|(?<=[=\s:,;\"'(]))(" + alternation + r")(?=/|$|[^\w.-])")
    return pattern.sub(lambda m: by_path[m.group(1)], value)


def rewrite_port(value: str, ports: Mapping[int, int]) -> str:
    """An argument naming a remapped port (``8080``, ``--port=8080``, ``:8080``) names the local one."""
    for old, new in ports.items():
        found = re.fullmatch(rf"(.*[=:])?{old}", value)
        if found:
            return f"{found.group(1) or ''}{new}"
    return value


def container_ports(container: Mapping[str, Any], image: LocalImage) -> set[int]:
    declared = {int(p["containerPort"]) for p in container.get("ports") or () if p.get("containerPort")}
    return declared | set(image.port_env.values())


def named_port(containers: Sequence[Mapping[str, Any]], port: int | str, field_path: str) -> int:
    """A probe's or annotation's port: a number, or the name of a container port."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for container in containers:
        for p in container.get("ports") or ():
            if p.get("name") == port:
                return int(p["containerPort"])
    raise PodSpecError(f"{field_path}: no container port named {port!r}")


# --- the plan -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessPlan:
    """One container as a local process."""

    container: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: Path
    termination_log: Path


@dataclass(frozen=True)
class HttpEndpoint:
    """An HTTP path on a local port (a readiness probe, the metrics)."""

    port: int
    path: str

    @property
    def url(self) -> str:
        return f"http://{POD_IP}:{self.port}{self.path}"


@dataclass(frozen=True)
class PodPlan:
    """Everything needed to run one pod locally. ``ports`` maps the pod's container ports (and the images'
    default ports) to local ones; ``readiness`` is the server's readiness probe (``None``: ready once
    started), ``metrics`` where Prometheus scrapes it (``None``: nothing to scrape)."""

    init: tuple[ProcessPlan, ...]
    server: ProcessPlan
    ports: Mapping[int, int]
    volumes: Mapping[str, Path]
    readiness: HttpEndpoint | None
    metrics: HttpEndpoint | None
    http_port: int | None

    @property
    def directories(self) -> list[Path]:
        return [*self.volumes.values(), *(p.cwd for p in (*self.init, self.server))]


def _volume_dirs(pod: Mapping[str, Any], workdir: Path) -> dict[str, Path]:
    return {v["name"]: workdir / "volumes" / v["name"] for v in (pod.get("spec") or {}).get("volumes") or ()}


def plan_process(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    field_path: str,
    *,
    images: Mapping[str, LocalImage],
    sources: EnvSources,
    volumes: Mapping[str, Path],
    ports: Mapping[int, int],
    workdir: Path,
    base_env: Mapping[str, str],
) -> ProcessPlan:
    """One container's argv/env/cwd with images, mounts and ports mapped to this machine."""
    name = container["name"]
    image = lookup_image(images, container.get("image", ""), f"{field_path}.image")
    mounts: dict[str, Path] = {}
    for i, mount in enumerate(container.get("volumeMounts") or ()):
        if mount["name"] not in volumes:
            raise PodSpecError(f"{field_path}.volumeMounts[{i}].name: no volume {mount['name']!r}")
        local = volumes[mount["name"]]
        mounts[mount["mountPath"]] = local / mount["subPath"] if mount.get("subPath") else local
    env = container_env(pod, container, sources, field_path)
    for var, default_port in image.port_env.items():
        env.setdefault(var, str(default_port))
    env = {
        k: str(ports.get(int(v), v))
        if k.upper().endswith("PORT") and v.isdigit()
        else rewrite_paths(v, mounts)
        for k, v in env.items()
    }
    command = list(container.get("command") or ())
    args = list(container.get("args") or ())
    if not command:
        command, args = (list(image.entrypoint), args) if args else (list(image.entrypoint), [])
        if not command:
            raise PodSpecError(f"{field_path}.command: image {container.get('image')!r} has no entrypoint")
    argv = [rewrite_port(rewrite_paths(expand(a, env), mounts), ports) for a in [*command, *args]]
    executable = image.bin_dir / Path(argv[0]).name
    argv[0] = str(executable)
    cwd = workdir / "containers" / name
    termination_log = workdir / "containers" / f"{name}.termination-log"
    full_env = {
        **base_env,
        "PATH": f"{image.bin_dir}:{base_env.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(cwd),
        "TMPDIR": str(cwd),
        "HOSTNAME": str((pod.get("metadata") or {}).get("name", "")),
        TERMINATION_LOG_ENV: str(termination_log),
        **env,
    }
    return ProcessPlan(name, tuple(argv), full_env, cwd, termination_log)


def plan_pod(
    pod: Mapping[str, Any],
    images: Mapping[str, LocalImage],
    sources: EnvSources,
    workdir: Path,
    allocate_port: Callable[[], int],
    base_env: Mapping[str, str] | None = None,
) -> PodPlan:
    """The local processes of ``pod`` (its first container is the server; sidecars are not run)."""
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or ()
    if not containers:
        raise PodSpecError("spec.containers: the pod has no container")
    server_container = containers[0]
    server_image = lookup_image(images, server_container.get("image", ""), "spec.containers[0].image")
    ports = {port: allocate_port() for port in sorted(container_ports(server_container, server_image))}
    volumes = _volume_dirs(pod, workdir)
    common = {
        "images": images,
        "sources": sources,
        "volumes": volumes,
        "ports": ports,
        "workdir": workdir,
        "base_env": base_env or {},
    }
    init = tuple(
        plan_process(pod, c, f"spec.initContainers[{i}]", **common)  # type: ignore[arg-type]
        for i, c in enumerate(spec.get("initContainers") or ())
    )
    server = plan_process(pod, server_container, "spec.containers[0]", **common)  # type: ignore[arg-type]
    return PodPlan(
        init=init,
        server=server,
        ports=ports,
        volumes=volumes,
        readiness=_readiness(server_container, ports),
        metrics=_metrics(pod, containers, ports),
        http_port=_http_port(server_container, ports),
    )


def _readiness(container: Mapping[str, Any], ports: Mapping[int, int]) -> HttpEndpoint | None:
    probe = container.get("readinessProbe") or {}
    get = probe.get("httpGet")
    if not get:
        return None
    port = named_port([container], get["port"], "spec.containers[0].readinessProbe.httpGet.port")
    if port not in ports:
        raise PodSpecError(f"spec.containers[0].readinessProbe.httpGet.port: {port} is not a container port")
    return HttpEndpoint(ports[port], get.get("path") or "/")


def _metrics(
    pod: Mapping[str, Any], containers: Sequence[Mapping[str, Any]], ports: Mapping[int, int]
) -> HttpEndpoint | None:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    path = annotations.get(PROMETHEUS_PATH_ANNOTATION) or "/metrics"
    if annotations.get(PROMETHEUS_PORT_ANNOTATION):
        where = f"metadata.annotations[{PROMETHEUS_PORT_ANNOTATION}]"
        port = named_port(containers, annotations[PROMETHEUS_PORT_ANNOTATION], where)
    else:
        found = [
            int(p["containerPort"])
            for p in containers[0].get("ports") or ()
            if p.get("name") in METRICS_PORT_NAMES
        ]
        if not found:
            return None
        port = found[0]
    return HttpEndpoint(ports[port], path) if port in ports else None


def _http_port(container: Mapping[str, Any], ports: Mapping[int, int]) -> int | None:
    """The local port of the server's HTTP (inference) port: the one named ``http``, else the first."""
    declared = container.get("ports") or ()
    for p in declared:
        if p.get("name") == "http":
            return ports[int(p["containerPort"])]
    return ports[int(declared[0]["containerPort"])] if declared else None
