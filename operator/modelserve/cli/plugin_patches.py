"""The metadata patches behind `kubectl modelserve promote|abort|pause|resume|retry` (pure).

The plugin never computes a rollout and never writes `spec`: it only sets the annotations documented
in docs/rollouts.md ("Manual control") and leaves the rest to the operator. One-shot requests
(promote, retry, resume) carry a fresh token per call, a timestamp in nanoseconds, because the
operator acts on a one-shot annotation only when its value differs from the token it last applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelserve.api.constants import (
    ANNOTATION_ABORT,
    ANNOTATION_PAUSED,
    ANNOTATION_PROMOTE,
    ANNOTATION_RESUME,
    ANNOTATION_RETRY,
)
from modelserve.api.errors import SpecError
from modelserve.api.rollout import Rollout, parse_rollout

COMMAND_PROMOTE = "promote"
COMMAND_ABORT = "abort"
COMMAND_PAUSE = "pause"
COMMAND_RESUME = "resume"
COMMAND_RETRY = "retry"
CONTROL_COMMANDS = (COMMAND_PROMOTE, COMMAND_ABORT, COMMAND_PAUSE, COMMAND_RESUME, COMMAND_RETRY)


@dataclass(frozen=True)
class ControlRequest:
    """What one control command asks for: the JSON merge patch of the ModelDeployment and a sentence.

    `patch` only ever has `metadata.annotations`; a value of None removes that annotation.
    """

    command: str
    patch: dict[str, Any]
    summary: str
    notes: tuple[str, ...] = field(default=())

    @property
    def annotations(self) -> dict[str, str | None]:
        return dict(self.patch["metadata"]["annotations"])


def _annotations_patch(values: Mapping[str, str | None]) -> dict[str, Any]:
    return {"metadata": {"annotations": dict(values)}}


def build_control_request(command: str, *, now_ns: int, full: bool = False) -> ControlRequest:
    """Command name (+ the clock in ns, + `--full` for promote) in, the annotation patch out.

    - promote: `modelserve.io/promote: step@<ns>` (`full@<ns>` with full=True);
    - abort: `modelserve.io/abort: "true"` (level: stays until removed; `retry` removes it);
    - pause: `modelserve.io/paused: "true"` (level);
    - resume: removes `modelserve.io/paused` and sets `modelserve.io/resume: <ns>`, so one command
      lifts a manual pause as well as an analysis pause;
    - retry: `modelserve.io/retry: <ns>` and removes `modelserve.io/abort`, since a standing abort
      would abort the retried rollout at once.
    Raises ValueError for an unknown command.
    """
    token = str(now_ns)
    if command == COMMAND_PROMOTE:
        kind = "full" if full else "step"
        value = f"{kind}@{token}"
        what = "full promotion" if full else "promotion past the current step"
        return ControlRequest(
            command,
            _annotations_patch({ANNOTATION_PROMOTE: value}),
            f"{what} requested ({ANNOTATION_PROMOTE}={value})",
        )
    if full:
        raise ValueError(f"--full: only for promote, not {command}")
    if command == COMMAND_ABORT:
        return ControlRequest(
            command,
            _annotations_patch({ANNOTATION_ABORT: "true"}),
            f"abort requested ({ANNOTATION_ABORT}=true): traffic returns to the stable revision",
            (
                f"{ANNOTATION_ABORT} stays set and would abort the next rollout too; "
                "`retry` or `kubectl annotate md <name> modelserve.io/abort-` removes it",
            ),
        )
    if command == COMMAND_PAUSE:
        return ControlRequest(
            command,
            _annotations_patch({ANNOTATION_PAUSED: "true"}),
            f"pause requested ({ANNOTATION_PAUSED}=true)",
        )
    if command == COMMAND_RESUME:
        return ControlRequest(
            command,
            _annotations_patch({ANNOTATION_PAUSED: None, ANNOTATION_RESUME: token}),
            f"resume requested ({ANNOTATION_PAUSED} removed, {ANNOTATION_RESUME}={token})",
        )
    if command == COMMAND_RETRY:
        return ControlRequest(
            command,
            _annotations_patch({ANNOTATION_RETRY: token, ANNOTATION_ABORT: None}),
            f"retry requested ({ANNOTATION_RETRY}={token}, {ANNOTATION_ABORT} removed)",
        )
    raise ValueError(f"command: {command!r} is not one of {', '.join(CONTROL_COMMANDS)}")


def spec_notes(request: ControlRequest, model_deployment: Mapping[str, Any]) -> tuple[str, ...]:
    """Warnings about spec fields (GitOps) the annotations cannot override, for the command's output.

    The plugin never writes spec, so when `spec.rollout.paused`/`abort` or the paused annotation stand
    in the way of a request, it says so instead.
    """
    try:
        rollout = parse_rollout((model_deployment.get("spec") or {}).get("rollout"))
    except SpecError as exc:
        rollout, spec_error = Rollout(), [f"the spec is invalid, the operator will not act on it: {exc}"]
    else:
        spec_error = []
    annotations = (model_deployment.get("metadata") or {}).get("annotations") or {}
    notes: list[str] = spec_error
    paused_by_annotation = str(annotations.get(ANNOTATION_PAUSED, "")).strip().lower() == "true"
    if request.command == COMMAND_RESUME and rollout.paused:
        notes.append(
            "spec.rollout.paused is true: the rollout stays paused until it is set to false in the spec"
        )
    if request.command in (COMMAND_PROMOTE, COMMAND_RETRY) and (rollout.paused or paused_by_annotation):
        notes.append(
            "the rollout is paused: the request waits until it is resumed (`kubectl modelserve resume`)"
        )
    if request.command == COMMAND_RETRY and rollout.abort:
        notes.append(
            "spec.rollout.abort is true: the retried rollout will be aborted again until the spec unsets it"
        )
    if request.command == COMMAND_PAUSE and rollout.paused:
        notes.append("spec.rollout.paused is already true")
    return (*request.notes, *notes)
