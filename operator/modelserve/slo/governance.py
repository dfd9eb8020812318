"""Which ModelDeployments one SLAPolicy governs, and the ambiguous selections that involve it.

Pure: resource bodies in, a :class:`Governance` out. The rules (slaPolicyRef first, then selectors,
first by name on a tie) are modelserve.slo.selection's; this module applies them to the bodies of one
namespace, for the policy's status (ModelsSelected) and for the models its PrometheusRule covers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modelserve.api.errors import SpecError
from modelserve.slo.selection import (
    PolicyCandidate,
    PolicySelection,
    model_ref_from_body,
    models_by_policy,
    policy_candidate_from_body,
)


@dataclass(frozen=True)
class Governance:
    """Which models one policy governs, and the ambiguous selections that involve it."""

    models: tuple[str, ...]  # governed ModelDeployment names, sorted
    ambiguous: tuple[str, ...] = ()  # one human message per ambiguous model involving this policy


def policy_candidates(policy_bodies: Sequence[Mapping[str, Any]]) -> list[PolicyCandidate]:
    """Selection candidates; a policy whose selector does not parse selects nothing (its own
    reconcile reports the SpecError) but can still be named by slaPolicyRef."""
    candidates = []
    for body in policy_bodies:
        try:
            candidates.append(policy_candidate_from_body(body))
        except SpecError:
            meta = body.get("metadata") or {}
            candidates.append(
                PolicyCandidate(str(meta.get("namespace", "")), str(meta.get("name", "")), None)
            )
    return candidates


def governance_for(
    namespace: str,
    name: str,
    model_bodies: Sequence[Mapping[str, Any]],
    policy_bodies: Sequence[Mapping[str, Any]],
) -> Governance:
    """The models policy `namespace/name` governs among `model_bodies` (ModelDeployments of its
    namespace), with the other policies of the namespace (`policy_bodies`, this one included)."""
    candidates = policy_candidates(policy_bodies)
    if not any(p.namespace == namespace and p.name == name for p in candidates):
        candidates.append(PolicyCandidate(namespace, name, None))
    models = [
        model_ref_from_body(b) for b in model_bodies if not (b.get("metadata") or {}).get("deletionTimestamp")
    ]
    governed, ambiguous = models_by_policy(models, candidates)
    notes = []
    for (ns, model), selection in sorted(ambiguous.items()):
        if ns == namespace and (selection.policy == name or name in selection.ambiguous_with):
            notes.append(_ambiguity_note(model, selection))
    return Governance(tuple(governed.get((namespace, name), [])), tuple(notes))


def _ambiguity_note(model: str, selection: PolicySelection) -> str:
    everyone = ", ".join(sorted((selection.policy or "", *selection.ambiguous_with)))
    return (
        f"model {model} is selected by several SLAPolicies ({everyone}); {selection.policy} governs it"
        " (first by name); set its spec.slaPolicyRef to choose"
    )
