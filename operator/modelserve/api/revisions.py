"""What defines a revision, stored on its Deployments so an old revision can be rebuilt exactly.

During a rollout the spec describes the candidate; the stable revision's model and runtime live
only in the annotation `modelserve.io/revision-spec` on its Deployments.

Revisions created before the safe hash alphabet carry a hexadecimal hash (legacy_revision_hash). A live
Deployment with the legacy hash of the spec's own revision keeps serving it under that name: an operator
upgrade must not look like a new revision and start a rollout.
"""

from __future__ import annotations

import json
from dataclasses import replace

from modelserve.api import constants as c
from modelserve.api.modeldeployment import (
    ModelDeploymentSpec,
    ModelRef,
    ModelStorage,
    legacy_revision_hash,
    revision_defining_fields,
    revision_hash,
)


def revision_fields(spec: ModelDeploymentSpec) -> dict:
    """The fields revision_hash covers, as JSON-ready data."""
    fields = revision_defining_fields(spec)
    # The model's name too (not hashed: renaming a model is not a new revision), so an older revision's
    # spec can be rebuilt from its annotation.
    fields["model"] = {"name": spec.model.name, **fields["model"]}
    return fields


def encode(spec: ModelDeploymentSpec) -> str:
    return json.dumps(revision_fields(spec), sort_keys=True, separators=(",", ":"))


def spec_for_revision(current: ModelDeploymentSpec, encoded: str) -> ModelDeploymentSpec | None:
    """The current spec with an older revision's model and runtime put back, or None if unreadable."""
    try:
        data = json.loads(encoded)
        m, r = data["model"], data["runtime"]
        storage = m.get("storage")
        return replace(
            current,
            model=ModelRef(
                name=m["name"],
                version=m["version"],
                uri=m["uri"],
                format=m["format"],
                sha256=m.get("sha256"),
                storage=ModelStorage(
                    secret_name=storage["secretName"],
                    endpoint=storage["endpoint"],
                    size_limit=storage["sizeLimit"],
                )
                if storage
                else ModelStorage(),
            ),
            runtime=replace(
                current.runtime,
                image=r["image"],
                name=r.get("name"),
                command=tuple(r["command"]),
                args=tuple(r["args"]),
                env=tuple(dict(e) for e in r["env"]),
                resources=dict(r["resources"]),
            ),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _live_revisions(deployments: dict[str, dict]) -> list[tuple[str, str | None]]:
    """(revision label, revision-spec annotation) of every live Deployment that has a revision label."""
    out = []
    for dep in deployments.values():
        meta = dep.get("metadata", {})
        rev = (meta.get("labels") or {}).get(c.LABEL_REVISION)
        if rev:
            out.append((rev, (meta.get("annotations") or {}).get(c.ANNOTATION_REVISION_SPEC)))
    return out


def _is_revision_of(spec: ModelDeploymentSpec, rev: str) -> bool:
    return rev in (revision_hash(spec), legacy_revision_hash(spec))


def spec_revision(spec: ModelDeploymentSpec, deployments: dict[str, dict]) -> str:
    """The revision name of `spec`: its revision_hash, or its legacy hash while a live Deployment
    still serves the same revision under that name (created before the safe alphabet)."""
    legacy = legacy_revision_hash(spec)
    if any(rev == legacy for rev, _ in _live_revisions(deployments)):
        return legacy
    return revision_hash(spec)


def specs_by_revision(
    current: ModelDeploymentSpec, deployments: dict[str, dict]
) -> dict[str, ModelDeploymentSpec]:
    """Every revision we can build: the spec's own, and those recorded on live Deployments (under
    either hash format, checked against the recorded spec)."""
    out = {spec_revision(current, deployments): current}
    for rev, encoded in _live_revisions(deployments):
        if rev not in out and encoded:
            rebuilt = spec_for_revision(current, encoded)
            if rebuilt is not None and _is_revision_of(rebuilt, rev):
                out[rev] = rebuilt
    return out
