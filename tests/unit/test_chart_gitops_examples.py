"""The GitOps examples (examples/gitops/) and the install docs stay consistent with the chart and the CRDs.

- the model directory validates against the CRDs' OpenAPI schemas (CEL rules: server-side, in e2e)
- Argo CD Applications and Flux objects point at paths that exist in this repository
- docs/install.md documents every metric the Grafana dashboard uses
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GITOPS = ROOT / "examples" / "gitops"


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def crd_schemas() -> dict[str, dict[str, Any]]:
    schemas = {}
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        for crd in load_all(path):
            if crd.get("spec", {}).get("group") != "modelserve.io":
                continue
            (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
            schemas[crd["spec"]["names"]["kind"]] = version["schema"]["openAPIV3Schema"]
    return schemas


def test_model_directory_matches_the_crd_schemas() -> None:
    schemas = crd_schemas()
    if not schemas:
        pytest.skip("crds/ has no modelserve.io CRDs yet")
    kustomization = yaml.safe_load((GITOPS / "models" / "kustomization.yaml").read_text())
    seen = set()
    for resource in kustomization["resources"]:
        for obj in load_all(GITOPS / "models" / resource):
            assert obj["apiVersion"] == "modelserve.io/v1alpha1"
            # OpenAPI v3.0 schemas use draft-4 semantics (boolean exclusiveMinimum).
            jsonschema.Draft4Validator(schemas[obj["kind"]]).validate(obj)
            seen.add(obj["kind"])
    assert seen == {"ModelDeployment", "SLAPolicy", "RegionPlacement"}


def test_model_references_resolve() -> None:
    objects = [
        obj
        for path in (GITOPS / "models").glob("*.yaml")
        if path.name != "kustomization.yaml"
        for obj in load_all(path)
    ]
    names = {(obj["kind"], obj["metadata"]["name"]) for obj in objects}
    for obj in objects:
        if obj["kind"] == "ModelDeployment":
            assert ("RegionPlacement", obj["spec"]["placementRef"]["name"]) in names
            assert ("SLAPolicy", obj["spec"]["slaPolicyRef"]["name"]) in names


def test_argocd_applications_point_at_this_repository() -> None:
    for path in (GITOPS / "argocd").glob("*.yaml"):
        for obj in load_all(path):
            if obj["kind"] != "Application":
                continue
            source = obj["spec"]["source"]
            assert (ROOT / source["path"]).is_dir(), f"{path.name}: {source['path']} does not exist"
            assert "ServerSideApply=true" in obj["spec"]["syncPolicy"]["syncOptions"]
    operator_app = load_all(GITOPS / "argocd" / "modelserve-operator.yaml")[0]
    values = operator_app["spec"]["source"]["helm"]["valuesObject"]
    chart_schema = json.loads((ROOT / "charts" / "modelserve" / "values.schema.json").read_text())
    jsonschema.validate(values, chart_schema)


def test_flux_objects_point_at_existing_paths_and_valid_values() -> None:
    release = load_all(GITOPS / "flux" / "operator" / "helmrelease.yaml")[0]
    assert (ROOT / release["spec"]["chart"]["spec"]["chart"]).is_dir()
    chart_schema = json.loads((ROOT / "charts" / "modelserve" / "values.schema.json").read_text())
    jsonschema.validate(release["spec"]["values"], chart_schema)
    models = load_all(GITOPS / "flux" / "models-kustomization.yaml")[0]
    assert (ROOT / models["spec"]["path"]).is_dir()
    assert models["spec"]["dependsOn"] == [{"name": "modelserve-operator"}]
    kinds = {expr["kind"] for expr in models["spec"]["healthCheckExprs"]}
    assert kinds == {"ModelDeployment", "SLAPolicy", "RegionPlacement"}


@pytest.mark.parametrize("folder", ["models", "flux", "flux/operator"])
def test_kustomizations_build(folder: str) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not found")
    result = subprocess.run(
        [kubectl, "kustomize", str(GITOPS / folder)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_install_docs_list_every_dashboard_metric() -> None:
    dashboard = (ROOT / "charts" / "modelserve" / "dashboards" / "modelserve.json").read_text()
    metrics = set(re.findall(r"\bmodelserve_[a-z_]+", dashboard))
    assert len(metrics) >= 7
    docs = (ROOT / "docs" / "install.md").read_text()
    missing = sorted(metric for metric in metrics if metric not in docs)
    assert not missing, f"docs/install.md does not document {missing}"


def test_dashboard_metrics_are_exported_by_the_operator() -> None:
    metrics_module = pytest.importorskip("modelserve.observability.metrics")
    exported = set(metrics_module.REGISTRY._names_to_collectors)
    dashboard = (ROOT / "charts" / "modelserve" / "dashboards" / "modelserve.json").read_text()
    used = set(re.findall(r"\bmodelserve_[a-z_]+", dashboard))
    assert used <= exported, f"dashboard uses metrics the operator does not export: {sorted(used - exported)}"
