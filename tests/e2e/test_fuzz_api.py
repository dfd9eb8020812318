"""Fuzzing through the real API server (issue 18): generated ModelDeployments, RegionPlacements and
SLAPolicies of every shape the CRD schemas allow (tests/fuzz/strategies.py, derived from the CRDs'
OpenAPI schemas, with leaves stepping just outside their bounds now and then), each created with a
server-side dry run (`dryRun=All`).

- The API server accepts or rejects as `Invalid` (422), and every error of a rejection names a field.
- `modelserve render`'s offline validator agrees on what is accepted.
- What the API server accepted (the object it returns, with its defaults) plans through the pure
  planners without an exception, or with a condition naming the field; and every object the planner
  wants to own passes the API server's own dry run too (a name, label or quantity the planner builds
  must be one Kubernetes accepts).
- A small sample is created for real: the operator reconciles each with no ReconcileError or ApplyFailed.

`make test` runs MODELSERVE_FUZZ_EXAMPLES=100 (default) and 4 live ones; `make fuzz` runs more.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from modelserve.api.validation import validate_document
from modelserve.k8s.kubeconfig import load_credentials
from modelserve.k8s.transport import ApiException, Transport

from tests.e2e.harness import Kube, condition, wait_until
from tests.fuzz import properties as prop
from tests.fuzz.strategies import PHASES, resources

EXAMPLES = int(os.environ.get("MODELSERVE_FUZZ_EXAMPLES", "100"))
LIVE_EXAMPLES = int(os.environ.get("MODELSERVE_FUZZ_LIVE", "4"))
GROUP, VERSION = "modelserve.io", "v1alpha1"
PLURALS = {
    "ModelDeployment": "modeldeployments",
    "RegionPlacement": "regionplacements",
    "SLAPolicy": "slapolicies",
    "Deployment": "deployments",
    "Service": "services",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "HTTPRoute": "httproutes",
    "VirtualService": "virtualservices",
    "DestinationRule": "destinationrules",
}


class ApiServer:
    """Creates objects through the API server's REST API (one request each: kubectl per object would
    cost a process start)."""

    def __init__(self, kubeconfig: str, namespace: str):
        self.transport = Transport(load_credentials(kubeconfig))
        self.namespace = namespace

    def path(self, obj: dict) -> str:
        group_version = obj["apiVersion"]
        prefix = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
        return f"{prefix}/namespaces/{self.namespace}/{PLURALS[obj['kind']]}"

    def create(self, obj: dict, dry_run: bool = True) -> tuple[int, dict]:
        """(HTTP status, the returned object or Status)."""
        query = [("dryRun", "All")] if dry_run else []
        try:
            status, data = self.transport.exchange("POST", self.path(obj), query=query, body=obj)
            return status, data
        except ApiException as exc:
            try:
                body = json.loads(exc.body or "{}")
            except json.JSONDecodeError:
                body = {"message": str(exc.body)}
            return exc.status, body


@pytest.fixture(scope="module")
def fuzz_namespace(kube: Kube) -> Iterator[str]:
    name = f"t-fuzz-{uuid.uuid4().hex[:8]}"
    kube.run("create", "namespace", name)
    yield name
    kube.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def server(cluster: Any, fuzz_namespace: str, mesh_crds: list[str]) -> ApiServer:
    return ApiServer(str(cluster.kubeconfig), fuzz_namespace)


def submit(server: ApiServer, doc: dict) -> dict | None:
    """Dry-run create `doc`; the stored object when accepted, None when rejected (naming fields)."""
    status, body = server.create(doc)
    offline = validate_document(doc) or []
    if status == 201:
        assert offline == [], f"offline validator rejects what the API server accepts: {offline}\n{doc}"
        return body
    assert status == 422 and body.get("reason") == "Invalid", (status, body, doc)
    causes = (body.get("details") or {}).get("causes") or []
    assert not prop.rejection_problems(causes), (body.get("message"), doc)
    assert offline, f"offline validator accepts what the API server rejects: {body.get('message')}\n{doc}"
    return None


def refer(md: dict, rp: dict, sla: dict) -> None:
    """Name the placement and the policy as the ModelDeployment refers to them, so they resolve."""
    spec = md.get("spec") or {}
    if (spec.get("placementRef") or {}).get("name"):
        rp["metadata"]["name"] = spec["placementRef"]["name"]
    if (spec.get("slaPolicyRef") or {}).get("name"):
        sla["metadata"]["name"] = spec["slaPolicyRef"]["name"]


def check_owned_objects(server: ApiServer, desired: list[dict]) -> None:
    for obj in desired:
        status, body = server.create(obj)
        assert status == 201, f"the API server rejects a planned {obj['kind']}: {body.get('message')}\n{obj}"


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@FUZZ
@given(resources("ModelDeployment", 0.03), resources("RegionPlacement", 0.03), resources("SLAPolicy", 0.03))
def test_generated_resources_through_the_api_server(server: ApiServer, md: dict, rp: dict, sla: dict) -> None:
    refer(md, rp, sla)
    placement = submit(server, rp)
    policy = submit(server, sla)
    if placement is not None:
        prop.plan_placement(placement)
    if policy is not None:
        prop.plan_sla_policy(policy)
    stored = submit(server, md)
    if stored is None:
        return
    plans = prop.plan_model(stored, placement, policy)
    seen: dict[tuple[str, str], dict] = {}
    for plan in plans:
        for obj in plan.desired:
            seen[(obj["kind"], obj["metadata"]["name"])] = obj
    check_owned_objects(server, list(seen.values()))


@settings(
    max_examples=LIVE_EXAMPLES,
    deadline=None,
    phases=PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(resources("ModelDeployment"))
def test_a_sample_reconciles_live_without_an_operator_exception(
    server: ApiServer, kube: Kube, operator: object, md: dict
) -> None:
    md["metadata"]["name"] = f"live-{uuid.uuid4().hex[:6]}"
    assume(validate_document(md) == [])
    name, namespace = md["metadata"]["name"], server.namespace
    status, body = server.create(md, dry_run=False)
    assert status == 201, body
    try:

        def reconciled() -> dict | None:
            # Reconciled, or reported as failing (a ReconcileError does not advance observedGeneration).
            live = kube.get("modeldeployment", name, namespace)
            observed = ((live or {}).get("status") or {}).get("observedGeneration")
            done = observed == live["metadata"]["generation"] or condition(live, "Degraded")
            return live if done else None

        live = wait_until(reconciled, 60, what=f"ModelDeployment {name} reconciled")
        degraded = condition(live, "Degraded") or {}
        assert degraded.get("reason") not in ("ReconcileError", "ApplyFailed"), degraded
        prop.check_conditions(live["status"])
    finally:
        kube.run("delete", "modeldeployment", name, "-n", namespace, "--wait=true", "--timeout=60s")
