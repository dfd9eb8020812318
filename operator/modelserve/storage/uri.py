"""`spec.model.uri` parsed once into a typed source; every error names the field."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

FIELD = "spec.model.uri"
SCHEMES = ("s3", "gs", "https", "http", "hf")

# S3 and GCS bucket names: lower-case letters, digits, dots, dashes and (GCS) underscores, 3-222 long.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
# Hugging Face owners and repository names; a revision is a branch, tag or commit (no "/" so that the
# path after it is unambiguous).
_HF_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_HF_REVISION = re.compile(r"^[A-Za-z0-9._-]{1,255}$")


class StorageUriError(ValueError):
    """A `spec.model.uri` the storage initializer cannot fetch; the message names the field."""


@dataclass(frozen=True)
class BucketSource:
    """An object or a prefix in an S3 (`s3`) or Google Cloud Storage (`gs`) bucket. An empty key is
    the whole bucket; a key ending in "/" is a prefix; any other key is tried as an object first."""

    scheme: str
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key}" if self.key else f"{self.scheme}://{self.bucket}"


@dataclass(frozen=True)
class HttpSource:
    """One file served over HTTPS (or plain HTTP inside a cluster)."""

    url: str

    @property
    def uri(self) -> str:
        return self.url

    @property
    def filename(self) -> str:
        return urllib.parse.unquote(urllib.parse.urlsplit(self.url).path.rsplit("/", 1)[-1])


@dataclass(frozen=True)
class HfSource:
    """A Hugging Face Hub model repository at a revision (None: the default branch), optionally only
    the file or folder `subpath` inside it."""

    repo_id: str
    revision: str | None = None
    subpath: str = ""

    @property
    def uri(self) -> str:
        rev = f"@{self.revision}" if self.revision else ""
        sub = f"/{self.subpath}" if self.subpath else ""
        return f"hf://{self.repo_id}{rev}{sub}"


ModelSource = BucketSource | HttpSource | HfSource


def parse_model_uri(uri: str) -> ModelSource:
    """Parse a model URI (`s3://bucket/key`, `gs://bucket/key`, `https://host/path`,
    `hf://org/repo[@revision][/subpath]`) into its source; raise StorageUriError naming the field."""
    scheme, sep, rest = uri.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise StorageUriError(f"{FIELD} {uri!r} has no scheme: use one of s3://, gs://, https://, hf://")
    if scheme == "pvc":
        raise StorageUriError(
            f"{FIELD} {uri!r}: pvc:// is mounted into the server by the operator, not downloaded"
        )
    if scheme in ("s3", "gs"):
        return _parse_bucket(uri, scheme, rest)
    if scheme in ("https", "http"):
        return _parse_http(uri)
    if scheme == "hf":
        return _parse_hf(uri, rest)
    raise StorageUriError(
        f"{FIELD} {uri!r}: unsupported scheme {scheme!r}; use s3://, gs://, https://, hf://"
    )


def _clean_path(uri: str, path: str) -> str:
    parts = path.split("/")
    if any(p in (".", "..") for p in parts) or "//" in path or "\\" in path or "\0" in path:
        raise StorageUriError(f"{FIELD} {uri!r}: the path may not contain '.', '..', '//', '\\' or NUL")
    return path


def _parse_bucket(uri: str, scheme: str, rest: str) -> BucketSource:
    bucket, _, key = rest.partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise StorageUriError(f"{FIELD} {uri!r}: {bucket!r} is not a valid bucket name")
    return BucketSource(scheme, bucket, _clean_path(uri, key))


def _parse_http(uri: str) -> HttpSource:
    parts = urllib.parse.urlsplit(uri)
    if not parts.hostname:
        raise StorageUriError(f"{FIELD} {uri!r}: the URL has no host")
    if parts.username or parts.password:
        raise StorageUriError(
            f"{FIELD}: credentials may not be written into the URL; put them in spec.model.storage.secretRef"
        )
    source = HttpSource(uri)
    if not source.filename:
        raise StorageUriError(f"{FIELD} {uri!r}: the URL must name a file (its path ends in '/')")
    return source


def _parse_hf(uri: str, rest: str) -> HfSource:
    owner, _, after = rest.partition("/")
    name_rev, _, subpath = after.partition("/")
    name, at, revision = name_rev.partition("@")
    if not _HF_NAME.match(owner) or not _HF_NAME.match(name):
        raise StorageUriError(f"{FIELD} {uri!r}: expected hf://owner/repo[@revision][/path]")
    if at and not _HF_REVISION.match(revision):
        raise StorageUriError(
            f"{FIELD} {uri!r}: {revision!r} is not a valid revision (branch, tag or commit)"
        )
    return HfSource(f"{owner}/{name}", revision or None, _clean_path(uri, subpath.rstrip("/")))


def display_uri(uri: str) -> str:
    """The URI as it may be shown in logs and status: a URL's query (which may hold a presigned
    signature) and any user:password are dropped."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme.lower() in ("http", "https"):
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        query = "<redacted>" if parts.query else ""
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    return uri
