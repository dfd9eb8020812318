"""Deployment, Service, HorizontalPodAutoscaler and PodDisruptionBudget of a ModelDeployment."""

from __future__ import annotations

from dataclasses import dataclass

from modelserve.api import constants as c
from modelserve.api.modeldeployment import ModelDeploymentSpec
from modelserve.api.revisions import encode
from modelserve.builders.common import Owner, base_labels, deployment_name, metadata
from modelserve.builders.serving import SERVER_CONTAINER, model_variables, runtime_pod
from modelserve.runtimes import DEFAULT_STORAGE_INIT_IMAGE, RuntimeEntry, scrape_annotations
from modelserve.runtimes.catalogue import Series

# Non-root, no privilege escalation, read-only root, no capabilities: a model server needs none of them.
DEFAULT_POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}
DEFAULT_CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}
METRIC_FOR_TARGET = {
    "requestsPerSecond": "modelserve_requests_per_second",
    "concurrency": "modelserve_inflight_requests",
}


@dataclass(frozen=True)
class RevisionWorkload:
    """One Deployment to build: a revision in a role, optionally pinned to a region."""

    revision: str
    role: str  # stable | candidate
    replicas: int | None  # None: the HPA owns spec.replicas
    region: str | None = None
    affinity: dict | None = None
    topology_spread: tuple[dict, ...] = ()


def model_env(spec: ModelDeploymentSpec) -> list[dict]:
    """The model is handed to the runtime as MODEL_* variables, before the user's own env."""
    own = model_variables(spec)
    reserved = {e["name"] for e in own}
    return own + [dict(e) for e in spec.runtime.env if e.get("name") not in reserved]


def selector_labels(owner: Owner, revision: str, region: str | None) -> dict[str, str]:
    labels = {c.LABEL_INSTANCE: owner.name, c.LABEL_REVISION: revision}
    if region:
        labels[c.LABEL_REGION] = region
    return labels


def _custom_container(spec: ModelDeploymentSpec) -> dict:
    """The `custom` runtime's server: the user's image, handed the model as MODEL_* variables."""
    container: dict = {
        "name": SERVER_CONTAINER,
        "image": spec.runtime.image,
        "ports": [{"name": "http", "containerPort": spec.runtime.port, "protocol": "TCP"}],
        "env": model_env(spec),
        "securityContext": DEFAULT_CONTAINER_SECURITY,
    }
    if spec.runtime.command:
        container["command"] = list(spec.runtime.command)
    if spec.runtime.args:
        container["args"] = list(spec.runtime.args)
    if spec.runtime.resources:
        container["resources"] = spec.runtime.resources
    if spec.runtime.readiness_probe:
        container["readinessProbe"] = spec.runtime.readiness_probe
    if spec.runtime.liveness_probe:
        container["livenessProbe"] = spec.runtime.liveness_probe
    return container


def build_deployment(
    owner: Owner,
    spec: ModelDeploymentSpec,
    work: RevisionWorkload,
    runtime: RuntimeEntry | None = None,
    storage_init_image: str = DEFAULT_STORAGE_INIT_IMAGE,
) -> dict:
    """The apps/v1 Deployment serving one revision (in one region).

    `runtime`: the catalogue entry serving it (runtimes.resolve_runtime); None or `custom`: the user's
    image with the MODEL_* variables, as before the catalogue. `storage_init_image`: the image the
    model download runs in (the operator's own)."""
    labels = {
        **base_labels(owner.name, spec.model.name),
        c.LABEL_REVISION: work.revision,
        c.LABEL_ROLE: work.role,
    }
    if work.region:
        labels[c.LABEL_REGION] = work.region
    pod_spec: dict = {"securityContext": DEFAULT_POD_SECURITY}
    if runtime is None or runtime.is_custom:
        pod_spec["containers"] = [_custom_container(spec)]
        annotations = scrape_annotations(spec.runtime.port, "/metrics")
    else:
        container, init, volumes = runtime_pod(runtime, spec, storage_init_image, DEFAULT_CONTAINER_SECURITY)
        pod_spec["containers"] = [container]
        if init:
            pod_spec["initContainers"] = init
        pod_spec["volumes"] = volumes
        annotations = scrape_annotations(runtime.metrics_port, runtime.metrics_path)
    if spec.runtime.service_account_name:
        pod_spec["serviceAccountName"] = spec.runtime.service_account_name
    if work.affinity:
        pod_spec["affinity"] = work.affinity
    if work.topology_spread:
        pod_spec["topologySpreadConstraints"] = list(work.topology_spread)
    dep_spec: dict = {
        "selector": {"matchLabels": selector_labels(owner, work.revision, work.region)},
        "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod_spec},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
    }
    if work.replicas is not None:
        dep_spec["replicas"] = work.replicas

    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(
            owner,
            deployment_name(owner.name, work.revision, work.region),
            labels,
            {c.ANNOTATION_REVISION_SPEC: encode(spec)},
        ),
        "spec": dep_spec,
    }


def build_hpa(
    owner: Owner,
    spec: ModelDeploymentSpec,
    target_deployment: str,
    *,
    min_replicas: int,
    max_replicas: int,
    name: str | None = None,
) -> dict:
    """An autoscaling/v2 HPA on one Deployment. `min_replicas` may be a predictive floor."""
    assert spec.autoscaling is not None
    target = spec.autoscaling.target
    if target.metric == "cpuUtilization":
        metric = {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": target.average_utilization},
            },
        }
    else:
        metric = {
            "type": "Pods",
            "pods": {
                "metric": {"name": METRIC_FOR_TARGET[target.metric]},
                "target": {"type": "AverageValue", "averageValue": _quantity(target.average_value or 1)},
            },
        }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(owner, name or owner.name, base_labels(owner.name, spec.model.name)),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target_deployment},
            "minReplicas": max(1, min_replicas),
            "maxReplicas": max_replicas,
            "metrics": [metric],
        },
    }


@dataclass(frozen=True)
class ScaledObjectTarget:
    """What a KEDA ScaledObject scales and on which demand (one revision, in one region)."""

    deployment: str
    revision: str
    region: str | None
    requests: Series  # the revision's runtime's request counter (runtimes.requests_series)
    prometheus_url: str


def demand_query(owner: Owner, target: ScaledObjectTarget, metric: str) -> str:
    """The PromQL of one revision's demand (requests per second, or requests in flight) for KEDA."""
    labels = f'namespace="{owner.namespace}",model="{owner.name}",revision="{target.revision}"'
    if target.region:
        labels += f',region="{target.region}"'
    if metric == "concurrency":
        return f"sum({METRIC_FOR_TARGET['concurrency']}{{{labels}}})"
    return f"sum(rate({target.requests.promql(labels)}[1m]))"


def build_scaled_object(
    owner: Owner,
    spec: ModelDeploymentSpec,
    target: ScaledObjectTarget,
    *,
    min_replicas: int,
    max_replicas: int,
    name: str,
) -> dict:
    """A KEDA keda.sh/v1alpha1 ScaledObject on one Deployment, instead of an HPA (KEDA makes the HPA).

    The Prometheus trigger reads the revision's own demand with an AverageValue target per pod, so
    it scales exactly like the HPA the operator would write; `min_replicas` may be a predictive floor."""
    assert spec.autoscaling is not None
    t = spec.autoscaling.target
    if t.metric == "cpuUtilization":
        trigger: dict = {
            "type": "cpu",
            "metricType": "Utilization",
            "metadata": {"value": str(t.average_utilization)},
        }
    else:
        trigger = {
            "type": "prometheus",
            "metricType": "AverageValue",
            "metadata": {
                "serverAddress": target.prometheus_url,
                "query": demand_query(owner, target, t.metric),
                "threshold": _quantity(t.average_value or 1),
            },
        }
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": metadata(owner, name, base_labels(owner.name, spec.model.name)),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target.deployment},
            "minReplicaCount": max(1, min_replicas),
            "maxReplicaCount": max_replicas,
            "triggers": [trigger],
        },
    }


def build_pdb(owner: Owner, spec: ModelDeploymentSpec) -> dict:
    """A policy/v1 PodDisruptionBudget over every pod of the ModelDeployment."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(owner, owner.name, base_labels(owner.name, spec.model.name)),
        "spec": {
            "maxUnavailable": spec.max_unavailable,
            "selector": {"matchLabels": {c.LABEL_INSTANCE: owner.name}},
        },
    }


def _quantity(value: float) -> str:
    """A Kubernetes quantity in canonical form, so the API server stores what we compare against. A
    positive value below one thousandth is 1m, never 0: an HPA target must be positive, and the API
    server refused the HPA of a model whose averageValue rounded to 0."""
    if float(value).is_integer():
        return str(int(value))
    milli = round(value * 1000)
    if value > 0:
        milli = max(1, milli)
    return f"{milli // 1000}" if milli % 1000 == 0 else f"{milli}m"
