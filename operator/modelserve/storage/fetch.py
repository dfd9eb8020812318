"""The fetcher interface and the run of one fetch: download, verify, report."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from modelserve.storage.checksum import digest_of
from modelserve.storage.errors import checksum_mismatch
from modelserve.storage.files import remove_files


@dataclass
class Fetched:
    """What a fetcher wrote under the destination: relative paths, and whether the URI named one
    object (its digest is the file's) or a directory (its digest is the manifest's)."""

    files: list[str] = field(default_factory=list)
    single: bool = False
    bytes: int = 0


class Fetcher(Protocol):
    """One per scheme: write the source's file(s) under `dest` atomically, raise FetchError."""

    def fetch(self, dest: Path) -> Fetched: ...


@dataclass
class FetchReport:
    fetched: Fetched
    seconds: float
    sha256: str | None

    def summary(self, uri: str) -> str:
        mb = self.fetched.bytes / 1e6
        rate = mb / self.seconds if self.seconds > 0 else 0.0
        verified = f", sha256 {self.sha256} verified" if self.sha256 else ""
        return (
            f"fetched {uri}: {len(self.fetched.files)} file(s), {mb:.1f} MB in {self.seconds:.1f} s"
            f" ({rate:.0f} MB/s){verified}"
        )


def fetch_and_verify(fetcher: Fetcher, dest: Path, expected_sha256: str | None) -> FetchReport:
    """Run `fetcher` into `dest`; with `expected_sha256`, compare the digest (checksum.py) in one
    streaming pass and remove the fetched files on a mismatch before raising FetchError."""
    dest.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    fetched = fetcher.fetch(dest)
    if expected_sha256:
        actual = digest_of(dest, fetched.files, fetched.single)
        if actual != expected_sha256:
            remove_files(dest, fetched.files)
            raise checksum_mismatch(expected_sha256, actual)
    return FetchReport(fetched, time.monotonic() - start, expected_sha256)
