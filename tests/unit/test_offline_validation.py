"""`modelserve render` validates its inputs against the CRDs as the API server does (issue 17.5).

The invalid cases are the e2e suite's (tests/data/invalid_resources.yaml): the e2e test checks the API
server gives these same field paths. Property tests cover whole classes of rules, with the expected
errors computed here independently of the validator.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from modelserve.api.validation import (
    FieldError,
    go_float,
    packaged_kinds,
    validate_document,
)
from modelserve.cli.main import main

from tests.data.invalid_resources import CASES, ROOT_PATH, InvalidCase

REPO = Path(__file__).resolve().parents[2]


def paths(errors: list[FieldError] | None) -> tuple[str, ...]:
    return tuple(e.path or ROOT_PATH for e in errors or ())


@pytest.mark.parametrize("case", CASES, ids=[c.title for c in CASES])
def test_every_invalid_case_of_the_e2e_suite_gets_the_api_servers_field_paths(case: InvalidCase) -> None:
    errors = validate_document(case.doc)
    assert paths(errors) == case.paths
    assert any(case.expect in str(e) for e in errors or ()), [str(e) for e in errors or ()]


def test_messages_read_like_the_api_servers() -> None:
    by_title = {c.title: c for c in CASES}
    assert [str(e) for e in validate_document(by_title["negative replicas"].doc) or ()] == [
        "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"
    ]
    assert [str(e) for e in validate_document(by_title["unknown rollout strategy"].doc) or ()] == [
        'spec.rollout.strategy: Unsupported value: "linear": '
        'supported values: "canary", "blueGreen", "shadow"',
        "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; "
        "correct the existing errors to complete validation",
    ]
    assert [str(e) for e in validate_document(by_title["region outside allowedRegions"].doc) or ()] == [
        "spec.regions: Invalid value: "
        "every spec.regions[].name must be listed in spec.residency.allowedRegions"
    ]


@pytest.mark.parametrize("example", sorted(p.name for p in (REPO / "examples").glob("*.yaml")))
def test_every_example_is_valid(example: str) -> None:
    for doc in yaml.safe_load_all((REPO / "examples" / example).read_text()):
        if doc:
            assert not validate_document(doc), [str(e) for e in validate_document(doc) or ()]


def test_the_package_ships_every_modelserve_kind() -> None:
    assert {"ModelDeployment", "RegionPlacement", "SLAPolicy"} <= set(packaged_kinds())


def test_unknown_fields_and_other_kinds() -> None:
    doc = model_deployment()
    doc["spec"]["replica"] = 3
    assert [str(e) for e in validate_document(doc) or ()] == [
        "spec.replica: Unknown field: field not declared in schema"
    ]
    assert validate_document({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}) is None
    doc = model_deployment()
    doc["apiVersion"] = "modelserve.io/v2"
    assert paths(validate_document(doc)) == ("apiVersion",)


def test_go_float_prints_like_go() -> None:
    assert [go_float(v) for v in (100.0, 0.95, 1e6, 123456.0, 1e-5, -1.0, 0.9999)] == [
        "100",
        "0.95",
        "1e+06",
        "123456",
        "1e-05",
        "-1",
        "0.9999",
    ]


# ---- properties: each checked against an independent statement of the rule -------------------------
def model_deployment(**spec: object) -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "m"},
        "spec": {
            "model": {"name": "m", "version": "1", "uri": "s3://m/1"},
            "runtime": {"image": "srv:1"},
            **spec,
        },
    }


REGION = st.sampled_from(["eu-west-1", "eu-central-1", "us-east-1", "ap-south-1"])


@settings(max_examples=300, deadline=None)
@given(
    allowed=st.lists(REGION, min_size=1, max_size=3, unique=True),
    regions=st.lists(
        st.tuples(REGION, st.integers(-1, 1002)), min_size=1, max_size=4, unique_by=lambda r: r[0]
    ),
)
def test_region_placements_are_judged_like_the_api_server(
    allowed: list[str], regions: list[tuple[str, int]]
) -> None:
    doc = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "RegionPlacement",
        "metadata": {"name": "p"},
        "spec": {
            "residency": {"allowedRegions": allowed},
            "regions": [{"name": name, "weight": weight} for name, weight in regions],
        },
    }
    expected = [f"spec.regions[{i}].weight" for i, (_, w) in enumerate(regions) if not 1 <= w <= 1000]
    if any(name not in allowed for name, _ in regions):
        expected.append("spec.regions")  # CEL still runs: a bound is not a blocking error
    assert sorted(paths(validate_document(doc))) == sorted(expected)


@settings(max_examples=300, deadline=None)
@given(weights=st.lists(st.integers(0, 100), min_size=1, max_size=6))
def test_canary_weights_must_strictly_increase(weights: list[int]) -> None:
    steps = [{"setWeight": w} for w in weights]
    doc = model_deployment(rollout={"strategy": "canary", "canary": {"steps": steps}})
    messages = [str(e) for e in validate_document(doc) or ()]
    assert any("values must be strictly increasing" in m and "repeated" not in m for m in messages) == (
        weights != sorted(weights)
    )
    assert any("(no repeated weight)" in m for m in messages) == (len(set(weights)) != len(weights))
    assert all(m.startswith("spec.rollout.canary.steps: ") for m in messages)


@settings(max_examples=200, deadline=None)
@given(min_replicas=st.integers(0, 1000), max_replicas=st.integers(1, 1000), give_min=st.booleans())
def test_autoscaling_bounds_use_the_defaulted_minimum(
    min_replicas: int, max_replicas: int, give_min: bool
) -> None:
    autoscaling: dict = {"maxReplicas": max_replicas}
    if give_min:
        autoscaling["minReplicas"] = min_replicas
    errors = validate_document(model_deployment(autoscaling=autoscaling))
    # minReplicas defaults to 1 before the rule runs, and maxReplicas is at least 1.
    too_low = give_min and max_replicas < min_replicas
    assert paths(errors) == (("spec.autoscaling.maxReplicas",) if too_low else ())


@settings(max_examples=200, deadline=None)
@given(name=st.text(alphabet="abcXY-.1_", min_size=1, max_size=45))
def test_metadata_name_is_a_short_dns_label(name: str) -> None:
    doc = model_deployment()
    doc["metadata"]["name"] = name
    subdomain = re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", name)
    expected = [] if subdomain else ["metadata.name"]  # every custom resource: a DNS-1123 subdomain
    # The CRD's rules on the whole object: at most 40 characters, and a DNS-1035 label (the Service's name).
    if len(name) > 40:
        expected.append(ROOT_PATH)
    if not re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name):
        expected.append(ROOT_PATH)
    assert paths(validate_document(doc)) == tuple(expected)


# ---- the command ------------------------------------------------------------------------------------
def test_render_exits_non_zero_with_the_field_path_and_the_rules_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "placement.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "modelserve.io/v1alpha1",
                "kind": "RegionPlacement",
                "metadata": {"name": "eu"},
                "spec": {"residency": {"allowedRegions": ["eu-west-1"]}, "regions": [{"name": "us-east-1"}]},
            }
        )
    )
    assert main(["render", "-f", str(bad)]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == (
        'error: RegionPlacement "eu" is invalid: spec.regions: Invalid value: '
        "every spec.regions[].name must be listed in spec.residency.allowedRegions\n"
    )
    assert main(["render", "-f", str(REPO / "examples" / "fraud-detector.yaml")]) == 0
    assert "kind: Deployment" in capsys.readouterr().out


@settings(max_examples=200, deadline=None)
@given(
    below=st.lists(
        st.one_of(st.integers(0, 100), st.floats(0, 100, allow_nan=False)), min_size=1, max_size=5
    ),
    target=st.floats(-1, 101, allow_nan=False),
)
def test_sla_credits_and_targets(below: list[float], target: float) -> None:
    doc = {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "SLAPolicy",
        "metadata": {"name": "gold"},
        "spec": {
            "objectives": [{"name": "avail", "type": "availability", "target": target}],
            "credits": [{"below": b, "percent": 10} for b in below],
        },
    }
    expected = [] if 0 < target < 100 else ["spec.objectives[0].target"]
    values = [float(b) for b in below]
    if values != sorted(values, reverse=True):  # `below` is a number: 5 and 5.0 are the same value
        expected.append("spec.credits")
    if len(set(values)) != len(values):
        expected.append("spec.credits")
    assert sorted(paths(validate_document(doc))) == sorted(expected)
