"""https:// (and http:// inside a cluster) through requests: large files in parallel ranged GETs, written
at their offsets into one temp file; one stream when the server cannot serve ranges.

One probe decides: ``GET`` with ``Range: bytes=0-0``. ``206`` with a ``Content-Range: bytes 0-0/<size>``
means ranges work and tells the size; then the parts (`plan_parts`) are fetched by a small thread pool,
each streamed in 1 MiB chunks to its offset (``os.pwrite``), so memory stays at about workers x 1 MiB
whatever the file size. Any other answer (``200``: no ranges, or no total size) is streamed whole, and
a ``416`` (an empty file has no byte 0) is fetched whole with a plain GET. Each
part is sent ``If-Range`` with the probe's ETag (or Last-Modified): a file replaced during the download
makes the server answer ``200`` instead of ``206``, which fails the fetch instead of mixing two files.
The file appears under its final name only when complete (files.atomic_path).
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

from modelserve.storage.errors import ACCESS_DENIED, FAILED, NOT_FOUND, UNREACHABLE, FetchError
from modelserve.storage.fetch import Fetched
from modelserve.storage.files import atomic_path, atomic_writer, safe_relative, target_path
from modelserve.storage.uri import HttpSource

CHUNK = 1024 * 1024
#: Size of one ranged GET, and how many run at once (the same as boto3's transfer defaults give S3:
#: 8 MiB parts, 10 threads; see docs/storage.md).
PART_SIZE = 8 * 1024 * 1024
WORKERS = 10

_CONTENT_RANGE = re.compile(r"^bytes\s+(\d+)-(\d+)/(\d+)$")


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


def plan_parts(size: int, part_size: int = PART_SIZE) -> list[tuple[int, int]]:
    """Inclusive byte ranges ``(first, last)`` covering ``[0, size)`` in order, each at most
    `part_size` long (the last one may be shorter); none for an empty file."""
    if size < 0 or part_size <= 0:
        raise ValueError("size must be >= 0 and part_size > 0")
    return [(start, min(start + part_size, size) - 1) for start in range(0, size, part_size)]


def total_size(content_range: str | None) -> int | None:
    """The total size in a ``Content-Range: bytes 0-0/<size>`` answer; None when absent or ``*``."""
    match = _CONTENT_RANGE.match((content_range or "").strip())
    return int(match.group(3)) if match else None


@dataclass
class HttpFetcher:
    """Fetch one file; it lands as DEST/<last path segment of the URL>."""

    source: HttpSource
    session: requests.Session
    timeout: float = 30.0
    part_size: int = PART_SIZE
    workers: int = WORKERS

    def __post_init__(self) -> None:
        # One connection per worker (requests' default pool keeps 10 per host).
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(self.workers, 1))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def fetch(self, dest: Path) -> Fetched:
        name = safe_relative(self.source.filename)
        final = target_path(dest, name)
        try:
            with self.session.get(
                self.source.url, headers={"Range": "bytes=0-0"}, stream=True, timeout=self.timeout
            ) as probe:
                if probe.status_code == 416:  # an empty file has no byte 0: fetch it whole
                    return self._fetch_whole(final, name)
                probe.raise_for_status()
                size = total_size(probe.headers.get("Content-Range")) if probe.status_code == 206 else None
                validator = probe.headers.get("ETag") or probe.headers.get("Last-Modified")
                if size is None:  # no ranges: this answer is the whole file
                    return Fetched([name], single=True, bytes=self._stream(probe, final))
            self._fetch_parts(final, size, validator)
        except Exception as exc:
            raise http_error(exc) from None
        return Fetched([name], single=True, bytes=size)

    def _fetch_whole(self, final: Path, name: str) -> Fetched:
        with self.session.get(self.source.url, stream=True, timeout=self.timeout) as resp:
            resp.raise_for_status()
            return Fetched([name], single=True, bytes=self._stream(resp, final))

    def _stream(self, resp: requests.Response, final: Path) -> int:
        size = 0
        with atomic_writer(final) as out:
            for chunk in resp.iter_content(CHUNK):
                out.write(chunk)
                size += len(chunk)
        return size

    def _fetch_parts(self, final: Path, size: int, validator: str | None) -> None:
        with atomic_path(final) as tmp:
            fd = os.open(tmp, os.O_WRONLY)
            try:
                os.ftruncate(fd, size)
                parts = plan_parts(size, self.part_size)
                with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(parts) or 1))) as pool:
                    futures = [pool.submit(self._fetch_part, fd, part, validator) for part in parts]
                    try:
                        for future in as_completed(futures):
                            future.result()
                    except BaseException:
                        for future in futures:  # the first failure ends the fetch: start no more parts
                            future.cancel()
                        raise
            finally:
                os.close(fd)

    def _fetch_part(self, fd: int, part: tuple[int, int], validator: str | None) -> None:
        first, last = part
        headers = {"Range": f"bytes={first}-{last}"}
        if validator:
            headers["If-Range"] = validator
        with self.session.get(self.source.url, headers=headers, stream=True, timeout=self.timeout) as resp:
            resp.raise_for_status()
            if resp.status_code != 206:
                raise FetchError(
                    FAILED, f"the file changed during the download (HTTP {resp.status_code} to a range)"
                )
            offset = first
            for chunk in resp.iter_content(CHUNK):
                if offset + len(chunk) > last + 1:
                    raise FetchError(FAILED, f"the server sent more than bytes {first}-{last}")
                os.pwrite(fd, chunk, offset)
                offset += len(chunk)
            if offset != last + 1:
                raise FetchError(FAILED, f"bytes {first}-{last}: the connection ended at {offset}")
