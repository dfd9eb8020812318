"""The API server transport (k8s/transport.py) against a real HTTPS server that asks for a client
certificate, as kube-apiserver does: JSON both ways, queries, the Authorization header, errors as
ApiException with the Status message, and a streamed answer read as it arrives."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelserve.k8s.client import KubeClient, json_lines
from modelserve.k8s.kubeconfig import Credentials
from modelserve.k8s.transport import ApiException, Transport
from modelserve.localcluster.pki import LocalPKI

SEEN: list[dict] = []


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *_: object) -> None:
        pass

    def _answer(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        cert = self.connection.getpeercert()  # type: ignore[attr-defined]
        subject = dict(x[0] for x in cert["subject"]) if cert else {}
        SEEN.append(
            {
                "method": self.command,
                "path": url.path,
                "query": parse_qsl(url.query, keep_blank_values=True),
                "body": body,
                "auth": self.headers.get("Authorization"),
                "type": self.headers.get("Content-Type"),
                "cn": subject.get("commonName"),
            }
        )
        if url.path.endswith("/missing"):
            self._json(
                404, {"kind": "Status", "message": 'deployments "missing" not found', "reason": "NotFound"}
            )
        elif url.path.endswith("/invalid"):
            self._json(422, {"kind": "Status", "message": "spec.model.uri: Required value"})
        elif url.path.endswith("/busy"):
            self.send_response(429)
            self.send_header("Retry-After", "1")
            self.end_headers()
        elif "watch=true" in url.query:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            for i in range(3):
                self.wfile.write(json.dumps({"type": "ADDED", "object": {"i": i}}).encode() + b"\n")
                self.wfile.flush()
        else:
            self._json(201 if self.command == "POST" else 200, {"echo": body, "path": url.path})

    def _json(self, status: int, doc: dict) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, LocalPKI]]:
    pki = LocalPKI(Path(tmp_path_factory.mktemp("pki")))
    pki.create()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.serving_cert, pki.serving_key)
    context.load_verify_locations(pki.ca_cert)
    context.verify_mode = ssl.CERT_REQUIRED  # a client certificate, as the local API server asks
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}", pki
    httpd.shutdown()


@pytest.fixture()
def kube(creds: Credentials) -> KubeClient:
    SEEN.clear()
    return KubeClient(Transport(replace(creds, token="tok"), pool_size=4))


def test_json_both_ways_with_client_certificate_and_token(kube: KubeClient) -> None:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "m", "namespace": "ml"}}
    answer = kube.apply(obj)
    assert answer["echo"] == obj
    seen = SEEN[-1]
    assert seen["method"] == "PATCH" and seen["path"] == "/apis/apps/v1/namespaces/ml/deployments/m"
    assert ("fieldManager", "modelserve") in seen["query"] and ("force", "true") in seen["query"]
    assert seen["type"] == "application/apply-patch+yaml"
    assert seen["auth"] == "Bearer tok"
    assert seen["cn"] == "modelserve-operator"
    kube.patch_status("ModelDeployment", "ml", "m", {"phase": "Ready"})
    assert SEEN[-1]["type"] == "application/merge-patch+json"
    assert SEEN[-1]["body"] == {"status": {"phase": "Ready"}}


def test_errors_carry_status_and_the_api_servers_message(kube: KubeClient) -> None:
    assert kube.get("Deployment", "ml", "missing") is None  # 404 is "not there"
    with pytest.raises(ApiException) as err:
        kube.apply(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "invalid", "namespace": "ml"},
            }
        )
    assert err.value.status == 422
    assert str(err.value) == "(422) spec.model.uri: Required value"
    with pytest.raises(ApiException) as busy:
        kube.get("Deployment", "ml", "busy")
    assert busy.value.status == 429 and busy.value.headers["Retry-After"] == "1"


def test_a_watch_is_read_as_a_stream(kube: KubeClient) -> None:
    events = list(kube.watch("Deployment", "ml", resource_version="5", label_selector="a=b"))
    assert [e["object"]["i"] for e in events] == [0, 1, 2]
    query = dict(SEEN[-1]["query"])
    assert query["watch"] == "true" and query["resourceVersion"] == "5" and query["labelSelector"] == "a=b"


def test_a_server_outside_the_ca_is_refused(server: tuple[str, LocalPKI], tmp_path: Path) -> None:
    url, pki = server
    other = LocalPKI(tmp_path / "other")
    other.create()
    client = pki.client("transport-test", "modelserve-operator")
    creds = Credentials(
        server=url, ca_path=str(other.ca_cert), cert_path=str(client.cert), key_path=str(client.key)
    )
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        Transport(creds).request("GET", "/api")


@pytest.fixture(scope="module")
def creds(server: tuple[str, LocalPKI]) -> Credentials:
    url, pki = server
    client = pki.client("transport-test", "modelserve-operator")
    return Credentials(
        server=url, ca_path=str(pki.ca_cert), cert_path=str(client.cert), key_path=str(client.key)
    )


@settings(max_examples=50, deadline=None)
@given(
    query=st.lists(
        st.tuples(
            st.sampled_from(["labelSelector", "fieldSelector", "continue", "limit"]), st.text(max_size=20)
        ),
        max_size=4,
    )
)
def test_any_query_arrives_as_sent(creds: Credentials, query: list[tuple[str, str]]) -> None:
    """Selectors with commas, equals signs, spaces or any unicode arrive exactly (percent-encoded)."""
    SEEN.clear()
    Transport(creds).request("GET", "/api/v1/pods", query=query)
    assert SEEN[-1]["query"] == query


def test_json_lines_survive_any_chunking() -> None:
    docs = [{"type": "MODIFIED", "object": {"n": i, "s": "é" * i}} for i in range(5)]
    data = b"".join(json.dumps(d).encode() + b"\n" for d in docs)
    for size in (1, 3, 7, len(data)):
        assert list(json_lines(data[i : i + size] for i in range(0, len(data), size))) == docs
