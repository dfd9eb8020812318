"""The CRD copies shipped by the chart, by kustomize and in the package must be identical to crds/
(the source of truth).

Fix a failure with: hack/sync-chart-crds.sh
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "crds"
COPIES = [
    ROOT / "charts" / "modelserve" / "crds",
    ROOT / "config" / "crd" / "bases",
    ROOT / "operator" / "modelserve" / "crds",  # package data: render validates against it
]


def yaml_files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.yaml"))}


@pytest.fixture(scope="module")
def source_files() -> dict[str, bytes]:
    files = yaml_files(SOURCE)
    if not files:
        pytest.skip("crds/ has no CRDs yet")
    return files


@pytest.mark.parametrize("copy", COPIES, ids=lambda p: str(p.relative_to(ROOT)))
def test_copies_are_identical_to_crds(copy: Path, source_files: dict[str, bytes]) -> None:
    copied = yaml_files(copy)
    assert sorted(copied) == sorted(source_files), "run hack/sync-chart-crds.sh"
    for name, content in source_files.items():
        assert copied[name] == content, (
            f"{copy.relative_to(ROOT)}/{name} differs: run hack/sync-chart-crds.sh"
        )
    # Nothing but the CRD files (Helm would try to install any YAML found in crds/).
    assert {p.name for p in copy.iterdir()} == set(source_files)


def test_kustomize_crd_list_names_every_file(source_files: dict[str, bytes]) -> None:
    kustomization = yaml.safe_load((ROOT / "config" / "crd" / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(f"bases/{name}" for name in source_files)


def test_crds_cover_every_kind_the_chart_creates(source_files: dict[str, bytes]) -> None:
    crd_names = {
        doc["metadata"]["name"]
        for content in source_files.values()
        for doc in yaml.safe_load_all(content)
        if doc and doc.get("kind") == "CustomResourceDefinition"
    }
    # The chart creates kopf peering objects, and the operator serves the three modelserve.io kinds.
    assert {
        "modeldeployments.modelserve.io",
        "slapolicies.modelserve.io",
        "regionplacements.modelserve.io",
        "clusterkopfpeerings.kopf.dev",
        "kopfpeerings.kopf.dev",
    } <= crd_names


def test_check_script_agrees(source_files: dict[str, bytes]) -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "hack" / "check-chart-crds.sh")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_check_script_detects_drift(tmp_path: Path, source_files: dict[str, bytes]) -> None:
    # Run the check on a scratch tree whose chart copy is missing one CRD.
    (tmp_path / "hack").mkdir()
    script = tmp_path / "hack" / "check-chart-crds.sh"
    script.write_text((ROOT / "hack" / "check-chart-crds.sh").read_text())
    for folder in (tmp_path / "crds", tmp_path / "charts/modelserve/crds", tmp_path / "config/crd/bases"):
        folder.mkdir(parents=True)
        for name, content in source_files.items():
            (folder / name).write_bytes(content)
    next(iter((tmp_path / "charts/modelserve/crds").glob("*.yaml"))).unlink()
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "sync-chart-crds.sh" in result.stderr
