"""`modelserve storage-init` against a real S3-compatible server (SeaweedFS, built by `make binaries`)
and a real HTTP server on loopback: files land where the contract says, digests are checked, and each
failure gives its one line (stderr and termination file) without the secret."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from modelserve.localcluster.processes import free_port
from modelserve.localcluster.s3 import LocalS3
from modelserve.localcluster.versions import bin_dir, versions
from modelserve.storage.checksum import manifest_sha256

BUCKET = "models"


@dataclass
class Run:
    rc: int
    out: str
    err: str
    termination: str

    @property
    def everything(self) -> str:
        return self.out + self.err + self.termination


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3]:
    server = LocalS3(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    try:
        server.create_bucket(BUCKET)
        yield server
    finally:
        server.stop()


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any AWS/HF setting of the machine, IMDS off (no request may
    leave loopback), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HF_", "GOOGLE_"))}
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE="/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
    )
    env.update(extra)
    return env


def storage_init(tmp_path: Path, uri: str, env: dict[str, str], sha256: str | None = None) -> Run:
    term = tmp_path / "termination-log"
    argv = [
        sys.executable,
        "-m",
        "modelserve",
        "storage-init",
        "--uri",
        uri,
        "--dest",
        str(tmp_path / "dest"),
    ]
    if sha256:
        argv += ["--sha256", sha256]
    proc = subprocess.run(
        argv,
        env={**env, "MODELSERVE_TERMINATION_LOG": str(term)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, term.read_text() if term.exists() else "")


def listing(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_single_object_lands_under_its_name_with_its_digest(s3: LocalS3, tmp_path: Path) -> None:
    data = os.urandom(40 * 2**20 + 12345)  # above the 16 MiB part size: parallel ranged GETs
    src = tmp_path / "model.joblib"
    src.write_bytes(data)
    s3.upload(BUCKET, "fraud/v1/model.joblib", src)
    run = storage_init(
        tmp_path,
        f"s3://{BUCKET}/fraud/v1/model.joblib",
        clean_env(**s3.env()),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    assert run.rc == 0, run.err
    assert listing(tmp_path / "dest") == ["model.joblib"]
    assert (tmp_path / "dest" / "model.joblib").read_bytes() == data
    assert "verified" in run.out and s3.secret_key not in run.everything


def test_prefix_keeps_relative_paths_and_checks_the_manifest(s3: LocalS3, tmp_path: Path) -> None:
    contents = {
        "model-settings.json": b"{}",
        "weights/model.bin": os.urandom(3 * 2**20),
        "weights/extra": b"x",
    }
    for name, body in contents.items():
        s3.put(BUCKET, f"sklearn/v2/{name}", body)
    s3.put(BUCKET, "sklearn/v2-other/not-this", b"n")
    digest = manifest_sha256({name: hashlib.sha256(body).hexdigest() for name, body in contents.items()})
    run = storage_init(tmp_path, f"s3://{BUCKET}/sklearn/v2", clean_env(**s3.env()), sha256=digest)
    assert run.rc == 0, run.err
    assert listing(tmp_path / "dest") == sorted(contents)
    assert (tmp_path / "dest" / "weights" / "model.bin").read_bytes() == contents["weights/model.bin"]


def test_wrong_checksum_fails_with_one_line_and_leaves_no_model(s3: LocalS3, tmp_path: Path) -> None:
    s3.put(BUCKET, "bad/model.onnx", b"tampered")
    wrong = "0" * 64
    run = storage_init(tmp_path, f"s3://{BUCKET}/bad/model.onnx", clean_env(**s3.env()), sha256=wrong)
    actual = hashlib.sha256(b"tampered").hexdigest()
    expected_line = (
        f"ModelFetchFailed: s3://{BUCKET}/bad/model.onnx: checksum mismatch (expected {wrong}, got {actual})"
    )
    assert run.rc != 0
    assert run.termination == expected_line + "\n" and run.err == expected_line + "\n"
    assert listing(tmp_path / "dest") == []


def test_missing_object_is_not_found(s3: LocalS3, tmp_path: Path) -> None:
    run = storage_init(tmp_path, f"s3://{BUCKET}/nothing/here.bin", clean_env(**s3.env()))
    assert run.rc != 0 and "not found" in run.termination
    run = storage_init(tmp_path, "s3://no-such-bucket/model.bin", clean_env(**s3.env()))
    assert run.rc != 0 and "not found" in run.termination


def test_wrong_credentials_are_access_denied_and_never_printed(s3: LocalS3, tmp_path: Path) -> None:
    secret = "wrongSecret/" + "Zq9" * 10
    env = clean_env(**{**s3.env(), "AWS_SECRET_ACCESS_KEY": secret})
    run = storage_init(tmp_path, f"s3://{BUCKET}/fraud/v1/model.joblib", env)
    assert run.rc != 0 and "access denied" in run.termination, run.everything
    assert secret not in run.everything and s3.secret_key not in run.everything
    env = clean_env(**{**s3.env(), "AWS_ACCESS_KEY_ID": "unknownkey123"})
    run = storage_init(tmp_path, f"s3://{BUCKET}/fraud/v1/model.joblib", env)
    assert run.rc != 0 and "access denied" in run.termination
    assert s3.secret_key not in run.everything


def test_no_credentials_say_so(s3: LocalS3, tmp_path: Path) -> None:
    run = storage_init(
        tmp_path, f"s3://{BUCKET}/fraud/v1/model.joblib", clean_env(AWS_ENDPOINT_URL=s3.endpoint)
    )
    assert run.rc != 0 and "missing credentials" in run.termination


def test_unreachable_endpoint(s3: LocalS3, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    run = storage_init(tmp_path, f"s3://{BUCKET}/m.bin", clean_env(**{**s3.env(), "AWS_ENDPOINT_URL": dead}))
    assert run.rc != 0 and f"ModelFetchFailed: s3://{BUCKET}/m.bin: unreachable" in run.termination


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_file_is_streamed_and_checked(http_root: tuple[Path, str], tmp_path: Path) -> None:
    root, url = http_root
    data = os.urandom(5 * 2**20)
    (root / "model.onnx").write_bytes(data)
    run = storage_init(
        tmp_path, f"{url}/model.onnx?token=abc", clean_env(), sha256=hashlib.sha256(data).hexdigest()
    )
    assert run.rc == 0, run.err
    assert (tmp_path / "dest" / "model.onnx").read_bytes() == data
    assert "token=abc" not in run.out
    run = storage_init(tmp_path, f"{url}/missing.onnx", clean_env())
    assert run.rc != 0 and run.termination.startswith(f"ModelFetchFailed: {url}/missing.onnx: not found")


class RangeServer(http.server.ThreadingHTTPServer):
    """A loopback HTTP server for one file that serves byte ranges (``Range``, ``If-Range`` on its
    ETag) as object stores and CDNs do, and records the ranges asked and the peak concurrency."""

    def __init__(self, data: bytes, etag: str = '"v1"'):
        self.data, self.etag = data, etag
        self.ranges: list[str] = []
        self.active = self.peak = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), RangeHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/model.safetensors"


class RangeHandler(http.server.BaseHTTPRequestHandler):
    server: RangeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        srv = self.server
        with srv.lock:
            srv.active += 1
            srv.peak = max(srv.peak, srv.active)
        try:
            self._answer(srv)
        finally:
            with srv.lock:
                srv.active -= 1

    def _answer(self, srv: RangeServer) -> None:
        data, wanted = srv.data, self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if wanted and (if_range is None or if_range == srv.etag):
            first, last = (int(x) for x in wanted.removeprefix("bytes=").split("-"))
            with srv.lock:
                srv.ranges.append(wanted)
            if first >= len(data):  # RFC 9110: no byte of the range exists
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = data[first : last + 1]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("ETag", srv.etag)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        view = memoryview(body)
        for i in range(0, len(view), 1 << 20):  # in 1 MiB writes, so parts overlap in time
            self.wfile.write(view[i : i + (1 << 20)])


@pytest.fixture
def range_server() -> Iterator[RangeServer]:
    server = RangeServer(os.urandom(40 * 2**20 + 12345))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_large_http_file_downloads_in_parallel_ranges(range_server: RangeServer, tmp_path: Path) -> None:
    """40 MiB from a server with ranges: a 1-byte probe, then 8 MiB parts fetched concurrently into one
    file at their offsets; the digest matches and nothing but the final file is left."""
    data = range_server.data
    run = storage_init(tmp_path, range_server.url, clean_env(), sha256=hashlib.sha256(data).hexdigest())
    assert run.rc == 0, run.err
    assert (tmp_path / "dest" / "model.safetensors").read_bytes() == data
    assert listing(tmp_path / "dest") == ["model.safetensors"]
    part = 8 * 2**20
    expected = ["bytes=0-0"] + [
        f"bytes={s}-{min(s + part, len(data)) - 1}" for s in range(0, len(data), part)
    ]
    assert sorted(range_server.ranges) == sorted(expected)
    assert range_server.peak > 1, "parts were fetched one after the other"


def test_an_empty_file_is_fetched_whole(tmp_path: Path) -> None:
    """A server with ranges answers 416 to the probe of an empty file: it is fetched with a plain GET."""
    server = RangeServer(b"")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        run = storage_init(tmp_path, server.url, clean_env(), sha256=hashlib.sha256(b"").hexdigest())
    finally:
        server.shutdown()
        server.server_close()
    assert run.rc == 0, run.err
    assert (tmp_path / "dest" / "model.safetensors").read_bytes() == b""
    assert server.ranges == ["bytes=0-0"]


def test_a_file_replaced_during_the_download_fails(range_server: RangeServer, tmp_path: Path) -> None:
    """The parts carry If-Range with the probe's ETag: once the file changes the server answers 200
    (the new whole file), and the fetch fails instead of mixing two versions."""
    original = range_server.finish_request

    def replace_after_probe(request: object, client_address: object) -> None:
        if range_server.ranges:  # the probe was served: the file is "replaced"
            range_server.etag = '"v2"'
        original(request, client_address)  # type: ignore[arg-type]

    range_server.finish_request = replace_after_probe  # type: ignore[method-assign]
    run = storage_init(tmp_path, range_server.url, clean_env())
    assert run.rc != 0
    assert "the file changed during the download" in run.termination, run.termination
    assert listing(tmp_path / "dest") == []


# --- hf:// against a local Hugging Face Hub -------------------------------------------------------------
COMMIT = "0123456789abcdef0123456789abcdef01234567"
HUB_TOKEN = "hf_test_token_not_a_secret_elsewhere"


class HubServer(http.server.ThreadingHTTPServer):
    """The Hugging Face Hub endpoints huggingface_hub's `snapshot_download` calls, for repositories
    held in memory (read from huggingface_hub's sources: `HfApi.model_info`, `list_repo_tree`,
    `get_hf_file_metadata`, `hf_raise_for_status`):

    * ``GET /api/models/{repo}/revision/{rev}`` -> ``{"id", "sha"}``; an unknown repo is 404 with
      ``X-Error-Code: RepoNotFound``, an unknown revision 404 with ``RevisionNotFound``;
    * ``GET /api/models/{repo}/tree/{commit}`` -> ``[{"type": "file", "path", "size", "oid"}]``;
    * ``HEAD``/``GET /{repo}/resolve/{rev}/{path}`` -> the bytes with ``X-Repo-Commit`` and ``ETag``;
    * a gated repo answers 403 ``X-Error-Code: GatedRepo`` without ``Authorization: Bearer <token>``.
    """

    def __init__(self, repos: dict[str, dict[str, bytes]], gated: set[str]):
        self.repos, self.gated = repos, gated
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), HubHandler)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class HubHandler(http.server.BaseHTTPRequestHandler):
    server: HubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._route(body=False)

    def do_GET(self) -> None:
        self._route(body=True)

    def _send(self, status: int, payload: bytes, headers: dict[str, str], body: bool) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def _error(self, status: int, code: str, body: bool) -> None:
        self._send(status, b'{"error": "' + code.encode() + b'"}', {"X-Error-Code": code}, body)

    def _route(self, body: bool) -> None:
        path = urllib.parse.urlsplit(self.path).path
        self.server.requests.append(f"{self.command} {path}")
        api = re.fullmatch(r"/api/models/([^/]+/[^/]+)/(revision|tree)/([^/]+)(/.*)?", path)
        resolve = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        repo = api.group(1) if api else resolve.group(1) if resolve else None
        if repo is None or repo not in self.server.repos:
            return self._error(404, "RepoNotFound", body)
        if repo in self.server.gated and self.headers.get("Authorization") != f"Bearer {HUB_TOKEN}":
            return self._error(403, "GatedRepo", body)
        revision = urllib.parse.unquote((api or resolve).group(3 if api else 2))  # type: ignore[union-attr]
        if revision not in ("main", COMMIT):
            return self._error(404, "RevisionNotFound", body)
        files = self.server.repos[repo]
        if api and api.group(2) == "revision":
            return self._send(200, json.dumps({"id": repo, "sha": COMMIT}).encode(), {}, body)
        if api:
            tree = [
                {"type": "file", "path": p, "size": len(d), "oid": hashlib.sha1(d).hexdigest()}
                for p, d in sorted(files.items())
            ]
            return self._send(200, json.dumps(tree).encode(), {"Content-Type": "application/json"}, body)
        name = urllib.parse.unquote(resolve.group(3))  # type: ignore[union-attr]
        if name not in files:
            return self._error(404, "EntryNotFound", body)
        data = files[name]
        headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{hashlib.sha1(data).hexdigest()}"'}
        return self._send(200, data, headers, body)


HUB_FILES = {
    "config.json": b'{"model_type": "tiny"}',
    "model.safetensors": os.urandom(3 * 2**20),
    "tokenizer/vocab.txt": b"a\nb\nc\n",
}


@pytest.fixture
def hub() -> Iterator[HubServer]:
    server = HubServer({"acme/tiny": HUB_FILES, "acme/gated": HUB_FILES}, gated={"acme/gated"})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def hub_env(hub: HubServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    return clean_env(HF_ENDPOINT=hub.endpoint, HF_HOME=str(tmp_path / "hf-home"), **extra)


def test_hf_repository_downloads_at_a_revision(hub: HubServer, tmp_path: Path) -> None:
    expected = manifest_sha256({p: hashlib.sha256(d).hexdigest() for p, d in HUB_FILES.items()})
    run = storage_init(tmp_path, "hf://acme/tiny@main", hub_env(hub, tmp_path), sha256=expected)
    assert run.rc == 0, run.err
    dest = tmp_path / "dest"
    assert listing(dest) == sorted(HUB_FILES)
    assert all((dest / p).read_bytes() == d for p, d in HUB_FILES.items())
    assert "GET /api/models/acme/tiny/revision/main" in hub.requests
    # One file of the repository, at the commit: it lands under its own name.
    one = tmp_path / "one"
    one.mkdir()
    run = storage_init(one, f"hf://acme/tiny@{COMMIT}/model.safetensors", hub_env(hub, one))
    assert run.rc == 0, run.err
    assert listing(one / "dest") == ["model.safetensors"]


def test_hf_wrong_revision_is_not_found(hub: HubServer, tmp_path: Path) -> None:
    run = storage_init(tmp_path, "hf://acme/tiny@no-such-branch", hub_env(hub, tmp_path))
    assert run.rc != 0
    assert run.termination.startswith("ModelFetchFailed: hf://acme/tiny@no-such-branch: not found"), (
        run.termination
    )
    assert "revision" in run.termination
    run = storage_init(tmp_path, "hf://acme/nothing", hub_env(hub, tmp_path))
    assert run.termination.startswith("ModelFetchFailed: hf://acme/nothing: not found"), run.termination


def test_hf_token_required_is_access_denied_and_never_printed(hub: HubServer, tmp_path: Path) -> None:
    run = storage_init(tmp_path, "hf://acme/gated", hub_env(hub, tmp_path))
    assert run.rc != 0
    assert run.termination.startswith("ModelFetchFailed: hf://acme/gated: access denied"), run.termination
    wrong = storage_init(tmp_path, "hf://acme/gated", hub_env(hub, tmp_path, HF_TOKEN="hf_wrong_token_1234"))
    assert wrong.termination.startswith("ModelFetchFailed: hf://acme/gated: access denied"), wrong.termination
    assert "hf_wrong_token_1234" not in wrong.everything
    ok = tmp_path / "ok"
    ok.mkdir()
    run = storage_init(ok, "hf://acme/gated", hub_env(hub, ok, HF_TOKEN=HUB_TOKEN))
    assert run.rc == 0, run.err
    assert listing(ok / "dest") == sorted(HUB_FILES)
    assert HUB_TOKEN not in run.everything


# --- gs:// against fake-gcs-server ------------------------------------------------------------------------
def fake_gcs_binary() -> Path | None:
    """fake-gcs-server as `make binaries` caches it (hack/build-binaries.sh fake-gcs-server)."""
    path = bin_dir() / f"fake-gcs-server-{versions()['FAKE_GCS_SERVER_VERSION']}" / "fake-gcs-server"
    return path if path.exists() else None


GCS_BUCKET = "gcs-models"
GCS_BIG = os.urandom(40 * 2**20 + 4321)  # above the 32 MiB chunk: downloaded in concurrent chunks
GCS_OBJECTS = {
    "iris/model.joblib": b"joblib bytes",
    "llm/config.json": b"{}",
    "llm/weights/model.safetensors": GCS_BIG,
}


@pytest.fixture(scope="module")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """fake-gcs-server on a free loopback port, in memory, preloaded with GCS_OBJECTS; yields the
    STORAGE_EMULATOR_HOST value."""
    binary = fake_gcs_binary()
    if binary is None:
        pytest.skip(
            "fake-gcs-server is not built: run `make binaries` (hack/build-binaries.sh fake-gcs-server)"
        )
    data = tmp_path_factory.mktemp("gcs-data")
    for name, body in GCS_OBJECTS.items():
        path = data / GCS_BUCKET / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    log = open(data.parent / "fake-gcs-server.log", "wb")  # noqa: SIM115
    argv = [str(binary), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port), "-backend", "memory"]
    argv += ["-data", str(data), "-external-url", host, "-log-level", "warn"]
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{host}/storage/v1/b/{GCS_BUCKET}", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    "fake-gcs-server did not start: " + (data.parent / "fake-gcs-server.log").read_text()
                )
            time.sleep(0.2)
        yield host
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def gcs_env(host: str) -> dict[str, str]:
    return clean_env(STORAGE_EMULATOR_HOST=host, GOOGLE_CLOUD_PROJECT="test")


def test_gcs_object_and_prefix_download(gcs: str, tmp_path: Path) -> None:
    body = GCS_OBJECTS["iris/model.joblib"]
    run = storage_init(
        tmp_path,
        f"gs://{GCS_BUCKET}/iris/model.joblib",
        gcs_env(gcs),
        sha256=hashlib.sha256(body).hexdigest(),
    )
    assert run.rc == 0, run.err
    assert (tmp_path / "dest" / "model.joblib").read_bytes() == body
    prefix = tmp_path / "prefix"
    prefix.mkdir()
    files = {
        k.removeprefix("llm/"): hashlib.sha256(v).hexdigest()
        for k, v in GCS_OBJECTS.items()
        if k.startswith("llm/")
    }
    run = storage_init(prefix, f"gs://{GCS_BUCKET}/llm", gcs_env(gcs), sha256=manifest_sha256(files))
    assert run.rc == 0, run.err
    assert listing(prefix / "dest") == sorted(files)
    assert (prefix / "dest" / "weights" / "model.safetensors").read_bytes() == GCS_BIG


def test_gcs_missing_object_and_bucket_are_not_found(gcs: str, tmp_path: Path) -> None:
    run = storage_init(tmp_path, f"gs://{GCS_BUCKET}/nothing/here.bin", gcs_env(gcs))
    assert run.termination.startswith(f"ModelFetchFailed: gs://{GCS_BUCKET}/nothing/here.bin: not found"), (
        run.termination
    )
    run = storage_init(tmp_path, "gs://no-such-bucket/m.bin", gcs_env(gcs))
    assert run.termination.startswith("ModelFetchFailed: gs://no-such-bucket/m.bin: not found"), (
        run.termination
    )
