"""ModelDeployment: the typed spec, parsed once from the resource body with the CRD's defaults."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from modelserve.api.durations import parse_duration
from modelserve.api.errors import SpecError
from modelserve.api.rollout import Rollout, parse_rollout
from modelserve.api.traffic import Traffic, parse_traffic

DEFAULT_MODEL_SIZE_LIMIT = "10Gi"


@dataclass(frozen=True)
class ModelStorage:
    """`spec.model.storage`: where the storage initializer finds credentials and how much it may write."""

    secret_name: str | None = None  # its keys become the init container's environment (envFrom)
    endpoint: str | None = None  # an S3-compatible endpoint (AWS_ENDPOINT_URL)
    size_limit: str = DEFAULT_MODEL_SIZE_LIMIT  # the model volume's sizeLimit


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str
    uri: str
    format: str = "custom"
    sha256: str | None = None  # checked by the storage initializer
    storage: ModelStorage = ModelStorage()


@dataclass(frozen=True)
class Runtime:
    image: str  # "" when not set: the catalogue entry's image
    port: int = 8080
    name: str | None = None  # a runtime catalogue entry; None: spec.model.format picks (or custom)
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[dict, ...] = ()
    resources: dict = field(default_factory=dict)
    readiness_probe: dict | None = None
    liveness_probe: dict | None = None
    startup_seconds: int = 60
    service_account_name: str | None = None


@dataclass(frozen=True)
class AutoscalingTarget:
    metric: str = "cpuUtilization"
    average_value: float | None = None
    average_utilization: int = 70


# spec.autoscaling.predictive.objective fields (exactly one is set) and spec.autoscaling.predictive.mode.
MAX_UNDER_PROVISIONED_PERCENT = "maxUnderProvisionedPercent"
MAX_EXTRA_COST_PERCENT = "maxExtraCostPercent"
OBJECTIVE_FIELDS = (MAX_UNDER_PROVISIONED_PERCENT, MAX_EXTRA_COST_PERCENT)
MODE_ACT = "act"
MODE_OBSERVE = "observe"
# The knobs self-tuning may choose; a knob the user sets is kept (spec names).
TUNABLE_KNOBS = ("quantile", "headroomPercent", "holdAfterRaise")


@dataclass(frozen=True)
class Objective:
    """spec.autoscaling.predictive.objective: what the self-tuning aims at (docs/autoscaling.md)."""

    field: str  # one of OBJECTIVE_FIELDS
    value: float

    def describe(self) -> str:
        return f"{self.field}={self.value:g}"


@dataclass(frozen=True)
class Predictive:
    enabled: bool = False
    query: str | None = None
    history_seconds: float = 7 * 86400
    seasonality: str = "auto"
    horizon_seconds: float | None = None
    model: str = "auto"
    headroom_percent: int = 5
    refit_interval_seconds: float = 3600
    quantile: float = 0.75
    scale_down_percent_per_step: int = 10
    min_history_seconds: float = 2 * 86400
    burst: bool = True
    burst_query: str | None = None
    hold_seconds: float | None = None  # None: the operator's default (MODELSERVE_PREDICTIVE_HOLD_SECONDS)
    objective: Objective | None = None  # None: no self-tuning
    mode: str = MODE_ACT  # observe: forecast and report, never write the HPA
    explicit: frozenset[str] = frozenset()  # the TUNABLE_KNOBS the user set (kept by the tuning)


AUTOSCALING_ENGINES = ("auto", "hpa", "keda")


@dataclass(frozen=True)
class Autoscaling:
    min_replicas: int
    max_replicas: int
    target: AutoscalingTarget
    predictive: Predictive
    # auto: KEDA when its ScaledObject CRD is installed, else a plain HPA (docs/autoscaling.md)
    engine: str = "auto"


@dataclass(frozen=True)
class Reference:
    name: str


@dataclass(frozen=True)
class ModelDeploymentSpec:
    """The whole spec, with defaults applied."""

    model: ModelRef
    runtime: Runtime
    replicas: int = 1
    max_unavailable: int | str = 1
    autoscaling: Autoscaling | None = None
    placement_ref: Reference | None = None
    sla_policy_ref: Reference | None = None
    rollout: Rollout = field(default_factory=Rollout)
    traffic: Traffic = field(default_factory=Traffic)

    @property
    def router(self) -> str:
        return self.traffic.router


def _get(d: dict, key: str, default: Any = None) -> Any:
    value = d.get(key)
    return default if value is None else value


def _require(d: dict, key: str, path: str) -> Any:
    if d.get(key) in (None, ""):
        raise SpecError(f"{path}.{key}", "is required")
    return d[key]


def parse_model_deployment(spec: dict) -> ModelDeploymentSpec:
    """Parse `spec` of a ModelDeployment (a plain dict) into typed models, applying defaults.

    Raises SpecError naming the field for anything the planners cannot work with.
    """
    if not isinstance(spec, dict):
        raise SpecError("spec", "must be an object")
    placement = spec.get("placementRef")
    sla = spec.get("slaPolicyRef")
    a = spec.get("autoscaling")
    return ModelDeploymentSpec(
        model=_model(_require(spec, "model", "spec")),
        runtime=_runtime(_get(spec, "runtime", {})),
        replicas=int(_get(spec, "replicas", 1)),
        max_unavailable=_get(_get(spec, "disruptionBudget", {}), "maxUnavailable", 1),
        autoscaling=_autoscaling(a) if a else None,
        placement_ref=Reference(str(placement["name"])) if placement and placement.get("name") else None,
        sla_policy_ref=Reference(str(sla["name"])) if sla and sla.get("name") else None,
        rollout=parse_rollout(spec.get("rollout")),
        traffic=parse_traffic(spec.get("traffic")),
    )


def _model(m: dict) -> ModelRef:
    storage = _get(m, "storage", {})
    sha = m.get("sha256")
    if sha is not None and not re.fullmatch(r"[0-9a-f]{64}", str(sha)):
        raise SpecError("spec.model.sha256", "must be 64 lower-case hexadecimal digits")
    return ModelRef(
        name=str(_require(m, "name", "spec.model")),
        version=str(_require(m, "version", "spec.model")),
        uri=str(_require(m, "uri", "spec.model")),
        format=str(_get(m, "format", "custom")),
        sha256=str(sha) if sha else None,
        storage=ModelStorage(
            secret_name=(_get(storage, "secretRef", {}).get("name") or None),
            endpoint=storage.get("endpoint") or None,
            size_limit=str(_get(storage, "sizeLimit", DEFAULT_MODEL_SIZE_LIMIT)),
        ),
    )


def _runtime(r: dict) -> Runtime:
    return Runtime(
        image=str(_get(r, "image", "")),
        name=str(r["name"]) if r.get("name") else None,
        port=int(_get(r, "port", 8080)),
        command=tuple(str(x) for x in _get(r, "command", [])),
        args=tuple(str(x) for x in _get(r, "args", [])),
        env=tuple(dict(e) for e in _get(r, "env", [])),
        resources=dict(_get(r, "resources", {})),
        readiness_probe=r.get("readinessProbe"),
        liveness_probe=r.get("livenessProbe"),
        startup_seconds=int(_get(r, "startupSeconds", 60)),
        service_account_name=r.get("serviceAccountName"),
    )


def _objective(raw: Any, path: str) -> Objective | None:
    """Exactly one of OBJECTIVE_FIELDS, in range (as the CRD's schema and CEL rule say)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise SpecError(path, "must be an object")
    given = [k for k in OBJECTIVE_FIELDS if raw.get(k) is not None]
    if len(given) != 1:
        fields = f"{MAX_UNDER_PROVISIONED_PERCENT} or {MAX_EXTRA_COST_PERCENT}"
        raise SpecError(path, f"set exactly one of {fields}")
    name = given[0]
    try:
        value = float(raw[name])
    except (TypeError, ValueError):
        raise SpecError(f"{path}.{name}", f"must be a number, got {raw[name]!r}") from None
    if value < 0 or (name == MAX_UNDER_PROVISIONED_PERCENT and value > 100):
        bounds = "between 0 and 100" if name == MAX_UNDER_PROVISIONED_PERCENT else ">= 0"
        raise SpecError(f"{path}.{name}", f"must be {bounds}, got {value:g}")
    return Objective(name, value)


def _mode(raw: Any, path: str) -> str:
    mode = MODE_ACT if raw is None else str(raw)
    if mode not in (MODE_ACT, MODE_OBSERVE):
        raise SpecError(path, f"must be {MODE_ACT} or {MODE_OBSERVE}, got {mode!r}")
    return mode


def _predictive(p: dict) -> Predictive:
    path = "spec.autoscaling.predictive"
    burst = _get(p, "burst", {})
    try:
        return Predictive(
            enabled=bool(_get(p, "enabled", False)),
            query=p.get("query"),
            history_seconds=parse_duration(_get(p, "history", "7d"), f"{path}.history"),
            seasonality=str(_get(p, "seasonality", "auto")),
            horizon_seconds=(parse_duration(p["horizon"], f"{path}.horizon") if p.get("horizon") else None),
            model=str(_get(p, "model", "auto")),
            headroom_percent=int(_get(p, "headroomPercent", 5)),
            refit_interval_seconds=parse_duration(_get(p, "refitInterval", "1h"), f"{path}.refitInterval"),
            quantile=float(_get(p, "quantile", 0.75)),
            scale_down_percent_per_step=int(_get(p, "scaleDownPercentPerStep", 10)),
            min_history_seconds=parse_duration(_get(p, "minHistory", "2d"), f"{path}.minHistory"),
            burst=bool(_get(burst, "enabled", True)),
            burst_query=burst.get("query") or None,
            hold_seconds=(
                parse_duration(p["holdAfterRaise"], f"{path}.holdAfterRaise")
                if p.get("holdAfterRaise")
                else None
            ),
            objective=_objective(p.get("objective"), f"{path}.objective"),
            mode=_mode(p.get("mode"), f"{path}.mode"),
            explicit=frozenset(k for k in TUNABLE_KNOBS if p.get(k) is not None),
        )
    except SpecError:
        raise
    except ValueError as exc:
        raise SpecError(path, str(exc)) from exc


def _autoscaling(a: dict) -> Autoscaling:
    t = _get(a, "target", {})
    autoscaling = Autoscaling(
        min_replicas=int(_get(a, "minReplicas", 1)),
        max_replicas=int(_require(a, "maxReplicas", "spec.autoscaling")),
        target=AutoscalingTarget(
            metric=str(_get(t, "metric", "cpuUtilization")),
            average_value=float(t["averageValue"]) if t.get("averageValue") is not None else None,
            average_utilization=int(_get(t, "averageUtilization", 70)),
        ),
        predictive=_predictive(_get(a, "predictive", {})),
        engine=str(_get(a, "engine", "auto")),
    )
    if autoscaling.engine not in AUTOSCALING_ENGINES:
        raise SpecError("spec.autoscaling.engine", f"{autoscaling.engine!r} must be one of auto, hpa, keda")
    if autoscaling.max_replicas < autoscaling.min_replicas:
        raise SpecError("spec.autoscaling.maxReplicas", "must be >= spec.autoscaling.minReplicas")
    target = autoscaling.target
    if target.metric in ("requestsPerSecond", "concurrency") and not target.average_value:
        raise SpecError(
            "spec.autoscaling.target.averageValue",
            f"is required when metric is {autoscaling.target.metric}",
        )
    return autoscaling


# The characters of a revision hash: Kubernetes' "safe encode" alphabet (k8s.io/apimachinery
# util/rand.SafeEncodeString, used for pod-template-hash): no vowels, so no words, and no 0, 1 or 3.
# The first character is a consonant, so a hash is never read as a number by a YAML or JSON reader
# (hex digests such as 678231e595 were, and `kubectl apply` of rendered output failed) and is a valid
# DNS label on its own.
REVISION_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
REVISION_FIRST_ALPHABET = "bcdfghjklmnpqrstvwxz"
REVISION_HASH_LENGTH = 10


def revision_defining_fields(spec: ModelDeploymentSpec) -> dict[str, dict[str, Any]]:
    """What defines a revision, as JSON-ready data: the input of its hash (``revision_hash``)."""
    defining: dict[str, dict[str, Any]] = {
        "model": {"version": spec.model.version, "uri": spec.model.uri, "format": spec.model.format},
        "runtime": {
            "image": spec.runtime.image,
            "command": list(spec.runtime.command),
            "args": list(spec.runtime.args),
            "env": list(spec.runtime.env),
            "resources": spec.runtime.resources,
        },
    }
    # Fields added with the runtime catalogue count only when set, so a spec without them keeps the
    # revision hash it had before (an operator upgrade must not start a rollout).
    if spec.runtime.name:
        defining["runtime"]["name"] = spec.runtime.name
    if spec.model.sha256:
        defining["model"]["sha256"] = spec.model.sha256
    if spec.model.storage != ModelStorage():
        defining["model"]["storage"] = storage_fields(spec.model.storage)
    return defining


def _revision_digest(spec: ModelDeploymentSpec) -> bytes:
    defining = revision_defining_fields(spec)
    return hashlib.sha256(json.dumps(defining, sort_keys=True, separators=(",", ":")).encode()).digest()


def storage_fields(storage: ModelStorage) -> dict:
    """`spec.model.storage` as JSON-ready data (what defines a revision, and its annotation)."""
    return {"secretName": storage.secret_name, "endpoint": storage.endpoint, "sizeLimit": storage.size_limit}


def revision_hash(spec: ModelDeploymentSpec) -> str:
    """A short, stable hash of what defines a revision: model version, uri, format (and sha256 and
    storage when set), runtime image (and name when set), command, args, env and resources. Replica
    counts, rollout and traffic settings are not part of it.

    Ten characters of REVISION_ALPHABET, the first a consonant: it names Deployments and labels
    objects, and no YAML 1.1/1.2 or JSON reader takes it for anything but a string."""
    digest = _revision_digest(spec)
    first = REVISION_FIRST_ALPHABET[digest[0] % len(REVISION_FIRST_ALPHABET)]
    rest = "".join(REVISION_ALPHABET[b % len(REVISION_ALPHABET)] for b in digest[1:REVISION_HASH_LENGTH])
    return first + rest


def legacy_revision_hash(spec: ModelDeploymentSpec) -> str:
    """The hexadecimal revision hash of modelserve 0.1 (first 10 hex digits of the same digest).

    Only for recognising revisions created before the safe alphabet: their Deployments keep their
    names and labels until the next real revision change (modelserve.api.revisions)."""
    return _revision_digest(spec).hex()[:REVISION_HASH_LENGTH]
