"""Revision hashes: safe to print unquoted, and an operator upgrade keeps the live revisions' names."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import re
from datetime import UTC, datetime

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from modelserve.api.modeldeployment import parse_model_deployment, revision_hash
from modelserve.planner.modeldeployment import Observed, plan_model_deployment
from ruamel.yaml import YAML

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
SAFE = re.compile(r"^[bcdfghjklmnpqrstvwxz][bcdfghjklmnpqrstvwxz2456789]{9}$")
DNS_LABEL = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?\Z")


def md(name: str = "iris", version: str = "1", image: str = "srv:1", **spec_extra: object) -> dict:
    spec: dict = {
        "model": {"name": name, "version": version, "uri": f"s3://m/{name}/{version}", "format": "sklearn"},
        "runtime": {"image": image, "resources": {"requests": {"cpu": "100m"}}},
        "replicas": 2,
    }
    spec.update(spec_extra)
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "iris", "namespace": "ml", "uid": "u-1", "generation": 1},
        "spec": spec,
    }


@settings(max_examples=500, deadline=None)
@given(name=DNS_LABEL, version=st.text(min_size=1, max_size=20), image=st.text(min_size=1, max_size=30))
def test_revision_hashes_use_the_safe_alphabet_and_read_back_as_strings(
    name: str, version: str, image: str
) -> None:
    rev = revision_hash(parse_model_deployment(md(name, version, image)["spec"]))
    assert SAFE.match(rev), rev
    # Whatever the reader: YAML 1.1 (PyYAML, like Go's yaml.v2) and YAML 1.2 (ruamel), printed plain.
    assert yaml.safe_load(f"rev: {rev}") == {"rev": rev}
    assert YAML(typ="safe", pure=True).load(io.StringIO(f"rev: {rev}")) == {"rev": rev}


def _legacy_hash(spec: dict) -> str:
    """modelserve 0.1's revision hash, computed here independently of the package."""
    m, r = spec["model"], spec["runtime"]
    defining = {
        "model": {"version": m["version"], "uri": m["uri"], "format": m.get("format", "custom")},
        "runtime": {
            "image": r["image"],
            "command": r.get("command", []),
            "args": r.get("args", []),
            "env": r.get("env", []),
            "resources": r.get("resources", {}),
        },
    }
    digest = hashlib.sha256(json.dumps(defining, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()[:10]


def _as_deployed_by_0_1(body: dict) -> tuple[dict, dict[str, dict]]:
    """A ModelDeployment Ready under modelserve 0.1: its status and live Deployments carry the hex hash."""
    plan = plan_model_deployment(body, Observed(), NOW)
    new, old = plan.status["stableRevision"], _legacy_hash(body["spec"])
    deployments = {}
    for obj in plan.desired:
        if obj["kind"] != "Deployment":
            continue
        dep = json.loads(json.dumps(obj).replace(new, old))
        dep["status"] = {"replicas": dep["spec"]["replicas"], "readyReplicas": dep["spec"]["replicas"]}
        deployments[dep["metadata"]["name"]] = dep
    status = json.loads(json.dumps(plan.status).replace(new, old))
    return status, deployments


def test_an_operator_upgrade_keeps_serving_the_live_revision_without_a_rollout() -> None:
    body = md(rollout={"strategy": "canary", "canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}})
    status, deployments = _as_deployed_by_0_1(body)
    legacy = _legacy_hash(body["spec"])
    assert status["stableRevision"] == legacy

    upgraded = copy.deepcopy(body)
    upgraded["status"] = status
    plan = plan_model_deployment(upgraded, Observed(deployments=deployments), NOW)
    assert plan.status["stableRevision"] == legacy
    assert not plan.status.get("candidateRevision")
    assert {d["metadata"]["name"] for d in plan.desired if d["kind"] == "Deployment"} == set(deployments)

    # The next real change is a new revision, named in the safe alphabet, and rolls out from the old one.
    changed = copy.deepcopy(upgraded)
    changed["spec"]["model"]["version"] = "2"
    plan = plan_model_deployment(changed, Observed(deployments=deployments), NOW)
    assert plan.status["stableRevision"] == legacy
    assert SAFE.match(plan.status["candidateRevision"])
    names = {d["metadata"]["name"] for d in plan.desired if d["kind"] == "Deployment"}
    assert set(deployments) <= names  # the stable revision, rebuilt from its annotation
