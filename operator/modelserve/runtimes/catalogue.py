"""The runtime catalogue: which model server serves which model format, as data.

An entry says how to run one model server (image, command, args, env, ports), where it expects the model
(`modelMountPath`), how to probe it (health paths) and which of its own Prometheus metrics answer the
gates, SLOs and forecasts (`metrics`). The built-in entries live in `builtin.yaml`; a cluster overrides
fields of them, or adds entries, in a ConfigMap (`load_catalogue`); a ModelDeployment picks one by
`spec.runtime.name`, else by `spec.model.format`.

Pure: parsing and merging only. Errors name the entry and field (`runtimes.<name>.<field>`).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

CUSTOM = "custom"
#: The ConfigMap key holding the catalogue YAML (same shape as builtin.yaml).
CONFIGMAP_KEY = "runtimes.yaml"
#: The operator's own image, run as the storage initializer, when MODELSERVE_IMAGE is not set.
DEFAULT_STORAGE_INIT_IMAGE = "ghcr.io/modelserve/modelserve:0.1.0"

_PLACEHOLDERS = ("modelName", "modelDir", "httpPort", "grpcPort", "metricsPort")


class CatalogueError(ValueError):
    """An invalid catalogue entry; the message names `runtimes.<name>.<field>`."""


@dataclass(frozen=True)
class Series:
    """One or more counter series (summed), narrowed by extra label matchers."""

    metrics: tuple[str, ...]
    matchers: str = ""

    def promql(self, selector: str) -> str:
        """``metric{selector,matchers}``; several metrics as one ``__name__`` regex (summed by the caller)."""
        matchers = ",".join(x for x in (selector, self.matchers) if x)
        if len(self.metrics) == 1:
            return f"{self.metrics[0]}{{{matchers}}}"
        names = "|".join(re.escape(m) for m in self.metrics)
        return f'{{__name__=~"{names}",{matchers}}}'


@dataclass(frozen=True)
class Histogram:
    """A histogram family (``<metric>_bucket``), its extra matchers, the unit of its ``le`` and its bucket
    boundaries (in that unit; empty: not declared). SLO latency thresholds must be one of the boundaries."""

    metric: str
    matchers: str = ""
    unit_seconds: float = 1.0
    buckets: tuple[float, ...] = ()

    @property
    def bucket(self) -> str:
        return f"{self.metric}_bucket"

    def promql(self, selector: str) -> str:
        """``<metric>_bucket{selector,matchers}``."""
        matchers = ",".join(x for x in (selector, self.matchers) if x)
        return f"{self.bucket}{{{matchers}}}"


@dataclass(frozen=True)
class MetricMapping:
    """The runtime's own metric names for what modelserve measures."""

    requests: Series
    errors: Series
    #: The errors when 4xx responses count as bad too (SLAPolicy countClientErrorsAsBad); None: the
    #: runtime's metrics cannot tell them apart.
    client_and_server_errors: Series | None = None
    latency: Histogram | None = None
    ttft: Histogram | None = None  # time to first token (LLM)
    tpot: Histogram | None = None  # time per output token (LLM)
    queue_depth: str | None = None  # gauge
    kv_cache_usage: str | None = None  # gauge, 0..1
    tokens: str | None = None  # counter of generated tokens

    def metric_names(self) -> list[str]:
        """Every metric name the mapping uses (for checking them against the runtime's sources)."""
        names = [*self.requests.metrics, *self.errors.metrics]
        if self.client_and_server_errors is not None:
            names += self.client_and_server_errors.metrics
        for h in (self.latency, self.ttft, self.tpot):
            if h is not None:
                names.append(h.metric)
        names += [g for g in (self.queue_depth, self.kv_cache_usage, self.tokens) if g]
        return sorted(set(names))


@dataclass(frozen=True)
class Ports:
    http: int = 8080
    grpc: int | None = None
    metrics: int | None = None


@dataclass(frozen=True)
class HealthPaths:
    startup: str | None = None
    readiness: str | None = None
    liveness: str | None = None


@dataclass(frozen=True)
class RuntimeEntry:
    """One model server of the catalogue (see builtin.yaml for the fields)."""

    name: str
    image: str
    description: str = ""
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    format_env: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    formats: tuple[str, ...] = ()
    ports: Ports = Ports()
    metrics_path: str = "/metrics"
    health: HealthPaths = HealthPaths()
    model_mount_path: str = "/mnt/models"
    resources: dict = field(default_factory=dict)
    shared_memory: bool = False
    metrics: MetricMapping | None = None

    @property
    def is_custom(self) -> bool:
        return self.name == CUSTOM

    @property
    def metrics_port(self) -> int:
        return self.ports.metrics or self.ports.http

    def substitute(self, text: str, model_name: str, model_dir: str | None = None) -> str:
        """Fill the placeholders ({modelName}, {modelDir}, {httpPort}, {grpcPort}, {metricsPort})."""
        values = {
            "modelName": model_name,
            "modelDir": model_dir if model_dir is not None else self.model_mount_path,
            "httpPort": str(self.ports.http),
            "grpcPort": str(self.ports.grpc or ""),
            "metricsPort": str(self.metrics_port),
        }
        for key in _PLACEHOLDERS:
            text = text.replace("{" + key + "}", values[key])
        return text


@dataclass(frozen=True)
class Catalogue:
    """Runtime entries by name, and the image the storage initializer runs."""

    runtimes: dict[str, RuntimeEntry]
    storage_init_image: str = DEFAULT_STORAGE_INIT_IMAGE

    def get(self, name: str) -> RuntimeEntry | None:
        return self.runtimes.get(name)

    def for_format(self, model_format: str) -> RuntimeEntry | None:
        """The runtime serving `model_format` (built-ins first, then others by name); None if none."""
        order: list[str] = [n for n in ("mlserver", "triton", "vllm") if n in self.runtimes]
        order += sorted(n for n in self.runtimes if n not in order)
        for name in order:
            entry = self.runtimes[name]
            if not entry.is_custom and model_format in entry.formats:
                return entry
        return None

    def formats(self) -> dict[str, str]:
        """Format -> the runtime that serves it."""
        out: dict[str, str] = {}
        for name in sorted(self.runtimes):
            for f in self.runtimes[name].formats:
                entry = self.for_format(f)
                if entry is not None:
                    out[f] = entry.name
        return out


# --- parsing ----------------------------------------------------------------------------------------------
def _str_tuple(value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(x, (str, int, float)) for x in value):
        raise CatalogueError(f"{path}: must be a list of strings")
    return tuple(str(x) for x in value)


def _env(value: Any, path: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise CatalogueError(f"{path}: must be a map of variable name to value")
    return tuple((str(k), str(v)) for k, v in value.items())


def _series(value: Any, path: str) -> Series:
    if not isinstance(value, dict) or not value.get("metrics"):
        raise CatalogueError(f"{path}.metrics: is required (a list of metric names)")
    return Series(_str_tuple(value["metrics"], f"{path}.metrics"), str(value.get("matchers") or ""))


def _histogram(value: Any, path: str) -> Histogram | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not value.get("metric"):
        raise CatalogueError(f"{path}.metric: is required")
    try:
        unit = float(value.get("unitSeconds", 1.0))
    except (TypeError, ValueError):
        raise CatalogueError(f"{path}.unitSeconds: must be a number") from None
    if unit <= 0:
        raise CatalogueError(f"{path}.unitSeconds: must be > 0")
    buckets = value.get("buckets") or []
    if not isinstance(buckets, list) or not all(
        isinstance(b, (int, float)) and not isinstance(b, bool) and b > 0 for b in buckets
    ):
        raise CatalogueError(
            f"{path}.buckets: must be a list of positive numbers (the histogram's le values)"
        )
    return Histogram(
        str(value["metric"]), str(value.get("matchers") or ""), unit, tuple(sorted(float(b) for b in buckets))
    )


def _gauge(value: Any, path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not value.get("metric"):
        raise CatalogueError(f"{path}.metric: is required")
    return str(value["metric"])


def _metrics(value: Any, path: str) -> MetricMapping | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise CatalogueError(f"{path}: must be a map")
    return MetricMapping(
        requests=_series(value.get("requests"), f"{path}.requests"),
        errors=_series(value.get("errors"), f"{path}.errors"),
        client_and_server_errors=(
            _series(value["clientAndServerErrors"], f"{path}.clientAndServerErrors")
            if value.get("clientAndServerErrors") is not None
            else None
        ),
        latency=_histogram(value.get("latency"), f"{path}.latency"),
        ttft=_histogram(value.get("ttft"), f"{path}.ttft"),
        tpot=_histogram(value.get("tpot"), f"{path}.tpot"),
        queue_depth=_gauge(value.get("queueDepth"), f"{path}.queueDepth"),
        kv_cache_usage=_gauge(value.get("kvCacheUsage"), f"{path}.kvCacheUsage"),
        tokens=_gauge(value.get("tokens"), f"{path}.tokens"),
    )


def _port(value: Any, path: str, required: bool = False) -> int | None:
    if value is None:
        if required:
            raise CatalogueError(f"{path}: is required")
        return None
    if not isinstance(value, int) or not 1 <= value <= 65535:
        raise CatalogueError(f"{path}: must be a port number (1-65535), got {value!r}")
    return value


def parse_entry(name: str, data: Any) -> RuntimeEntry:
    """One catalogue entry from its YAML mapping; CatalogueError naming `runtimes.<name>.<field>`."""
    path = f"runtimes.{name}"
    if not isinstance(data, dict):
        raise CatalogueError(f"{path}: must be a map")
    known = {
        "description", "image", "command", "args", "env", "formatEnv", "formats", "ports", "metricsPath",
        "health", "modelMountPath", "resources", "sharedMemory", "metrics",
    }  # fmt: skip
    unknown = sorted(set(data) - known)
    if unknown:
        raise CatalogueError(
            f"{path}: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    image = str(data.get("image") or "")
    if name != CUSTOM and not image:
        raise CatalogueError(f"{path}.image: is required")
    ports = data.get("ports") or {}
    health = data.get("health") or {}
    format_env = data.get("formatEnv") or {}
    if not isinstance(format_env, dict):
        raise CatalogueError(f"{path}.formatEnv: must be a map of format to env")
    resources_ = data.get("resources") or {}
    if not isinstance(resources_, dict):
        raise CatalogueError(f"{path}.resources: must be a core/v1 ResourceRequirements map")
    entry = RuntimeEntry(
        name=name,
        image=image,
        description=str(data.get("description") or ""),
        command=_str_tuple(data.get("command"), f"{path}.command"),
        args=_str_tuple(data.get("args"), f"{path}.args"),
        env=_env(data.get("env"), f"{path}.env"),
        format_env={str(f): _env(e, f"{path}.formatEnv.{f}") for f, e in format_env.items()},
        formats=_str_tuple(data.get("formats"), f"{path}.formats"),
        ports=Ports(
            http=_port(ports.get("http"), f"{path}.ports.http", required=True) or 8080,
            grpc=_port(ports.get("grpc"), f"{path}.ports.grpc"),
            metrics=_port(ports.get("metrics"), f"{path}.ports.metrics"),
        ),
        metrics_path=str(data.get("metricsPath") or "/metrics"),
        health=HealthPaths(
            startup=health.get("startup"), readiness=health.get("readiness"), liveness=health.get("liveness")
        ),
        model_mount_path=str(data.get("modelMountPath") or ("" if name == CUSTOM else "/mnt/models")),
        resources=dict(resources_),
        shared_memory=bool(data.get("sharedMemory", False)),
        metrics=_metrics(data.get("metrics"), f"{path}.metrics"),
    )
    if name != CUSTOM and not entry.model_mount_path.startswith("/"):
        raise CatalogueError(f"{path}.modelMountPath: must be an absolute path")
    for p in (entry.health.startup, entry.health.readiness, entry.health.liveness):
        if p is not None and not str(p).startswith("/"):
            raise CatalogueError(f"{path}.health: paths must start with '/', got {p!r}")
    return entry


def _merge(base: dict, override: dict) -> dict:
    """`override` on top of `base`, map by map (a list or scalar replaces)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@cache
def builtin_data() -> dict[str, dict]:
    """The built-in entries as YAML data (builtin.yaml)."""
    text = resources.files("modelserve.runtimes").joinpath("builtin.yaml").read_text()
    return dict(yaml.safe_load(text)["runtimes"])


@cache
def builtin_catalogue(storage_init_image: str = DEFAULT_STORAGE_INIT_IMAGE) -> Catalogue:
    """The catalogue with the built-in entries only."""
    return Catalogue({n: parse_entry(n, d) for n, d in builtin_data().items()}, storage_init_image)


@dataclass(frozen=True)
class LoadResult:
    """A catalogue and the problems found in the ConfigMap (each naming its entry and field)."""

    catalogue: Catalogue
    errors: tuple[str, ...] = ()


def load_catalogue(
    configmap_text: str | None, storage_init_image: str = DEFAULT_STORAGE_INIT_IMAGE
) -> LoadResult:
    """The built-in catalogue with the ConfigMap's entries merged on top, field by field.

    `configmap_text` is the YAML of the ConfigMap's `runtimes.yaml` key (None: no ConfigMap). An invalid
    entry is left out (its built-in, if any, is kept) and reported in `errors`; an unreadable document
    keeps the built-ins whole.
    """
    base = builtin_data()
    entries = {n: parse_entry(n, d) for n, d in base.items()}
    if not configmap_text:
        return LoadResult(Catalogue(entries, storage_init_image))
    try:
        doc = yaml.safe_load(configmap_text) or {}
    except yaml.YAMLError as exc:
        return LoadResult(Catalogue(entries, storage_init_image), (f"{CONFIGMAP_KEY}: not YAML: {exc}",))
    overrides = doc.get("runtimes") if isinstance(doc, dict) else None
    if not isinstance(overrides, dict):
        message = f"{CONFIGMAP_KEY}: must be a map with a `runtimes` map of entries"
        return LoadResult(Catalogue(entries, storage_init_image), (message,))
    errors: list[str] = []
    for name, data in overrides.items():
        name = str(name)
        if not isinstance(data, dict):
            errors.append(f"runtimes.{name}: must be a map")
            continue
        try:
            entries[name] = parse_entry(name, _merge(base.get(name, {}), data))
        except CatalogueError as exc:
            errors.append(str(exc))
    return LoadResult(Catalogue(entries, storage_init_image), tuple(errors))
