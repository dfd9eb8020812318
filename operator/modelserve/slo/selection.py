"""Which SLAPolicy governs a ModelDeployment.

Rules, in order:
  1. ``spec.slaPolicyRef.name`` wins: the named policy in the model's namespace governs it, whatever
     the selectors say. If that policy does not exist the model is ungoverned (reason
     ``SLAPolicyNotFound``) — an explicit reference never falls back to a selector match.
  2. Otherwise the policies of the same namespace whose ``spec.selector`` matches the model's labels.
     An absent selector matches nothing; an empty one (``{}``) matches every model, as in Kubernetes.
  3. Several selector matches: the first by name (deterministic), and the others are reported
     (reason ``AmbiguousSLAPolicy``) so the operator can raise a condition/Event on the model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from modelserve.slo.model import LabelSelector, LabelSelectorRequirement, parse_label_selector

# Reasons (CamelCase, for conditions and Events).
REASON_POLICY_REF = "SLAPolicyRef"
REASON_POLICY_NOT_FOUND = "SLAPolicyNotFound"
REASON_SELECTOR = "SelectorMatched"
REASON_AMBIGUOUS = "AmbiguousSLAPolicy"
REASON_NO_POLICY = "NoSLAPolicy"


@dataclass(frozen=True)
class PolicyCandidate:
    """What selection needs to know about an SLAPolicy."""

    namespace: str
    name: str
    selector: LabelSelector | None


@dataclass(frozen=True)
class ModelRef:
    """What selection needs to know about a ModelDeployment."""

    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    sla_policy_ref: str | None = None  # spec.slaPolicyRef.name


@dataclass(frozen=True)
class PolicySelection:
    policy: str | None  # governing policy name (same namespace), None when ungoverned
    reason: str
    ambiguous_with: tuple[str, ...] = ()  # other selector matches that lost
    message: str = ""

    @property
    def ambiguous(self) -> bool:
        return bool(self.ambiguous_with)


def requirement_matches(requirement: LabelSelectorRequirement, labels: Mapping[str, str]) -> bool:
    """metav1 semantics: NotIn and DoesNotExist match when the label is absent."""
    op, key = requirement.operator, requirement.key
    if op == "In":
        return key in labels and labels[key] in requirement.values
    if op == "NotIn":
        return key not in labels or labels[key] not in requirement.values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    raise ValueError(f"unknown label selector operator {op!r}")


def selector_matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """True when every matchLabels entry and every matchExpression holds. None matches nothing."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in selector.match_labels.items()):
        return False
    return all(requirement_matches(r, labels) for r in selector.match_expressions)


def select_policy(model: ModelRef, policies: Iterable[PolicyCandidate]) -> PolicySelection:
    """The policy that governs `model`, with the reason (see the module docstring for the rules)."""
    same_namespace = [p for p in policies if p.namespace == model.namespace]
    if model.sla_policy_ref:
        if any(p.name == model.sla_policy_ref for p in same_namespace):
            return PolicySelection(
                model.sla_policy_ref,
                REASON_POLICY_REF,
                message=f"selected by spec.slaPolicyRef {model.sla_policy_ref}",
            )
        return PolicySelection(
            None,
            REASON_POLICY_NOT_FOUND,
            message=f"spec.slaPolicyRef.name: SLAPolicy {model.sla_policy_ref!r} not found in namespace"
            f" {model.namespace}",
        )
    matches = sorted({p.name for p in same_namespace if selector_matches(p.selector, model.labels)})
    if not matches:
        return PolicySelection(None, REASON_NO_POLICY, message="no SLAPolicy selects this model")
    if len(matches) == 1:
        return PolicySelection(matches[0], REASON_SELECTOR, message=f"selected by SLAPolicy {matches[0]}")
    chosen, others = matches[0], tuple(matches[1:])
    return PolicySelection(
        chosen,
        REASON_AMBIGUOUS,
        others,
        message=f"selected by several SLAPolicies ({', '.join(matches)}); using {chosen} (first by name);"
        " set spec.slaPolicyRef to choose",
    )


def models_by_policy(
    models: Sequence[ModelRef], policies: Sequence[PolicyCandidate]
) -> tuple[dict[tuple[str, str], list[str]], dict[tuple[str, str], PolicySelection]]:
    """Inverse view for the SLAPolicy reconciler: ``{(namespace, policy): [model names]}`` (every
    policy present, possibly with an empty list, names sorted) and the ambiguous selections keyed by
    ``(namespace, model)``. Use the lists as the `models` argument of the rule renderer."""
    governed: dict[tuple[str, str], list[str]] = {(p.namespace, p.name): [] for p in policies}
    ambiguous: dict[tuple[str, str], PolicySelection] = {}
    for model in models:
        selection = select_policy(model, policies)
        if selection.policy is not None:
            governed[(model.namespace, selection.policy)].append(model.name)
        if selection.ambiguous:
            ambiguous[(model.namespace, model.name)] = selection
    return {k: sorted(v) for k, v in governed.items()}, ambiguous


def policy_candidate_from_body(body: Mapping[str, object]) -> PolicyCandidate:
    """A PolicyCandidate from an SLAPolicy object (selector parsed; SpecError names the field)."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    assert isinstance(meta, Mapping) and isinstance(spec, Mapping)
    return PolicyCandidate(
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
        parse_label_selector(spec.get("selector"), "spec.selector"),
    )


def model_ref_from_body(body: Mapping[str, object]) -> ModelRef:
    """A ModelRef from a ModelDeployment object (labels and spec.slaPolicyRef.name)."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    assert isinstance(meta, Mapping) and isinstance(spec, Mapping)
    ref = spec.get("slaPolicyRef") or {}
    return ModelRef(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        labels=dict(meta.get("labels") or {}),
        sla_policy_ref=(ref.get("name") or None) if isinstance(ref, Mapping) else None,
    )
