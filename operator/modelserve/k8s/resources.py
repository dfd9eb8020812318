"""Where each kind lives in the API, so one small client can read and write all of them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        if subresource:
            base += f"/{subresource}"
        return base


RESOURCES: dict[str, Resource] = {
    "ModelDeployment": Resource("modelserve.io", "v1alpha1", "modeldeployments"),
    "SLAPolicy": Resource("modelserve.io", "v1alpha1", "slapolicies"),
    "RegionPlacement": Resource("modelserve.io", "v1alpha1", "regionplacements"),
    "Deployment": Resource("apps", "v1", "deployments"),
    "Service": Resource("", "v1", "services"),
    "Pod": Resource("", "v1", "pods"),
    "Node": Resource("", "v1", "nodes", namespaced=False),
    "Event": Resource("", "v1", "events"),
    "HorizontalPodAutoscaler": Resource("autoscaling", "v2", "horizontalpodautoscalers"),
    "PodDisruptionBudget": Resource("policy", "v1", "poddisruptionbudgets"),
    "HTTPRoute": Resource("gateway.networking.k8s.io", "v1", "httproutes"),
    "VirtualService": Resource("networking.istio.io", "v1", "virtualservices"),
    "PrometheusRule": Resource("monitoring.coreos.com", "v1", "prometheusrules"),
    "PodMonitor": Resource("monitoring.coreos.com", "v1", "podmonitors"),
    "ScaledObject": Resource("keda.sh", "v1alpha1", "scaledobjects"),
    "ConfigMap": Resource("", "v1", "configmaps"),
    "Lease": Resource("coordination.k8s.io", "v1", "leases"),
}


def resource_for(kind: str) -> Resource:
    try:
        return RESOURCES[kind]
    except KeyError:
        raise KeyError(f"modelserve does not know where kind {kind!r} lives") from None
