"""The offline CEL's quantity library (api/cel.py) behaves like Kubernetes' (quantity.go), and the
request-above-limit rule of the ModelDeployment CRD compares resources by value, not by text."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelserve.api.cel import RuleError, evaluate, parse_quantity
from modelserve.api.validation import validate_document

FACTORS = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("0.001"),
    "": Decimal(1),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}

numbers = st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False)
suffixes = st.sampled_from(sorted(FACTORS))


@given(numbers, suffixes)
def test_a_suffix_scales_the_number(number: Decimal, suffix: str) -> None:
    assert parse_quantity(f"{number}{suffix}") == number * FACTORS[suffix]


@given(st.integers(0, 10**9), st.integers(-9, 18))
def test_a_decimal_exponent_scales_by_a_power_of_ten(number: int, exponent: int) -> None:
    assert parse_quantity(f"{number}e{exponent}") == Decimal(number).scaleb(exponent)
    assert parse_quantity(f"{number}E{exponent}") == Decimal(number).scaleb(exponent)


@pytest.mark.parametrize("text", ["", "m", "1.2.3", "1KiB", "1 Gi", "0x10", "1ki", "--1", "1e", "Ki1", "1%"])
def test_what_is_not_a_quantity(text: str) -> None:
    assert parse_quantity(text) is None
    assert evaluate(f"isQuantity('{text}')", None) == False  # noqa: E712 (a CEL BoolType)
    with pytest.raises(RuleError):
        evaluate(f"quantity('{text}').sign()", None)


@given(numbers, suffixes, numbers, suffixes)
def test_compare_to_orders_by_value(a: Decimal, sa: str, b: Decimal, sb: str) -> None:
    x, y = a * FACTORS[sa], b * FACTORS[sb]
    expected = (x > y) - (x < y)
    rule = f"quantity('{a}{sa}').compareTo(quantity('{b}{sb}'))"
    assert evaluate(rule, None) == expected
    assert evaluate(f"quantity('{a}{sa}').isLessThan(quantity('{b}{sb}'))", None) == (expected < 0)
    assert evaluate(f"quantity('{a}{sa}').isGreaterThan(quantity('{b}{sb}'))", None) == (expected > 0)


def test_the_other_quantity_functions() -> None:
    assert evaluate("quantity('1500m').add(quantity('500m')).compareTo(quantity('2')) == 0", None) == True  # noqa: E712
    assert evaluate("quantity('1').sub(2).sign()", None) == -1
    assert evaluate("quantity('2k').asInteger()", None) == 2000
    assert evaluate("quantity('1500m').isInteger()", None) == False  # noqa: E712
    assert evaluate("quantity('1.5Ki').asApproximateFloat()", None) == 1536.0
    with pytest.raises(RuleError):
        evaluate("quantity('1500m').asInteger()", None)


def _model(requests: dict, limits: dict) -> dict:
    return {
        "apiVersion": "modelserve.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "iris"},
        "spec": {
            "model": {"name": "iris", "version": "1", "uri": "s3://models/iris/1", "format": "sklearn"},
            "runtime": {"resources": {"requests": requests, "limits": limits}},
        },
    }


amounts = st.tuples(st.integers(0, 4096), st.sampled_from(["m", "", "Mi", "Gi", "k", "M"]))


@settings(deadline=None, max_examples=60)  # each case validates a whole ModelDeployment
@given(st.sampled_from(["cpu", "memory", "ephemeral-storage"]), amounts, amounts)
def test_a_request_above_its_limit_is_rejected_by_value(resource: str, request: tuple, limit: tuple) -> None:
    (r, rs), (lim, ls) = request, limit
    errors = validate_document(_model({resource: f"{r}{rs}"}, {resource: f"{lim}{ls}"})) or []
    above = Decimal(r) * FACTORS[rs] > Decimal(lim) * FACTORS[ls]
    messages = [str(e) for e in errors]
    rejected = "requests must be less than or equal to spec.runtime.resources.limits"
    assert any(rejected in m for m in messages) is above
    if not above:
        assert messages == []


def test_a_request_without_a_limit_of_the_same_resource_is_fine() -> None:
    assert validate_document(_model({"cpu": "4", "memory": "1Gi"}, {"memory": "2Gi"})) == []


# Go's unicode.IsSpace, what CEL's trim() strips (cel-go uses strings.TrimSpace), and what Kubernetes
# refuses around a container image; Python's str.isspace() also counts U+001C..U+001F.
GO_WHITE_SPACE = set("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {
    chr(c) for c in range(0x2000, 0x200B)
}


@given(st.text(max_size=4), st.text(st.characters(), max_size=3), st.text(max_size=3))
def test_trim_strips_what_go_counts_as_white_space(core: str, left: str, right: str) -> None:
    from modelserve.api.cel import to_cel

    value = left + core + right
    expected = value
    while expected and expected[0] in GO_WHITE_SPACE:
        expected = expected[1:]
    while expected and expected[-1] in GO_WHITE_SPACE:
        expected = expected[:-1]
    assert str(evaluate("self.trim()", to_cel(value, {"type": "string"}))) == expected
    kept = "\x1ca\x1f"  # not white space to Go: kept, as the API server keeps it
    assert str(evaluate("self.trim()", to_cel(f"\u3000{kept}\x85", {"type": "string"}))) == kept


def test_property_names_are_escaped_as_kubernetes_escapes_them() -> None:
    from modelserve.api.cel import escape_property, to_cel

    assert escape_property("namespace") == "__namespace__"
    assert escape_property("sectionName") == "sectionName"
    assert escape_property("a.b-c/d__e") == "a__dot__b__dash__c__slash__d__underscores__e"
    schema = {
        "type": "object",
        "properties": {"namespace": {"type": "string"}},
        "additionalProperties": False,
    }
    assert evaluate("self.__namespace__ == 'ml'", to_cel({"namespace": "ml"}, schema)) == True  # noqa: E712
    labels = {"type": "object", "additionalProperties": {"type": "string"}}
    assert evaluate("self['namespace'] == 'ml'", to_cel({"namespace": "ml"}, labels)) == True  # noqa: E712
