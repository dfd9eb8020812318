"""hf:// through huggingface_hub's snapshot_download (parallel file downloads, resumable).

HF_TOKEN and HF_ENDPOINT (a mirror or a private hub) are read by huggingface_hub itself.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import huggingface_hub
from huggingface_hub import errors as hf_errors

from modelserve.storage.errors import ACCESS_DENIED, FAILED, NOT_FOUND, UNREACHABLE, FetchError
from modelserve.storage.fetch import Fetched
from modelserve.storage.files import safe_relative, target_path
from modelserve.storage.uri import HfSource

STAGING_PREFIX = ".modelserve-hf-"


def snapshot_arguments(source: HfSource) -> dict[str, Any]:
    """The keyword arguments of `snapshot_download` for `source` (besides local_dir): the file or the
    folder `subpath` only, when one is named."""
    args: dict[str, Any] = {"repo_id": source.repo_id, "repo_type": "model", "revision": source.revision}
    if source.subpath:
        args["allow_patterns"] = [source.subpath, f"{source.subpath}/*"]
    return args


def hf_error(exc: BaseException) -> FetchError:
    """Map a huggingface_hub exception to a FetchError category (most specific class first)."""
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, hf_errors.GatedRepoError):
        return FetchError(ACCESS_DENIED, "gated repository: accept its terms and set HF_TOKEN")
    if isinstance(exc, hf_errors.RepositoryNotFoundError):
        return FetchError(NOT_FOUND, "repository not found (or private: set HF_TOKEN)")
    if isinstance(exc, hf_errors.RevisionNotFoundError):
        return FetchError(NOT_FOUND, "revision not found")
    if isinstance(exc, hf_errors.LocalEntryNotFoundError):
        # Raised when the hub cannot be reached and nothing is cached.
        return FetchError(UNREACHABLE, "cannot connect to the Hugging Face Hub (HF_ENDPOINT)")
    if isinstance(exc, hf_errors.EntryNotFoundError):
        return FetchError(NOT_FOUND, "file not found in the repository")
    if isinstance(exc, hf_errors.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            return FetchError(ACCESS_DENIED, f"HTTP {status}")
        return FetchError(FAILED, f"HTTP {status}" if status else type(exc).__name__)
    if "connect" in type(exc).__name__.lower() or isinstance(exc, ConnectionError | TimeoutError):
        return FetchError(UNREACHABLE, f"cannot connect ({type(exc).__name__})")
    raise exc


@dataclass
class HfFetcher:
    """Fetch a repository (or its `subpath`) under DEST keeping relative paths (relative to
    `subpath`); a `subpath` naming one file lands as DEST/<file name>, like any single object."""

    source: HfSource

    def fetch(self, dest: Path) -> Fetched:
        dest.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=dest))
        try:
            try:
                huggingface_hub.snapshot_download(local_dir=staging, **snapshot_arguments(self.source))
            except Exception as exc:
                raise hf_error(exc) from None
            return self._move_into(staging, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _move_into(self, staging: Path, dest: Path) -> Fetched:
        root = staging / self.source.subpath if self.source.subpath else staging
        if root.is_file():
            name = safe_relative(root.name)
            size = root.stat().st_size
            os.replace(root, target_path(dest, name))
            return Fetched([name], single=True, bytes=size)
        fetched = Fetched()
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            rel = path.relative_to(root)
            if not path.is_file() or rel.parts[0] == ".cache":  # huggingface_hub's own metadata
                continue
            name = safe_relative(rel.as_posix())
            final = target_path(dest, name)
            final.parent.mkdir(parents=True, exist_ok=True)
            fetched.bytes += path.stat().st_size
            os.replace(path, final)
            fetched.files.append(name)
        if not fetched.files:
            raise FetchError(NOT_FOUND, f"nothing at {self.source.subpath or 'the repository root'}")
        return fetched
