"""The Dockerfile builds what the chart runs: pinned base, wheel-only runtime, uid 65532, `modelserve run`."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(keyword: str) -> list[str]:
    return [line.split(None, 1)[1] for line in DOCKERFILE.splitlines() if line.startswith(keyword + " ")]


def test_base_image_is_an_exact_python_311_slim_bookworm_tag() -> None:
    (default_base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", default_base)
    stages = instructions("FROM")
    assert stages == ["${PYTHON_IMAGE} AS builder", "${PYTHON_IMAGE} AS runtime"]


def test_runtime_runs_the_operator_as_non_root() -> None:
    assert instructions("USER")[-1] == "65532:65532"
    assert instructions("ENTRYPOINT")[-1] == '["modelserve", "run"]'
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "modelserve" in scripts
    values = yaml.safe_load((ROOT / "charts" / "modelserve" / "values.yaml").read_text())
    assert values["securityContext"]["runAsUser"] == 65532
    assert values["podSecurityContext"]["runAsUser"] == 65532


def test_runtime_installs_only_wheels() -> None:
    runtime = DOCKERFILE.split("AS runtime", 1)[1]
    assert "COPY" not in runtime, "the runtime stage gets only the wheels (bind mount from the builder)"
    assert "--no-index" in runtime and "--find-links=/wheels" in runtime


def test_build_context_has_what_the_wheel_needs() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore, ".dockerignore is an allow-list: ignore everything, then re-include"
    for needed in ("!pyproject.toml", "!README.md", "!operator/"):
        assert needed in ignore
    for source in instructions("COPY"):
        for path in source.split()[:-1]:
            assert f"!{path}" in ignore or f"!{path.rstrip('/')}/" in ignore, path
