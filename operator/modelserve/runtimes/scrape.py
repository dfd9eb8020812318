"""How a model server's metrics reach Prometheus with the labels modelserve queries by.

Every series of a revision's pods carries the target labels ``namespace`` (the pod's namespace),
``model`` (the ModelDeployment name, pod label ``modelserve.io/model``), ``revision`` (pod label
``modelserve.io/revision``), ``pod`` (the pod's name, for a metrics adapter's per-pod rates) and,
when a RegionPlacement placed the pod, ``region`` (pod label ``modelserve.io/region``). A PodMonitor
gets these as relabelings (`pod_monitor_relabelings`); a Prometheus scraping by ``prometheus.io/*``
annotations needs the same relabelling in its own config (docs/runtimes.md shows it). A label of the
same name exported by the server itself (Triton's and MLServer's ``model``) is kept as
``exported_model`` (Prometheus' honor_labels: false), so the target's label wins.
"""

from __future__ import annotations

from collections.abc import Mapping

from modelserve.api import constants as c

#: Target label -> the pod label it comes from.
POD_LABEL_OF_TARGET: dict[str, str] = {
    "model": c.LABEL_MODEL,
    "revision": c.LABEL_REVISION,
    "region": c.LABEL_REGION,
}


def scrape_target_labels(pod_labels: Mapping[str, str], namespace: str) -> dict[str, str]:
    """The target labels Prometheus attaches to every series scraped from a pod with `pod_labels`."""
    out = {"namespace": namespace}
    for target, pod_label in POD_LABEL_OF_TARGET.items():
        value = pod_labels.get(pod_label)
        if value:
            out[target] = value
    return out


def _meta_label(pod_label: str) -> str:
    # Prometheus' Kubernetes discovery: every character outside [a-zA-Z0-9_] becomes "_".
    return "__meta_kubernetes_pod_label_" + "".join(ch if ch.isalnum() else "_" for ch in pod_label)


def pod_monitor_relabelings() -> list[dict]:
    """The relabelings (monitoring.coreos.com/v1 RelabelConfig) that give the target labels."""
    rules = [
        {"sourceLabels": ["__meta_kubernetes_namespace"], "targetLabel": "namespace", "action": "replace"},
        # The pod: a metrics adapter serves per-pod rates to the HPA (runtimes/adapter_rules.py).
        {"sourceLabels": ["__meta_kubernetes_pod_name"], "targetLabel": "pod", "action": "replace"},
    ]
    for target, pod_label in POD_LABEL_OF_TARGET.items():
        rules.append({"sourceLabels": [_meta_label(pod_label)], "targetLabel": target, "action": "replace"})
    return rules


def prometheus_relabel_configs() -> list[dict]:
    """The same relabelling in Prometheus' own configuration syntax (kubernetes_sd_configs, role pod)."""
    return [
        {"source_labels": r["sourceLabels"], "target_label": r["targetLabel"], "action": r["action"]}
        for r in pod_monitor_relabelings()
    ]


def scrape_annotations(port: int, path: str) -> dict[str, str]:
    """The ``prometheus.io/*`` annotations of a pod template."""
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": path}
