"""A real, Docker-free local Kubernetes control plane for development, tests and benchmarks.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler run as local processes on loopback,
KWOK simulates nodes and pod lifecycles, and a local Prometheus scrapes what the tests expose.
Binaries are built from their Go modules by ``hack/build-binaries.sh`` and cached by version.
"""

from modelserve.localcluster.cluster import LocalCluster, default_nodes
from modelserve.localcluster.prometheus import LocalPrometheus

__all__ = ["LocalCluster", "LocalPrometheus", "default_nodes"]
