"""A RegionPlacement's region names and node label keys: the CRD refuses exactly what the operator's
parser refuses (placement/model.py), so a bad name is refused by the API server naming the field
instead of being accepted and reported later as a Degraded condition.

Region names become label values (modelserve.io/region on the model's pods, and the node affinity's
values); regionLabel and zoneLabel become label keys of node affinity and topology spread."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import example, given
from hypothesis import strategies as st
from modelserve.api.errors import SpecError
from modelserve.api.validation import rule_errors, schema_errors
from modelserve.placement.model import _label_key, _region_name

CRD = Path(__file__).resolve().parents[2] / "crds" / "regionplacements.modelserve.io.yaml"
SPEC = yaml.safe_load(CRD.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
    "spec"
]
PROPS = SPEC["properties"]
SCHEMAS = {
    "spec.regionLabel": PROPS["regionLabel"],
    "spec.zoneLabel": PROPS["zoneLabel"],
    "spec.regions[0].name": PROPS["regions"]["items"]["properties"]["name"],
    "spec.residency.allowedRegions[0]": PROPS["residency"]["properties"]["allowedRegions"]["items"],
    "spec.residency.deniedRegions[0]": PROPS["residency"]["properties"]["deniedRegions"]["items"],
}


def crd_accepts(field: str, value: str) -> bool:
    schema = SCHEMAS[field]
    return not schema_errors(value, schema, field) and not rule_errors(value, schema, field)


def parser_accepts(field: str, value: str) -> bool:
    parse = _label_key if field.endswith("Label") else _region_name
    try:
        parse(value, field)
    except SpecError:
        return False
    return True


segment = st.text(st.sampled_from(list("aZ09-_.")), min_size=0, max_size=5)
long_part = st.integers(0, 70).map(lambda n: "a" * n)
values = st.one_of(
    st.text(st.sampled_from(list("aZ09-_./ ")), max_size=12),
    st.builds(lambda a, b: f"{a}/{b}", segment, segment),
    st.builds(lambda n, b: "a" * n + "/" + b, st.integers(250, 256), segment),
    st.builds(lambda a, n: f"{a}/" + "b" * n, segment, st.integers(60, 66)),
    long_part,
)


@given(st.sampled_from(sorted(SCHEMAS)), values)
@example("spec.regionLabel", "topology.kubernetes.io/region")
@example("spec.regionLabel", "example.com/Region_1")
@example("spec.regionLabel", "a/b/c")
@example("spec.regionLabel", "/region")
@example("spec.regionLabel", "Example.com/region")
@example("spec.regions[0].name", "eu-central-1")
@example("spec.regions[0].name", "EU Central")
@example("spec.regions[0].name", "-eu")
@example("spec.residency.allowedRegions[0]", "a" * 64)
def test_the_crd_and_the_parser_refuse_the_same_names(field: str, value: str) -> None:
    assert crd_accepts(field, value) == parser_accepts(field, value), (field, value)
