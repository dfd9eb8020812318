"""ModelFetchFailed: what the storage initializer's container status says about each revision's model.

The init container `storage-init` writes one line to its termination message when it fails
(``ModelFetchFailed: <uri>: <error>``; the kubelet falls back to the tail of its log). A revision whose
pods show such a failure gets the condition ModelFetchFailed=True naming the URI and the error, one
Warning Event per new failure, and, when it is the candidate, is never promoted (rollout/machine.py).
Pure: pod bodies in, failures out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from modelserve.api import constants as c
from modelserve.api.conditions import Condition
from modelserve.api.events import EventSpec
from modelserve.builders.serving import STORAGE_INIT_CONTAINER

MESSAGE_PREFIX = "ModelFetchFailed:"
MAX_MESSAGE = 600


@dataclass(frozen=True)
class FetchFailure:
    revision: str
    pod: str
    message: str  # "ModelFetchFailed: <uri>: <error>"


def _terminated_failure(status: Mapping) -> Mapping | None:
    """The failed termination of an init container status: its current state, or the last one while it
    waits to be restarted (CrashLoopBackOff); None when it runs, succeeded or has not run yet."""
    state = status.get("state") or {}
    if state.get("running"):
        return None
    term = state.get("terminated")
    if term is not None:
        return term if int(term.get("exitCode") or 0) != 0 else None
    last = (status.get("lastState") or {}).get("terminated")
    if state.get("waiting") is not None and last is not None and int(last.get("exitCode") or 0) != 0:
        return last
    return None


def _describe(term: Mapping, uri: str) -> str:
    lines = [line.strip() for line in str(term.get("message") or "").splitlines() if line.strip()]
    tagged = [line for line in lines if line.startswith(MESSAGE_PREFIX)]
    if tagged:
        return tagged[-1][:MAX_MESSAGE]
    detail = lines[-1] if lines else f"exit code {term.get('exitCode')} ({term.get('reason') or 'Error'})"
    return f"{MESSAGE_PREFIX} {uri}: {detail}"[:MAX_MESSAGE]


def fetch_failures(pods: Iterable[Mapping], uris: Mapping[str, str]) -> dict[str, FetchFailure]:
    """The first fetch failure of each revision (by revision label), from its pods' init containers.

    `uris`: each revision's spec.model.uri, for a message the program could not write itself (killed,
    out of memory)."""
    out: dict[str, FetchFailure] = {}
    for pod in sorted(pods, key=lambda p: p.get("metadata", {}).get("name", "")):
        meta = pod.get("metadata") or {}
        revision = (meta.get("labels") or {}).get(c.LABEL_REVISION)
        if not revision or revision in out:
            continue
        for status in (pod.get("status") or {}).get("initContainerStatuses") or []:
            if status.get("name") != STORAGE_INIT_CONTAINER:
                continue
            term = _terminated_failure(status)
            if term is not None:
                message = _describe(term, uris.get(revision, "?"))
                out[revision] = FetchFailure(revision, str(meta.get("name", "")), message)
    return out


def fetch_condition(failures: Mapping[str, FetchFailure], revisions: Iterable[str]) -> Condition:
    """ModelFetchFailed over the revisions that should run: True naming each failing revision's error."""
    failing = [failures[r] for r in sorted(set(revisions)) if r in failures]
    if not failing:
        return Condition(c.COND_MODEL_FETCH_FAILED, False, c.REASON_MODEL_FETCHED, "no model download failed")
    message = "; ".join(f"revision {f.revision} (pod {f.pod}): {f.message}" for f in failing)
    return Condition(c.COND_MODEL_FETCH_FAILED, True, c.REASON_MODEL_FETCH_FAILED, message[:1000])


def fetch_events(old_conditions: Iterable[Mapping] | None, new: Condition) -> list[EventSpec]:
    """One Warning Event when a download failure is new (the condition turns True or its message changes)."""
    if not new.status:
        return []
    before = next((x for x in old_conditions or [] if x.get("type") == new.type), None)
    if before is not None and before.get("status") == "True" and before.get("message") == new.message:
        return []
    return [EventSpec(c.EVENT_WARNING, c.REASON_MODEL_FETCH_FAILED, new.message)]


def deployment_settled(deployment: Mapping) -> bool:
    """Every replica of the Deployment's current spec is updated and available, as its controller has
    observed it (a new or rolling Deployment, or one with a pod failing to start, is not settled)."""
    meta, spec, status = (deployment.get(k) or {} for k in ("metadata", "spec", "status"))
    replicas = int(spec.get("replicas", 1) or 0)
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return False
    if int(status.get("unavailableReplicas") or 0) > 0:
        return False
    counts = (
        status.get(k) or 0 for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
    )
    return all(int(n) == replicas for n in counts)


def pods_needed(deployments: Mapping[str, Mapping], placement: bool, status: Mapping) -> bool:
    """Whether a reconcile must list the model's pods: only when they can tell it something. They are
    read for placement (where each pod runs), and for the model fetch while a Deployment is not settled
    (a failing init container keeps its pod unavailable) or a ModelFetchFailed is recorded (to clear it).
    A settled model without placement skips the list: most reconciles, and a large pod list, cost nothing.
    """
    return pods_needed_if(all(deployment_settled(d) for d in deployments.values()), placement, status)


def pods_needed_if(settled: bool, placement: bool, status: Mapping) -> bool:
    """`pods_needed`, given whether every owned Deployment is settled (the resync's relist keeps only that
    of each Deployment it lists)."""
    if placement:
        return True
    if any(
        cond.get("type") == c.COND_MODEL_FETCH_FAILED and cond.get("status") == "True"
        for cond in status.get("conditions") or ()
    ):
        return True
    return not settled
