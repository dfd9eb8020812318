"""The CEL rules of our CRDs (x-kubernetes-validations), evaluated offline as the API server would.

cel-python (module celpy) evaluates standard CEL: has(), size(), all/exists/filter/map, `in`,
matches(), duration() and timestamp(). The API server adds Kubernetes' CEL libraries; the functions
of them that CRD rules use on lists, strings and quantities are added here (KUBERNETES_FUNCTIONS).
Values are handed to CEL typed by the schema, as the API server does: a `number` field is a double
even when written as 5, an `integer` an int, an object without properties but with
additionalProperties a map.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
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


# --- k8s quantity library (k8s.io/apiserver/pkg/cel/library/quantity.go) ---------------------------
# The grammar of resource.Quantity: a signed decimal number, then a binary-SI suffix (Ki..Ei), a
# decimal-SI suffix (n, u, m, k, M, G, T, P, E or none) or a decimal exponent (e3, E-2).
_QUANTITY = re.compile(
    r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:(Ki|Mi|Gi|Ti|Pi|Ei)|([numkMGTPE])|[eE]([+-]?[0-9]+))?$"
)
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


class Quantity:
    """A resource.Quantity value in CEL: its exact value (Decimal), ordered like the Go library."""

    __slots__ = ("value",)

    def __init__(self, value: Decimal):
        self.value = value

    def __repr__(self) -> str:
        return f"Quantity({self.value})"


def parse_quantity(text: str) -> Decimal | None:
    """The exact value of a Kubernetes quantity string, or None when it is not one."""
    match = _QUANTITY.match(text)
    if not match:
        return None
    number, binary, decimal_si, exponent = match.groups()
    try:
        value = Decimal(number)
        if binary:
            return value * (Decimal(2) ** _BINARY[binary])
        if decimal_si:
            return value.scaleb(_DECIMAL[decimal_si])
        if exponent:
            return value.scaleb(int(exponent))
        return value
    except (InvalidOperation, ArithmeticError, ValueError):
        return None


def _quantity(text: Any) -> Quantity:
    value = parse_quantity(str(text))
    if value is None:
        raise RuleError(f"quantities must match the regular expression of resource.Quantity: {text!r}")
    return Quantity(value)


def _as_quantity(value: Any) -> Quantity:
    if isinstance(value, Quantity):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Quantity(Decimal(int(value)))
    raise RuleError(f"no such overload: quantity operation on {type(value).__name__}")


def _compare(a: Any, b: Any) -> celtypes.IntType:
    x, y = _as_quantity(a).value, _as_quantity(b).value
    return celtypes.IntType((x > y) - (x < y))


def _as_integer(q: Any) -> celtypes.IntType:
    value = _as_quantity(q).value
    if value != value.to_integral_value() or abs(value) > 2**63 - 1:
        raise RuleError("cannot convert value to integer")
    return celtypes.IntType(int(value))


# What Go's strings.TrimSpace (and so CEL's trim() and Kubernetes' check of a container image) counts
# as white space: unicode.IsSpace. Python's str.strip() also strips U+001C..U+001F, which Go keeps.
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)

KUBERNETES_FUNCTIONS: dict[str, Any] = {
    # k8s quantity library
    "quantity": _quantity,
    "isQuantity": lambda s: celtypes.BoolType(parse_quantity(str(s)) is not None),
    "compareTo": _compare,
    "isLessThan": lambda a, b: celtypes.BoolType(_compare(a, b) < 0),
    "isGreaterThan": lambda a, b: celtypes.BoolType(_compare(a, b) > 0),
    "sign": lambda q: celtypes.IntType((_as_quantity(q).value > 0) - (_as_quantity(q).value < 0)),
    "isInteger": lambda q: celtypes.BoolType(_as_quantity(q).value % 1 == 0),
    "asInteger": _as_integer,
    "asApproximateFloat": lambda q: celtypes.DoubleType(float(_as_quantity(q).value)),
    "add": lambda a, b: Quantity(_as_quantity(a).value + _as_quantity(b).value),
    "sub": lambda a, b: Quantity(_as_quantity(a).value - _as_quantity(b).value),
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
    "trim": lambda s: celtypes.StringType(str(s).strip(GO_SPACE)),
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


# Kubernetes' escaping of property names in CEL (k8s.io/apiserver/pkg/cel/escaping.go): a reserved
# word becomes __word__ (a ParentReference's `namespace` is `self.__namespace__`); otherwise "__",
# ".", "-" and "/" become __underscores__, __dot__, __dash__ and __slash__.
CEL_RESERVED = frozenset(
    [
        "true",
        "false",
        "null",
        "in",
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
    ]
)
_ESCAPES = (("__", "__underscores__"), (".", "__dot__"), ("-", "__dash__"), ("/", "__slash__"))


def escape_property(name: str) -> str:
    """How a rule names the object property `name`."""
    if name in CEL_RESERVED:
        return f"__{name}__"
    for plain, escaped in _ESCAPES:
        name = name.replace(plain, escaped)
    return name


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
            name = escape_property(key) if key in props else key  # a map's keys stay as they are
            out[celtypes.StringType(name)] = to_cel(item, sub)
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
