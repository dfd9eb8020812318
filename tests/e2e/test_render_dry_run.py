"""`modelserve render | kubectl apply -f -` works for every model name (issue 17.4).

Generated ModelDeployments (1,000 in `make test`; 10,000 in `make fuzz`, env
MODELSERVE_DRY_RUN_MODELS), with names and versions that YAML readers like to take for numbers,
bools or nulls (1e5, 0x1f, true, null, 123, 08, 1_000, 1:20), are rendered, and every rendered
document (three per model) goes through kubectl to the API server with a server-side dry run: kubectl decodes
our YAML with Go's YAML library and the API server decodes and validates each object, so a label or
env value read as a number fails here. A sample of the inputs (every tricky name and one in 20) is
also validated offline, which must accept what the API server accepts.

Figures (printed), 10,000 models: 2m38s on the 2-core dev machine at load average 4-5, shared with
other test runs (offline validation of the sample 1.5s, render 30s, dry runs 105s with two kubectl
processes at a time). Reproduce:
    MODELSERVE_DRY_RUN_MODELS=10000 .venv/bin/python -m pytest tests/e2e/test_render_dry_run.py -q -s
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from modelserve.api.validation import validate_document
from modelserve.cli.render import render, render_yaml

from tests.e2e.harness import Kube

MODELS = int(os.environ.get("MODELSERVE_DRY_RUN_MODELS", "1000"))
BATCH = 1_000  # documents per kubectl call
VALIDATE_EVERY = 20  # offline validation is CEL in pure Python (ms per rule): a sample, plus the tricky names
# Names that are DNS labels (model names and ModelDeployment names must be) and YAML non-strings.
TRICKY_NAMES = [
    "1e5",
    "1e-5",
    "1e10",
    "678231e595",
    "0x1f",
    "0o17",
    "0b1",
    "true",
    "false",
    "null",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "123",
    "08",
    "0",
    "inf",
    "nan",
    "1-000",
]
# Versions are free strings (label and env values): these are numbers, bools or nulls to some reader.
TRICKY_VERSIONS = [
    "1_000",
    "1:20",
    "190:20:30",
    ".inf",
    "-.inf",
    ".nan",
    "0o17",
    "+12",
    "1.5",
    "1.",
    ".5",
    "1e5",
    "1E5",
    "true",
    "True",
    "yes",
    "No",
    "on",
    "OFF",
    "null",
    "Null",
    "~",
    "2026-12-03",
    "08",
    "0x1F",
    "123",
]


def _tricky_number(rng: random.Random) -> str:
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 6)))
    return rng.choice(
        [
            digits,
            f"{digits}e{rng.randint(0, 99)}",
            f"0x{rng.randint(0, 0xFFFFF):x}",
            f"0o{rng.randint(0, 0o7777):o}",
            f"{rng.randint(0, 999)}e-{rng.randint(0, 9)}",
            f"0{digits}",
        ]
    )


def model_names(count: int, seed: int = 17) -> list[str]:
    """`count` distinct DNS-label names: the tricky ones, number-like ones, and ordinary words."""
    rng = random.Random(seed)
    names = dict.fromkeys(TRICKY_NAMES)
    while len(names) < count:
        if rng.random() < 0.6:
            name = _tricky_number(rng)
        else:
            alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
            name = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        if len(name) <= 30:
            names[name] = None
    return list(names)[:count]


def model_deployment(name: str, version: str) -> dict:
    """A ModelDeployment serving model `name`. It is named `name` too unless that starts with a digit:
    its Service takes its name, and a Service name must start with a letter (DNS-1035)."""
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name if name[0].isalpha() else f"m-{name}"},
        "spec": {
            "model": {"name": name, "version": version, "uri": f"s3://models/{name}/{version}"},
            "runtime": {"image": "registry.example.com/server:1.4"},
            "replicas": 1,
        },
    }


@pytest.fixture
def dry_run_namespace(kube: Kube) -> Iterator[str]:
    name = f"t-dry-{uuid.uuid4().hex[:8]}"
    kube.run("create", "namespace", name)
    yield name
    kube.run("delete", "namespace", name, "--wait=false", check=False)


def test_rendered_output_of_generated_models_passes_a_server_side_dry_run(
    kube: Kube, dry_run_namespace: str
) -> None:
    rng = random.Random(4)
    names = model_names(MODELS)
    docs = [
        model_deployment(name, rng.choice(TRICKY_VERSIONS) if i % 2 else _tricky_number(rng))
        for i, name in enumerate(names)
    ]
    started = time.monotonic()
    for i, doc in enumerate(docs):
        if i < len(TRICKY_NAMES) or i % VALIDATE_EVERY == 0:
            assert validate_document(doc) == [], doc["metadata"]["name"]
    validated = time.monotonic()
    objects = render(docs, namespace=dry_run_namespace)
    assert len(objects) >= 3 * MODELS
    texts = [render_yaml(objects[start : start + BATCH]) for start in range(0, len(objects), BATCH)]
    rendered = time.monotonic()

    def dry_run(text: str) -> str | None:
        # create, not apply: the same decoding and validation, without apply's extra read per object
        out = kube.run(
            "create",
            "--dry-run=server",
            "-o",
            "name",
            "-n",
            dry_run_namespace,
            "-f",
            "-",
            input=text,
            check=False,
        )
        if out.returncode != 0 or out.stdout.count("\n") != text.count("\n---\n") + 1:
            return out.stderr[-2000:] or "not every document was created"
        return None

    with ThreadPoolExecutor(2) as pool:
        failures = [f for f in pool.map(dry_run, texts) if f]
    print(
        f"\n{MODELS} models, {len(objects)} documents: offline validation of a sample "
        f"{validated - started:.1f}s, render {rendered - validated:.1f}s, "
        f"server-side dry run {time.monotonic() - rendered:.1f}s"
    )
    assert not failures, failures[:3]
