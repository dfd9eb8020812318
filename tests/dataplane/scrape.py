"""The target labels a pod's metrics reach Prometheus with (the scrape contract of issue 16).

The operator's scrape configuration (PodMonitor relabelling, or the ``prometheus.io/*`` annotations'
usual relabelling) turns pod labels into the target labels ``namespace``, ``model``, ``revision`` and
``region`` (when placed); runtime presets select one revision's series by them. The local data plane
registers each pod as a static target with the same labels, computed by the operator's own function
when it has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.simulator.split import INSTANCE_LABEL, REGION_POD_LABEL, REVISION_LABEL

try:  # the operator's pure label mapping (issue 16, runtimes); same rules as the fallback below
    from modelserve.runtimes import scrape_target_labels as _operator_labels  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - until the runtime catalogue lands
    _operator_labels = None


def contract_labels(pod_labels: Mapping[str, str], namespace: str) -> dict[str, str]:
    """``namespace``, ``model`` (the ModelDeployment: ``app.kubernetes.io/instance``), ``revision``
    (``modelserve.io/revision``) and ``region`` (``modelserve.io/region``, only when set)."""
    out = {
        "namespace": namespace,
        "model": pod_labels.get(INSTANCE_LABEL, ""),
        "revision": pod_labels.get(REVISION_LABEL, ""),
    }
    if pod_labels.get(REGION_POD_LABEL):
        out["region"] = pod_labels[REGION_POD_LABEL]
    return out


def scrape_labels(pod: Mapping[str, Any]) -> dict[str, str]:
    """The target labels of ``pod``'s metrics endpoint."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    namespace = meta.get("namespace", "")
    if _operator_labels is not None:
        return dict(_operator_labels(labels, namespace))
    return contract_labels(labels, namespace)
