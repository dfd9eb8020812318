"""The quantities the builders write into HPAs and ScaledObjects (builders/workloads.py `_quantity`)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from modelserve.api.cel import parse_quantity
from modelserve.builders.workloads import _quantity


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_a_target_is_a_canonical_quantity_within_a_thousandth_and_positive_when_asked_to_be(
    value: float,
) -> None:
    text = _quantity(value)
    parsed = parse_quantity(text)  # what resource.Quantity accepts
    if value > 0:
        assert parsed > 0, (value, text)  # the API server refuses a target of 0
    else:
        assert parsed == 0
    assert abs(parsed - Decimal(repr(value))) <= Decimal("0.001"), (value, text)
    assert not text.endswith("000m")  # canonical: whole numbers without a suffix


def test_examples() -> None:
    assert [_quantity(v) for v in (5, 2.5, 0.25, 0.0001, 1e-300, 0.0)] == [
        "5",
        "2500m",
        "250m",
        "1m",
        "1m",
        "0",
    ]
