"""modelserve: a Kubernetes operator that serves machine-learning models."""

__version__ = "0.1.0"
GROUP = "modelserve.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
FIELD_MANAGER = "modelserve"
