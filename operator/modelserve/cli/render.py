"""`modelserve render -f FILE`: the objects the operator would own, without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml

from modelserve.reconcile.plan import Observed, plan_model_deployment


def load_documents(paths: list[str]) -> list[dict]:
    docs: list[dict] = []
    for path in paths:
        text = Path(path).read_text() if path != "-" else __import__("sys").stdin.read()
        docs.extend(d for d in yaml.safe_load_all(text) if isinstance(d, dict))
    return docs


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
    """Objects owned by other kinds (SLAPolicy PrometheusRules), when their planners are present."""
    return []


def render_yaml(objects: list[dict]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)
