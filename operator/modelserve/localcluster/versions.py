"""Pinned toolchain versions (versions.env, the one place they live) and the binary cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

VERSIONS_FILE = Path(__file__).with_name("versions.env")


@cache
def versions() -> dict[str, str]:
    """Return the KEY=VALUE pins of versions.env."""
    pins: dict[str, str] = {}
    for line in VERSIONS_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            pins[key.strip()] = value.strip()
    return pins


def cache_dir() -> Path:
    return Path(os.environ.get("MODELSERVE_CACHE", Path.home() / ".cache" / "modelserve"))


def bin_dir() -> Path:
    return cache_dir() / "bin"


def binary(name: str) -> Path:
    """Path of a cached binary: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl,
    etcd, kwok, helm, weed (SeaweedFS) or prometheus-adapter. Raises FileNotFoundError with the
    command that builds it."""
    v = versions()
    folder = {
        "kube-apiserver": f"kubernetes-{v['KUBERNETES_VERSION']}",
        "kube-controller-manager": f"kubernetes-{v['KUBERNETES_VERSION']}",
        "kube-scheduler": f"kubernetes-{v['KUBERNETES_VERSION']}",
        "kubectl": f"kubernetes-{v['KUBERNETES_VERSION']}",
        "etcd": f"etcd-{v['ETCD_VERSION']}",
        "kwok": f"kwok-{v['KWOK_VERSION']}",
        "helm": f"helm-{v['HELM_VERSION']}",
        "weed": f"seaweedfs-{v['SEAWEEDFS_VERSION']}",
        "prometheus-adapter": f"prometheus-adapter-{v['PROMETHEUS_ADAPTER_VERSION']}",
    }[name]
    path = bin_dir() / folder / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make binaries` (hack/build-binaries.sh)")
    return path


def prometheus_binary(name: str = "prometheus") -> Path:
    """The Prometheus (or promtool) binary: $PROMETHEUS_BIN_DIR, then PATH (Debian's package)."""
    override = os.environ.get("PROMETHEUS_BIN_DIR")
    if override and (Path(override) / name).exists():
        return Path(override) / name
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} is not installed: run `make deps` (apt-get install prometheus)")
    return Path(found)


@cache
def go_module_dir(module: str, version: str) -> Path:
    """Directory of a Go module in the module cache, downloading it through the Go proxy if needed."""
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return Path(json.loads(out.stdout)["Dir"])
