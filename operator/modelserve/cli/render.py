"""`modelserve render -f FILE`: the objects the operator would own, without a cluster.

Every modelserve.io input is first validated against its CRD as the API server would
(modelserve.api.validation): a file `kubectl apply` would reject fails here with the same field path
and message, rather than rendering nothing or objects for a spec that can never exist.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml

from modelserve.api.validation import validate_document
from modelserve.cli.yaml_output import dump_all
from modelserve.planner.modeldeployment import Observed, plan_model_deployment
from modelserve.slo import SpecError, parse_sla_policy, render_prometheus_rule
from modelserve.slo.governance import governance_for
from modelserve.slo.rules import owner_reference


def load_documents(paths: list[str]) -> list[dict]:
    docs: list[dict] = []
    for path in paths:
        text = Path(path).read_text() if path != "-" else sys.stdin.read()
        docs.extend(d for d in yaml.safe_load_all(text) if isinstance(d, dict))
    return docs


def validation_errors(docs: list[dict]) -> list[str]:
    """One line per error the API server would report on creating the modelserve.io documents of
    `docs`, in its words: 'RegionPlacement "eu" is invalid: spec.regions: Invalid value: ...'."""
    lines = []
    for doc in docs:
        name = (doc.get("metadata") or {}).get("name")
        lines += [f'{doc.get("kind")} "{name}" is invalid: {e}' for e in validate_document(doc) or ()]
    return lines


def render(docs: list[dict], namespace: str = "default") -> list[dict]:
    """Desired owned objects for every ModelDeployment in `docs` (other kinds resolve references)."""
    by_kind: dict[tuple[str, str], dict] = {}
    for d in docs:
        by_kind[(d.get("kind", ""), d.get("metadata", {}).get("name", ""))] = d
    out: list[dict] = []
    now = datetime.now(UTC)
    for d in docs:
        if d.get("kind") != "ModelDeployment":
            continue
        body = {
            **d,
            "metadata": {"namespace": namespace, "uid": "<uid>", "generation": 1, **d.get("metadata", {})},
        }
        spec = body.get("spec") or {}
        observed = Observed()
        ref = (spec.get("placementRef") or {}).get("name")
        if ref:
            observed.placement = by_kind.get(("RegionPlacement", ref))
            observed.placement_missing = observed.placement is None
        ref = (spec.get("slaPolicyRef") or {}).get("name")
        if ref:
            observed.sla_policy = by_kind.get(("SLAPolicy", ref))
            observed.sla_policy_missing = observed.sla_policy is None
        plan = plan_model_deployment(body, observed, now)
        for obj in plan.desired:
            obj["metadata"]["ownerReferences"][0]["uid"] = "<uid of the ModelDeployment>"
        out.extend(plan.desired)
    out.extend(_render_extra(docs, namespace))
    return out


def _render_extra(docs: list[dict], namespace: str) -> list[dict]:
    """Objects owned by other kinds: the PrometheusRule of every SLAPolicy in `docs`, for the
    ModelDeployments of the same documents it governs (slaPolicyRef first, then selectors), as the
    operator would apply it. Files with policies but no ModelDeployment at all render each policy for
    every model of the namespace (rules to load into a Prometheus without prometheus-operator); a
    policy that governs none of the given models renders nothing, like the operator. An invalid policy
    spec exits with the field path."""

    def in_namespace(d: dict) -> dict:
        return {**d, "metadata": {"namespace": namespace, **(d.get("metadata") or {})}}

    policies = [in_namespace(d) for d in docs if d.get("kind") == "SLAPolicy"]
    models = [in_namespace(d) for d in docs if d.get("kind") == "ModelDeployment"]
    out: list[dict] = []
    for policy in policies:
        meta = policy["metadata"]
        try:
            spec = parse_sla_policy(policy)
        except SpecError as exc:
            raise SystemExit(f"SLAPolicy {meta.get('name')}: {exc}") from None
        governed: list[str] | None = None
        if models:
            same_ns = [p for p in policies if p["metadata"]["namespace"] == meta["namespace"]]
            ns_models = [m for m in models if m["metadata"]["namespace"] == meta["namespace"]]
            governed = list(governance_for(meta["namespace"], meta["name"], ns_models, same_ns).models)
            if not governed:
                continue
        rule = render_prometheus_rule(meta["name"], meta["namespace"], spec, governed)
        rule["metadata"]["ownerReferences"] = [
            owner_reference({"metadata": {**meta, "uid": "<uid of the SLAPolicy>"}})
        ]
        out.append(rule)
    return out


def render_yaml(objects: list[dict]) -> str:
    """The objects as a YAML stream that every YAML reader (kubectl's included) reads back as they are."""
    return dump_all(objects)
