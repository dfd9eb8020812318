"""Generated resources of every shape the CRD schemas allow, without a cluster (issue 18, fuzzing).

The offline validator (`modelserve render`'s, the API server's rules) decides what is accepted; every
rejection names a field, and every accepted resource plans through the pure planners without an
exception (tests/fuzz/properties.py). tests/e2e/test_fuzz_api.py runs the same properties with the
real API server deciding, and the server's defaulted object as the planner's input.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelserve.api.validation import validate_document

from tests.fuzz import properties as prop
from tests.fuzz.strategies import PHASES, resources

EXAMPLES = int(os.environ.get("MODELSERVE_FUZZ_OFFLINE_EXAMPLES", "30"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=PHASES
)


def _accepted(doc: dict) -> bool:
    errors = validate_document(doc) or []
    assert not prop.offline_problems(errors), [str(e) for e in errors]
    return not errors


@FUZZ
@given(resources("ModelDeployment", 0.02), resources("RegionPlacement"), resources("SLAPolicy"))
def test_generated_model_deployments_plan_or_name_their_field(md: dict, rp: dict, sla: dict) -> None:
    if not _accepted(md):
        return
    placement = rp if _accepted(rp) else None
    policy = sla if _accepted(sla) else None
    prop.plan_model(md, placement, policy)


@FUZZ
@given(st.one_of(resources("RegionPlacement", 0.05), resources("SLAPolicy", 0.05)))
def test_generated_placements_and_policies_plan_or_name_their_field(doc: dict) -> None:
    if not _accepted(doc):
        return
    if doc["kind"] == "RegionPlacement":
        prop.plan_placement(doc)
    else:
        prop.plan_sla_policy(doc)
