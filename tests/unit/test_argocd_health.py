"""Argo CD health checks (hack/argocd-health/*.lua) run under Lua 5.1 (Argo CD's gopher-lua dialect) via lupa.

Each script gets the object as the global-like parameter `obj` and must return {status=..., message=...}.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

lua51 = pytest.importorskip("lupa.lua51")

ROOT = Path(__file__).resolve().parents[2]
HEALTH_DIR = ROOT / "hack" / "argocd-health"
ARGOCD_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}


def to_lua(runtime: Any, value: Any) -> Any:
    """Convert dicts/lists recursively into Lua tables (lists become 1-based arrays; None is dropped)."""
    if isinstance(value, dict):
        return runtime.table_from({k: to_lua(runtime, v) for k, v in value.items() if v is not None})
    if isinstance(value, list | tuple):
        return runtime.table_from([to_lua(runtime, v) for v in value])
    return value


def from_lua(value: Any) -> Any:
    if lua51.lua_type(value) == "table":
        return {k: from_lua(v) for k, v in value.items()}
    return value


def run_health(script: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Run one health script on `obj`; returns the `hs` table as a dict."""
    runtime = lua51.LuaRuntime(unpack_returned_tuples=True)
    source = (HEALTH_DIR / script).read_text()
    health = runtime.eval("function(obj)\n" + source + "\nend")
    return from_lua(health(to_lua(runtime, obj)))


def condition(type_: str, status: str, reason: str = "", message: str = "") -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2025-01-01T00:00:00Z",
        "observedGeneration": 3,
    }


def model(status: dict[str, Any] | None, *, generation: int = 3, paused: bool = False) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "fraud-detector", "namespace": "ml", "generation": generation},
        "spec": {
            "model": {"name": "fraud-detector", "version": "1.1.0", "uri": "s3://models/fraud/1.1.0"},
            "runtime": {"image": "registry.example.com/sklearn-server:1.4"},
            "rollout": {"strategy": "canary", "paused": paused},
        },
    }
    if status is not None:
        obj["status"] = status
    return obj


READY_STATUS: dict[str, Any] = {
    "observedGeneration": 3,
    "phase": "Ready",
    "message": "Serving 1.1.0",
    "stableRevision": "fraud-detector-7d9f",
    "canaryWeight": 0,
    "replicas": 3,
    "readyReplicas": 3,
    "desiredReplicas": 3,
    "conditions": [
        condition("Ready", "True", "RolloutComplete", "3/3 replicas of 1.1.0 ready"),
        condition("Progressing", "False", "RolloutComplete"),
        condition("Degraded", "False", "AsExpected"),
    ],
}


def md_status(**changes: Any) -> dict[str, Any]:
    status = copy.deepcopy(READY_STATUS)
    status.update(changes)
    return status


# (case id, object, expected Argo CD status)
MODEL_CASES = [
    ("ready", model(READY_STATUS), "Healthy"),
    ("no-status", model(None), "Progressing"),
    ("empty-status", model({}), "Progressing"),
    ("stale-generation", model(READY_STATUS, generation=4), "Progressing"),
    (
        "pending",
        model(md_status(phase="Pending", conditions=[condition("Ready", "False", "Pending")])),
        "Progressing",
    ),
    (
        "canary-in-progress",
        model(
            md_status(
                phase="Progressing",
                canaryWeight=25,
                candidateRevision="fraud-detector-8a1c",
                conditions=[
                    condition("Ready", "True", "StableServing"),
                    condition("Progressing", "True", "CanaryStep"),
                ],
            )
        ),
        "Progressing",
    ),
    (
        "rolled-back",
        model(
            md_status(
                phase="RolledBack",
                message="gate latency-p99 failed 2/2",
                rollout={"failedRevision": "fraud-detector-8a1c", "failedReason": "AnalysisFailed"},
            )
        ),
        "Degraded",
    ),
    ("phase-degraded", model(md_status(phase="Degraded")), "Degraded"),
    (
        "degraded-condition",
        model(
            md_status(
                phase="Ready",
                conditions=[
                    condition("Ready", "True"),
                    condition("Degraded", "True", "ReplicasUnavailable", "1/3 replicas unavailable"),
                ],
            )
        ),
        "Degraded",
    ),
    (
        "paused-phase",
        model(md_status(phase="Paused", canaryWeight=10, message="paused at step 2")),
        "Suspended",
    ),
    ("paused-in-spec", model(md_status(phase="Progressing"), paused=True), "Suspended"),
    ("frozen", model(md_status(phase="Frozen", message="error budget exhausted")), "Suspended"),
    (
        "ready-condition-false",
        model(md_status(conditions=[condition("Ready", "False", "ReplicasNotReady")])),
        "Progressing",
    ),
]


@pytest.mark.parametrize(
    ("obj", "expected"), [(c[1], c[2]) for c in MODEL_CASES], ids=[c[0] for c in MODEL_CASES]
)
def test_model_deployment_health(obj: dict[str, Any], expected: str) -> None:
    health = run_health("modeldeployment.lua", obj)
    assert health["status"] == expected, health
    assert isinstance(health["message"], str) and health["message"]


def test_model_deployment_messages_explain() -> None:
    rolled_back = run_health("modeldeployment.lua", MODEL_CASES[6][1])
    assert "RolledBack" in rolled_back["message"] and "latency-p99" in rolled_back["message"]
    canary = run_health("modeldeployment.lua", MODEL_CASES[5][1])
    assert "25%" in canary["message"]


def sla(status: dict[str, Any] | None, generation: int = 2) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "SLAPolicy",
        "metadata": {"name": "gold", "namespace": "ml", "generation": generation},
        "spec": {"objectives": [{"name": "availability", "type": "availability", "target": 99.9}]},
    }
    if status is not None:
        obj["status"] = status
    return obj


SLA_COMPLIANT = {
    "observedGeneration": 2,
    "compliant": True,
    "errorBudgetRemainingPercent": 63.25,
    "rulesReady": True,
    "conditions": [condition("Ready", "True", "Evaluated")],
    "models": [
        {
            "name": "fraud-detector",
            "compliant": True,
            "errorBudgetRemainingPercent": 63.25,
            "attainment": [
                {"objective": "availability", "percent": 99.96, "target": 99.9, "compliant": True}
            ],
        }
    ],
}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (sla(SLA_COMPLIANT), "Healthy"),
        (sla({**SLA_COMPLIANT, "compliant": False, "errorBudgetRemainingPercent": 0}), "Degraded"),
        (sla(None), "Progressing"),
        (sla({"observedGeneration": 2, "conditions": []}), "Progressing"),
        (sla(SLA_COMPLIANT, generation=3), "Progressing"),
    ],
    ids=["compliant", "not-compliant", "no-status", "not-evaluated", "stale-generation"],
)
def test_sla_policy_health(obj: dict[str, Any], expected: str) -> None:
    health = run_health("slapolicy.lua", obj)
    assert health["status"] == expected, health
    assert health["message"]


def test_sla_policy_message_has_budget() -> None:
    assert "63.2" in run_health("slapolicy.lua", sla(SLA_COMPLIANT))["message"]


def placement(conditions: list[dict[str, Any]] | None, generation: int = 1, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "RegionPlacement",
        "metadata": {"name": "eu-only", "namespace": "ml", "generation": generation},
        "spec": {"residency": {"allowedRegions": ["eu-west-1"]}, "regions": [{"name": "eu-west-1"}]},
    }
    if conditions is not None:
        obj["status"] = {"observedGeneration": 1, "jurisdiction": "EU", "conditions": conditions, **extra}
    return obj


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (placement([condition("Ready", "True"), condition("ResidencyCompliant", "True")]), "Healthy"),
        (
            placement(
                [
                    condition("Ready", "True"),
                    condition("ResidencyCompliant", "False", "PodsOutsideRegion", "2 pods in us-east-1"),
                ],
                violationsTotal=2,
            ),
            "Degraded",
        ),
        (
            placement(
                [condition("Ready", "False", "RegionUnavailable"), condition("ResidencyCompliant", "False")]
            ),
            "Degraded",
        ),
        (
            placement(
                [condition("Ready", "False", "WaitingForReplicas"), condition("ResidencyCompliant", "True")]
            ),
            "Progressing",
        ),
        (placement([condition("Ready", "True")]), "Progressing"),
        (placement(None), "Progressing"),
        (
            placement([condition("Ready", "True"), condition("ResidencyCompliant", "True")], generation=2),
            "Progressing",
        ),
    ],
    ids=[
        "healthy",
        "violation",
        "violation-not-ready",
        "not-ready",
        "residency-unknown",
        "no-status",
        "stale",
    ],
)
def test_region_placement_health(obj: dict[str, Any], expected: str) -> None:
    health = run_health("regionplacement.lua", obj)
    assert health["status"] == expected, health
    assert health["message"]


def test_region_placement_violation_message() -> None:
    obj = placement(
        [
            condition("Ready", "True"),
            condition("ResidencyCompliant", "False", "PodsOutsideRegion", "2 pods in us-east-1"),
        ],
        violationsTotal=2,
    )
    assert run_health("regionplacement.lua", obj)["message"] == "2 pods in us-east-1 (2 violations)"


PHASES = st.sampled_from(
    [None, "Pending", "Ready", "Progressing", "Paused", "RolledBack", "Degraded", "Frozen"]
)
CONDITIONS = st.lists(
    st.builds(
        condition,
        st.sampled_from(["Ready", "Degraded", "Progressing", "ResidencyCompliant"]),
        st.sampled_from(["True", "False", "Unknown"]),
    ),
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(
    phase=PHASES,
    conditions=CONDITIONS,
    observed=st.one_of(st.none(), st.integers(0, 5)),
    generation=st.integers(1, 5),
    paused=st.booleans(),
    compliant=st.one_of(st.none(), st.booleans()),
)
def test_scripts_always_answer(
    phase: str | None,
    conditions: list[dict[str, Any]],
    observed: int | None,
    generation: int,
    paused: bool,
    compliant: bool | None,
) -> None:
    status = {
        "phase": phase,
        "conditions": conditions,
        "observedGeneration": observed,
        "compliant": compliant,
    }
    for script, obj in (
        ("modeldeployment.lua", model(status, generation=generation, paused=paused)),
        ("slapolicy.lua", sla(status, generation=generation)),
        ("regionplacement.lua", {**placement(None, generation=generation), "status": status}),
    ):
        health = run_health(script, obj)
        assert health["status"] in ARGOCD_STATUSES
        assert isinstance(health["message"], str)


def test_argocd_cm_snippet_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(HEALTH_DIR / "render_argocd_cm.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    config_map = yaml.safe_load(
        (ROOT / "examples" / "gitops" / "argocd" / "argocd-cm-health.yaml").read_text()
    )
    assert config_map["metadata"]["name"] == "argocd-cm"
    for kind, script in (
        ("ModelDeployment", "modeldeployment.lua"),
        ("SLAPolicy", "slapolicy.lua"),
        ("RegionPlacement", "regionplacement.lua"),
    ):
        embedded = config_map["data"][f"resource.customizations.health.modelserve.io_{kind}"]
        assert embedded == (HEALTH_DIR / script).read_text()
