"""The target labels a pod's metrics reach Prometheus with (the scrape contract of issue 16).

The operator's scrape configuration (PodMonitor relabelling, or the ``prometheus.io/*`` annotations'
usual relabelling) turns pod labels into the target labels ``namespace``, ``model``, ``revision`` and
``region`` (when placed); runtime presets select one revision's series by them. The local data plane
registers each pod as a static target with the same labels, computed by the operator's own function.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelserve.runtimes import scrape_target_labels


def scrape_labels(pod: Mapping[str, Any]) -> dict[str, str]:
    """The target labels of ``pod``'s metrics endpoint."""
    meta = pod.get("metadata") or {}
    return dict(scrape_target_labels(meta.get("labels") or {}, meta.get("namespace", "")))
