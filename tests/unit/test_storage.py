"""The storage initializer's pure parts: URI parsing, digests and manifests, atomic writes, the
failure line (categories, no secrets), and the mapping of each SDK's exceptions to the categories.
Transfers against a real S3 server are in tests/e2e/test_storage_init.py."""

from __future__ import annotations

import hashlib
import itertools
import string
from pathlib import Path

import botocore.exceptions
import google.api_core.exceptions as gapi
import google.auth.exceptions as gauth
import pytest
import requests
from huggingface_hub import errors as hf_errors
from hypothesis import given
from hypothesis import strategies as st
from modelserve.cli.main import main
from modelserve.storage import checksum, errors, files
from modelserve.storage.fetch import Fetched, fetch_and_verify
from modelserve.storage.gcs import gcs_error
from modelserve.storage.hf import HfFetcher, hf_error, snapshot_arguments
from modelserve.storage.https import http_error, plan_parts, status_error, total_size
from modelserve.storage.s3 import endpoint_url, s3_error
from modelserve.storage.uri import (
    BucketSource,
    HfSource,
    HttpSource,
    StorageUriError,
    display_uri,
    parse_model_uri,
)

# --- URI parsing -------------------------------------------------------------------------------

buckets = st.from_regex(r"[a-z0-9][a-z0-9-]{1,30}[a-z0-9]", fullmatch=True)
segments = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=12).filter(
    lambda s: s not in (".", "..")
)
keys = st.lists(segments, max_size=4).map("/".join)
hf_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True)


@given(st.sampled_from(["s3", "gs"]), buckets, keys)
def test_bucket_uris_round_trip(scheme: str, bucket: str, key: str) -> None:
    source = BucketSource(scheme, bucket, key)
    assert parse_model_uri(source.uri) == source


@given(hf_names, hf_names, st.one_of(st.none(), hf_names), keys)
def test_hf_uris_round_trip(owner: str, name: str, revision: str | None, subpath: str) -> None:
    source = HfSource(f"{owner}/{name}", revision, subpath)
    assert parse_model_uri(source.uri) == source


def test_examples_parse_to_typed_sources() -> None:
    assert parse_model_uri("s3://models/fraud/v3/") == BucketSource("s3", "models", "fraud/v3/")
    assert parse_model_uri("gs://bucket") == BucketSource("gs", "bucket", "")
    assert parse_model_uri("hf://meta-llama/Llama-3.1-8B@main/original") == HfSource(
        "meta-llama/Llama-3.1-8B", "main", "original"
    )
    https = parse_model_uri("https://host.example/a/model.onnx?sig=1")
    assert isinstance(https, HttpSource) and https.filename == "model.onnx"


@pytest.mark.parametrize(
    "uri",
    [
        "models/fraud",
        "ftp://host/x",
        "pvc://claim/path",
        "s3://UPPER/x",
        "s3://b/../etc/passwd",
        "s3://bucket/a//b",
        "hf://just-a-name",
        "hf://org/repo@ba!d/x",
        "https://host/dir/",
        "https://user:pw@host/x.bin",
    ],
)
def test_invalid_uris_name_the_field(uri: str) -> None:
    with pytest.raises(StorageUriError, match=r"spec\.model\.uri"):
        parse_model_uri(uri)


def test_display_uri_drops_signatures_and_userinfo() -> None:
    shown = display_uri("https://u:p@host:8443/m.bin?X-Amz-Signature=abc")
    assert shown == "https://host:8443/m.bin?<redacted>"
    assert display_uri("s3://b/k") == "s3://b/k"


# --- digests and the manifest -----------------------------------------------------------------


def test_manifest_format_is_sorted_path_nul_digest_lines() -> None:
    files_ = {"b/weights.bin": "2" * 64, "a.json": "1" * 64}
    text = checksum.manifest_text(files_)
    assert text == f"a.json\0{'1' * 64}\nb/weights.bin\0{'2' * 64}\n"
    assert checksum.manifest_sha256(files_) == hashlib.sha256(text.encode()).hexdigest()


@given(st.dictionaries(keys.filter(bool), st.from_regex(r"[0-9a-f]{64}", fullmatch=True), min_size=1))
def test_manifest_digest_ignores_listing_order(files_: dict[str, str]) -> None:
    reversed_ = dict(reversed(list(files_.items())))
    assert checksum.manifest_sha256(files_) == checksum.manifest_sha256(reversed_)


def test_digest_of_single_file_and_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "model.bin").write_bytes(b"x" * 3_000_000)
    (tmp_path / "sub" / "config.json").write_text("{}")
    assert (
        checksum.digest_of(tmp_path, ["model.bin"], single=True)
        == hashlib.sha256(b"x" * 3_000_000).hexdigest()
    )
    whole = checksum.digest_of(tmp_path, ["model.bin", "sub/config.json"], single=False)
    assert whole == checksum.manifest_sha256(checksum.directory_files(tmp_path))
    (tmp_path / "sub" / "config.json").write_text("{ }")
    assert checksum.digest_of(tmp_path, ["model.bin", "sub/config.json"], single=False) != whole


def test_sha256_is_normalised_or_rejected_naming_the_field() -> None:
    assert checksum.normalise_sha256(" " + "AB" * 32) == "ab" * 32
    with pytest.raises(ValueError, match=r"spec\.model\.sha256"):
        checksum.normalise_sha256("abc")


# --- atomic writes -----------------------------------------------------------------------------


def test_atomic_writer_leaves_no_half_file(tmp_path: Path) -> None:
    final = tmp_path / "deep" / "model.bin"
    with pytest.raises(RuntimeError), files.atomic_writer(final) as out:
        out.write(b"partial")
        raise RuntimeError("connection reset")
    assert not final.exists()
    assert list((tmp_path / "deep").iterdir()) == []
    with files.atomic_writer(final) as out:
        out.write(b"complete")
        assert not final.exists()  # invisible until the block succeeds
    assert final.read_bytes() == b"complete"
    assert [p.name for p in final.parent.iterdir()] == ["model.bin"]


@given(st.lists(st.sampled_from(["a", "..", ".", "", "b"]), min_size=1, max_size=5).map("/".join))
def test_safe_relative_never_escapes(name: str) -> None:
    try:
        rel = files.safe_relative(name)
    except errors.FetchError:
        return
    resolved = (Path("/dest") / rel).resolve()
    assert resolved.is_relative_to(Path("/dest")) and resolved != Path("/dest")


def test_absolute_names_are_refused() -> None:
    with pytest.raises(errors.FetchError):
        files.safe_relative("/etc/passwd")


# --- fetch + verify ------------------------------------------------------------------------------


class LocalFilesFetcher:
    """A real fetcher of in-memory bytes, for the verification logic (the transfers are e2e)."""

    def __init__(self, contents: dict[str, bytes], single: bool):
        self.contents, self.single = contents, single

    def fetch(self, dest: Path) -> Fetched:
        for name, data in self.contents.items():
            with files.atomic_writer(files.target_path(dest, name)) as out:
                out.write(data)
        return Fetched(sorted(self.contents), self.single, sum(map(len, self.contents.values())))


def test_matching_checksum_passes_and_mismatch_removes_the_files(tmp_path: Path) -> None:
    contents = {"model.joblib": b"weights"}
    good = hashlib.sha256(b"weights").hexdigest()
    report = fetch_and_verify(LocalFilesFetcher(contents, True), tmp_path / "ok", good)
    assert report.sha256 == good and (tmp_path / "ok" / "model.joblib").exists()
    with pytest.raises(errors.FetchError) as caught:
        fetch_and_verify(LocalFilesFetcher(contents, True), tmp_path / "bad", "0" * 64)
    assert caught.value.reason == errors.CHECKSUM_MISMATCH
    assert f"(expected {'0' * 64}, got {good})" in str(caught.value)
    assert not (tmp_path / "bad" / "model.joblib").exists()


# --- the failure line ----------------------------------------------------------------------------


def test_failure_line_shape() -> None:
    line = errors.failure_line(
        "s3://b/k", errors.checksum_mismatch("a" * 64, "b" * 64), {"AWS_SECRET_ACCESS_KEY": "s3cr3t-value"}
    )
    assert line == f"ModelFetchFailed: s3://b/k: checksum mismatch (expected {'a' * 64}, got {'b' * 64})"
    other = errors.failure_line("s3://b/k", OSError("disk\nfull"), {})
    assert other == "ModelFetchFailed: s3://b/k: failed: OSError: disk full"


@given(st.text(string.ascii_letters + string.digits + "/+", min_size=8, max_size=40))
def test_secrets_never_reach_the_failure_line(secret: str) -> None:
    env = {"AWS_SECRET_ACCESS_KEY": secret, "HF_TOKEN": "hf_" + secret}
    error = errors.FetchError(errors.ACCESS_DENIED, f"signature for {secret} and hf_{secret} rejected")
    line = errors.failure_line(f"https://h/m.bin?token={secret}", error, env)
    assert secret not in line and "\n" not in line


def test_failure_line_is_capped(tmp_path: Path) -> None:
    line = errors.failure_line("s3://b/k", errors.FetchError(errors.FAILED, "x" * 5000), {})
    assert len(line) <= errors.MAX_MESSAGE
    path = tmp_path / "termination-log"
    errors.write_termination_message(line, {errors.TERMINATION_LOG_ENV: str(path)})
    assert path.read_text() == line + "\n"
    errors.write_termination_message(line, {errors.TERMINATION_LOG_ENV: str(tmp_path / "no" / "dir")})


# --- SDK exceptions to categories ----------------------------------------------------------------


def _client_error(code: str, status: int) -> botocore.exceptions.ClientError:
    response = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return botocore.exceptions.ClientError(response, "GetObject")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (_client_error("NoSuchKey", 404), errors.NOT_FOUND),
        (_client_error("NoSuchBucket", 404), errors.NOT_FOUND),
        (_client_error("404", 404), errors.NOT_FOUND),
        (_client_error("AccessDenied", 403), errors.ACCESS_DENIED),
        (_client_error("InvalidAccessKeyId", 403), errors.ACCESS_DENIED),
        (_client_error("SignatureDoesNotMatch", 403), errors.ACCESS_DENIED),
        (_client_error("InternalError", 500), errors.FAILED),
        (botocore.exceptions.NoCredentialsError(), errors.MISSING_CREDENTIALS),
        (botocore.exceptions.EndpointConnectionError(endpoint_url="http://h:1"), errors.UNREACHABLE),
    ],
)
def test_s3_errors_map_to_categories(exc: BaseException, reason: str) -> None:
    assert s3_error(exc, "s3://b/k").reason == reason


def test_s3_endpoint_from_the_sdk_variables() -> None:
    assert endpoint_url({"AWS_ENDPOINT_URL": "http://a", "AWS_ENDPOINT_URL_S3": "http://b"}) == "http://b"
    assert endpoint_url({"AWS_ENDPOINT_URL": "http://a"}) == "http://a"
    assert endpoint_url({}) is None


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (gapi.NotFound("no such object"), errors.NOT_FOUND),
        (gapi.Forbidden("denied"), errors.ACCESS_DENIED),
        (gapi.Unauthorized("who"), errors.ACCESS_DENIED),
        (gauth.DefaultCredentialsError("none"), errors.MISSING_CREDENTIALS),
        (gauth.TransportError("dns"), errors.UNREACHABLE),
        (requests.ConnectionError("refused"), errors.UNREACHABLE),
    ],
)
def test_gcs_errors_map_to_categories(exc: BaseException, reason: str) -> None:
    assert gcs_error(exc, "gs://b/k").reason == reason


def test_http_statuses_and_connection_errors_map_to_categories() -> None:
    assert status_error(404).reason == errors.NOT_FOUND
    assert status_error(403).reason == errors.ACCESS_DENIED
    assert status_error(401).reason == errors.ACCESS_DENIED
    assert status_error(503).reason == errors.FAILED
    assert http_error(requests.ConnectionError("refused")).reason == errors.UNREACHABLE
    assert http_error(requests.Timeout("slow")).reason == errors.UNREACHABLE


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (hf_errors.LocalEntryNotFoundError("offline"), errors.UNREACHABLE),
        (hf_errors.EntryNotFoundError("missing"), errors.NOT_FOUND),
        (ConnectionError("refused"), errors.UNREACHABLE),
    ],
)
def test_hf_errors_map_to_categories(exc: BaseException, reason: str) -> None:
    assert hf_error(exc).reason == reason


# --- Hugging Face: the arguments handed to huggingface_hub and the layout under DEST ---------------


def test_snapshot_arguments() -> None:
    assert snapshot_arguments(HfSource("org/repo")) == {
        "repo_id": "org/repo",
        "repo_type": "model",
        "revision": None,
    }
    assert snapshot_arguments(HfSource("org/repo", "v1.0", "onnx")) == {
        "repo_id": "org/repo",
        "repo_type": "model",
        "revision": "v1.0",
        "allow_patterns": ["onnx", "onnx/*"],
    }


def _staging(root: Path) -> Path:
    staging = root / ".modelserve-hf-x"
    (staging / "onnx" / "sub").mkdir(parents=True)
    (staging / ".cache" / "huggingface").mkdir(parents=True)
    (staging / ".cache" / "huggingface" / "meta").write_text("m")
    (staging / "onnx" / "model.onnx").write_bytes(b"o")
    (staging / "onnx" / "sub" / "x.txt").write_text("x")
    (staging / "config.json").write_text("{}")
    return staging


def test_hf_layout_keeps_paths_relative_to_the_subpath(tmp_path: Path) -> None:
    whole = HfFetcher(HfSource("o/r"))._move_into(_staging(tmp_path / "a"), tmp_path / "a")
    assert (whole.files, whole.single) == (["config.json", "onnx/model.onnx", "onnx/sub/x.txt"], False)
    sub = HfFetcher(HfSource("o/r", None, "onnx"))._move_into(_staging(tmp_path / "b"), tmp_path / "b")
    assert sub.files == ["model.onnx", "sub/x.txt"] and (tmp_path / "b" / "sub" / "x.txt").exists()
    one = HfFetcher(HfSource("o/r", None, "onnx/model.onnx"))._move_into(
        _staging(tmp_path / "c"), tmp_path / "c"
    )
    assert (one.files, one.single) == (["model.onnx"], True)


# --- the command ---------------------------------------------------------------------------------


def test_command_writes_one_line_to_stderr_and_the_termination_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    term = tmp_path / "termination-log"
    monkeypatch.setenv(errors.TERMINATION_LOG_ENV, str(term))
    rc = main(["storage-init", "--uri", "pvc://claim/model", "--dest", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1
    assert err.startswith("ModelFetchFailed: pvc://claim/model: invalid URI: spec.model.uri")
    assert term.read_text() == err


def test_print_sha256_gives_the_value_to_put_in_the_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m.bin").write_bytes(b"abc")
    assert main(["storage-init", "--print-sha256", str(tmp_path / "m.bin")]) == 0
    assert capsys.readouterr().out.strip() == hashlib.sha256(b"abc").hexdigest()
    assert main(["storage-init", "--print-sha256", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == checksum.manifest_sha256(
        {"m.bin": hashlib.sha256(b"abc").hexdigest()}
    )


# --- https:// in parallel parts (storage/https.py) --------------------------------------------------------
@given(size=st.integers(min_value=0, max_value=10**10), part_size=st.integers(min_value=1, max_value=2**30))
def test_parts_cover_the_file_in_order_without_overlap(size: int, part_size: int) -> None:
    if size // part_size > 20_000:  # keep the property cheap; the arithmetic is the same
        part_size = size // 20_000 + 1
    parts = plan_parts(size, part_size)
    assert sum(last - first + 1 for first, last in parts) == size
    assert all(0 < last - first + 1 <= part_size for first, last in parts)
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(parts))
    if parts:
        assert parts[0][0] == 0 and parts[-1][1] == size - 1
        assert all(last - first + 1 == part_size for first, last in parts[:-1])


def test_part_plan_examples_and_content_range() -> None:
    assert plan_parts(0) == []
    assert plan_parts(10, 4) == [(0, 3), (4, 7), (8, 9)]
    assert plan_parts(8, 4) == [(0, 3), (4, 7)]
    with pytest.raises(ValueError):
        plan_parts(10, 0)
    assert total_size("bytes 0-0/2147483648") == 2**31
    assert total_size("bytes 0-0/*") is None and total_size(None) is None
