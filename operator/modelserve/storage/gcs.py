"""gs:// through google-cloud-storage: ranged chunks of one object downloaded in parallel threads
(transfer_manager.download_chunks_concurrently), each written at its offset in the file.

Credentials: GOOGLE_APPLICATION_CREDENTIALS, else Application Default Credentials (workload identity).
STORAGE_EMULATOR_HOST is honoured by the client library for emulators.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google.api_core.exceptions as api_errors
import google.auth.exceptions as auth_errors
import requests
from google.cloud import storage
from google.cloud.storage import transfer_manager

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
CHUNK = 32 * MiB
WORKERS = 8


def gcs_error(exc: BaseException, where: str) -> FetchError:
    """Map a google-cloud-storage / google-auth exception to a FetchError category."""
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, auth_errors.DefaultCredentialsError):
        return FetchError(MISSING_CREDENTIALS, "no Google credentials (GOOGLE_APPLICATION_CREDENTIALS, ADC)")
    if isinstance(exc, api_errors.NotFound):
        return FetchError(NOT_FOUND, f"{where} does not exist")
    if isinstance(exc, api_errors.Forbidden | api_errors.Unauthorized | auth_errors.RefreshError):
        return FetchError(ACCESS_DENIED, f"{where} ({type(exc).__name__})")
    if isinstance(exc, auth_errors.TransportError | requests.ConnectionError | requests.Timeout):
        return FetchError(UNREACHABLE, f"cannot connect ({type(exc).__name__})")
    if isinstance(exc, api_errors.GoogleAPICallError):
        return FetchError(FAILED, f"{where}: HTTP {exc.code}")
    raise exc


def gcs_client() -> Any:
    return storage.Client()


@dataclass
class GcsFetcher:
    """Fetch `gs://bucket/key`: the object `key` if it exists, else every object under `key/`."""

    source: BucketSource
    client: Any

    def fetch(self, dest: Path) -> Fetched:
        try:
            return self._fetch(dest)
        except Exception as exc:
            raise gcs_error(exc, f"gs://{self.source.bucket}/{self.source.key}") from None

    def _fetch(self, dest: Path) -> Fetched:
        bucket = self.client.bucket(self.source.bucket)
        key = self.source.key
        if key and not key.endswith("/"):
            blob = bucket.get_blob(key)
            if blob is not None:
                name = safe_relative(key.rsplit("/", 1)[-1])
                self._download(blob, target_path(dest, name))
                return Fetched([name], single=True, bytes=int(blob.size or 0))
        prefix = f"{key.rstrip('/')}/" if key else ""
        fetched = Fetched()
        for blob in self._list(prefix):
            name = safe_relative(blob.name[len(prefix) :])
            self._download(blob, target_path(dest, name))
            fetched.files.append(name)
            fetched.bytes += int(blob.size or 0)
        if not fetched.files:
            raise FetchError(NOT_FOUND, f"no object gs://{self.source.bucket}/{key} and no objects under it")
        return fetched

    def _list(self, prefix: str) -> Iterator[Any]:
        for blob in self.client.list_blobs(self.source.bucket, prefix=prefix):
            if not blob.name.endswith("/"):
                yield blob

    def _download(self, blob: Any, final: Path) -> None:
        with atomic_path(final) as tmp:
            if (blob.size or 0) > CHUNK:
                transfer_manager.download_chunks_concurrently(
                    blob, str(tmp), chunk_size=CHUNK, worker_type=transfer_manager.THREAD, max_workers=WORKERS
                )
            else:
                blob.download_to_filename(str(tmp))
