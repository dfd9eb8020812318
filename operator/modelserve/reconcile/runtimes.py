"""The runtime catalogue in force: the built-ins with the cluster's ConfigMap merged on top (I/O); and
whether the Prometheus Operator's PodMonitor kind exists, looked up with it.

The operator reads the ConfigMap named by MODELSERVE_RUNTIMES_CONFIGMAP (``namespace/name``; the Helm
chart renders it from `runtimes` in its values) at start-up and again every few seconds (`refresh`); when
it changed, every ModelDeployment is reconciled again. Without the ConfigMap the built-in catalogue
applies. An invalid entry is logged and reported as a Warning Event on the ConfigMap; the other entries,
and the built-in of the invalid one, stay in force.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from modelserve.api import constants as c
from modelserve.k8s.client import KubeClient
from modelserve.runtimes import CONFIGMAP_KEY, DEFAULT_STORAGE_INIT_IMAGE, Catalogue, load_catalogue

log = logging.getLogger(__name__)

ENV_CONFIGMAP = "MODELSERVE_RUNTIMES_CONFIGMAP"  # "namespace/name"
ENV_IMAGE = "MODELSERVE_IMAGE"  # the operator's image, run by the storage initializer
REASON_INVALID_RUNTIME = "InvalidRuntime"
REFRESH_SECONDS = 15.0


def configmap_ref(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(namespace, name) of the catalogue ConfigMap from MODELSERVE_RUNTIMES_CONFIGMAP; None if unset."""
    value = environ.get(ENV_CONFIGMAP, "").strip()
    if not value:
        return None
    namespace, _, name = value.rpartition("/")
    return (namespace or environ.get("POD_NAMESPACE") or "default", name)


class RuntimeCatalogueSource:
    """The catalogue a reconcile uses (`current`), re-read from the ConfigMap by `refresh`."""

    def __init__(self, kube: KubeClient | None, ref: tuple[str, str] | None, storage_init_image: str):
        self.kube, self.ref, self.image = kube, ref, storage_init_image
        self._text: str | None = None
        self._catalogue = load_catalogue(None, storage_init_image).catalogue
        #: The Prometheus Operator's PodMonitor CRD is installed (looked up at each refresh).
        self.pod_monitor_supported = False
        #: KEDA's ScaledObject CRD is installed (spec.autoscaling.engine: auto picks KEDA then).
        self.scaled_object_supported = False

    @classmethod
    def from_environment(
        cls, kube: KubeClient, environ: Mapping[str, str] = os.environ
    ) -> RuntimeCatalogueSource:
        image = environ.get(ENV_IMAGE, "").strip() or DEFAULT_STORAGE_INIT_IMAGE
        return cls(kube, configmap_ref(environ), image)

    def current(self) -> Catalogue:
        return self._catalogue

    def refresh(self) -> bool:
        """Read the ConfigMap again (and whether PodMonitors can be made); True when the catalogue changed."""
        if self.kube is None:
            return False
        self.pod_monitor_supported = self.kube.kind_installed("PodMonitor")
        self.scaled_object_supported = self.kube.kind_installed("ScaledObject")
        if self.ref is None:
            return False
        body = self.kube.get("ConfigMap", *self.ref)
        text = ((body or {}).get("data") or {}).get(CONFIGMAP_KEY)
        if text == self._text:
            return False
        self._text = text
        result = load_catalogue(text, self.image)
        for error in result.errors:
            log.warning("runtime catalogue %s/%s: %s (kept the built-in entry)", *self.ref, error)
            if body is not None:
                body.setdefault("apiVersion", "v1")
                body.setdefault("kind", "ConfigMap")
                self.kube.post_event(body, c.EVENT_WARNING, REASON_INVALID_RUNTIME, f"{error}; entry ignored")
        self._catalogue = result.catalogue
        return True
