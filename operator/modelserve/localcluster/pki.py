"""Certificates and keys for the local control plane, made with the openssl command line."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=120)


@dataclass(frozen=True)
class ClientCert:
    cert: Path
    key: Path


class LocalPKI:
    """A throw-away CA that signs the API server's serving cert and one client cert per component."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_cert = self.dir / "ca.crt"
        self.ca_key = self.dir / "ca.key"
        self.sa_key = self.dir / "sa.key"
        self.sa_pub = self.dir / "sa.pub"
        self.serving_cert = self.dir / "apiserver.crt"
        self.serving_key = self.dir / "apiserver.key"

    def create(self) -> None:
        d = self.dir
        if not self.ca_cert.exists():
            _openssl(
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "3650",
                "-subj",
                "/CN=modelserve-local-ca",
                cwd=d,
            )
        if not self.sa_key.exists():
            _openssl("genrsa", "-out", "sa.key", "2048", cwd=d)
            _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)
        if not self.serving_cert.exists():
            san = (
                "subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
                "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,"
                "IP:127.0.0.1,IP:10.96.0.1"
            )
            self._sign("apiserver", "/CN=kube-apiserver", extensions=san, server=True)

    def client(self, name: str, user: str, groups: tuple[str, ...] = ()) -> ClientCert:
        """A client certificate for `user` in `groups` (CN and O, as Kubernetes reads them)."""
        cert = self.dir / f"{name}.crt"
        if not cert.exists():
            subject = f"/CN={user}" + "".join(f"/O={g}" for g in groups)
            self._sign(name, subject, extensions=None, server=False)
        return ClientCert(cert=cert, key=self.dir / f"{name}.key")

    def serving(
        self, name: str, dns: tuple[str, ...] = (), ips: tuple[str, ...] = (), *, mutual: bool = False
    ) -> ClientCert:
        """A serving certificate for an extension API server (its DNS names and IP addresses);
        `mutual`: also a client certificate (mutual TLS between KEDA's operator and its adapter)."""
        cert = self.dir / f"{name}.crt"
        if not cert.exists():
            san = "subjectAltName=" + ",".join([f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips])
            self._sign(name, f"/CN={name}", extensions=san, server=True, client=mutual)
        return ClientCert(cert=cert, key=self.dir / f"{name}.key")

    def _sign(
        self, name: str, subject: str, *, extensions: str | None, server: bool, client: bool = False
    ) -> None:
        d = self.dir
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            subject,
            cwd=d,
        )
        ext = d / f"{name}.ext"
        usage = "serverAuth,clientAuth" if server and client else "serverAuth" if server else "clientAuth"
        lines = [
            "basicConstraints=CA:FALSE",
            "keyUsage=digitalSignature,keyEncipherment",
            f"extendedKeyUsage={usage}",
        ]
        if extensions:
            lines.append(extensions)
        ext.write_text("\n".join(lines) + "\n")
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "3650",
            "-extfile",
            ext.name,
            cwd=d,
        )
