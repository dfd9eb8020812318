"""Writing fetched files safely: every file lands under its final name only once complete (a temp
name in the same directory, fsync, rename), and no remote name can escape the destination."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from modelserve.storage.errors import FetchError

TEMP_PREFIX = ".modelserve-part-"


def safe_relative(name: str) -> str:
    """A remote object's name relative to the fetched prefix, checked to stay under the destination:
    no absolute path, no '..', no empty segment. Raises FetchError otherwise (a hostile listing)."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or any(p in ("", ".", "..") for p in name.split("/")):
        raise FetchError("invalid object name", f"{name!r} would be written outside the destination")
    return path.as_posix()


def target_path(dest: Path, relative: str) -> Path:
    return dest.joinpath(*safe_relative(relative).split("/"))


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """A temp path beside `final` to write to; renamed to `final` when the block succeeds, removed
    when it fails. Used by SDKs that write to a file name themselves (s3transfer, gcs)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_writer(final: Path) -> Iterator[BinaryIO]:
    """A binary file object to stream into; `final` appears only once the block succeeded."""
    with atomic_path(final) as tmp, open(tmp, "wb") as f:
        yield f


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_files(dest: Path, files: list[str]) -> None:
    """Remove fetched files (after a checksum mismatch: a wrong model must not be served)."""
    for rel in files:
        target_path(dest, rel).unlink(missing_ok=True)
