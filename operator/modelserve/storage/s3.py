"""s3:// through boto3 and s3transfer: parallel ranged GETs of one object straight to disk.

The endpoint comes from AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL (S3-compatible stores), credentials
from the SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, web identity, instance role).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
from boto3.s3.transfer import TransferConfig

from modelserve.storage.errors import (
    ACCESS_DENIED,
    FAILED,
    MISSING_CREDENTIALS,
    NOT_FOUND,
    UNREACHABLE,
    FetchError,
)
from modelserve.storage.fetch import Fetched
from modelserve.storage.files import atomic_path, safe_relative, target_path
from modelserve.storage.uri import BucketSource

MiB = 1024 * 1024
# boto3's own transfer settings (8 MiB parts, 10 at a time): s3transfer streams each part to its offset
# in the file through a bounded I/O queue (max_io_queue x io_chunksize = 100 x 256 KiB), so memory does
# not grow with object size. 16 MiB x 8 measured 0.86x of boto3's throughput (docs/benchmarks.md).
TRANSFER = TransferConfig(
    multipart_threshold=8 * MiB,
    multipart_chunksize=8 * MiB,
    max_concurrency=10,
    max_io_queue=100,
    io_chunksize=256 * 1024,
    use_threads=True,
)

_NOT_FOUND_CODES = {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}
_DENIED_CODES = {
    "401",
    "403",
    "AccessDenied",
    "Forbidden",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "AllAccessDisabled",
}


def endpoint_url(env: Mapping[str, str]) -> str | None:
    return env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None


def s3_client(env: Mapping[str, str] | None = None, max_pool: int = 16) -> Any:
    """A boto3 S3 client for `env` (default: os.environ): path-style addressing on a custom endpoint
    (S3-compatible stores rarely have wildcard DNS), bounded retries so an unreachable endpoint fails
    in seconds, not minutes."""
    env = os.environ if env is None else env
    endpoint = endpoint_url(env)
    config = botocore.config.Config(
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
        max_pool_connections=max_pool,
        s3={"addressing_style": "path"} if endpoint else {},
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1",
        config=config,
    )


def s3_error(exc: BaseException, where: str) -> FetchError:
    """Map a boto3/botocore exception to a FetchError category; `where` names the bucket/key."""
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
        return FetchError(MISSING_CREDENTIALS, "no AWS credentials found (set spec.model.storage.secretRef)")
    if isinstance(
        exc,
        botocore.exceptions.EndpointConnectionError
        | botocore.exceptions.ConnectTimeoutError
        | botocore.exceptions.ConnectionClosedError,
    ):
        return FetchError(
            UNREACHABLE, f"cannot connect to {getattr(exc, 'kwargs', {}).get('endpoint_url', '')}"
        )
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if code in _NOT_FOUND_CODES or status == "404":
            return FetchError(NOT_FOUND, f"{where} does not exist ({code or status})")
        if code in _DENIED_CODES or status in ("401", "403"):
            return FetchError(ACCESS_DENIED, f"{where} ({code or status})")
        return FetchError(FAILED, f"{where}: S3 error {code or status}")
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return FetchError(UNREACHABLE if "connect" in str(exc).lower() else FAILED, type(exc).__name__)
    raise exc


@dataclass
class S3Fetcher:
    """Fetch `s3://bucket/key`: the object `key` if it exists, else every object under `key/`."""

    source: BucketSource
    client: Any
    transfer: TransferConfig = TRANSFER

    def fetch(self, dest: Path) -> Fetched:
        try:
            return self._fetch(dest)
        except Exception as exc:
            raise s3_error(exc, f"s3://{self.source.bucket}/{self.source.key}") from None

    def _fetch(self, dest: Path) -> Fetched:
        key = self.source.key
        if key and not key.endswith("/"):
            size = self._object_size(key)
            if size is not None:
                name = safe_relative(key.rsplit("/", 1)[-1])
                self._download(key, target_path(dest, name))
                return Fetched([name], single=True, bytes=size)
        prefix = f"{key.rstrip('/')}/" if key else ""
        fetched = Fetched()
        for obj_key, size in self._list(prefix):
            name = safe_relative(obj_key[len(prefix) :])
            self._download(obj_key, target_path(dest, name))
            fetched.files.append(name)
            fetched.bytes += size
        if not fetched.files:
            raise FetchError(NOT_FOUND, f"no object s3://{self.source.bucket}/{key} and no objects under it")
        return fetched

    def _object_size(self, key: str) -> int | None:
        try:
            head = self.client.head_object(Bucket=self.source.bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if s3_error(exc, key).reason == NOT_FOUND:
                return None
            raise
        return int(head["ContentLength"])

    def _list(self, prefix: str) -> Iterator[tuple[str, int]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.source.bucket, Prefix=prefix
        )
        for page in pages:
            for obj in page.get("Contents", []):
                if not obj["Key"].endswith("/"):  # "folder" markers some tools create
                    yield obj["Key"], int(obj["Size"])

    def _download(self, key: str, final: Path) -> None:
        with atomic_path(final) as tmp:
            self.client.download_file(self.source.bucket, key, str(tmp), Config=self.transfer)
