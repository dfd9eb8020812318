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
from modelserve.api import constants as c
from modelserve.api.errors import SpecError
from modelserve.api.validation import validate_document
from modelserve.placement import parse_region_placement
from modelserve.slo.model import parse_sla_policy

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


# What only the cluster or a comparison CEL cannot make decides, so an accepted resource may still be
# reported in a condition: a runtime the cluster's catalogue may add, KEDA's CRD being installed, and
# a burn rate's shortWindow below its longWindow (durations in days and weeks: CEL's duration() has
# no such units).
CLUSTER_DEPENDENT = ("spec.runtime.name", "spec.autoscaling.engine")
NOT_IN_CEL = ("shortWindow",)


def _invalid_spec_fields(status: dict) -> list[str]:
    return [
        cond.get("message", "").split(":")[0]
        for cond in status.get("conditions") or []
        if cond.get("reason") == c.REASON_INVALID_SPEC
    ]


@FUZZ
@given(st.one_of(resources("ModelDeployment"), resources("RegionPlacement"), resources("SLAPolicy")))
def test_what_the_crd_accepts_the_operator_can_use(doc: dict) -> None:
    """The schema and CEL rules carry every rule of the parsers they can express: a resource the API
    server accepts is never refused later by the operator, except for what CLUSTER_DEPENDENT and
    NOT_IN_CEL name. (Found by this property: RegionPlacement label keys, label values, a zoneLabel
    equal to regionLabel and a missing residency; SLAPolicy zero windows, alert label names, quality
    metric/query and min <= max; a gate's maxMilliseconds on a builtin that is not latency.)"""
    if not _accepted(doc):
        return
    if doc["kind"] == "ModelDeployment":
        for plan in prop.plan_model(doc):
            fields = _invalid_spec_fields(plan.status)
            assert all(f.startswith(CLUSTER_DEPENDENT) for f in fields), plan.status["conditions"]
        return
    try:
        if doc["kind"] == "RegionPlacement":
            parse_region_placement(doc)
        else:
            parse_sla_policy(doc)
    except SpecError as exc:
        assert str(exc).split(":")[0].endswith(NOT_IN_CEL), (str(exc), doc["spec"])
