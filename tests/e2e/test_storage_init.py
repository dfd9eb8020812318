"""`modelserve storage-init` against a real S3-compatible server (SeaweedFS, built by `make binaries`)
and a real HTTP server on loopback: files land where the contract says, digests are checked, and each
failure gives its one line (stderr and termination file) without the secret."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from modelserve.localcluster.processes import free_port
from modelserve.localcluster.s3 import LocalS3
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
