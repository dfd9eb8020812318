"""The CEL rules of our CRDs (x-kubernetes-validations), evaluated offline as the API server would.

cel-python (module celpy) evaluates standard CEL: has(), size(), all/exists/filter/map, `in`,
matches(), duration() and timestamp(). The API server adds Kubernetes' CEL libraries; the functions of
them that CRD rules use on lists and strings are added here (KUBERNETES_FUNCTIONS). Values are handed
to CEL typed by the schema, as the API server does: a `number` field is a double even when written
as 5, an `integer` an int, an object without properties but with additionalProperties a map.
"""

from __future__ import annotations

import re
from functools import cache
from itertools import pairwise
from typing import Any

import celpy
from celpy import celtypes


class RuleError(ValueError):
    """A rule that cannot be compiled or evaluated on this value (the API server reports these too)."""


def _is_sorted(values: Any) -> celtypes.BoolType:
    items: list[Any] = list(values)
    return celtypes.BoolType(all(a <= b for a, b in pairwise(items)))


def _sum(values: Any) -> Any:
    items: list[Any] = list(values)
    if not items:
        return celtypes.IntType(0)
    total = items[0]
    for item in items[1:]:
        total = total + item
    return total


def _min(values: Any) -> Any:
    items: list[Any] = list(values)
    if not items:
        raise RuleError("min called on an empty list")
    return min(items)


def _max(values: Any) -> Any:
    items: list[Any] = list(values)
    if not items:
        raise RuleError("max called on an empty list")
    return max(items)


def _index_of(target: Any, item: Any) -> celtypes.IntType:
    if isinstance(target, str):
        return celtypes.IntType(str(target).find(str(item)))
    items = list(target)
    return celtypes.IntType(items.index(item) if item in items else -1)


def _last_index_of(target: Any, item: Any) -> celtypes.IntType:
    if isinstance(target, str):
        return celtypes.IntType(str(target).rfind(str(item)))
    items = list(target)
    return celtypes.IntType(len(items) - 1 - items[::-1].index(item) if item in items else -1)


def _join(values: Any, separator: str = "") -> celtypes.StringType:
    return celtypes.StringType(str(separator).join(str(v) for v in values))


KUBERNETES_FUNCTIONS: dict[str, Any] = {
    # k8s list library
    "isSorted": _is_sorted,
    "sum": _sum,
    "min": _min,
    "max": _max,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    # k8s / cel-go strings extension (the common ones)
    "lowerAscii": lambda s: celtypes.StringType(str(s).lower()),
    "upperAscii": lambda s: celtypes.StringType(str(s).upper()),
    "trim": lambda s: celtypes.StringType(str(s).strip()),
    "join": _join,
    "split": lambda s, sep: celtypes.ListType([celtypes.StringType(x) for x in str(s).split(str(sep))]),
}

_OLD_SELF = re.compile(r"\boldSelf\b")
_ENVIRONMENT = celpy.Environment()


def is_transition_rule(rule: str) -> bool:
    """Rules that compare with the stored object (oldSelf) only run on updates: never offline."""
    return _OLD_SELF.search(rule) is not None


@cache
def _program(expression: str) -> Any:
    try:
        return _ENVIRONMENT.program(_ENVIRONMENT.compile(expression), functions=KUBERNETES_FUNCTIONS)
    except Exception as exc:  # celpy raises its parser's own exception types
        raise RuleError(f"compilation error: {exc}") from exc


def evaluate(expression: str, self_value: Any) -> Any:
    """The value of `expression` with `self` bound to `self_value` (already a CEL value, see to_cel).

    Raises RuleError when the rule cannot be compiled or evaluated."""
    try:
        result = _program(expression).evaluate({"self": self_value})
    except RuleError:
        raise
    except Exception as exc:
        raise RuleError(str(exc.args[0]) if exc.args else str(exc)) from exc
    if isinstance(result, celpy.CELEvalError):
        raise RuleError(str(result.args[0]) if result.args else str(result))
    return result


def rule_holds(rule: str, self_value: Any) -> bool:
    """Whether the validation rule `rule` holds for `self_value`; RuleError unless it gives a bool."""
    result = evaluate(rule, self_value)
    if not isinstance(result, celtypes.BoolType | bool):
        raise RuleError(f"rule evaluated to {type(result).__name__}, not bool")
    return bool(result)


def to_cel(value: Any, schema: dict | None) -> Any:
    """`value` (parsed JSON/YAML) as a CEL value typed by its OpenAPI `schema`."""
    schema = schema or {}
    if value is None:
        return None
    if schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("properties"):
        return celpy.json_to_cel(value)
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        out = {}
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            out[celtypes.StringType(key)] = to_cel(item, sub)
        return celtypes.MapType(out)
    if isinstance(value, list):
        return celtypes.ListType([to_cel(item, schema.get("items")) for item in value])
    if isinstance(value, int | float):
        if schema.get("type") == "number":
            return celtypes.DoubleType(float(value))
        if float(value).is_integer():
            return celtypes.IntType(int(value))
        return celtypes.DoubleType(float(value))
    return celtypes.StringType(str(value))
