"""sha256 of what was fetched: of the object itself for a single object, of a manifest for a
directory (a prefix or a Hugging Face repository).

The manifest is the UTF-8 text of one line per file, sorted by relative path (with "/" separators,
relative to the destination), each line `<relative path>\\0<file sha256 hex>\\n`; its sha256 is the
value of `--sha256` / `spec.model.sha256`. `manifest_sha256` computes it for a local directory, so a
user can compute the value before uploading (`modelserve storage-init --print-sha256 DIR`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

CHUNK = 1024 * 1024
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def file_sha256(path: Path) -> str:
    """sha256 hex of a file, read in 1 MiB chunks (memory stays flat whatever the size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_text(files: Mapping[str, str]) -> str:
    """The manifest of {relative path: sha256 hex}: sorted `path\\0sha256\\n` lines."""
    return "".join(f"{path}\0{files[path]}\n" for path in sorted(files))


def manifest_sha256(files: Mapping[str, str]) -> str:
    return hashlib.sha256(manifest_text(files).encode()).hexdigest()


def directory_files(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every regular file under `root` (symlinks are not followed)."""
    return {
        p.relative_to(root).as_posix(): file_sha256(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def digest_of(dest: Path, files: list[str], single: bool) -> str:
    """The digest `--sha256` is compared with: the file's own sha256 when `single`, else the
    manifest's sha256 over `files` (relative paths under `dest`)."""
    if single:
        return file_sha256(dest / files[0])
    return manifest_sha256({f: file_sha256(dest / f) for f in files})


def normalise_sha256(value: str) -> str:
    """Lower-case 64-hex digest; raise ValueError naming spec.model.sha256 otherwise."""
    v = value.strip().lower()
    if not SHA256_HEX.match(v):
        raise ValueError(f"spec.model.sha256 {value!r} is not 64 hexadecimal characters")
    return v
