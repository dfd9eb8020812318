"""Is what we want already live? A subset comparison that understands Kubernetes quantities.

A reconcile with nothing to change must write nothing, so before applying we check that every
field we would set already has that value. The API server adds defaults (extra fields are fine)
and canonicalises quantities ("1000m" is stored as "1"), so quantities are compared by value.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

_SUFFIX: dict[str, int | Decimal] = {
    "": 1,
    "m": Decimal("0.001"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


def parse_quantity(value: Any) -> Decimal | None:
    """The numeric value of a Kubernetes quantity (str or number), or None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value.strip())
    if not match:
        return None
    try:
        return Decimal(match.group(1)) * Decimal(_SUFFIX[match.group(2) or ""])
    except (ArithmeticError, KeyError):  # InvalidOperation, and Overflow: a hex hash like "7e91234567"
        return None


def is_subset(desired: Any, live: Any) -> bool:
    """True when every field of `desired` is present in `live` with an equal value."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        return all(is_subset(v, live.get(k)) for k, v in desired.items())
    if isinstance(desired, list):
        if not isinstance(live, list) or len(desired) != len(live):
            return False
        return all(is_subset(d, lv) for d, lv in zip(desired, live, strict=True))
    if desired == live:
        return True
    if isinstance(desired, str | int | float) and isinstance(live, str | int | float):
        a, b = parse_quantity(desired), parse_quantity(live)
        return (
            a is not None
            and b is not None
            and a == b
            and not (isinstance(desired, str) and desired.endswith("%"))
        )
    return False
