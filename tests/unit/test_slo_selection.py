"""Which SLAPolicy governs a ModelDeployment: slaPolicyRef first, then selectors, ambiguity reported."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from modelserve.slo import (
    LabelSelector,
    LabelSelectorRequirement,
    ModelRef,
    PolicyCandidate,
    model_ref_from_body,
    models_by_policy,
    policy_candidate_from_body,
    select_policy,
    selector_matches,
)
from modelserve.slo.selection import (
    REASON_AMBIGUOUS,
    REASON_NO_POLICY,
    REASON_POLICY_NOT_FOUND,
    REASON_POLICY_REF,
    REASON_SELECTOR,
)

GOLD = PolicyCandidate("prod", "gold", LabelSelector({"tier": "gold"}))
ALL = PolicyCandidate("prod", "all", LabelSelector())
NONE = PolicyCandidate("prod", "explicit-only", None)
OTHER_NS = PolicyCandidate("dev", "gold", LabelSelector({"tier": "gold"}))


def req(key: str, op: str, *values: str) -> LabelSelectorRequirement:
    return LabelSelectorRequirement(key, op, values)


@pytest.mark.parametrize(
    ("requirement", "labels", "matches"),
    [
        (req("env", "In", "prod", "stage"), {"env": "prod"}, True),
        (req("env", "In", "prod"), {"env": "dev"}, False),
        (req("env", "In", "prod"), {}, False),
        (req("env", "NotIn", "prod"), {"env": "dev"}, True),
        (req("env", "NotIn", "prod"), {}, True),  # absent label satisfies NotIn, as in Kubernetes
        (req("env", "NotIn", "prod"), {"env": "prod"}, False),
        (req("env", "Exists"), {"env": ""}, True),
        (req("env", "Exists"), {}, False),
        (req("env", "DoesNotExist"), {}, True),
        (req("env", "DoesNotExist"), {"env": "x"}, False),
    ],
)
def test_match_expressions(
    requirement: LabelSelectorRequirement, labels: dict[str, str], matches: bool
) -> None:
    assert selector_matches(LabelSelector({}, (requirement,)), labels) is matches


def test_match_labels_and_expressions_are_anded() -> None:
    selector = LabelSelector({"tier": "gold"}, (req("env", "In", "prod"),))
    assert selector_matches(selector, {"tier": "gold", "env": "prod", "x": "y"})
    assert not selector_matches(selector, {"tier": "gold", "env": "dev"})
    assert not selector_matches(selector, {"env": "prod"})


def test_empty_selector_matches_everything_and_absent_matches_nothing() -> None:
    assert selector_matches(LabelSelector(), {})
    assert not selector_matches(None, {"tier": "gold"})


def test_policy_ref_wins_over_selectors() -> None:
    model = ModelRef("prod", "fraud", {"tier": "gold"}, sla_policy_ref="explicit-only")
    selection = select_policy(model, [GOLD, ALL, NONE])
    assert selection.policy == "explicit-only" and selection.reason == REASON_POLICY_REF
    assert not selection.ambiguous


def test_missing_referenced_policy_does_not_fall_back_to_selectors() -> None:
    model = ModelRef("prod", "fraud", {"tier": "gold"}, sla_policy_ref="platinum")
    selection = select_policy(model, [GOLD, OTHER_NS])
    assert selection.policy is None and selection.reason == REASON_POLICY_NOT_FOUND
    assert "spec.slaPolicyRef.name" in selection.message


def test_policies_only_select_models_of_their_namespace() -> None:
    selection = select_policy(ModelRef("dev", "fraud", {"tier": "gold"}), [GOLD, OTHER_NS])
    assert (selection.policy, selection.reason) == ("gold", REASON_SELECTOR)
    assert select_policy(ModelRef("qa", "fraud", {"tier": "gold"}), [GOLD]).reason == REASON_NO_POLICY


def test_two_selector_matches_choose_first_by_name_and_report_ambiguity() -> None:
    model = ModelRef("prod", "fraud", {"tier": "gold"})
    for order in ([GOLD, ALL], [ALL, GOLD]):
        selection = select_policy(model, order)
        assert selection.policy == "all" and selection.reason == REASON_AMBIGUOUS
        assert selection.ambiguous_with == ("gold",)
        assert "slaPolicyRef" in selection.message


@given(st.permutations([GOLD, ALL, NONE, OTHER_NS]))
def test_selection_does_not_depend_on_listing_order(policies: list[PolicyCandidate]) -> None:
    model = ModelRef("prod", "fraud", {"tier": "gold"})
    assert select_policy(model, policies) == select_policy(model, [GOLD, ALL, NONE, OTHER_NS])


def test_models_by_policy_inverts_selection() -> None:
    models = [
        ModelRef("prod", "fraud", {"tier": "gold"}),
        ModelRef("prod", "churn", {"tier": "silver"}),
        ModelRef("prod", "ranker", {}, sla_policy_ref="explicit-only"),
    ]
    governed, ambiguous = models_by_policy(models, [GOLD, ALL, NONE])
    assert governed == {
        ("prod", "gold"): [],
        ("prod", "all"): ["churn", "fraud"],
        ("prod", "explicit-only"): ["ranker"],
    }
    assert list(ambiguous) == [("prod", "fraud")]


def test_candidates_from_bodies() -> None:
    policy = policy_candidate_from_body(
        {
            "metadata": {"name": "gold", "namespace": "prod"},
            "spec": {
                "selector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold"]}]},
                "objectives": [],
            },
        }
    )
    model = model_ref_from_body(
        {
            "metadata": {"name": "fraud", "namespace": "prod", "labels": {"tier": "gold"}},
            "spec": {"slaPolicyRef": {"name": "gold"}},
        }
    )
    assert model.sla_policy_ref == "gold"
    assert select_policy(model, [policy]).reason == REASON_POLICY_REF
    plain = model_ref_from_body({"metadata": {"name": "m", "namespace": "prod", "labels": {"tier": "gold"}}})
    assert plain.sla_policy_ref is None
    assert select_policy(plain, [policy]).policy == "gold"
