"""What must hold for every generated resource, shared by the offline fuzz (tests/unit) and the fuzz
through the real API server (tests/e2e/test_fuzz_api.py).

- A rejection names a field (`spec.…` or `metadata.…`) in every error it reports.
- An accepted resource plans without an exception, through the same pure planners the operator and
  `modelserve render` use, with synthetic observed state (nodes labelled with the placement's regions,
  the referenced RegionPlacement and SLAPolicy); a spec the planner cannot use gives a condition whose
  message names the field.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from modelserve.api import constants as c
from modelserve.planner.modeldeployment import Observed, Plan, plan_model_deployment
from modelserve.reconcile.placement import plan_placement_status
from modelserve.slo import SpecError, parse_sla_policy, render_prometheus_rule

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
NAMES_A_FIELD = re.compile(r"\b(spec|metadata)\.[A-Za-z]")
# The API server's note after errors that stopped the CEL rules: it goes with errors that name fields.
RULES_NOT_CHECKED = "some validation rules were not checked"


def names_a_field(message: str) -> bool:
    return bool(NAMES_A_FIELD.search(message))


def rejection_problems(causes: Iterable[dict]) -> list[str]:
    """The causes of an API server rejection (Status.details.causes) that name no field."""
    causes = list(causes)
    if not causes:
        return ["a rejection without causes"]
    bad = []
    for cause in causes:
        field = str(cause.get("field") or "")
        message = str(cause.get("message") or "")
        if RULES_NOT_CHECKED in message and len(causes) > 1:
            continue
        if not (names_a_field(field + " ") or names_a_field(message)):
            bad.append(f"{field}: {message}")
    return bad


def offline_problems(errors: Iterable[object]) -> list[str]:
    """The offline validator's errors (FieldError) that name no field, as `rejection_problems`."""
    causes = []
    for error in errors:
        path = getattr(error, "path", "")
        causes.append({"field": path, "message": str(error)})
    return rejection_problems(causes) if causes else []


def stored(doc: dict, namespace: str = "fuzz", generation: int = 1) -> dict:
    """`doc` as the operator reads it from the API server (namespace, uid, generation)."""
    body = copy.deepcopy(doc)
    meta = body.setdefault("metadata", {})
    meta.setdefault("namespace", namespace)
    meta.setdefault("uid", "00000000-0000-0000-0000-000000000001")
    meta.setdefault("generation", generation)
    return body


def nodes_for(placement: dict | None) -> list[dict]:
    """Two Ready nodes in every region a RegionPlacement names (in its own region label), and one
    node in a region it does not name."""
    spec = (placement or {}).get("spec") or {}
    label = spec.get("regionLabel", "topology.kubernetes.io/region")
    zone_label = spec.get("zoneLabel", "topology.kubernetes.io/zone")
    regions = [r.get("name") for r in spec.get("regions") or [] if isinstance(r, dict)] + ["elsewhere"]
    nodes = []
    for i, region in enumerate(regions):
        for zone in ("a", "b"):
            labels = {label: str(region), zone_label: f"{region}-{zone}"}
            nodes.append(
                {
                    "metadata": {"name": f"node-{i}-{zone}", "labels": labels},
                    "status": {"conditions": [{"type": "Ready", "status": "True"}]},
                }
            )
    return nodes


def plan_model(doc: dict, placement: dict | None = None, sla_policy: dict | None = None) -> list[Plan]:
    """Plan an accepted ModelDeployment twice: from nothing, then with the first plan's Deployments live
    and available and its status stored (the second reconcile). Returns both plans; raises whatever the
    planner raises, and AssertionError when a Degraded/InvalidSpec condition names no field."""
    spec = doc.get("spec") or {}
    observed = Observed()
    if spec.get("placementRef"):
        observed.placement = stored(placement) if placement else None
        observed.placement_missing = placement is None
        observed.nodes = nodes_for(placement)
    if spec.get("slaPolicyRef"):
        observed.sla_policy = stored(sla_policy) if sla_policy else None
        observed.sla_policy_missing = sla_policy is None
    body = stored(doc)
    first = plan_model_deployment(body, observed, NOW)
    check_conditions(first.status)
    observed.deployments = {
        d["metadata"]["name"]: available(d) for d in first.desired if d.get("kind") == "Deployment"
    }
    second = plan_model_deployment({**body, "status": first.status}, observed, NOW)
    check_conditions(second.status)
    return [first, second]


def available(deployment: dict) -> dict:
    live = copy.deepcopy(deployment)
    replicas = live["spec"].get("replicas", 1)
    live["status"] = {
        "replicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "updatedReplicas": replicas,
        "observedGeneration": 1,
    }
    live["metadata"]["generation"] = 1
    return live


def check_conditions(status: dict) -> None:
    """A condition saying the spec is unusable (InvalidSpec) or the reconcile failed names the field."""
    for cond in status.get("conditions") or []:
        if cond.get("reason") in (c.REASON_INVALID_SPEC, c.REASON_RECONCILE_ERROR):
            assert names_a_field(cond.get("message", "")), cond


def plan_placement(doc: dict) -> dict:
    """The RegionPlacement's status from the pure planner, with nodes in its regions."""
    status, _events = plan_placement_status(stored(doc), [], [], nodes_for(doc), NOW)
    check_conditions(status)
    return status


def plan_sla_policy(doc: dict) -> dict | None:
    """The PrometheusRule of an accepted SLAPolicy; a SpecError must name a field."""
    try:
        spec = parse_sla_policy(stored(doc))
    except SpecError as exc:
        assert names_a_field(str(exc)), str(exc)
        return None
    return render_prometheus_rule(doc["metadata"]["name"], "fuzz", spec, ["model-a"])
