"""https:// (and http:// inside a cluster) through requests, streamed to disk in 1 MiB chunks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import requests

from modelserve.storage.errors import ACCESS_DENIED, FAILED, NOT_FOUND, UNREACHABLE, FetchError
from modelserve.storage.fetch import Fetched
from modelserve.storage.files import atomic_writer, safe_relative, target_path
from modelserve.storage.uri import HttpSource

CHUNK = 1024 * 1024


def http_error(exc: BaseException) -> FetchError:
    """Map a requests exception (or an HTTP status carried by HTTPError) to a FetchError category."""
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return status_error(exc.response.status_code)
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return FetchError(UNREACHABLE, f"cannot connect ({type(exc).__name__})")
    if isinstance(exc, requests.RequestException):
        return FetchError(FAILED, type(exc).__name__)
    raise exc


def status_error(status: int) -> FetchError:
    if status in (404, 410):
        return FetchError(NOT_FOUND, f"HTTP {status}")
    if status in (401, 403):
        return FetchError(ACCESS_DENIED, f"HTTP {status}")
    return FetchError(FAILED, f"HTTP {status}")


@dataclass
class HttpFetcher:
    """Fetch one file; it lands as DEST/<last path segment of the URL>."""

    source: HttpSource
    session: requests.Session
    timeout: float = 30.0

    def fetch(self, dest: Path) -> Fetched:
        name = safe_relative(self.source.filename)
        try:
            with self.session.get(self.source.url, stream=True, timeout=self.timeout) as resp:
                resp.raise_for_status()
                size = 0
                with atomic_writer(target_path(dest, name)) as out:
                    for chunk in resp.iter_content(CHUNK):
                        out.write(chunk)
                        size += len(chunk)
        except Exception as exc:
            raise http_error(exc) from None
        return Fetched([name], single=True, bytes=size)
