"""spec.traffic.gatewayAPI accepts exactly the paths and parentRefs an HTTPRoute accepts.

The operator writes both into its HTTPRoute (routers/gateway_api.py). A value our CRD took and the
Gateway API CRD refused became an ApplyFailed model instead of a refusal naming the field, so the two
rule sets are compared on generated values: ours (schema + CEL, by the offline validator) against the
real HTTPRoute CRD's, read from the Go module cache at the pinned version (the e2e suite installs that
CRD; `make deps` downloads it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st
from modelserve.api.validation import rule_errors, schema_errors

CRDS = Path(__file__).resolve().parents[2] / "crds"


def _our_schema(field: str) -> dict:
    doc = yaml.safe_load((CRDS / "modeldeployments.modelserve.io.yaml").read_text())
    spec = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return spec["properties"]["traffic"]["properties"]["gatewayAPI"]["properties"][field]


def _httproute_spec_schema() -> dict | None:
    try:
        from modelserve.localcluster.versions import go_module_dir, versions

        module = go_module_dir("sigs.k8s.io/gateway-api", versions()["GATEWAY_API_VERSION"])
    except Exception:  # no module cache on this machine
        return None
    path = module / "config" / "crd" / "standard" / "gateway.networking.k8s.io_httproutes.yaml"
    if not path.exists():
        return None
    doc = next(d for d in yaml.safe_load_all(path.read_text()) if d)
    v1 = next(v for v in doc["spec"]["versions"] if v["name"] == "v1")
    return v1["schema"]["openAPIV3Schema"]["properties"]["spec"]


OURS = _our_schema("path")
OUR_PARENTS = _our_schema("parentRefs")
SPEC = _httproute_spec_schema()
pytestmark = pytest.mark.skipif(
    SPEC is None, reason="the Gateway API module is not in the Go module cache (make deps)"
)
if SPEC is not None:
    rule = SPEC["properties"]["rules"]["items"]
    THEIRS = rule["properties"]["matches"]["items"]["properties"]["path"]
    THEIR_PARENTS = SPEC["properties"]["parentRefs"]


def ours_accept(path: str) -> bool:
    field = "spec.traffic.gatewayAPI.path"
    return not schema_errors(path, OURS, field) and not rule_errors(path, OURS, field)


def theirs_accept(path: str) -> bool:
    match = {"type": "PathPrefix", "value": path}
    return not schema_errors(match, THEIRS, "path") and not rule_errors(match, THEIRS, "path")


# Path characters, the ones the rules single out, and a few Gateway API refuses.
ALPHABET = list("/./..%2fF0a-_~!$&'()*+,;=:@#? \t\u00e9")
paths = st.one_of(
    st.text(st.sampled_from(ALPHABET), max_size=12),
    st.lists(
        st.sampled_from(["/", "v2", ".", "..", "%2f", "%2F", "%41", "%g1", "models", "#", "//"]), max_size=6
    ).map("".join),
)


@given(paths)
@example("/")
@example("")
@example("predict")
@example("/v2//models")
@example("/v2/./models")
@example("/v2/../models")
@example("/v2/.")
@example("/v2/..")
@example("/v2%2Fmodels")
@example("/v2%2fmodels")
@example("/v2%41")
@example("/v2%4")
@example("/a#b")
@example("/.hidden")
@example("/..x")
def test_our_path_rules_match_the_httproute_crds(path: str) -> None:
    assert ours_accept(path) == theirs_accept(path), path


def test_the_default_path_and_common_ones_are_accepted() -> None:
    for path in ("/", "/v2/models/iris/infer", "/predict", "/a-b_c~d.e", "/%41"):
        assert ours_accept(path) and theirs_accept(path), path


def ours_accept_parents(refs: list[dict]) -> bool:
    field = "spec.traffic.gatewayAPI.parentRefs"
    return not schema_errors(refs, OUR_PARENTS, field) and not rule_errors(refs, OUR_PARENTS, field)


def theirs_accept_parents(refs: list[dict]) -> bool:
    # The API server applies the HTTPRoute's defaults (group, kind) before its rules; ours has none,
    # and the router writes a reference as given.
    defaulted = [{"group": "gateway.networking.k8s.io", "kind": "Gateway", **ref} for ref in refs]
    return not schema_errors(defaulted, THEIR_PARENTS, "parentRefs") and not rule_errors(
        defaulted, THEIR_PARENTS, "parentRefs"
    )


parent_ref = st.fixed_dictionaries(
    {"name": st.sampled_from(["public", "internal"])},
    optional={
        "group": st.sampled_from(["gateway.networking.k8s.io", "example.com", ""]),
        "kind": st.sampled_from(["Gateway", "ListenerSet"]),
        "namespace": st.sampled_from(["infra", "ml"]),
        "sectionName": st.sampled_from(["http", "https"]),
        "port": st.sampled_from([80, 443]),
    },
)


@given(st.lists(parent_ref, max_size=4))
@example([{"name": "public"}, {"name": "public"}])
@example([{"name": "public"}, {"name": "public", "sectionName": "http"}])
@example([{"name": "public", "sectionName": "http"}, {"name": "public", "sectionName": "https"}])
@example([{"name": "public"}, {"name": "public", "group": "gateway.networking.k8s.io", "kind": "Gateway"}])
@example([{"name": "public"}, {"name": "public", "namespace": "infra"}])
@example([{"name": "public", "port": 80}, {"name": "public", "port": 443}])
def test_our_parent_ref_rules_match_the_httproute_crds(refs: list[dict]) -> None:
    assert ours_accept_parents(refs) == theirs_accept_parents(refs), refs
