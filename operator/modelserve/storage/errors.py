"""Why a fetch failed, in categories the operator and a user can tell apart, and the one line that
reports it (stderr and the container's termination message, read back into `ModelFetchFailed`)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from modelserve.storage.uri import display_uri

UNREACHABLE = "unreachable"
NOT_FOUND = "not found"
ACCESS_DENIED = "access denied"
MISSING_CREDENTIALS = "missing credentials"
CHECKSUM_MISMATCH = "checksum mismatch"
INVALID_URI = "invalid URI"
WRITE_FAILED = "write failed"
FAILED = "failed"

CONDITION_PREFIX = "ModelFetchFailed"
TERMINATION_LOG_ENV = "MODELSERVE_TERMINATION_LOG"
DEFAULT_TERMINATION_LOG = "/dev/termination-log"

# Environment variables whose values are secrets: never in a message, whatever an SDK put there.
SECRET_ENV = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
)
# Kubernetes keeps at most 4096 bytes of a termination message; one line stays well below that.
MAX_MESSAGE = 1024


@dataclass
class FetchError(Exception):
    """A failed fetch: `reason` is one of the categories above, `detail` says what exactly."""

    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


def checksum_mismatch(expected: str, actual: str) -> FetchError:
    return FetchError(CHECKSUM_MISMATCH, f"(expected {expected}, got {actual})")


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value (4 characters or longer) replaced by `***`."""
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def secret_values(env: Mapping[str, str]) -> list[str]:
    return [env[name] for name in SECRET_ENV if env.get(name)]


def failure_line(uri: str, error: BaseException, env: Mapping[str, str]) -> str:
    """`ModelFetchFailed: <uri>: <reason>: <detail>` on one line, without secrets or URL queries."""
    if isinstance(error, FetchError):
        text = f"{error.reason} {error.detail}" if error.reason == CHECKSUM_MISMATCH else str(error)
    else:
        text = f"{FAILED}: {type(error).__name__}: {error}"
    line = f"{CONDITION_PREFIX}: {display_uri(uri)}: {text}"
    line = " ".join(redact(line, secret_values(env)).split())
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 3] + "..."


def write_termination_message(line: str, env: Mapping[str, str] | None = None) -> None:
    """Write `line` to the termination-message file (MODELSERVE_TERMINATION_LOG, default
    /dev/termination-log); outside a container that file is usually not writable: ignored."""
    path = (env if env is not None else os.environ).get(TERMINATION_LOG_ENV, DEFAULT_TERMINATION_LOG)
    try:
        with open(path, "w") as f:
            f.write(line + "\n")
    except OSError:
        pass
