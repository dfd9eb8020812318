"""spec.traffic.gatewayAPI.path accepts exactly the paths an HTTPRoute's PathPrefix match accepts.

The operator writes the path into its HTTPRoute (routers/gateway_api.py). A path our CRD took and the
Gateway API CRD refused became an ApplyFailed model instead of a refusal naming the field, so the two
rule sets are compared on generated paths: ours (pattern + CEL, by the offline validator) against the
real HTTPRoute CRD's rules for a PathPrefix match, read from the Go module cache at the pinned
version (the e2e suite installs that CRD; `make deps` downloads it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st
from modelserve.api.validation import rule_errors, schema_errors

CRDS = Path(__file__).resolve().parents[2] / "crds"


def _our_path_schema() -> dict:
    doc = yaml.safe_load((CRDS / "modeldeployments.modelserve.io.yaml").read_text())
    spec = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return spec["properties"]["traffic"]["properties"]["gatewayAPI"]["properties"]["path"]


def _httproute_path_schema() -> dict | None:
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
    rule = v1["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["rules"]["items"]
    return rule["properties"]["matches"]["items"]["properties"]["path"]


OURS = _our_path_schema()
THEIRS = _httproute_path_schema()
pytestmark = pytest.mark.skipif(
    THEIRS is None, reason="the Gateway API module is not in the Go module cache (make deps)"
)


def ours_accept(path: str) -> bool:
    field = "spec.traffic.gatewayAPI.path"
    return not schema_errors(path, OURS, field) and not rule_errors(path, OURS, field)


def theirs_accept(path: str) -> bool:
    assert THEIRS is not None
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
