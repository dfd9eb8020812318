"""What defines a revision, stored on its Deployments so an old revision can be rebuilt exactly.

During a rollout the spec describes the candidate; the stable revision's model and runtime live
only in the annotation `modelserve.io/revision-spec` on its Deployments.
"""

from __future__ import annotations

import json
from dataclasses import replace

from modelserve.api import constants as c
from modelserve.api.modeldeployment import ModelDeploymentSpec, ModelRef, revision_hash


def revision_fields(spec: ModelDeploymentSpec) -> dict:
    """The fields revision_hash covers, as JSON-ready data."""
    return {
        "model": {
            "name": spec.model.name,
            "version": spec.model.version,
            "uri": spec.model.uri,
            "format": spec.model.format,
        },
        "runtime": {
            "image": spec.runtime.image,
            "command": list(spec.runtime.command),
            "args": list(spec.runtime.args),
            "env": list(spec.runtime.env),
            "resources": spec.runtime.resources,
        },
    }


def encode(spec: ModelDeploymentSpec) -> str:
    return json.dumps(revision_fields(spec), sort_keys=True, separators=(",", ":"))


def spec_for_revision(current: ModelDeploymentSpec, encoded: str) -> ModelDeploymentSpec | None:
    """The current spec with an older revision's model and runtime put back, or None if unreadable."""
    try:
        data = json.loads(encoded)
        m, r = data["model"], data["runtime"]
        return replace(
            current,
            model=ModelRef(name=m["name"], version=m["version"], uri=m["uri"], format=m["format"]),
            runtime=replace(
                current.runtime,
                image=r["image"],
                command=tuple(r["command"]),
                args=tuple(r["args"]),
                env=tuple(dict(e) for e in r["env"]),
                resources=dict(r["resources"]),
            ),
        )
    except (ValueError, KeyError, TypeError):
        return None


def specs_by_revision(
    current: ModelDeploymentSpec, deployments: dict[str, dict]
) -> dict[str, ModelDeploymentSpec]:
    """Every revision we can build: the spec's own, and those recorded on live Deployments."""
    out = {revision_hash(current): current}
    for dep in deployments.values():
        meta = dep.get("metadata", {})
        rev = (meta.get("labels") or {}).get(c.LABEL_REVISION)
        encoded = (meta.get("annotations") or {}).get(c.ANNOTATION_REVISION_SPEC)
        if rev and rev not in out and encoded:
            rebuilt = spec_for_revision(current, encoded)
            if rebuilt is not None and revision_hash(rebuilt) == rev:
                out[rev] = rebuilt
    return out
