"""Where the API server is and who we are to it: in-cluster, or a kubeconfig (KUBECONFIG, ~/.kube/config).

The operator talks to the API server through its own small transport (k8s/transport.py), not the
official client: importing that package loads its 800 generated modules (about 50 MB of the idle
process, which kopf then imports too when it finds it installed), and the operator only ever sends and
receives plain JSON. What the official loader accepts and the operator needs is read here:

* **in-cluster**: the service account's token file (re-read as the kubelet rotates it) and CA;
* **kubeconfig**: several files in KUBECONFIG (the first to name a cluster, user or context wins, as
  kubectl merges them), a chosen or the current context; the cluster's `server`,
  `certificate-authority(-data)`, `insecure-skip-tls-verify` and `tls-server-name`; the user's
  `client-certificate(-data)` and `client-key(-data)`, `token`, `tokenFile`, `username`/`password`,
  and an `exec` credential plugin (EKS, GKE, OIDC helpers) whose token or client certificate is
  used until its `expirationTimestamp`. Relative paths are relative to the file that names them.

A kubeconfig the operator cannot use (a missing context, a user with the retired `auth-provider`) is
an error naming the field. Parsing (`credentials_from_kubeconfig`) is pure; reading files and running
the exec plugin are at the edge.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# client-go re-reads a token file at most once a minute; the kubelet rotates it well before expiry.
TOKEN_FILE_SECONDS = 60.0
# An exec credential is run again this long before its expiry, so no request carries a stale one.
EXEC_MARGIN_SECONDS = 10.0
EXEC_TIMEOUT_SECONDS = 60.0


class KubeconfigError(ValueError):
    """A kubeconfig (or in-cluster environment) the operator cannot use; the message names the field."""


@dataclass(frozen=True)
class ExecPlugin:
    """A user's `exec` credential plugin (client.authentication.k8s.io ExecCredential)."""

    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    api_version: str = "client.authentication.k8s.io/v1"
    cwd: str | None = None


@dataclass
class Credentials:
    """How to reach one API server. Paths are files on disk (data from a kubeconfig is written to
    private temporary files, which the TLS context and kopf both read); `token_file` and `exec_plugin`
    give a token that can change while the process runs, read through `authorization()`."""

    server: str
    ca_path: str | None = None
    insecure: bool = False
    tls_server_name: str | None = None
    cert_path: str | None = None
    key_path: str | None = None
    token: str | None = None
    token_file: str | None = None
    username: str | None = None
    password: str | None = None
    exec_plugin: ExecPlugin | None = None
    namespace: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _token_read_at: float = field(default=-1e18, repr=False, compare=False)
    _exec_expires_at: float = field(default=-1e18, repr=False, compare=False)

    def authorization(self, now: float | None = None) -> str | None:
        """The Authorization header value, or None (a client certificate alone)."""
        token = self.current_token(now)
        if token:
            return f"Bearer {token}"
        if self.username is not None and self.password is not None:
            raw = f"{self.username}:{self.password}".encode()
            return "Basic " + base64.b64encode(raw).decode()
        return None

    def current_token(self, now: float | None = None) -> str | None:
        """The bearer token now: the exec plugin's while valid, the token file's (re-read every
        minute), else the static one."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self.exec_plugin is not None and now >= self._exec_expires_at:
                self._run_exec(now)
            if self.token_file and now - self._token_read_at >= TOKEN_FILE_SECONDS:
                self.token = Path(self.token_file).read_text().strip()
                self._token_read_at = now
            return self.token

    def _run_exec(self, now: float) -> None:
        assert self.exec_plugin is not None
        status = run_exec_plugin(self.exec_plugin)
        self.token = status.get("token") or self.token
        if status.get("clientCertificateData") and status.get("clientKeyData"):
            self.cert_path = _private_file(status["clientCertificateData"].encode(), "client.crt")
            self.key_path = _private_file(status["clientKeyData"].encode(), "client.key")
        expiry = status.get("expirationTimestamp")
        if expiry:
            at = datetime.fromisoformat(str(expiry).replace("Z", "+00:00"))
            left = (at - datetime.now(UTC)).total_seconds() - EXEC_MARGIN_SECONDS
            self._exec_expires_at = now + max(0.0, left)
        else:  # valid for the life of the process
            self._exec_expires_at = float("inf")


def load_credentials(kubeconfig: str | None = None, context: str | None = None) -> Credentials:
    """In-cluster credentials when running in a pod and no kubeconfig is given, else the kubeconfig's:
    `kubeconfig`, else KUBECONFIG (paths separated by os.pathsep), else ~/.kube/config."""
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return in_cluster_credentials(os.environ)
    if kubeconfig is not None:
        paths = [kubeconfig]
    else:
        paths = [p for p in (os.environ.get("KUBECONFIG") or "").split(os.pathsep) if p]
        paths = paths or [os.path.expanduser("~/.kube/config")]
    documents = []
    for path in paths:
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            if len(paths) == 1:
                raise KubeconfigError(f"kubeconfig {path}: no such file") from None
            continue  # kubectl skips a missing file of several
        try:
            documents.append((yaml.safe_load(text) or {}, str(Path(path).resolve().parent)))
        except yaml.YAMLError as exc:
            raise KubeconfigError(f"kubeconfig {path}: not YAML: {exc}") from None
    creds = credentials_from_kubeconfig(documents, context)
    return creds


def in_cluster_credentials(env: Mapping[str, str], root: Path = SERVICE_ACCOUNT) -> Credentials:
    host, port = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise KubeconfigError("in-cluster: KUBERNETES_SERVICE_HOST is not set")
    token = root / "token"
    if not token.exists():
        raise KubeconfigError(f"in-cluster: no service account token at {token}")
    namespace = root / "namespace"
    return Credentials(
        server=f"https://{_bracketed(host)}:{port}",
        ca_path=str(root / "ca.crt"),
        token_file=str(token),
        namespace=namespace.read_text().strip() if namespace.exists() else None,
    )


def credentials_from_kubeconfig(
    documents: Sequence[tuple[Mapping[str, Any], str]], context: str | None = None
) -> Credentials:
    """The credentials of `context` (else the current context) in the merged kubeconfig documents, each
    given with the directory its relative paths are relative to. Pure, except that inline data
    (`*-data`) is written to private temporary files."""
    named: dict[str, dict[str, tuple[Mapping[str, Any], str]]] = {"clusters": {}, "users": {}, "contexts": {}}
    current = None
    for doc, base in documents:
        if not isinstance(doc, Mapping):
            raise KubeconfigError("kubeconfig: not a mapping")
        current = current or doc.get("current-context") or None
        for section, entries in named.items():
            for i, entry in enumerate(doc.get(section) or []):
                if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
                    raise KubeconfigError(f"kubeconfig: {section}[{i}].name is missing")
                item = entry.get(section[:-1])
                if not isinstance(item, Mapping):
                    raise KubeconfigError(f"kubeconfig: {section}[{i}].{section[:-1]} is missing")
                entries.setdefault(entry["name"], (item, base))  # the first file to name it wins
    name = context or current
    if not name:
        raise KubeconfigError("kubeconfig: no context given and current-context is not set")
    if name not in named["contexts"]:
        raise KubeconfigError(f"kubeconfig: contexts[{name!r}] does not exist")
    ctx, _ = named["contexts"][name]
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    if cluster_name not in named["clusters"]:
        raise KubeconfigError(
            f"kubeconfig: contexts[{name!r}].context.cluster {cluster_name!r} does not exist"
        )
    cluster, cluster_base = named["clusters"][cluster_name]
    user, user_base = named["users"].get(user_name, ({}, cluster_base)) if user_name else ({}, cluster_base)
    if user_name and user_name not in named["users"]:
        raise KubeconfigError(f"kubeconfig: contexts[{name!r}].context.user {user_name!r} does not exist")
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        raise KubeconfigError(f"kubeconfig: clusters[{cluster_name!r}].cluster.server must be an http(s) URL")
    if user.get("auth-provider"):
        raise KubeconfigError(
            f"kubeconfig: users[{user_name!r}].user.auth-provider is not supported (retired in "
            "Kubernetes 1.26): use an exec credential plugin"
        )
    creds = Credentials(
        server=server.rstrip("/"),
        ca_path=_file_or_data(cluster, "certificate-authority", cluster_base, "ca.crt"),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=cluster.get("tls-server-name") or None,
        cert_path=_file_or_data(user, "client-certificate", user_base, "client.crt"),
        key_path=_file_or_data(user, "client-key", user_base, "client.key"),
        token=user.get("token") or None,
        token_file=_path(user.get("tokenFile"), user_base),
        username=user.get("username"),
        password=user.get("password"),
        exec_plugin=_exec_plugin(user.get("exec"), user_base, user_name),
        namespace=ctx.get("namespace") or None,
    )
    if bool(creds.cert_path) != bool(creds.key_path):
        raise KubeconfigError(
            f"kubeconfig: users[{user_name!r}].user needs both client-certificate and client-key"
        )
    return creds


def run_exec_plugin(plugin: ExecPlugin) -> dict[str, Any]:
    """Run the credential plugin and return its ExecCredential's status (token, or client certificate
    and key, and expirationTimestamp)."""
    request = {"apiVersion": plugin.api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
    env = {**os.environ, **dict(plugin.env), "KUBERNETES_EXEC_INFO": json.dumps(request)}
    try:
        done = subprocess.run(
            [plugin.command, *plugin.args],
            env=env,
            cwd=plugin.cwd,
            capture_output=True,
            text=True,
            timeout=EXEC_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KubeconfigError(
            f"kubeconfig: user.exec.command {plugin.command!r} could not run: {exc}"
        ) from None
    if done.returncode != 0:
        raise KubeconfigError(
            f"kubeconfig: user.exec.command {plugin.command!r} exited {done.returncode}: "
            f"{done.stderr.strip()[:300]}"
        )
    try:
        status = (json.loads(done.stdout) or {}).get("status") or {}
    except (json.JSONDecodeError, AttributeError):
        raise KubeconfigError(
            f"kubeconfig: user.exec.command {plugin.command!r} did not print an ExecCredential"
        ) from None
    if not status.get("token") and not status.get("clientCertificateData"):
        raise KubeconfigError(
            f"kubeconfig: user.exec.command {plugin.command!r} gave neither a token nor a certificate"
        )
    return dict(status)


# -- helpers -----------------------------------------------------------------------------------------------
def _exec_plugin(spec: Any, base: str, user: Any) -> ExecPlugin | None:
    if not spec:
        return None
    if not isinstance(spec, Mapping) or not isinstance(spec.get("command"), str):
        raise KubeconfigError(f"kubeconfig: users[{user!r}].user.exec.command is missing")
    command = spec["command"]
    if os.sep in command and not os.path.isabs(command):  # a relative path names a file beside the config
        command = os.path.join(base, command)
    env = tuple(
        (str(e.get("name")), str(e.get("value", ""))) for e in spec.get("env") or [] if isinstance(e, Mapping)
    )
    return ExecPlugin(
        command=command,
        args=tuple(str(a) for a in spec.get("args") or []),
        env=env,
        api_version=str(spec.get("apiVersion") or "client.authentication.k8s.io/v1"),
        cwd=base,
    )


def _file_or_data(section: Mapping[str, Any], key: str, base: str, name: str) -> str | None:
    data = section.get(f"{key}-data")
    if data:
        try:
            raw = base64.b64decode(str(data), validate=True)
        except ValueError:
            raise KubeconfigError(f"kubeconfig: {key}-data is not base64") from None
        return _private_file(raw, name)
    return _path(section.get(key), base)


def _path(value: Any, base: str) -> str | None:
    if not value:
        return None
    path = os.path.expanduser(str(value))
    return path if os.path.isabs(path) else os.path.join(base, path)


def _private_file(data: bytes, name: str) -> str:
    fd, path = tempfile.mkstemp(prefix="modelserve-", suffix=f"-{name}")  # mode 0600
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    atexit.register(_remove, path)
    return path


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
