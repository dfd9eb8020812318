"""An extension API server on the local control plane: its address, and its APIService registration.

Both metrics servers of the local cluster (prometheus-adapter for custom.metrics.k8s.io, adapter.py;
KEDA's for external.metrics.k8s.io, keda.py) run as host processes behind the API server's
aggregation layer (flags in cluster.py), which proxies to the Endpoints of a Service.

The API server refuses Endpoints on loopback addresses, and this machine may have no other address
of its own to spare: so `HostLink` creates a veth pair, its far end in a network namespace of its
own, and the server listens on the near end's address (a private /30). That address is local to the
host, so the API server, the server's own clients (to the API server and Prometheus, on 127.0.0.1)
and the HPA controller all reach it without any routing. Needs root (`ip netns`, `ip link`).
Deleting the namespace takes the veth pair with it.

`ExtensionAPI` registers the Service, Endpoints and one APIService per version, and removes the
APIServices first on the way out: an unavailable aggregated API breaks discovery for every client.
"""

from __future__ import annotations

import base64
import os
import subprocess
from dataclasses import dataclass

import yaml

from modelserve.localcluster.cluster import LocalCluster


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


class HostLink:
    """A host-local address for one extension API server: `address`, the near end of a veth pair.

    `short` (at most 4 characters) names the interfaces, `octet` picks the /24 inside 10.254.0.0/16
    the /30 is cut from (one per kind of server, so two can run at once); the process id picks the
    /30, so parallel test runs do not collide."""

    def __init__(self, short: str, octet: int) -> None:
        tag = os.getpid() % 10000
        self.netns = f"ms-{short}-{tag}"
        self.veth = f"{short}{tag}h"  # interface names: at most 15 characters
        self.peer = f"{short}{tag}n"
        subnet = 4 * (tag % 60)
        self.address = f"10.254.{octet}.{subnet + 1}"
        self.peer_address = f"10.254.{octet}.{subnet + 2}"

    def create(self) -> None:
        self.delete()  # a leftover of a killed run
        _ip("netns", "add", self.netns)
        _ip("link", "add", self.veth, "type", "veth", "peer", "name", self.peer)
        _ip("link", "set", self.peer, "netns", self.netns)
        _ip("addr", "add", f"{self.address}/30", "dev", self.veth)
        _ip("link", "set", self.veth, "up")
        _ip("-n", self.netns, "addr", "add", f"{self.peer_address}/30", "dev", self.peer)
        _ip("-n", self.netns, "link", "set", self.peer, "up")

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "delete", self.netns], capture_output=True, timeout=30)


@dataclass(frozen=True)
class ExtensionAPI:
    """`group` at `versions` (lowest priority first), served at `address`:`port` by the Service
    `service` in `namespace` (created here, deleted with it)."""

    cluster: LocalCluster
    group: str
    versions: tuple[str, ...]
    namespace: str
    service: str

    def register(self, address: str, port: int) -> None:
        ca = base64.b64encode(self.cluster.pki.ca_cert.read_bytes()).decode()
        docs: list[dict] = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}},
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": self.service, "namespace": self.namespace},
                "spec": {"ports": [{"name": "https", "port": 443, "targetPort": port}]},
            },
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": self.service, "namespace": self.namespace},
                "subsets": [{"addresses": [{"ip": address}], "ports": [{"name": "https", "port": port}]}],
            },
        ]
        for priority, version in enumerate(self.versions, start=1):
            docs.append(
                {
                    "apiVersion": "apiregistration.k8s.io/v1",
                    "kind": "APIService",
                    "metadata": {"name": f"{version}.{self.group}"},
                    "spec": {
                        "group": self.group,
                        "version": version,
                        "service": {"name": self.service, "namespace": self.namespace, "port": 443},
                        "caBundle": ca,
                        "groupPriorityMinimum": 100,
                        "versionPriority": 100 * priority,
                    },
                }
            )
        self.cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(docs))

    def unregister(self) -> None:
        for version in self.versions:
            self.cluster.kubectl(
                "delete", "apiservice", f"{version}.{self.group}", "--ignore-not-found", check=False
            )
        self.cluster.kubectl(
            "delete", "namespace", self.namespace, "--ignore-not-found", "--wait=false", check=False
        )

    def serving(self) -> bool:
        """The newest version answers discovery through the aggregation layer."""
        out = self.cluster.kubectl("get", "--raw", f"/apis/{self.group}/{self.versions[-1]}", check=False)
        return out.returncode == 0 and "APIResourceList" in out.stdout

    def describe(self) -> str:
        """The newest version's APIService as YAML, for a timeout's diagnostics."""
        out = self.cluster.kubectl(
            "get", "apiservice", f"{self.versions[-1]}.{self.group}", "-o", "yaml", check=False
        )
        return out.stdout + out.stderr
