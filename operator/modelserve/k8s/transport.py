"""HTTP to the API server: JSON in, JSON out, over one pool of keep-alive TLS connections (urllib3).

This is all the operator needs of a Kubernetes client: it builds its paths itself
(k8s/resources.py) and reads and writes plain dicts. The official client's ApiClient did the same
with more on top (walking every body to "sanitize" it, a thread pool per client, 800 generated model
modules imported), which cost memory at rest and CPU in a storm. Behaviour kept from it: urllib3's
default retries of a failed connection, a 30 s timeout per request, and `ApiException` with
`status`, `reason`, `body` and `headers` for every answer of 400 or more.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import urllib3

from modelserve.k8s.kubeconfig import Credentials

REQUEST_TIMEOUT = 30.0
Timeout = float | tuple[float, float]


class ApiException(Exception):
    """The API server answered `status` (400 or more). `body` is the answer's text (usually a
    Status object); `message` is that Status's message when there is one."""

    def __init__(
        self,
        status: int | None = None,
        reason: str | None = None,
        body: str | None = None,
        headers: Any = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.body = body
        self.headers = headers
        super().__init__(status, reason)

    @property
    def message(self) -> str:
        try:
            found = json.loads(self.body or "").get("message")
        except (ValueError, AttributeError):
            found = None
        return str(found or self.reason or "")

    @property
    def cause_types(self) -> set[str]:
        """The `type` of each of the Status's details.causes (FieldValueInvalid, NamespaceTerminating...)."""
        try:
            causes = (json.loads(self.body or "").get("details") or {}).get("causes") or []
        except (ValueError, AttributeError):
            return set()
        return {str(c.get("type")) for c in causes if isinstance(c, dict) and c.get("type")}

    @property
    def namespace_terminating(self) -> bool:
        """Refused because the namespace is being deleted (the NamespaceLifecycle admission plugin):
        nothing can be created there any more, and retrying cannot help."""
        return self.status == 403 and "NamespaceTerminating" in self.cause_types

    def __str__(self) -> str:
        return f"({self.status}) {self.message}".strip()


class Transport:
    """Requests to the API server of `credentials`, `pool_size` connections kept open."""

    def __init__(self, credentials: Credentials, pool_size: int = 32) -> None:
        self.credentials = credentials
        self.pool_size = pool_size
        self._lock = threading.Lock()
        self._client_cert: tuple[str | None, str | None] = (None, None)
        self._pool: urllib3.PoolManager | None = None

    @property
    def server(self) -> str:
        return self.credentials.server

    def request(self, method: str, path: str, **options: Any) -> Any:
        """The parsed JSON answer (None when empty) of `exchange`; ApiException for a status of 400 or
        more."""
        return self.exchange(method, path, **options)[1]

    def exchange(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, Any]] = (),
        body: Any = None,
        content_type: str = "application/json",
        timeout: Timeout = REQUEST_TIMEOUT,
    ) -> tuple[int, Any]:
        """(HTTP status, parsed JSON answer or None) of a successful request; ApiException otherwise."""
        response = self._send(method, path, query, body, content_type, timeout, stream=False)
        data = response.data
        return response.status, (json.loads(data) if data else None)

    def stream(self, path: str, *, query: Sequence[tuple[str, Any]] = (), timeout: Timeout) -> Any:
        """A GET whose answer is read as it arrives (a watch): the open urllib3 response, to be read
        with `.stream()` and closed by the caller."""
        return self._send("GET", path, query, None, "application/json", timeout, stream=True)

    def _send(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, Any]],
        body: Any,
        content_type: str,
        timeout: Timeout,
        stream: bool,
    ) -> Any:
        headers = {"Accept": "application/json"}
        authorization = self.credentials.authorization()
        if authorization:
            headers["Authorization"] = authorization
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = content_type
        url = self.credentials.server + path + (f"?{urlencode(list(query))}" if query else "")
        if isinstance(timeout, tuple):
            limit = urllib3.Timeout(connect=timeout[0], read=timeout[1])
        else:
            limit = urllib3.Timeout(total=timeout)
        response = self._connections().request(
            method, url, body=data, headers=headers, timeout=limit, preload_content=not stream
        )
        if response.status >= 400:
            text = response.data.decode("utf-8", "replace") if not stream else _drain(response)
            raise ApiException(response.status, response.reason, text, response.headers)
        return response

    def _connections(self) -> urllib3.PoolManager:
        """The connection pool; built again when an exec plugin hands out a new client certificate."""
        creds = self.credentials
        with self._lock:
            if self._pool is None or self._client_cert != (creds.cert_path, creds.key_path):
                self._client_cert = (creds.cert_path, creds.key_path)
                kwargs: dict[str, Any] = {}
                if creds.server.startswith("https://"):
                    kwargs["ssl_context"] = tls_context(creds)
                    if creds.tls_server_name:
                        kwargs["server_hostname"] = creds.tls_server_name
                        kwargs["assert_hostname"] = creds.tls_server_name
                self._pool = urllib3.PoolManager(num_pools=4, maxsize=self.pool_size, **kwargs)
            return self._pool


def tls_context(creds: Credentials) -> ssl.SSLContext:
    context = (
        ssl.create_default_context(cafile=creds.ca_path) if creds.ca_path else ssl.create_default_context()
    )
    if creds.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if creds.cert_path and creds.key_path:
        context.load_cert_chain(creds.cert_path, creds.key_path)
    return context


def _drain(response: Any) -> str:
    try:
        return bytes(response.read()).decode("utf-8", "replace")
    finally:
        response.release_conn()
