"""The PodMonitor (Prometheus Operator) that scrapes a ModelDeployment's model servers.

Built when the monitoring.coreos.com/v1 PodMonitor CRD is installed. It selects every pod of the
ModelDeployment and scrapes the port and path its ``prometheus.io/*`` annotations name (so one PodMonitor
serves revisions on different runtimes), with the relabelings of runtimes.scrape giving each series the
target labels namespace, model, revision and region.
"""

from __future__ import annotations

from modelserve.api import constants as c
from modelserve.api.modeldeployment import ModelDeploymentSpec
from modelserve.builders.common import Owner, base_labels, metadata
from modelserve.runtimes import pod_monitor_relabelings


def _annotation(name: str) -> str:
    return "__meta_kubernetes_pod_annotation_" + "".join(ch if ch.isalnum() else "_" for ch in name)


def annotation_relabelings() -> list[dict]:
    """Keep pods whose prometheus.io/scrape is "true"; scrape the port and path their annotations name."""
    return [
        {"sourceLabels": [_annotation("prometheus.io/scrape")], "regex": "true", "action": "keep"},
        {
            "sourceLabels": ["__address__", _annotation("prometheus.io/port")],
            "regex": r"([^:]+)(?::\d+)?;(\d+)",
            "replacement": "$1:$2",
            "targetLabel": "__address__",
            "action": "replace",
        },
        {
            "sourceLabels": [_annotation("prometheus.io/path")],
            "regex": "(.+)",
            "targetLabel": "__metrics_path__",
            "action": "replace",
        },
    ]


def build_pod_monitor(owner: Owner, spec: ModelDeploymentSpec) -> dict:
    """A monitoring.coreos.com/v1 PodMonitor over every pod of the ModelDeployment."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": metadata(owner, owner.name, base_labels(owner.name, spec.model.name)),
        "spec": {
            "selector": {"matchLabels": {c.LABEL_INSTANCE: owner.name}},
            "namespaceSelector": {"matchNames": [owner.namespace]},
            "podMetricsEndpoints": [
                {
                    "port": "http",
                    "path": "/metrics",
                    "relabelings": annotation_relabelings() + pod_monitor_relabelings(),
                }
            ],
        },
    }
